"""Ingest: counts, pseudonyms, de-identification, idempotency, quarantine, user errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from features.identity import keyed_hash, normalise_resident_id, regional_patient_id
from features.ingest import ingest
from features.offline import SCHEMAS, opaque_referral_id
from features.records import RecordStore, list_stores
from features.synth import load_ground_truth, oracle_scores
from regioncare.errors import UserError

from .conftest import make_settings

RID = "11010519491231002X"  # a valid 18-digit resident ID (check digit X)


def _parquets(settings) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(settings.offline_dir) / f"{name}.parquet")
            for name in SCHEMAS}


def _digests(settings) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(settings.offline_dir).glob("*.parquet"))}


# ----------------------------------------------------------------------------- synth region
def test_ingest_counts_by_type(region, ingested):
    out, counts = region
    settings, report = ingested
    j = report.to_json()
    assert set(j) == {"accepted", "rejected", "by_type", "rejects", "quarantine"}
    assert j["rejected"] == 0 and j["rejects"] == []
    by = j["by_type"]
    assert by["Organization"] == counts["institutions"] == by["Location"]
    assert by["Practitioner"] == counts["practitioners"] == by["PractitionerRole"]
    assert by["ServiceRequest"] == counts["referrals"] == by["Task"]
    ids = pd.read_csv(out / "ground_truth" / "identities.csv", dtype=str)
    assert by["Patient"] == len(ids)
    assert by["Slot"] > 1000 and by["Condition"] > counts["patients"]
    assert j["accepted"] == sum(by.values())
    assert Path(j["quarantine"]).exists()
    # Stores: one per institution, holding what was accepted.
    stores = list_stores(settings.records_dir)
    assert len(stores) == counts["institutions"]
    total = 0
    for _, path in stores:
        with RecordStore(path) as st:
            total += st.count()
    assert total == j["accepted"]


def test_offline_tables_have_exact_schemas(ingested):
    settings, _ = ingested
    tables = _parquets(settings)
    for name, schema in SCHEMAS.items():
        df = tables[name]
        assert list(df.columns) == [f.name for f in schema], name
        assert len(df) > 0, name
        for f in schema:
            if str(f.type).startswith("timestamp"):
                assert str(df[f.name].dtype) == "datetime64[ns, UTC]", (name, f.name)
            elif str(f.type) == "string":
                assert df[f.name].dropna().map(type).eq(str).all(), (name, f.name)
    p = tables["patients"]
    assert p["age_years"].max() <= 90 and "90+" in set(p["age_band"])
    assert set(p["sex"]) <= {"male", "female", "unknown"}
    r = tables["referrals"]
    assert set(r["status"]) == {"accepted", "declined", "completed"}
    assert set(r["outcome"].dropna()) == {"good", "poor"}
    assert r.loc[r["status"] != "completed", "outcome"].isna().all()
    assert r["target_institution_id"].notna().all()
    assert r["referral_id"].str.startswith("r_").all() and r["referral_id"].is_unique
    pr = tables["practitioners"]
    assert pr["title_rank"].between(1, 4).all() and set(pr["tier"]) == {1, 2, 3}
    last = pr[pr["event_timestamp"] == pr["event_timestamp"].max()]
    assert last["next_free_slot"].notna().sum() > 50
    assert pr[pr["event_timestamp"] < pr["event_timestamp"].max()]["next_free_slot"].isna().all()
    assert set(tables["slots"]["status"]) == {"free", "busy"}
    assert len(tables["regions"]) == 3


def test_practitioner_stats_are_point_in_time(ingested):
    settings, _ = ingested
    t = _parquets(settings)
    pr, ref = t["practitioners"], t["referrals"]
    snaps = sorted(pr["event_timestamp"].unique())
    for snap in (snaps[0], snaps[len(snaps) // 2], snaps[-1]):
        rows = pr[pr["event_timestamp"] == snap].set_index("practitioner_id")
        win = ref[(ref["event_timestamp"] < snap)
                  & (ref["event_timestamp"] >= snap - pd.Timedelta(days=365))]
        expect = win.groupby("target_practitioner_id").size().reindex(rows.index).fillna(0)
        assert (rows["referrals_received_365d"] == expect.astype(int)).all()
    first = pr[pr["event_timestamp"] == snaps[0]]
    assert (first["acceptance_rate"] == 0.8).all()  # nothing decided yet: the prior


def test_patient_rows_are_cumulative(ingested):
    settings, _ = ingested
    p = _parquets(settings)["patients"]
    g = p.groupby("patient_id")
    assert g["event_timestamp"].apply(lambda s: s.is_monotonic_increasing).all()
    for col in ("n_conditions", "prior_referrals", "has_hypertension", "comorbidity_index"):
        assert g[col].apply(lambda s: s.is_monotonic_increasing).all(), col
    r = _parquets(settings)["referrals"]
    last = g.tail(1).set_index("patient_id")["prior_referrals"]
    assert (r.groupby("patient_id").size().reindex(last.index).fillna(0) == last).all()


def test_continuity_rows_are_point_in_time(ingested):
    """The continuity table at each accepted referral's decision: who has accepted the
    patient's referrals by then, latest first (what serving reads online)."""
    settings, _ = ingested
    tables = _parquets(settings)
    c, r = tables["continuity"], tables["referrals"]
    acc = r[r["status"].isin(["accepted", "completed"])].sort_values("decision_timestamp")
    assert len(acc) and len(c) == acc.drop_duplicates(
        ["patient_id", "decision_timestamp"]).shape[0]
    for row in c.itertuples():
        mine = acc[(acc["patient_id"] == row.patient_id)
                   & (acc["decision_timestamp"] <= row.event_timestamp)]
        expect = list(dict.fromkeys(mine["target_practitioner_id"][::-1]))[:8]
        assert row.seen_practitioners == "|".join(expect), (row.patient_id,
                                                             row.event_timestamp)
    assert c.groupby("patient_id")["event_timestamp"].apply(
        lambda s: s.is_monotonic_increasing).all()


