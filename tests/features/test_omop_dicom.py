"""OMOP CDM v5.4 CSV and DICOM metadata adapters."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from features.identity import DeterministicLinker
from features.ingest import ingest
from features.ingest.common import Reject
from features.ingest.dicom import read_dicom_source
from features.ingest.omop import read_omop_folder
from features.records import RecordStore

from .conftest import make_settings

KEY = "test-pseudonym-key"


def _split(items):
    items = list(items)
    return ([x for x in items if not isinstance(x, Reject)],
            [x for x in items if isinstance(x, Reject)])


def _omop(folder: Path) -> Path:
    folder.mkdir()
    (folder / "PERSON.csv").write_text(
        "PERSON_ID,GENDER_CONCEPT_ID,YEAR_OF_BIRTH,MONTH_OF_BIRTH,DAY_OF_BIRTH,"
        "BIRTH_DATETIME,PERSON_SOURCE_VALUE,GENDER_SOURCE_VALUE\n"
        "1,8507,1950,3,4,,MRN1,M\n2,8532,1962,,,,MRN2,F\n3,0,,,,,MRN3,\n", encoding="utf-8")
    (folder / "visit_occurrence.csv").write_text(
        "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date\n"
        "10,1,9201,2025-01-02,2025-01-09\n11,2,9202,2025-02-03,\n12,2,9203,,\n",
        encoding="utf-8")
    (folder / "condition_occurrence.tsv").write_text(
        "condition_occurrence_id\tperson_id\tcondition_concept_id\tcondition_start_date\t"
        "condition_source_value\n"
        "20\t1\t320128\t2024-05-06\t\n21\t1\t0\t2024-06-07\tE11.9\n"
        "22\t2\t999999\t2024-06-07\tLOCAL42\n", encoding="utf-8")
    (folder / "measurement.csv").write_text(
        "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
        "unit_source_value,measurement_source_value\n"
        "30,1,3004501,2025-01-03,7.2,mmol/l,2345-7\n31,1,3016723,2025-01-03,1.1,mg/dL,"
        "2160-0\n32,2,0,2025-01-03,abc,,x\n", encoding="utf-8")
    return folder


def test_omop_tables(tmp_path):
    recs, rej = _split(read_omop_folder(_omop(tmp_path / "omop"), "OM-1",
                                        DeterministicLinker(KEY)))
    by = {}
    for r in recs:
        by.setdefault(r.resourceType, []).append(r)
    assert [(p.id, p.gender, p.birthDate, p.mrn) for p in by["Patient"]] == [
        ("1", "male", "1950-03-04", "MRN1"), ("2", "female", "1962-07-01", "MRN2")]
    assert [(e.klass, e.status) for e in by["Encounter"]] == [
        ("inpatient", "finished"), ("outpatient", "in-progress")]
    assert [c.code for c in by["Condition"]] == ["I10", "E11.9"]
    cre = next(o for o in by["Observation"] if o.code == "2160-0")
    assert cre.unit == "umol/L" and abs(cre.value - 97.26) < 0.01
    reasons = sorted(r.reason for r in rej)
    assert len(rej) == 4, reasons  # person 3 no birth year, visit 12, condition 22, meas 32
    assert any("year_of_birth" in r for r in reasons)
    assert any("not ICD-10" in r for r in reasons)


def test_omop_folder_through_ingest(tmp_path):
    settings = make_settings(tmp_path / "home")
    rep = ingest([_omop(tmp_path / "omop")], settings=settings, institution="OM-1").to_json()
    assert rep["by_type"]["Patient"] == 2 and rep["rejected"] == 4


def _write_dicom(path: Path, *, charset: str, name: str, study: str, series: str,
                 modality: str = "CT", sex: str = "F") -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = "D0001"
    ds.PatientBirthDate = "19700102"
    ds.PatientSex = sex
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate, ds.StudyTime = "20260301", "083000"
    ds.Modality = modality
    ds.StudyDescription = "胸部CT平扫"
    ds.Rows, ds.Columns = 2, 2
    ds.PixelData = b"\0" * 8
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("charset", ["ISO_IR 192", "GB18030"])
def test_dicom_chinese_study(tmp_path, charset):
    folder = tmp_path / "pacs"
    folder.mkdir()
    study = generate_uid()
    s1, s2 = generate_uid(), generate_uid()
    _write_dicom(folder / "a.dcm", charset=charset, name="Wang^Xiaodong=王^小东",
                 study=study, series=s1)
    _write_dicom(folder / "b.dcm", charset=charset, name="Wang^Xiaodong=王^小东",
                 study=study, series=s1)
    _write_dicom(folder / "c.dcm", charset=charset, name="Wang^Xiaodong=王^小东",
                 study=study, series=s2, modality="SR")
    (folder / "junk.dcm").write_bytes(b"not dicom at all")
    raw = (folder / "a.dcm").read_bytes()
    (folder / "trunc.dcm").write_bytes(raw[:200])
    recs, rej = _split(read_dicom_source(folder, "PACS-1", DeterministicLinker(KEY)))
    pat = next(r for r in recs if r.resourceType == "Patient")
    assert pat.name == "王小东" and pat.birthDate == "1970-01-02" and pat.gender == "female"
    img = next(r for r in recs if r.resourceType == "ImagingStudy")
    assert img.uid == study and img.n_series == 2 and img.n_instances == 3
    assert img.modalities == ["CT", "SR"] and img.description == "胸部CT平扫"
    assert img.started == "2026-03-01T00:30:00Z" and img.endpoint == str(folder)
    assert "PixelData" not in str(img.to_dict())
    assert sorted(Path(r.source).name for r in rej) == ["junk.dcm", "trunc.dcm"]


def test_dicom_pydicom_test_files(tmp_path):
    src = tmp_path / "dcm"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        (src / name).write_bytes(Path(get_testdata_file(name)).read_bytes())
    gbr = get_testdata_file("GDCMJ2K_TextGBR.dcm")
    if gbr:
        (src / "gbr.dcm").write_bytes(Path(gbr).read_bytes())
    settings = make_settings(tmp_path / "home")
    rep = ingest([src], settings=settings, institution="PACS-2").to_json()
    assert rep["by_type"]["ImagingStudy"] >= 2
    with RecordStore.for_institution(settings.records_dir, "PACS-2") as st:
        assert st.count("ImagingStudy") == rep["by_type"]["ImagingStudy"]
    if gbr:
        ds = pydicom.dcmread(gbr, stop_before_pixels=True)
        assert "GB18030" in str(ds.get("SpecificCharacterSet", "GB18030"))


def test_fhir_clinical_resources_synthea_style(tmp_path):
    import json

    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {
            "resourceType": "Patient", "id": "p1", "name": [{"family": "Smith",
                                                             "given": ["Ann"]}],
            "gender": "female", "birthDate": "1961-04-02"}},
        {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/"
                                          "v3-ActCode", "code": "AMB"},
                      "subject": {"reference": "urn:uuid:p1"},
                      "period": {"start": "2020-01-02T09:00:00+08:00",
                                 "end": "2020-01-02T09:30:00+08:00"}}},
        {"resource": {"resourceType": "Observation", "id": "o1", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org",
                                           "code": "2339-0"}]},
                      "subject": {"reference": "urn:uuid:p1"},
                      "effectiveDateTime": "2020-01-02T09:10:00+08:00",
                      "valueQuantity": {"value": 90, "unit": "mg/dL",
                                        "system": "http://unitsofmeasure.org",
                                        "code": "mg/dL"}}},
        {"resource": {"resourceType": "Condition", "id": "c1",
                      "subject": {"reference": "urn:uuid:p1"},
                      "code": {"coding": [{"system": "http://snomed.info/sct",
                                           "code": "44054006"}]},
                      "onsetDateTime": "2019-01-01T00:00:00+08:00"}},
        {"resource": {"resourceType": "ImagingStudy", "id": "i1", "status": "available",
                      "identifier": [{"value": "urn:oid:1.2.3.4"}],
                      "subject": {"reference": "urn:uuid:p1"},
                      "started": "2020-01-02T10:00:00+08:00",
                      "series": [{"uid": "1.2.3.4.1", "modality": {"code": "CT"},
                                  "instance": [{"uid": "1.2.3.4.1.1"}]}]}},
        {"resource": {"resourceType": "Appointment", "id": "a1", "status": "booked",
                      "start": "2020-02-01T09:00:00+08:00",
                      "participant": [{"actor": {"reference": "Patient/p1"}},
                                      {"actor": {"reference": "Practitioner/PR-1"}}]}},
    ]}
    folder = tmp_path / "synthea"
    folder.mkdir()
    (folder / "ann.json").write_text(json.dumps(bundle), encoding="utf-8")
    settings = make_settings(tmp_path / "home")
    rep = ingest([folder], settings=settings, institution="SY-1").to_json()
    assert rep["by_type"] == {"Appointment": 1, "Encounter": 1, "ImagingStudy": 1,
                              "Observation": 1, "Patient": 1}
    assert rep["rejected"] == 1 and "not ICD-10" in rep["rejects"][0]["reason"]  # SNOMED
    with RecordStore.for_institution(settings.records_dir, "SY-1") as st:
        obs = json.loads(st.get("Observation/o1"))
        img = json.loads(st.get("ImagingStudy/i1"))
    assert obs["unit"] == "mmol/L" and abs(obs["value"] - 4.9956) < 1e-3
    assert obs["subject"] == "p1" and img["uid"] == "1.2.3.4" and img["n_instances"] == 1
