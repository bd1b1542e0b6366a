"""HL7 v2 adapter on hand-written messages, including the breakage real feeds have."""

from __future__ import annotations

import json
from pathlib import Path

from features.identity import DeterministicLinker, regional_patient_id
from features.ingest import ingest
from features.ingest.common import Reject
from features.ingest.hl7v2 import read_hl7_file, sample_messages
from features.records import RecordStore

from .conftest import make_settings

KEY = "test-pseudonym-key"
RID = "11010519491231002X"

ADT_A01 = "\r".join([
    "MSH|^~\\&|HIS|R1-S1|RC|REGION|20260301083000||ADT^A01^ADT_A01|CTL0001|P|2.5.1|||||CHN|"
    "UNICODE UTF-8",
    "EVN|A01|20260301083000",
    f"PID|1||MZ0001^^^R1S1^MR~{RID}^^^CHN^NI||王^秀英||19491231|F|||人民路12号^3栋402室^东城区"
    "^^^CHN^H^^R1||13800001111",
    "PV1|1|I|W3^12^1|||||||CAR|||||||||V0001|||||||||||||||||||||||||20260301080000",
    "DG1|1||I10^原发性高血压^I10||20260301|F",
    "DG1|2||ZZZ^bad code^L||20260301|F",
    "ZPI|custom|segment"]) + "\r"

ADT_A03 = ("MSH|^~\\&|HIS|R1-S1|RC|REGION|20260305100000||ADT^A03|CTL0002|P|2.3\r"
           "PID|1||MZ0001^^^R1S1^MR||王^秀英||19491231|F\r"
           "PV1|1|I|W3^12^1|||||||CAR|||||||||V0001|||||||||||||||||||||||||"
           "20260301080000|20260305093000\r")

ORU = "\n".join([  # Unix line endings, an escaped '&' and an unknown escape
    "MSH|^~\\&|LIS|R1-S1|RC|REGION|20260302090000+0800||ORU^R01|CTL0003|P|2.4",
    "PID|1||MZ0001^^^R1S1^MR||王^秀英||19491231|F",
    "OBR|1|P77|F77|2345-7^Glucose^LN|||20260302070000",
    "OBX|1|NM|2345-7^Glucose^LN||126|mg/dl|70-110|H|||F",
    "OBX|2|ST|8251-1^Note^LN||空腹\\T\\餐后 \\Q\\ 正常||||||F",
    "OBX|3|NM|2160-0^Creatinine^LN||high|umol/L|||||F",
    "OBX|4|NM||||mg/dL|||||F"]) + "\n"

ORM = ("MSH|^~\\&|HIS|R1-S1|RC|REGION|20260303|x|ORM^O01|CTL0004|P|2.5\r\n"
       "PID|1||MZ0002^^^R1S1^MR||Li^Qiang||19800304|M\r\n"
       "ORC|NW|ORD555|||||^^^20260303^^S||20260303101500|||PR-R1S1-0001\r\n"
       "OBR|1|ORD555||71020^Chest X-ray^C4\r\n"
       "DG1|1||J18.9^Pneumonia^I10\r\n")

REF = ("\x0bMSH|^~\\&|HIS|R1-C1|RC|REGION|20260304110000||REF^I12|CTL0005|P|2.5.1\r"
       "PID|1||C0009^^^R1C1^MR||张^伟||19700101|M\r"
       "RF1|A|S|||O|SR-R1C1-0000009|20260304100000||20260304160000\r"
       "PRD|RP|赵^医生|||||PR-R1C1-0001\r"
       "PRD|RT|孙^医生|||||PR-R1T1-0003\r"
       "DG1|1||I21.9^AMI^I10\r\x1c\r")

SIU = ("MSH|^~\\&|HIS|R1-T1|RC|REGION|20260304||SIU^S12|CTL0006|P|2.3.1\r"
       "SCH|APPT1|APPT1|||||||||^^30^20260310090000^20260310093000||||||||||||||booked\r"
       "PID|1||T0001^^^R1T1^MR||张^伟||19700101|M\r"
       "AIP|1||PR-R1T1-0003^孙^医生\r")

