"""Per-institution exports: FHIR R4 JSON bundles or HIS-style CSV with a mapping.json."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from features.codes import (
    DIAGNOSIS_BY_CODE,
    FHIR_PRIORITY,
    ICD10_SYSTEM,
    INSTITUTION_ID_SYSTEM,
    PRACTITIONER_ID_SYSTEM,
    RESIDENT_ID_SYSTEM,
    SPECIALTY_SYSTEM,
    SPECIALTY_ZH,
    SUB_SPECIALTY_SYSTEM,
    TIER_LABEL,
    TIER_SYSTEM,
    TITLE_ZH,
)
from features.synth.population import compact

PATIENTS_PER_BUNDLE = 1000
EXT_REGION_EN = "urn:regioncare:extension:region-name-en"
EXT_EXPERIENCE = "urn:regioncare:extension:experience-years"
EXT_TITLE = "urn:regioncare:extension:professional-title"


def _d(x: date | datetime | None) -> str | None:
    if x is None or (isinstance(x, float)) or x is pd.NaT:
        return None
    if isinstance(x, datetime):
        return x.isoformat(timespec="seconds")
    return x.isoformat()


def mrn_system(inst: str) -> str:
    return f"urn:regioncare:{inst}:mrn"


def local_system(inst: str, kind: str) -> str:
    return f"urn:regioncare:{inst}:{kind}"


def _write_json(path: Path, obj: dict) -> None:
    # One entry per line: readable with grep/diff, yet written by the fast C encoder.
    if obj.get("resourceType") == "Bundle" and "entry" in obj:
        head = {k: v for k, v in obj.items() if k != "entry"}
        lines = [json.dumps(e, ensure_ascii=False) for e in obj["entry"]]
        text = json.dumps(head, ensure_ascii=False)[:-1] + ', "entry": [\n' + ",\n".join(
            lines) + "\n]}\n"
    else:
        text = json.dumps(obj, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- FHIR
@dataclass
class FhirWriter:
    inst: str
    folder: Path
    transaction: bool
    base: str = ""
    n_files: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.base = f"https://fhir.{compact(self.inst).lower()}.example.cn/fhir"

    def _entry(self, res: dict) -> dict:
        e: dict = {"fullUrl": f"{self.base}/{res['resourceType']}/{res['id']}",
                   "resource": res}
        if self.transaction:
            e["request"] = {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
        return e

    def write_bundle(self, resources: list[dict]) -> Path:
        self.n_files += 1
        bid = f"{compact(self.inst)}-{self.n_files:04d}"
        bundle = {"resourceType": "Bundle", "id": bid,
                  "type": "transaction" if self.transaction else "collection",
                  "entry": [self._entry(r) for r in resources]}
        path = self.folder / f"bundle-{self.n_files:04d}.json"
        _write_json(path, bundle)
        return path


def fhir_directory(inst: pd.Series, region: pd.Series, staff: pd.DataFrame,
                   slots: pd.DataFrame, sessions: dict[str, str]) -> list[dict]:
    code = inst["institution"]
    org = {
        "resourceType": "Organization", "id": compact(code),
        "identifier": [{"system": INSTITUTION_ID_SYSTEM, "value": code}],
        "active": True,
        "type": [{"coding": [{"system": TIER_SYSTEM, "code": TIER_LABEL[int(inst["tier"])],
                              "display": {3: "三级医院", 2: "二级医院",
                                          1: "社区卫生服务中心"}[int(inst["tier"])]}]}],
        "name": inst["name"],
        "address": [{"district": region["region"], "city": region["name_zh"],
                     "country": "CN",
                     "extension": [{"url": EXT_REGION_EN, "valueString": region["name_en"]}]}],
    }
    loc = {"resourceType": "Location", "id": f"{compact(code)}-main", "status": "active",
           "name": inst["name"], "managingOrganization": {"reference": f"Organization/"
                                                                       f"{compact(code)}"},
           "position": {"latitude": float(inst["lat"]), "longitude": float(inst["lon"])}}
    out = [org, loc]
    horizon = ({"start": _d(slots["start"].min()), "end": _d(slots["end"].max())}
               if len(slots) else {})
    for p in staff.itertuples():
        pid = p.practitioner_id
        out.append({
            "resourceType": "Practitioner", "id": pid,
            "identifier": [{"system": PRACTITIONER_ID_SYSTEM, "value": pid}],
            "active": True, "name": [{"text": p.name}], "gender": p.gender,
            "qualification": [{"code": {"coding": [{"system": EXT_TITLE, "code": p.title,
                                                     "display": TITLE_ZH[p.title]}]}}],
            "communication": [{"coding": [{"system": "urn:ietf:bcp:47",
                                           "code": _lang(x)}], "text": x}
                              for x in p.languages.split("|")],
            "extension": [{"url": EXT_EXPERIENCE, "valueInteger": int(p.experience_years)}],
        })
        out.append({
            "resourceType": "PractitionerRole", "id": f"{pid}-role", "active": True,
            "practitioner": {"reference": f"Practitioner/{pid}"},
            "organization": {"reference": f"Organization/{compact(code)}"},
            "specialty": [{"coding": [
                {"system": SPECIALTY_SYSTEM, "code": p.specialty,
                 "display": SPECIALTY_ZH[p.specialty]},
                {"system": SUB_SPECIALTY_SYSTEM, "code": p.sub_specialty}]}],
        })
        if pid in sessions:
            out.append({
                "resourceType": "Schedule", "id": f"SC-{pid[3:]}", "active": True,
                "actor": [{"reference": f"Practitioner/{pid}"}],
                "serviceType": [{"coding": [{"system": SPECIALTY_SYSTEM,
                                             "code": p.specialty}]}],
                "planningHorizon": horizon,
                "comment": f"weekly clinic sessions: {sessions[pid]}"})
    for s in slots.itertuples():
        out.append({"resourceType": "Slot", "id": s.slot_id,
                    "schedule": {"reference": f"Schedule/{s.schedule_id}"},
                    "status": s.status, "start": _d(s.start), "end": _d(s.end)})
    return out


def _lang(x: str) -> str:
    return {"Mandarin": "zh-CN", "Cantonese": "yue", "English": "en", "Wu": "wuu"}.get(x, "zh")


def fhir_patient(r: dict) -> dict:
    ids = [{"use": "usual", "system": mrn_system(r["institution"]), "value": r["local_id"],
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                 "code": "MR"}]},
            "period": {"start": _d(r["registered"])}}]
    if r["resident_id"]:
        ids.append({"use": "official", "system": RESIDENT_ID_SYSTEM,
                    "value": r["resident_id"],
                    "type": {"coding": [{"system":
                                         "http://terminology.hl7.org/CodeSystem/v2-0203",
                                         "code": "NI"}]}})
    out = {"resourceType": "Patient", "id": r["local_id"], "identifier": ids,
           "name": [{"text": r["name"]}], "gender": r["gender"],
           "birthDate": _d(r["birth_date"]),
           "telecom": [{"system": "phone", "value": r["phone"], "use": "mobile"}],
           "address": [{"text": r["address"], "district": r["region"], "country": "CN"}]}
    if not r["phone"]:
        del out["telecom"]
    if not r["address"]:
        del out["address"][0]["text"]
    return out


def fhir_condition(c: dict) -> dict:
    d = DIAGNOSIS_BY_CODE[c["code"]]
    return {"resourceType": "Condition", "id": c["condition_id"],
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": ICD10_SYSTEM, "code": c["code"],
                                 "display": d.display}]},
            "subject": {"reference": f"Patient/{c['local_id']}"},
            "onsetDateTime": _d(c["onset"]), "recordedDate": _d(c["onset"])}


def fhir_referral(r: dict) -> list[dict]:
    sid = r["source_id"]
    sr = {"resourceType": "ServiceRequest", "id": sid,
          "identifier": [{"system": local_system(r["institution"], "referral"),
                          "value": sid}],
          "status": {"completed": "completed", "declined": "revoked"}.get(r["status"],
                                                                          "active"),
          "intent": "order",
          "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005",
                                    "display": "Patient referral"}]}],
          "priority": FHIR_PRIORITY[r["urgency"]],
          "code": {"text": "referral"},
          "subject": {"reference": f"Patient/{r['local_id']}"},
          "authoredOn": _d(r["authored"]),
          "reasonCode": [{"coding": [{"system": ICD10_SYSTEM, "code": r["diagnosis"]}]}],
          "performer": [{"identifier": {"system": PRACTITIONER_ID_SYSTEM,
                                        "value": r["target"]}}]}
    if r["requester"]:
        sr["requester"] = {"reference": f"Practitioner/{r['requester']}"}
    status = {"declined": "rejected", "accepted": "accepted",
              "completed": "completed"}[r["status"]]
    task = {"resourceType": "Task", "id": "TK-" + sid[3:], "status": status,
            "intent": "order", "focus": {"reference": f"ServiceRequest/{sid}"},
            "for": {"reference": f"Patient/{r['local_id']}"},
            "authoredOn": _d(r["authored"]), "lastModified": _d(r["decision"]),
            "owner": {"identifier": {"system": PRACTITIONER_ID_SYSTEM,
                                     "value": r["target"]}}}
    if r["outcome"]:
        task["businessStatus"] = {"coding": [{"system": "urn:regioncare:referral-outcome",
                                              "code": r["outcome"]}]}
    if r["visit"] is not None and not pd.isna(r["visit"]):
        task["executionPeriod"] = {"start": _d(r["visit"])}
    return [sr, task]


def fhir_appointment(a: dict) -> dict:
    """A visit at the receiving institution; ``end`` is the real end once fulfilled."""
    return {"resourceType": "Appointment", "id": a["appointment_id"], "status": a["status"],
            "created": _d(a["created"]), "start": _d(a["start"]), "end": _d(a["end"]),
            "basedOn": [{"identifier": {"system": local_system(a["referral_org"], "referral"),
                                        "value": a["referral_no"]}}],
            "participant": [
                {"actor": {"reference": f"Patient/{a['local_id']}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/{a['practitioner_id']}"},
                 "status": "accepted"}]}


# ----------------------------------------------------------------------------- CSV
# Three HIS "vendors": column names per file (regional field -> local header).
VENDORS: dict[str, dict[str, dict[str, str]]] = {
    "zh": {
        "institution": {"code": "机构编码", "name": "机构名称", "tier": "机构级别",
                        "region": "区域编码", "region_name_zh": "区域名称",
                        "region_name_en": "区域英文名", "lat": "纬度", "lon": "经度"},
        "staff": {"local_id": "工号", "practitioner_id": "医师编码", "name": "姓名",
                  "gender": "性别", "department": "科室代码", "sub_specialty": "亚专业",
                  "title": "职称", "experience_years": "从业年限", "languages": "语言"},
        "schedule": {"slot_id": "号源ID", "practitioner_id": "医师编码", "start": "开始时间",
                     "end": "结束时间", "status": "号源状态"},
        "patients": {"local_id": "病人ID", "name": "姓名", "gender": "性别",
                     "birth_date": "出生日期", "resident_id": "身份证号", "phone": "联系电话",
                     "address": "家庭住址", "region": "所属区域", "registered": "建档日期"},
        "diagnoses": {"condition_id": "诊断ID", "local_patient_id": "病人ID",
                      "code": "诊断编码", "name": "诊断名称", "onset": "诊断日期"},
        "referrals": {"source_id": "转诊单号", "local_patient_id": "病人ID",
                      "diagnosis": "诊断编码", "urgency": "紧急程度", "authored": "申请时间",
                      "requester": "申请医生", "target": "接诊医生", "status": "状态",
                      "outcome": "转归", "decision": "处理时间", "visit": "就诊时间"},
        "appointments": {"appointment_id": "预约ID", "local_patient_id": "病人ID",
                         "practitioner_id": "医师编码", "created": "预约时间",
                         "start": "就诊开始", "end": "就诊结束", "status": "预约状态",
                         "referral_org": "转出机构", "referral_no": "转诊单号"},
    },
    "en": {
        "institution": {"code": "ORG_CODE", "name": "ORG_NAME", "tier": "GRADE",
                        "region": "AREA_CODE", "region_name_zh": "AREA_NAME",
                        "region_name_en": "AREA_NAME_EN", "lat": "LAT", "lon": "LNG"},
        "staff": {"local_id": "EMP_NO", "practitioner_id": "DOC_CODE", "name": "DOC_NAME",
                  "gender": "SEX", "department": "DEPT_CODE", "sub_specialty": "SUBSPEC",
                  "title": "TITLE_CODE", "experience_years": "YEARS", "languages": "LANGS"},
        "schedule": {"slot_id": "SLOT_ID", "practitioner_id": "DOC_CODE",
                     "start": "START_TIME", "end": "END_TIME", "status": "SLOT_STATE"},
        "patients": {"local_id": "PAT_ID", "name": "PAT_NAME", "gender": "SEX",
                     "birth_date": "DOB", "resident_id": "ID_CARD_NO", "phone": "TEL",
                     "address": "ADDR", "region": "AREA", "registered": "REG_DATE"},
        "diagnoses": {"condition_id": "DIAG_ID", "local_patient_id": "PAT_ID",
                      "code": "DIAG_CODE", "name": "DIAG_NAME", "onset": "DIAG_DATE"},
        "referrals": {"source_id": "REF_NO", "local_patient_id": "PAT_ID",
                      "diagnosis": "DIAG_CODE", "urgency": "PRIORITY", "authored": "REQ_TIME",
                      "requester": "REQ_DOC", "target": "TO_DOC", "status": "STATE",
                      "outcome": "RESULT", "decision": "DONE_TIME", "visit": "VISIT_TIME"},
        "appointments": {"appointment_id": "APPT_ID", "local_patient_id": "PAT_ID",
                         "practitioner_id": "DOC_CODE", "created": "BOOK_TIME",
                         "start": "START_TIME", "end": "END_TIME", "status": "APPT_STATE",
                         "referral_org": "FROM_ORG", "referral_no": "REF_NO"},
    },
    "py": {
        "institution": {"code": "jgbm", "name": "jgmc", "tier": "jgjb", "region": "qybm",
                        "region_name_zh": "qymc", "region_name_en": "qymc_en", "lat": "wd",
                        "lon": "jd"},
        "staff": {"local_id": "gh", "practitioner_id": "ysbm", "name": "xm", "gender": "xb",
                  "department": "ksdm", "sub_specialty": "yzy", "title": "zc",
                  "experience_years": "cynx", "languages": "yy"},
        "schedule": {"slot_id": "hyid", "practitioner_id": "ysbm", "start": "kssj",
                     "end": "jssj", "status": "zt"},
        "patients": {"local_id": "brid", "name": "xm", "gender": "xb", "birth_date": "csrq",
                     "resident_id": "sfzh", "phone": "lxdh", "address": "jtzz",
                     "region": "ssqy", "registered": "jdrq"},
        "diagnoses": {"condition_id": "zdid", "local_patient_id": "brid", "code": "zdbm",
                      "name": "zdmc", "onset": "zdrq"},
        "referrals": {"source_id": "zzdh", "local_patient_id": "brid", "diagnosis": "zdbm",
                      "urgency": "jjcd", "authored": "sqsj", "requester": "sqys",
                      "target": "jzys", "status": "zt", "outcome": "zg", "decision": "clsj",
                      "visit": "jzsj"},
        "appointments": {"appointment_id": "yyid", "local_patient_id": "brid",
                         "practitioner_id": "ysbm", "created": "yysj", "start": "kssj",
                         "end": "jssj", "status": "yyzt", "referral_org": "zcjg",
                         "referral_no": "zzdh"},
    },
}
# Each installation renames some columns (configured by the hospital's IT department).
ALIASES: dict[str, dict[str, list[str]]] = {
    "zh": {"local_id": ["病人ID", "患者编号", "门诊号"], "birth_date": ["出生日期", "出生年月日"],
           "resident_id": ["身份证号", "身份证号码", "证件号码"], "phone": ["联系电话", "手机号"]},
    "en": {"local_id": ["PAT_ID", "PATIENT_NO", "MRN"], "birth_date": ["DOB", "BIRTH_DATE"],
           "resident_id": ["ID_CARD_NO", "IDNO", "CERT_NO"], "phone": ["TEL", "MOBILE"]},
    "py": {"local_id": ["brid", "hzbh", "mzh"], "birth_date": ["csrq", "csny"],
           "resident_id": ["sfzh", "zjhm"], "phone": ["lxdh", "sjh"]},
}
VALUE_CODES: dict[str, dict[str, dict[str, str]]] = {
    # regional value -> local value
    "zh": {"gender": {"male": "男", "female": "女", "unknown": "未知"},
           "urgency": {"routine": "普通", "urgent": "紧急", "emergency": "急诊"},
           "status": {"accepted": "已接收", "declined": "已拒绝", "completed": "已完成"},
           "outcome": {"good": "好转", "poor": "未好转"},
           "tier": {"3": "三级", "2": "二级", "1": "一级"},
           "title": dict(TITLE_ZH), "slot_status": {"free": "可预约", "busy": "已约满"},
           "appointment_status": {"booked": "已预约", "fulfilled": "已就诊", "noshow": "爽约",
                                  "cancelled": "已取消"}},
    "en": {"gender": {"male": "M", "female": "F", "unknown": "U"},
           "urgency": {"routine": "R", "urgent": "U", "emergency": "E"},
           "status": {"accepted": "ACC", "declined": "REJ", "completed": "DONE"},
           "outcome": {"good": "GOOD", "poor": "POOR"},
           "tier": {"3": "T", "2": "S", "1": "C"},
           "title": {"resident": "RES", "attending": "ATT", "associate_chief": "ASC",
                     "chief": "CHF"}, "slot_status": {"free": "F", "busy": "B"},
           "appointment_status": {"booked": "BKD", "fulfilled": "DONE", "noshow": "NS",
                                  "cancelled": "CXL"}},
    # GB/T 2261.1-2003 sex codes: 1 male, 2 female, 0 unknown.
    "py": {"gender": {"male": "1", "female": "2", "unknown": "0"},
           "urgency": {"routine": "1", "urgent": "2", "emergency": "3"},
           "status": {"accepted": "1", "declined": "2", "completed": "3"},
           "outcome": {"good": "1", "poor": "0"},
           "tier": {"3": "3", "2": "2", "1": "1"},
           "title": {"resident": "1", "attending": "2", "associate_chief": "3",
                     "chief": "4"}, "slot_status": {"free": "0", "busy": "1"},
           "appointment_status": {"booked": "0", "fulfilled": "1", "noshow": "2",
                                  "cancelled": "9"}},
}
DATE_FORMATS = [("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"), ("%Y/%m/%d", "%Y/%m/%d %H:%M"),
                ("%Y年%m月%d日", "%Y年%m月%d日 %H时%M分"), ("%d.%m.%Y", "%d.%m.%Y %H:%M")]
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030"]


@dataclass
class CsvWriter:
    inst: str
    folder: Path
    vendor: str
    date_format: str
    datetime_format: str
    encoding: str
    diag_style: str  # "local" (ZD0001 codes) or "national" (GB/T 14396 style I10.x00)
    dept_prefix: str
    variant: int = 0
    started: set = field(default_factory=set)
    n_files: int = 0

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def local_diag(self, code: str) -> str:
        if self.diag_style == "national":
            head, _, tail = code.partition(".")
            return f"{head}.{tail or 'x'}00" if tail else f"{head}.x00"
        idx = sorted(DIAGNOSIS_BY_CODE).index(code)
        return f"ZD{idx + 1:04d}"

    def local_dept(self, specialty: str) -> str:
        from features.codes import SPECIALTIES

        return f"{self.dept_prefix}{list(SPECIALTIES).index(specialty) + 1:02d}"

    def columns(self) -> dict[str, dict[str, str]]:
        """The vendor's headers with this installation's own renames (ALIASES)."""
        out = {}
        for kind, cols in VENDORS[self.vendor].items():
            cols = dict(cols)
            for regional in list(cols):
                key = "local_id" if regional == "local_patient_id" else regional
                names = ALIASES.get(self.vendor, {}).get(key)
                if names:
                    cols[regional] = names[self.variant % len(names)]
            out[kind] = cols
        return out

    def mapping(self) -> dict:
        from features.codes import SPECIALTIES

        v = VALUE_CODES[self.vendor]
        files = {kind: {"file": f"{kind}.csv",
                        "columns": {local: regional for regional, local in cols.items()}}
                 for kind, cols in self.columns().items()}
        return {
            "institution": self.inst, "format": "his-csv", "encoding": self.encoding,
            "date_format": self.date_format, "datetime_format": self.datetime_format,
            "timezone": "Asia/Shanghai", "files": files,
            "code_maps": {
                "diagnosis": {self.local_diag(c): c for c in sorted(DIAGNOSIS_BY_CODE)},
                "department": {self.local_dept(s): s for s in SPECIALTIES},
                **{k: {loc: reg for reg, loc in m.items()} for k, m in v.items()},
            },
        }

    def _fmt(self, x, kind: str) -> str:
        if x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NaT:
            return ""
        if kind == "date":
            return x.strftime(self.date_format)
        if kind == "datetime":
            return x.strftime(self.datetime_format)
        return str(x)

    def write(self, kind: str, rows: list[dict], types: dict[str, str] | None = None) -> None:
        cols = self.columns()[kind]
        path = self.folder / f"{kind}.csv"
        first = kind not in self.started
        enc = self.encoding if first or self.encoding != "utf-8-sig" else "utf-8"
        types = types or {}
        with path.open("w" if first else "a", encoding=enc, newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            if first:
                w.writerow(list(cols.values()))
                self.started.add(kind)
                self.n_files += 1
            for r in rows:
                w.writerow([self._fmt(r.get(k), types.get(k, "")) for k in cols])

    def code(self, key: str, value: str) -> str:
        return VALUE_CODES[self.vendor][key][value]
