"""Code tables, de-identification helpers and the record store."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.codes import (
    DIAGNOSES,
    SPECIALTIES,
    age_band,
    charlson_index,
    comorbidity_flags,
    icd10_chapter,
    normalise_icd10,
)
from features.deid import age_years, ages_vectorised, check_table
from features.records import Patient, RecordStore, canonical_json, parse_record, record_hash


@pytest.mark.parametrize("raw, want", [("I10", "I10"), ("i10.x00", "I10"),
                                       ("E11.900", "E11.9"), ("E119", "E11.9"),
                                       ("J44.1", "J44.1"), ("高血压", None), ("", None),
                                       ("10I", None)])
def test_normalise_icd10(raw, want):
    assert normalise_icd10(raw) == want


def test_chapters_flags_and_charlson():
    assert [icd10_chapter(c) for c in ("B18.1", "C50.9", "E11.9", "I10", "J44.9", "S72.0",
                                       "O24.4")] == ["I", "II", "IV", "IX", "X", "XIX", "XV"]
    assert comorbidity_flags(["I10", "E11.2", "N18.3"]) == {
        "has_hypertension": 1, "has_diabetes": 1, "has_copd": 0, "has_chd": 0, "has_ckd": 1}
    # Diabetes counted once at its highest weight, CKD 2.
    assert charlson_index(["E11.9", "E11.2", "N18.3", "I10"]) == 4
    for d in DIAGNOSES:
        assert d.specialty in SPECIALTIES and d.sub_specialty in SPECIALTIES[d.specialty]
        assert normalise_icd10(d.code) == d.code and icd10_chapter(d.code)


def test_age_banding():
    assert age_band(0) == "0-9" and age_band(49) == "40-49" and age_band(89) == "80-89"
    assert age_band(90) == "90+" and age_band(104) == "90+"
    assert age_years(date(1920, 5, 1), date(2026, 11, 1)) == 90  # capped
    assert age_years(date(1980, 11, 2), date(2026, 11, 1)) == 45
    got = ages_vectorised(pd.Series(pd.to_datetime(["1980-11-02", "1930-01-01"])),
                          pd.Series(pd.to_datetime(["2026-11-01", "2026-11-01"], utc=True)))
    assert list(got) == [45, 90]
    with pytest.raises(ValueError):
        check_table(pd.DataFrame({"patient_id": ["p"], "name": ["x"]}), "patients")


def test_record_store_roundtrip(tmp_path):
    p = Patient(id="L1", organization="R1-C1", name="王芳", gender="female",
                birthDate="1950-01-02", patient_id_regional="p_1")
    body = p.to_bytes()
    assert body == canonical_json(p.to_dict())
    assert b" " not in body and body.index(b'"birthDate"') < body.index(b'"gender"')
    assert parse_record(body) == p
    with RecordStore(tmp_path / "s" / "records.sqlite") as st:
        assert st.upsert(p.record_id, "Patient", body) is True
        assert st.upsert(p.record_id, "Patient", body) is False  # unchanged
        assert st.get("Patient/L1") == body and st.get("Patient/nope") is None
        assert st.get_hash("Patient/L1") == record_hash(body)
        assert st.count() == 1 and st.counts_by_type() == {"Patient": 1}
        assert list(st.iter_records()) == [("Patient/L1", "Patient", body)]
        assert st.patients(0, 10) == [{"id": "L1", "name": "王芳", "gender": "female",
                                       "birth_date": "1950-01-02",
                                       "patient_id_regional": "p_1"}]
        assert st.patients(1, 10) == [] and st.patient_count() == 1
        assert st.find_patient("L1") == st.patients(0, 1)[0]
        assert st.find_patient("nope") is None