def test_pseudonyms_are_consistent_across_institutions(region, ingested):
    out, _ = region
    settings, _ = ingested
    ids = pd.read_csv(out / "ground_truth" / "identities.csv", dtype=str)
    rows = []
    for inst, path in list_stores(settings.records_dir):
        with RecordStore(path) as st:
            for _rid, _, body in st.iter_records("Patient"):
                d = json.loads(body)
                rows.append((inst, d["id"], d["resident_id"], d["patient_id_regional"]))
    recs = pd.DataFrame(rows, columns=["institution", "local_patient_id", "rid", "pseudo"])
    m = recs.merge(ids, on=["institution", "local_patient_id"])
    assert len(m) == len(recs) == len(ids)
    with_id = m[m["rid"].notna()]
    # Same resident ID -> one pseudonym everywhere; one person -> one pseudonym.
    assert with_id.groupby("rid")["pseudo"].nunique().max() == 1
    assert with_id.groupby("person_id")["pseudo"].nunique().max() == 1
    multi = with_id.groupby("person_id")["institution"].nunique()
    assert (multi >= 2).sum() > 100
    # Different people never share a pseudonym.
    assert m.groupby("pseudo")["person_id"].nunique().max() == 1
    assert with_id["pseudo"].iloc[0] == regional_patient_id(
        settings.pseudonym_key, resident_id=with_id["rid"].iloc[0])