BROKEN = [
    # no PID
    "MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A04|B1|P|2.5\rEVN|A04|20260301\r",
    # unsupported type
    "MSH|^~\\&|HIS|X|RC|R|20260301||MDM^T02|B2|P|2.5\rPID|1||M1^^^X^MR\r",
    # truncated mid-PID, then a broken line
    "MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A08|B3|P|2.5\rPID|1||M3^^^X^MR||Wang^Wei||1949"
    "\r@@garbage line\r",
    # REF without a referred-to provider
    "MSH|^~\\&|HIS|X|RC|R|20260301||REF^I12|B4|P|2.5\rPID|1||M4^^^X^MR\rRF1|P|R\r"
    "DG1|1||E11.9^^I10\r",
    # bad birth date
    "MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A04|B5|P|2.5\rPID|1||M5^^^X^MR||A^B||19991345|F\r",
]


def _read(text: str | bytes, tmp_path: Path, name: str = "feed.hl7") -> tuple[list, list]:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    items = list(read_hl7_file(p, "R1-S1", DeterministicLinker(KEY)))
    return ([x for x in items if not isinstance(x, Reject)],
            [x for x in items if isinstance(x, Reject)])


def test_adt_admit_and_discharge(tmp_path):
    recs, rej = _read(ADT_A01 + ADT_A03, tmp_path)
    pats = [r for r in recs if r.resourceType == "Patient"]
    assert pats[0].name == "王秀英" and pats[0].birthDate == "1949-12-31"
    assert pats[0].resident_id == RID and pats[0].gender == "female"
    assert pats[0].patient_id_regional == regional_patient_id(KEY, resident_id=RID)
    assert pats[0].phone == "13800001111" and pats[0].district == "R1"
    enc = [r for r in recs if r.resourceType == "Encounter"]
    assert [e.status for e in enc] == ["in-progress", "finished"]
    assert enc[0].id == "V0001" and enc[0].klass == "inpatient"
    assert enc[0].specialty == "cardiology" and enc[0].start == "2026-03-01T00:00:00Z"
    assert enc[1].end == "2026-03-05T01:30:00Z"
    cond = [r for r in recs if r.resourceType == "Condition"]
    assert [c.code for c in cond] == ["I10"]
    assert len(rej) == 1 and "DG1[2]" in rej[0].position and "ICD-10" in rej[0].reason


def test_oru_units_escapes_and_bad_obx(tmp_path):
    recs, rej = _read(ORU, tmp_path)
    obs = {r.code: r for r in recs if r.resourceType == "Observation"}
    assert obs["2345-7"].unit == "mmol/L" and abs(obs["2345-7"].value - 6.9938) < 1e-3
    assert obs["2345-7"].effective == "2026-03-01T23:00:00Z"  # OBR-7, local time
    assert obs["8251-1"].value_text == "空腹&餐后 \\Q\\ 正常"
    assert sorted(r.position.split()[-1] for r in rej) == ["OBX[3]", "OBX[4]"]


def test_orm_ref_siu(tmp_path):
    recs, rej = _read(ORM + REF + SIU, tmp_path)
    assert rej == []
    by = {}
    for r in recs:
        by.setdefault(r.resourceType, []).append(r)
    order, ref = by["ServiceRequest"]
    assert order.id == "ORD-ORD555" and order.urgency == "emergency" and order.performer == ""
    assert ref.id == "SR-R1C1-0000009" and ref.performer == "PR-R1T1-0003"
    assert ref.requester == "PR-R1C1-0001" and ref.reasonCode == "I21.9"
    assert ref.urgency == "emergency" and ref.authoredOn == "2026-03-04T02:00:00Z"
    assert by["Task"][0].status == "accepted" and by["Task"][0].focus == ref.id
    appt = by["Appointment"][0]
    assert appt.start == "2026-03-10T01:00:00Z" and appt.end == "2026-03-10T01:30:00Z"
    assert appt.practitioner == "PR-R1T1-0003" and appt.subject == "T0001"