def test_no_direct_identifier_reaches_the_offline_tables(region, ingested):
    out, _ = region
    settings, _ = ingested
    persons = pd.read_csv(out / "ground_truth" / "persons.csv", dtype=str)
    ids = pd.read_csv(out / "ground_truth" / "identities.csv", dtype=str)
    values: set[str] = set()
    for df in _parquets(settings).values():
        for c in df.columns:
            values |= {str(v) for v in df[c].dropna().unique()}
    blob = "\n".join(sorted(values))
    sentinels = (list(persons["name"]) + list(persons["name_pinyin"])
                 + list(persons["resident_id"]) + list(persons["resident_id"].str[-8:])
                 + list(persons["birth_date"]) + list(persons["phone"])
                 + list(persons["address"]))
    for s in sentinels:
        assert s not in values
    long_ids = [x for x in ids["local_patient_id"] if len(x) >= 6]
    for s in (list(persons["resident_id"]) + list(persons["phone"])
              + list(persons["address"])[:300] + list(persons["name"])[:300]
              + list(persons["name_pinyin"])[:300] + long_ids[:300]):
        assert s not in blob, s
    from features.deid import sentinel_hits

    assert sentinel_hits(settings.offline_dir, list(persons["resident_id"])[:200]
                         + list(persons["phone"])[:200]) == 0
    assert sentinel_hits(settings.offline_dir, ["R1-T1", "p_"]) == 2  # the scan does find
    # Source referral numbers are replaced by keyed opaque ids.
    assert "SR-" not in blob
    assert all(len(v) != 18 or not v[:17].isdigit() for v in values)


def test_reingest_is_idempotent(region, ingested):
    out, _ = region
    settings, report = ingested  # re-ingest into the shared stores: must change nothing
    first = report.to_json()
    d1 = _digests(settings)
    hashes1 = {}
    for inst, path in list_stores(settings.records_dir):
        with RecordStore(path) as st:
            hashes1[inst] = [(r, hashlib.sha256(b).hexdigest()) for r, _, b in
                             st.iter_records()]
    second = ingest([out], settings=settings).to_json()
    assert first == second
    assert _digests(settings) == d1
    for inst, path in list_stores(settings.records_dir):
        with RecordStore(path) as st:
            assert hashes1[inst] == [(r, hashlib.sha256(b).hexdigest()) for r, _, b in
                                     st.iter_records()]


def test_rebuild_from_the_record_stores_after_an_upgrade(ingested, tmp_path):
    """A home whose offline tables predate a table (continuity) rebuilds them from its record
    stores, the same rows as its ingest wrote, and apply says so instead of failing later."""
    import shutil

    from features.offline import rebuild_offline_tables
    from features.store import apply

    settings, _ = ingested
    old = make_settings(tmp_path / "home")
    shutil.copytree(settings.records_dir, old.records_dir)  # with the region's _region.json
    shutil.copytree(settings.offline_dir, old.offline_dir)
    (Path(old.offline_dir) / "continuity.parquet").unlink()
    with pytest.raises(UserError, match="continuity.parquet .*features rebuild"):
        apply(old)
    rows = rebuild_offline_tables(old)
    assert rows == {name: len(df) for name, df in _parquets(settings).items()}
    for name, df in _parquets(old).items():
        pd.testing.assert_frame_equal(df, _parquets(settings)[name], obj=name)


def test_oracle_maps_offline_referral_ids(region, ingested):
    out, _ = region
    settings, _ = ingested
    ref = _parquets(settings)["referrals"].iloc[:40]
    truth = load_ground_truth(out, pseudonym_key=settings.pseudonym_key.get_secret_value())
    cands = sorted(_parquets(settings)["practitioners"]["practitioner_id"].unique())
    s = oracle_scores(truth, ref[["referral_id"]], cands)
    assert s.shape == (40, len(cands))
    t0 = truth.referrals.iloc[0]
    assert opaque_referral_id(settings, t0["institution"], t0["source_id"]) == t0[
        "referral_id"]


# ----------------------------------------------------------------------------- hand-written
def _bundle(entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": e} for e in entries]}


def _patient(pid: str, name: str, rid: str | None, phone: str) -> dict:
    ids = [{"system": "urn:test:mrn", "value": pid,
            "type": {"coding": [{"code": "MR"}]}}]
    if rid:
        ids.append({"system": "urn:oid:2.16.156.10011.1.1", "value": rid})
    return {"resourceType": "Patient", "id": pid, "identifier": ids,
            "name": [{"text": name}], "gender": "female", "birthDate": "1949-12-31",
            "telecom": [{"system": "phone", "value": phone}],
            "address": [{"text": "滨江区人民路1号", "district": "R1"}]}


def test_hand_written_fhir_links_and_quarantines(tmp_path):
    settings = make_settings(tmp_path / "home")
    a = tmp_path / "a.json"
    a.write_text(json.dumps(_bundle([
        _patient("A1", "张秀英", RID, "13800000001"),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/A1"},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
         "onsetDateTime": "2024-01-02"},
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/A1"},
         "code": {"coding": [{"system": "urn:local", "code": "高血压"}]},
         "onsetDateTime": "2024-01-02"},
    ]), ensure_ascii=False), encoding="utf-8")
    b = tmp_path / "b.json"
    # Same person at another institution: ID with spaces and a lower-case x.
    b.write_text(json.dumps(_bundle([_patient("B7", "张秀瑛", RID[:6] + " " + RID[6:-1] + "x",
                                              "13800000002"),
                                     _patient("B8", "李明", None, "13800000003")]),
                            ensure_ascii=False), encoding="utf-8")
    trunc = tmp_path / "trunc.json"
    trunc.write_text(a.read_text(encoding="utf-8")[:150], encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    r1 = ingest([a, trunc, empty], settings=settings, institution="X-C1").to_json()
    r2 = ingest([b], settings=settings, institution="X-T1").to_json()
    assert r1["by_type"] == {"Condition": 1, "Patient": 1}
    reasons = {Path(x["source"]).name: x["reason"] for x in r1["rejects"]}
    assert "invalid JSON" in reasons["trunc.json"]
    assert reasons["empty.json"] == "empty file"
    assert "not ICD-10" in reasons["a.json"]
    assert r1["rejected"] == 3
    lines = Path(r1["quarantine"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all({"source", "position", "reason"} <= set(json.loads(x))
                                   for x in lines)
    assert r2["rejected"] == 0 and r2["by_type"] == {"Patient": 2}
    with RecordStore.for_institution(settings.records_dir, "X-C1") as st:
        pa = st.patients(0, 10)
    with RecordStore.for_institution(settings.records_dir, "X-T1") as st:
        pb = st.patients(0, 10)
        assert st.patients(1, 1)[0]["id"] == "B8"
    assert pa[0]["patient_id_regional"] == pb[0]["patient_id_regional"]
    assert pb[1]["patient_id_regional"] != pa[0]["patient_id_regional"]
    assert pa[0] == {"id": "A1", "name": "张秀英", "gender": "female",
                     "birth_date": "1949-12-31",
                     "patient_id_regional": pa[0]["patient_id_regional"]}
    # Keyed: not a plain hash of the ID number.
    assert pa[0]["patient_id_regional"][2:] != hashlib.sha256(RID.encode()).hexdigest()[:16]
    assert pa[0]["patient_id_regional"][2:] == keyed_hash(settings.pseudonym_key, RID)[:16]
    pats = pd.read_parquet(Path(settings.offline_dir) / "patients.parquet")
    assert set(pats["patient_id"]) == {pa[0]["patient_id_regional"],
                                      pb[1]["patient_id_regional"]}
    row = pats[pats["patient_id"] == pa[0]["patient_id_regional"]].iloc[-1]
    assert row["age_band"] == "70-79" and row["has_hypertension"] == 1
    # Plant-and-scan: the planted identifiers are in the stores but in no offline table.
    text = "\n".join(df.astype(str).to_csv(index=False) for df in _parquets(settings).values())
    for planted in ("张秀英", "张秀瑛", "李明", RID, RID[:-1], "13800000001", "13800000003",
                    "人民路", "1949-12-31", "A1,", "B7"):
        assert planted not in text, planted
    with RecordStore.for_institution(settings.records_dir, "X-C1") as st:
        assert "张秀英" in st.get("Patient/A1").decode("utf-8")


MAPPING = {
    "institution": "H-S1", "encoding": "gb18030", "date_format": "%Y年%m月%d日",
    "datetime_format": "%Y年%m月%d日 %H时%M分", "timezone": "Asia/Shanghai",
    "files": {
        "patients": {"file": "patients.csv", "columns": {
            "病人ID": "local_id", "姓名": "name", "性别": "gender", "出生日期": "birth_date",
            "身份证号": "resident_id", "联系电话": "phone", "所属区域": "region"}},
        "diagnoses": {"file": "diagnoses.csv", "columns": {
            "诊断ID": "condition_id", "病人ID": "local_patient_id", "诊断编码": "code",
            "诊断日期": "onset"}},
        "referrals": {"file": "referrals.csv", "columns": {
            "转诊单号": "source_id", "病人ID": "local_patient_id", "诊断编码": "diagnosis",
            "紧急程度": "urgency", "申请时间": "authored", "接诊医生": "target",
            "状态": "status", "转归": "outcome", "处理时间": "decision"}},
    },
    "code_maps": {"gender": {"男": "male", "女": "female"},
                  "diagnosis": {"ZD01": "E11.9", "ZD02": "I10"},
                  "urgency": {"普通": "routine", "急诊": "emergency"},
                  "status": {"已完成": "completed", "已拒绝": "declined"},
                  "outcome": {"好转": "good", "未好转": "poor"}},
}


def test_hand_written_csv_gb18030(tmp_path):
    folder = tmp_path / "his"
    folder.mkdir()
    (folder / "mapping.json").write_text(json.dumps(MAPPING, ensure_ascii=False),
                                         encoding="utf-8")
    (folder / "patients.csv").write_text(
        "病人ID,姓名,性别,出生日期,身份证号,联系电话,所属区域\n"
        f"H001,王建国,男,1949年12月31日,{RID},13911112222,R2\n"
        "H002,陈静,女,1990年02月30日,,13911113333,R2\n"
        "H003,刘芳,女,1985年07月01日,,13911114444,R2\n", encoding="gb18030")
    (folder / "diagnoses.csv").write_text(
        "诊断ID,病人ID,诊断编码,诊断日期\nD1,H001,ZD02,2020年01月05日\n"
        "D2,H001,ZD99,2020年01月05日\n", encoding="gb18030")
    (folder / "referrals.csv").write_text(
        "转诊单号,病人ID,诊断编码,紧急程度,申请时间,接诊医生,状态,转归,处理时间\n"
        "R1,H001,ZD01,普通,2025年03月04日 09时30分,PR-X-0001,已完成,好转,"
        "2025年03月20日 10时00分\n", encoding="gb18030")
    settings = make_settings(tmp_path / "home")
    with pytest.raises(UserError):
        ingest([folder], settings=settings)  # no manifest, no institution
    rep = ingest([folder], settings=settings, institution="H-S1").to_json()
    assert rep["by_type"] == {"Condition": 1, "Patient": 2, "ServiceRequest": 1, "Task": 1}
    reasons = sorted(x["reason"] for x in rep["rejects"])
    assert len(reasons) == 2
    assert any("birth date" in r for r in reasons)
    assert any("ZD99" in r for r in reasons)
    assert all(x["position"].startswith("line ") for x in rep["rejects"])
    with RecordStore.for_institution(settings.records_dir, "H-S1") as st:
        sr = json.loads(st.get("ServiceRequest/R1"))
        task = json.loads(st.get("Task/TK-R1"))
        pat = json.loads(st.get("Patient/H001"))
    assert sr["authoredOn"] == "2025-03-04T01:30:00Z"  # 09:30 China time -> UTC
    assert sr["reasonCode"] == "E11.9" and sr["urgency"] == "routine"
    assert task["status"] == "completed" and task["outcome"] == "good"
    assert pat["name"] == "王建国" and pat["resident_id"] == RID
    ref = pd.read_parquet(Path(settings.offline_dir) / "referrals.parquet")
    assert ref.iloc[0]["diagnosis_chapter"] == "IV"
    assert ref.iloc[0]["target_institution_id"] is None
    # A single CSV file of a mapped folder can be ingested on its own.
    one = ingest([folder / "diagnoses.csv"], settings=settings, institution="H-S1").to_json()
    assert one["by_type"] == {"Condition": 1} and one["rejected"] == 1


def test_user_errors(region, tmp_path):
    settings = make_settings(tmp_path / "home")
    with pytest.raises(UserError, match="not in"):
        ingest([region[0]], settings=settings, institution="R9-T1")
    f = tmp_path / "x.json"
    f.write_text("{}")
    with pytest.raises(UserError, match="unknown format"):
        ingest([f], settings=settings, institution="A-1", fmt="xml")
    with pytest.raises(UserError, match="no such file"):
        ingest([tmp_path / "missing"], settings=settings, institution="A-1")
    with pytest.raises(UserError, match="--institution"):
        ingest([f], settings=settings)
    with pytest.raises(UserError, match="format"):
        (tmp_path / "x.txt").write_text("hi")
        ingest([tmp_path / "x.txt"], settings=settings, institution="A-1")
    with pytest.raises(UserError, match="not valid"):
        ingest([f], settings=settings, institution="../etc")


def test_resident_id_normalisation():
    assert normalise_resident_id(RID.lower()) == RID
    assert normalise_resident_id(" 110105 19491231 002X ") == RID
    assert normalise_resident_id(RID[:-1] + "1") is None  # bad check digit
    assert normalise_resident_id("110105491231002") == RID  # 15 -> 18 digits
    assert normalise_resident_id("") is None and normalise_resident_id(None) is None
    key = "k"
    a = regional_patient_id(key, resident_id=None, name="张 三", birth_date="1980-01-01",
                            gender="male")
    b = regional_patient_id(key, resident_id="bad", name="张三", birth_date="1980-01-01",
                            gender="male")
    assert a == b and a.startswith("p_") and len(a) == 18
    assert a != regional_patient_id("other", resident_id=None, name="张三",
                                    birth_date="1980-01-01", gender="male")


def test_ndjson_and_bom_headers(tmp_path):
    settings = make_settings(tmp_path / "home")
    nd = tmp_path / "Patient.ndjson"
    nd.write_text("\n".join([
        json.dumps(_patient("N1", "周杰", RID, "13700000001"), ensure_ascii=False),
        "{not json",
        json.dumps({"resourceType": "Claim", "id": "o1"}),
    ]) + "\n", encoding="utf-8")
    rep = ingest([nd], settings=settings, institution="N-C1").to_json()
    assert rep["by_type"] == {"Patient": 1}
    assert [x["position"] for x in rep["rejects"]] == ["line 2", "line 3"]
    assert "not supported" in rep["rejects"][1]["reason"]
    # A utf-8 mapping but a file written with a BOM still maps its first column.
    folder = tmp_path / "bom"
    folder.mkdir()
    mapping = json.loads(json.dumps(MAPPING))
    mapping["encoding"] = "utf-8"
    mapping["date_format"] = "%d.%m.%Y"
    (folder / "mapping.json").write_text(json.dumps(mapping, ensure_ascii=False),
                                         encoding="utf-8")
    (folder / "patients.csv").write_text(
        "病人ID,姓名,性别,出生日期,身份证号,联系电话,所属区域\n"
        f"Z1,王建国,男,31.12.1949,{RID},13911112222,R2\n", encoding="utf-8-sig")
    rep = ingest([folder], settings=settings, institution="Z-S1").to_json()
    assert rep["by_type"] == {"Patient": 1} and rep["rejected"] == 0
    with RecordStore.for_institution(settings.records_dir, "Z-S1") as z, \
            RecordStore.for_institution(settings.records_dir, "N-C1") as n:
        assert z.patients()[0]["birth_date"] == "1949-12-31"
        assert z.patients()[0]["patient_id_regional"] == n.patients()[0][
            "patient_id_regional"]


def test_link_quality_of_the_mpi(region, ingested):
    from features.identity import link_quality

    out, _ = region
    settings, _ = ingested
    q = link_quality(settings.records_dir, out / "ground_truth" / "identities.csv")
    assert q["persons"] == 2000 and q["records"] > 2000
    assert q["link_precision"] >= 0.995  # the bar
    assert q["link_recall"] >= 0.97


def test_broken_exports_do_not_stop_the_batch(region, tmp_path):
    import shutil

    out, counts = region
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("ground_truth"))
    man = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    fhir = [e for e in man["exports"] if e["format"] == "fhir"]
    csvs = [e for e in man["exports"] if e["format"] == "csv"]
    bundle = copy / fhir[0]["path"] / "bundle-0002.json"
    bundle.write_bytes(bundle.read_bytes()[: len(bundle.read_bytes()) // 2])  # truncated
    (copy / fhir[1]["path"] / "bundle-0009.json").write_bytes(b"")  # empty
    (copy / csvs[0]["path"] / "mapping.json").unlink()  # unmappable
    rows = (copy / csvs[1]["path"] / "referrals.csv").read_bytes().splitlines(keepends=True)
    (copy / csvs[1]["path"] / "referrals.csv").write_bytes(b"".join(rows[:3]) + b"garbage\n")
    rep = ingest([copy], settings=make_settings(tmp_path / "home")).to_json()
    reasons = {(Path(r["source"]).parent.name if r["source"].endswith((".json", ".csv"))
                else Path(r["source"]).name, r["reason"].split(":")[0]) for r in rep["rejects"]}
    assert (fhir[0]["institution"], "invalid JSON") in reasons
    assert (fhir[1]["institution"], "empty file") in reasons
    assert (csvs[0]["institution"], "no mapping.json") in reasons
    assert any(inst == csvs[1]["institution"] for inst, _ in reasons)
    assert rep["by_type"]["Organization"] == counts["institutions"] - 1
    assert rep["accepted"] > 10000
    lines = Path(rep["quarantine"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == rep["rejected"] >= 4


def test_procedures_medications_and_reports_load(tmp_path):
    """Synthea-style clinical resources beyond conditions: kept at the holder, typed."""
    settings = make_settings(tmp_path / "home")
    subject = {"reference": "urn:uuid:pat-1"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:pat-1",
         "resource": _patient("pat-1", "李雷", RID, "13700000002")},
        {"resource": {"resourceType": "Procedure", "id": "pr1", "status": "completed",
                      "subject": subject, "performedPeriod": {"start": "2026-03-01T08:00:00Z"},
                      "code": {"coding": [{"system": "http://snomed.info/sct",
                                           "code": "232717009"}]}}},
        {"resource": {"resourceType": "MedicationRequest", "id": "mr1", "status": "active",
                      "intent": "order", "subject": subject, "authoredOn": "2026-03-02",
                      "medicationCodeableConcept": {"text": "metformin 500 mg",
                                                    "coding": [{"code": "860975"}]},
                      "dosageInstruction": [{"text": "twice daily"}]}},
        {"resource": {"resourceType": "DiagnosticReport", "id": "dr1", "status": "final",
                      "subject": subject, "issued": "2026-03-03T10:00:00Z",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "24323-8"}]},
                      "result": [{"reference": "Observation/ob1"}],
                      "conclusion": "within normal limits"}},
        {"resource": {"resourceType": "Procedure", "id": "pr2", "status": "completed"}},
    ]}
    path = tmp_path / "synthea.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    rep = ingest([path], settings=settings, institution="N-C2").to_json()
    assert rep["by_type"] == {"DiagnosticReport": 1, "MedicationRequest": 1, "Patient": 1,
                              "Procedure": 1}
    assert [r["reason"] for r in rep["rejects"]] == ["Procedure/pr2: Procedure without subject"]
    with RecordStore.for_institution(settings.records_dir, "N-C2") as store:
        med = json.loads(store.get("MedicationRequest/mr1"))
        report = json.loads(store.get("DiagnosticReport/dr1"))
    assert med["medication_code"] == "860975" and med["dosage_text"] == "twice daily"
    assert report["results"] == ["ob1"] and report["code"] == "24323-8"