def test_broken_messages_are_quarantined_with_reasons(tmp_path):
    recs, rej = _read("".join(BROKEN) + ADT_A03, tmp_path)
    reasons = " | ".join(f"{r.position}: {r.reason}" for r in rej)
    assert "no PID" in reasons
    assert "MDM^T02 is not supported" in reasons
    assert "not an HL7 segment" in reasons
    assert "referred-to provider" in reasons
    assert "birth date" in reasons
    # the truncated A08 still gives its patient (birth date '1949' is a partial date)
    assert "bad birth date" in reasons or any(r.id == "M3" for r in recs)
    assert any(r.resourceType == "Encounter" and r.status == "finished" for r in recs)


def test_gb18030_feed_and_stray_lines(tmp_path):
    msg = ("MSH|^~\\&|HIS|X|RC|R|20260301||ADT^A04|G1|P|2.5|||||CHN|GB 18030-2000\r"
           "PID|1||G1^^^X^MR||欧阳^娜娜||19900101|F\r")
    recs, rej = _read(b"PID|stray\r\n" + msg.encode("gb18030"), tmp_path)
    assert recs[0].name == "欧阳娜娜"
    assert len(rej) == 1 and "outside a message" in rej[0].reason


def test_empty_and_binary_files(tmp_path):
    _, rej = _read(b"", tmp_path, "empty.hl7")
    assert rej[0].reason == "empty file"
    _, rej = _read(bytes(range(256)) * 20, tmp_path, "garbage.hl7")
    assert rej and all(isinstance(r, Reject) for r in rej)


def test_ingest_hl7_folder_and_generated_feed(tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.hl7").write_text(ADT_A01 + ORU + ORM + REF + SIU, encoding="utf-8")
    (feed / "b.hl7").write_text("".join(sample_messages(40, seed=1)), encoding="utf-8")
    settings = make_settings(tmp_path / "home")
    rep = ingest([feed], settings=settings, institution="R1-S1").to_json()
    assert rep["by_type"]["Patient"] > 5 and rep["by_type"]["Observation"] >= 2
    assert {"Appointment", "Encounter", "ServiceRequest", "Task"} <= set(rep["by_type"])
    lines = Path(rep["quarantine"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == rep["rejected"] == 3  # DG1[2], OBX[3], OBX[4]
    assert all(json.loads(x)["reason"] for x in lines)
    with RecordStore.for_institution(settings.records_dir, "R1-S1") as st:
        assert st.count("Appointment") >= 1


def test_quality_report_of_an_ingest(tmp_path):
    from features.quality import read_report

    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "a.hl7").write_text(ADT_A01 + ORU + "".join(BROKEN), encoding="utf-8")
    settings = make_settings(tmp_path / "home")
    rep = ingest([feed], settings=settings, institution="R1-S1")
    q = read_report(settings)
    assert Path(rep.quality).exists() and q["accepted"] == rep.accepted
    assert q["rejected"] == rep.rejected > 0
    pat = q["completeness"]["Patient"]
    assert pat["records"] == 2 and 0 < pat["fields"]["resident_id"] < 1
    assert pat["fields"]["name"] > 0.5
    dx = q["code_mapping"]["diagnosis_icd10"]
    assert dx["mapped"] == 1 and dx["unmapped"] == 1 and dx["coverage"] == 0.5
    assert q["code_mapping"]["observation_unit_ucum"]["coverage"] == 1.0
    assert sum(q["rejects_by_reason"].values()) == rep.rejected
    assert q["rejects_by_institution"] == {"R1-S1": rep.rejected}
    text = json.dumps(q, ensure_ascii=False)
    assert "王" not in text and RID not in text and "13800001111" not in text
