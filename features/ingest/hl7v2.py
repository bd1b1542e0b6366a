"""HL7 v2.3 - 2.5.1 adapter: a stream of ER7 messages -> the regional record model.

Streaming: the file is read in 1 MB blocks and cut into messages at ``MSH`` segments, so
memory stays bounded whatever the feed's size. Tolerant, as real feeds need:

- segment ends ``\\r`` (the standard), ``\\n`` or ``\\r\\n``; MLLP framing bytes (0x0B,
  0x1C) and blank lines are ignored;
- the separators come from MSH-1/MSH-2; unknown or unterminated escapes are kept as
  text; ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\X..\\ \\.br\\`` are decoded;
- UTF-8, else the MSH-18 character set (GB18030 for ``GB 18030-2000``/``GBK``), else
  GB18030 as a last resort;
- unknown segments (Z-segments, NTE, AL1, IN1 ...) are skipped; a line that is not a
  segment (no 3-character id) is quarantined on its own and the message goes on.

Messages and what they give (our rules for what is required, checked per message):

- ADT^A01/A03/A04/A08: needs PID with an id in PID-3; gives the Patient, an Encounter
  from PV1 (A03: finished) when PV1 has a visit number or an admit time, and a Condition
  per DG1 with an ICD-10 code.
- ORU^R01: needs PID-3, and OBX-3 and OBX-5 in each OBX; gives the Patient and an
  Observation per OBX (units normalised).
- ORM^O01: needs PID-3 and a placer order number (ORC-2 or OBR-2); gives the Patient and
  a ServiceRequest (an order: no Task, so never a referral).
- REF^I12: needs PID-3, RF1, a referred-to PRD (PRD-1 RT) with an id in PRD-7, and a DG1
  with ICD-10; gives the Patient, the referral ServiceRequest, and a Task when RF1-1 is a
  decision (A accepted, R rejected, E expired).
- SIU^S12: needs PID-3, SCH-1 or SCH-2, and a start time (SCH-11.4, AIS-4 or AIP-6);
  gives the Patient and an Appointment.

A message that misses what it needs is quarantined with the reason; a bad OBX or DG1 is
quarantined alone. Times without an offset are China Standard Time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from features.deid import scrub_text
from features.identity import PatientLinker, normalise_resident_id
from features.ingest.common import BadRecord, Reject, gender, icd10, normalise_unit, to_utc
from features.records import (
    Appointment,
    Condition,
    Encounter,
    Observation,
    Patient,
    Resource,
    ServiceRequest,
    Task,
)

VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
SUPPORTED = {("ADT", "A01"), ("ADT", "A03"), ("ADT", "A04"), ("ADT", "A08"), ("ORU", "R01"),
             ("ORM", "O01"), ("REF", "I12"), ("SIU", "S12")}
BLOCK = 1 << 20
_SEG_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_SPLIT = re.compile(rb"\r\n|\r|\n")
_CHARSETS = {"UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "GB 18030-2000": "gb18030",
             "GB18030": "gb18030", "GBK": "gbk", "8859/1": "latin-1", "ASCII": "ascii"}
SEX = {"M": "male", "F": "female", "O": "unknown", "U": "unknown", "A": "unknown",
       "N": "unknown"}
PRIORITY = {"S": "emergency", "A": "urgent", "R": "routine", "P": "routine",
            "T": "urgent", "STAT": "emergency", "ASAP": "urgent", "ROUTINE": "routine"}
REF_DECISION = {"A": "accepted", "R": "declined", "E": "declined"}
PATIENT_CLASS = {"I": "inpatient", "O": "outpatient", "E": "emergency", "P": "outpatient",
                 "R": "outpatient", "B": "outpatient"}
# HL7 table 0069 hospital service (common values) -> regional specialty.
SERVICE = {"CAR": "cardiology", "MED": "general_practice", "SUR": "general_surgery",
           "PUL": "respiratory", "URO": "nephrology", "NEU": "neurology",
           "ONC": "oncology", "ORT": "orthopaedics", "PED": "paediatrics",
           "OBS": "obstetrics_gynaecology", "GYN": "obstetrics_gynaecology",
           "PSY": "psychiatry", "END": "endocrinology", "GAS": "gastroenterology",
           "REN": "nephrology", "RHE": "rheumatology"}
ICD_SYSTEMS = {"I10", "ICD10", "ICD-10", "I10C", "ICD10CN", "GB/T14396"}


class _Msg:
    """One message: segments by id, with the message's separators."""

    def __init__(self, segs: list[str]) -> None:
        msh = segs[0]
        if len(msh) < 8:
            raise BadRecord("MSH too short for its separators")
        self.fs = msh[3]
        enc = msh[4:8]
        self.cs, self.rs, self.esc, self.ss = (enc + "^~\\&"[len(enc):])[:4]
        self.segments: list[tuple[str, list[str]]] = []
        for s in segs:
            parts = s.split(self.fs)
            if parts[0] == "MSH":  # MSH-1 is the separator itself: keep numbering
                parts = ["MSH", self.fs, *parts[1:]]
            self.segments.append((parts[0], parts))

    def all(self, sid: str) -> list[list[str]]:
        return [p for s, p in self.segments if s == sid]

    def first(self, sid: str) -> list[str] | None:
        for s, p in self.segments:
            if s == sid:
                return p
        return None

    def unescape(self, v: str) -> str:
        e = self.esc
        if not e or e not in v:
            return v
        out, i, n = [], 0, len(v)
        while i < n:
            c = v[i]
            if c != e:
                out.append(c)
                i += 1
                continue
            j = v.find(e, i + 1)
            if j < 0:  # unterminated escape: keep as text
                out.append(v[i:])
                break
            code = v[i + 1:j]
            rep = {"F": self.fs, "S": self.cs, "T": self.ss, "R": self.rs, "E": e,
                   ".br": "\n", "H": "", "N": ""}.get(code)
            if rep is None and code.startswith("X") and len(code) % 2 == 1:
                try:
                    rep = bytes.fromhex(code[1:]).decode("utf-8", errors="replace")
                except ValueError:
                    rep = None
            if rep is None:  # an escape we do not know: keep it as it came
                out.append(v[i:j + 1])
            else:
                out.append(rep)
            i = j + 1
        return "".join(out)

    def field(self, seg: list[str] | None, n: int, comp: int = 1, rep: int = 0) -> str:
        """SEG-n.comp (1-based), first repetition unless ``rep``; '' when absent."""
        if seg is None or n >= len(seg):
            return ""
        v = seg[n]
        if not v:
            return ""
        if rep or self.rs in v:
            reps = v.split(self.rs)
            if rep >= len(reps):
                return ""
            v = reps[rep]
        if comp > 1 or self.cs in v:
            comps = v.split(self.cs, comp)
            if comp > len(comps):
                return ""
            v = comps[comp - 1]
        if self.ss in v:
            v = v.split(self.ss, 1)[0]
        if self.esc in v:
            v = self.unescape(v)
        return v.strip()

    def reps(self, seg: list[str] | None, n: int) -> int:
        if seg is None or n >= len(seg) or not seg[n]:
            return 0
        return len(seg[n].split(self.rs))


def hl7_time(v: str, what: str, *, required: bool = False) -> str | None:
    """DTM 'YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]' -> UTC ISO; bad values raise."""
    v = (v or "").strip()
    if not v:
        if required:
            raise BadRecord(f"missing {what}")
        return None
    return _dtm(v, what)


@lru_cache(maxsize=65536)
def _dtm(v: str, what: str) -> str:
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?"
                     r"([+-]\d{4})?", v)
    if not m:
        raise BadRecord(f"bad {what} (not an HL7 date/time)")
    y, mo, d, h, mi, s, tz = m.groups()
    try:
        dt = datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0),
                      int(s or 0))
    except ValueError as e:
        raise BadRecord(f"bad {what} (not a calendar date)") from e
    if tz:
        sign = 1 if tz[0] == "+" else -1
        off = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
        return to_utc(dt, timezone(sign * off))
    return to_utc(dt)


def hl7_date(v: str, what: str) -> str | None:
    v = (v or "").strip()
    if not v:
        return None
    if not re.fullmatch(r"\d{8}(\d{0,6})?(\.\d+)?([+-]\d{4})?", v):
        raise BadRecord(f"bad {what} (not an HL7 date)")
    try:
        return datetime(int(v[:4]), int(v[4:6]), int(v[6:8])).date().isoformat()
    except ValueError as e:
        raise BadRecord(f"bad {what} (not a calendar date)") from e


def _patient(m: _Msg, inst: str, linker: PatientLinker) -> Patient:
    pid = m.first("PID")
    if pid is None:
        raise BadRecord("no PID segment")
    local, resident, mrn = "", None, ""
    for r in range(max(1, m.reps(pid, 3))):
        value = m.field(pid, 3, 1, r)
        typ = m.field(pid, 3, 5, r).upper()
        if not value:
            continue
        if typ in ("NI", "NNCHN", "PPN", "CZ") or (not typ and normalise_resident_id(value)):
            resident = resident or normalise_resident_id(value)
            continue
        if not local or typ == "MR":
            local = value
            mrn = value
    if not resident:
        resident = normalise_resident_id(m.field(pid, 19)) or normalise_resident_id(
            m.field(pid, 2))
    if not local:
        raise BadRecord("PID-3 has no patient identifier")
    fam, given = m.field(pid, 5, 1), m.field(pid, 5, 2)
    name = fam + given if fam and given and (ord(fam[0]) > 0x2E80) else " ".join(
        x for x in (fam, given) if x)
    birth = hl7_date(m.field(pid, 7), "birth date (PID-7)")
    sex = SEX.get(m.field(pid, 8).upper(), "unknown")
    street = " ".join(x for x in (m.field(pid, 11, 1), m.field(pid, 11, 2)) if x)
    city = m.field(pid, 11, 3)
    district = m.field(pid, 11, 9) or m.field(pid, 12)
    phone = m.field(pid, 13, 1) or m.field(pid, 13, 12) or m.field(pid, 14, 1)
    return Patient(id=local, organization=inst, mrn=mrn, resident_id=resident, name=name,
                   gender=gender(sex), birthDate=birth, phone=phone,
                   address=(city + street) if street else "", district=district,
                   patient_id_regional=linker.link(resident_id=resident, name=name,
                                                   birth_date=birth, gender=sex))


def _icd_from(m: _Msg, seg: list[str], n: int) -> str:
    code = m.field(seg, n, 1)
    return icd10(code, f"diagnosis {seg[0]}-{n}")


def _message(m: _Msg, inst: str, linker: PatientLinker, src: str, pos: str
             ) -> Iterator[Resource | Reject]:
    msh = m.first("MSH")
    mtype, event = m.field(msh, 9, 1).upper(), m.field(msh, 9, 2).upper()
    ctrl = m.field(msh, 10)
    version = m.field(msh, 12, 1)
    if not mtype:
        raise BadRecord("MSH-9 message type missing")
    if version and not version.startswith("2."):
        raise BadRecord(f"HL7 version {version!r} is not v2")
    if not event and mtype == "ADT":
        evn = m.first("EVN")
        event = m.field(evn, 1).upper()
    if (mtype, event) not in SUPPORTED:
        raise BadRecord(f"message type {mtype}^{event} is not supported")
    if not ctrl:
        raise BadRecord("MSH-10 message control id missing")
    sent = hl7_time(m.field(msh, 7), "message time (MSH-7)")
    pat = _patient(m, inst, linker)
    out: list[Resource | Reject] = [pat]
    subj = pat.id
    if mtype == "ADT":
        pv1 = m.first("PV1")
        if pv1 is not None:
            visit = m.field(pv1, 19) or ""
            admit = hl7_time(m.field(pv1, 44), "admit time (PV1-44)")
            if visit or admit:
                discharge = hl7_time(m.field(pv1, 45), "discharge time (PV1-45)")
                out.append(Encounter(
                    id=visit or f"{subj}-{m.field(pv1, 44)}", organization=inst,
                    subject=subj, klass=PATIENT_CLASS.get(m.field(pv1, 2).upper(), ""),
                    status="finished" if event == "A03" or discharge else "in-progress",
                    start=admit, end=discharge,
                    specialty=SERVICE.get(m.field(pv1, 10).upper(), "")))
        for k, dg1 in enumerate(m.all("DG1"), start=1):
            try:
                code = _icd_from(m, dg1, 3)
                onset = hl7_time(m.field(dg1, 5), "diagnosis time (DG1-5)") or sent
                if not onset:
                    raise BadRecord("DG1 without a time (DG1-5, MSH-7)")
                out.append(Condition(id=f"{subj}-{code}-{onset[:10]}", organization=inst,
                                     subject=subj, code=code, onset=onset))
            except BadRecord as e:
                out.append(Reject(src, f"{pos} DG1[{k}]", str(e)))
    elif mtype == "ORU":
        obr = m.first("OBR")
        when = hl7_time(m.field(obr, 7), "observation time (OBR-7)") if obr else None
        accession = m.field(obr, 3) or m.field(obr, 2) or ctrl
        for k, obx in enumerate(m.all("OBX"), start=1):
            try:
                code, system = m.field(obx, 3, 1), m.field(obx, 3, 3)
                if not code:
                    raise BadRecord("OBX-3 observation code missing")
                raw = m.field(obx, 5)
                if not raw:
                    raise BadRecord("OBX-5 value missing")
                vtype = m.field(obx, 2).upper()
                value: float | None = None
                if vtype in ("NM", "SN", ""):
                    try:
                        value = float(raw.lstrip("<>=").strip())
                    except ValueError:
                        if vtype == "NM":
                            raise BadRecord("OBX-5 is not a number (OBX-2 NM)") from None
                unit = m.field(obx, 6, 1)
                value, unit = normalise_unit(code, value, unit)
                eff = hl7_time(m.field(obx, 14), "observation time (OBX-14)") or when or sent
                out.append(Observation(
                    id=f"{accession}-{m.field(obx, 1) or k}", organization=inst,
                    subject=subj, code=code,
                    system="http://loinc.org" if system.upper() in ("LN", "LOINC")
                    else system, value=value, value_text="" if value is not None else raw,
                    unit=unit, effective=eff))
            except BadRecord as e:
                out.append(Reject(src, f"{pos} OBX[{k}]", str(e)))
    elif mtype == "ORM":
        orc, obr = m.first("ORC"), m.first("OBR")
        placer = m.field(orc, 2) or m.field(obr, 2)
        if not placer:
            raise BadRecord("ORM without a placer order number (ORC-2/OBR-2)")
        prio = (m.field(orc, 7, 6) or m.field(obr, 27, 6) or m.field(obr, 5) or "R").upper()
        dx = ""
        dg1 = m.first("DG1")
        if dg1 is not None:
            try:
                dx = _icd_from(m, dg1, 3)
            except BadRecord as e:
                out.append(Reject(src, f"{pos} DG1[1]", str(e)))
        out.append(ServiceRequest(
            id=f"ORD-{placer}", organization=inst, subject=subj,
            requester=m.field(orc, 12, 1) or m.field(obr, 16, 1), performer="",
            reasonCode=dx, urgency=PRIORITY.get(prio, "routine"),
            authoredOn=hl7_time(m.field(orc, 9), "order time (ORC-9)") or sent or ""))
    elif mtype == "REF":
        rf1 = m.first("RF1")
        if rf1 is None:
            raise BadRecord("REF without RF1")
        target = requester = ""
        for prd in m.all("PRD"):
            role = m.field(prd, 1).upper()
            pid_ = m.field(prd, 7, 1)
            if role == "RT" and pid_:
                target = pid_
            elif role in ("RP", "PP") and pid_:
                requester = pid_
        if not target:
            raise BadRecord("REF without a referred-to provider (PRD-1 RT, PRD-7)")
        dg1 = m.first("DG1")
        if dg1 is None:
            raise BadRecord("REF without a diagnosis (DG1)")
        dx = _icd_from(m, dg1, 3)
        sid = m.field(rf1, 6) or m.field(rf1, 11) or ctrl
        authored = hl7_time(m.field(rf1, 7), "referral time (RF1-7)") or sent
        if not authored:
            raise BadRecord("REF without a time (RF1-7, MSH-7)")
        out.append(ServiceRequest(id=sid, organization=inst, subject=subj,
                                  requester=requester, performer=target, reasonCode=dx,
                                  urgency=PRIORITY.get(m.field(rf1, 2).upper(), "routine"),
                                  authoredOn=authored))
        decision = REF_DECISION.get(m.field(rf1, 1).upper())
        if decision:
            out.append(Task(id="TK-" + sid, organization=inst, focus=sid, status=decision,
                            lastModified=hl7_time(m.field(rf1, 9), "decision time (RF1-9)")
                            or sent or authored))
    elif mtype == "SIU":
        sch = m.first("SCH")
        if sch is None:
            raise BadRecord("SIU without SCH")
        appt = m.field(sch, 2) or m.field(sch, 1)
        if not appt:
            raise BadRecord("SCH without an appointment id (SCH-1/SCH-2)")
        ais, aip = m.first("AIS"), m.first("AIP")
        start = (hl7_time(m.field(sch, 11, 4), "start (SCH-11.4)")
                 or hl7_time(m.field(ais, 4), "start (AIS-4)")
                 or hl7_time(m.field(aip, 6), "start (AIP-6)"))
        if not start:
            raise BadRecord("SIU without a start time (SCH-11.4, AIS-4, AIP-6)")
        end = hl7_time(m.field(sch, 11, 5), "end (SCH-11.5)")
        status = m.field(sch, 25).lower() or "booked"
        out.append(Appointment(id=appt, organization=inst, subject=subj,
                               practitioner=m.field(aip, 3, 1), start=start, end=end,
                               status={"cancelled": "cancelled", "noshow": "noshow",
                                       "complete": "fulfilled"}.get(status, "booked")))
    yield from out


def _decode(raw: list[bytes]) -> list[str]:
    msh = raw[0]
    charset = ""
    if len(msh) > 8:
        parts = msh.split(msh[3:4])
        if len(parts) > 17:
            charset = parts[17].split(b"~")[0].decode("ascii", "ignore").strip().upper()
    order = ["utf-8", _CHARSETS.get(charset, ""), "gb18030"]
    for enc in [e for e in order if e]:
        try:
            return [b.decode(enc) for b in raw]
        except (UnicodeDecodeError, LookupError):
            continue
    raise BadRecord("cannot decode the message (not UTF-8, not the MSH-18 character set)")


def iter_messages(path: Path) -> Iterator[tuple[int, int, list[bytes]]]:
    """(message number, line of its MSH, raw segments) of a file, streamed in blocks.
    Lines before the first MSH come as message 0 (each one a stray segment)."""
    n, line, start = 0, 0, 0
    cur: list[bytes] = []
    rest = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(BLOCK)
            data = rest + block
            parts = _SPLIT.split(data)
            rest = parts.pop() if block else b""
            for seg in parts:
                line += 1
                seg = seg.strip(b"\x0b\x1c\x1d \t\x00")
                if not seg:
                    continue
                if seg.startswith(b"MSH"):
                    if cur:
                        yield n, start, cur
                    n += 1
                    start, cur = line, [seg]
                else:
                    if not cur and n == 0:
                        yield 0, line, [seg]
                        continue
                    cur.append(seg)
            if not block:
                break
    if cur:
        yield n, start, cur


def read_hl7_file(path: Path, inst: str, linker: PatientLinker
                  ) -> Iterator[Resource | Reject]:
    """Normalised records and rejects of one file of HL7 v2 messages."""
    src = str(path)
    try:
        if path.stat().st_size == 0:
            yield Reject(src, "file", "empty file")
            return
        any_msg = False
        for n, line, raw in iter_messages(path):
            if n == 0:
                yield Reject(src, f"line {line}", "segment outside a message (no MSH before "
                                                  "it)")
                continue
            any_msg = True
            pos = f"message {n} (line {line})"
            try:
                text = _decode(raw)
                good = [text[0]]
                for k, seg in enumerate(text[1:], start=1):
                    sid = seg[:3]
                    if not _SEG_ID.match(sid) or (len(seg) > 3 and seg[3] != text[0][3]):
                        yield Reject(src, f"{pos} segment {k + 1}",
                                     "not an HL7 segment (broken or truncated line)")
                        continue
                    good.append(seg)
                yield from _message(_Msg(good), inst, linker, src, pos)
            except BadRecord as e:
                yield Reject(src, pos, str(e))
            except (ValueError, IndexError, KeyError, TypeError) as e:
                yield Reject(src, pos, f"malformed ({type(e).__name__}: "
                                       f"{scrub_text(str(e))})")
        if not any_msg:
            yield Reject(src, "file", "no HL7 message (no MSH segment)")
    except OSError as e:
        yield Reject(src, "file", f"unreadable: {e.strerror or e}")


# ----------------------------------------------------------------------------- samples
def _seg(sid: str, fields: dict[int, str]) -> str:
    parts = [""] * (max(fields) + 1)
    parts[0] = sid
    for k, v in fields.items():
        parts[k] = v
    return "|".join(parts)


def sample_messages(n: int, *, seed: int = 0) -> Iterator[str]:
    """``n`` varied, valid messages (ADT, ORU, ORM, REF, SIU; v2.3-2.5.1) for benchmarks
    and smoke tests; segments end with ``\\r``, messages are MLLP-free."""
    rng = np.random.default_rng(seed)
    kinds = ["ADT^A04", "ADT^A01", "ADT^A08", "ADT^A03", "ORU^R01", "ORM^O01", "REF^I12",
             "SIU^S12"]
    surnames = ["王", "李", "张", "刘", "陈"]
    given = ["伟", "芳", "秀英", "强", "静"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        ver = VERSIONS[i % len(VERSIONS)]
        p = int(rng.integers(1, max(2, n // 3)))
        ts = f"2026{1 + p % 12:02d}{1 + p % 28:02d}{8 + p % 9:02d}{p % 60:02d}00"
        segs = [f"MSH|^~\\&|HIS|H7|RC|REGION|{ts}||{kind}^{kind.replace('^', '_')}|"
                f"MSG{i:08d}|P|{ver}|||||CHN|UNICODE UTF-8",
                f"EVN|{kind.split('^')[1]}|{ts}",
                f"PID|1||MRN{p:07d}^^^H7^MR||{surnames[p % 5]}^{given[p % 5]}||"
                f"19{50 + p % 45:02d}{1 + p % 12:02d}{1 + p % 28:02d}|{'MF'[p % 2]}|||"
                f"人民路{p % 999}号^^上海市^^^CHN^H^^R{1 + p % 5}||138{p:08d}"]
        if kind.startswith("ADT"):
            segs += [_seg("PV1", {1: "1", 2: "IOE"[p % 3], 3: f"W1^{p % 40}^1", 10: "CAR",
                                  19: f"V{i:08d}", 44: ts,
                                  45: ts if kind == "ADT^A03" else ""}),
                     f"DG1|1||I10^Essential hypertension^I10||{ts}|F"]
        elif kind == "ORU^R01":
            segs += [f"OBR|1|P{i}|F{i}|2345-7^Glucose^LN|||{ts}",
                     f"OBX|1|NM|2345-7^Glucose^LN||{90 + p % 60}|mg/dL|70-110|N|||F|||{ts}",
                     f"OBX|2|NM|2160-0^Creatinine^LN||{60 + p % 80}|umol/L|||||F|||{ts}",
                     "OBX|3|ST|8251-1^Note^LN||正常\\T\\稳定||||||F"]
        elif kind == "ORM^O01":
            segs += [f"ORC|NW|O{i:08d}|||||^^^{ts}^^R||{ts}|||PR-H7-0001",
                     f"OBR|1|O{i:08d}||71020^Chest X-ray^C4|R",
                     "DG1|1||J18.9^Pneumonia^I10"]
        elif kind == "REF^I12":
            segs += [f"RF1|{'APR'[p % 3]}|{'RSA'[p % 3]}|||O|R{i:08d}|{ts}",
                     "PRD|RP|赵^医生|||||PR-H7-0002", "PRD|RT|孙^医生|||||PR-H9-0003",
                     "DG1|1||E11.9^Type 2 diabetes^I10"]
        else:
            segs += [_seg("SCH", {1: f"A{i:08d}", 2: f"A{i:08d}", 11: f"^^30^{ts}^{ts}",
                                  25: "booked"}),
                     _seg("AIP", {1: "1", 3: "PR-H7-0004^钱^医生", 6: ts})]
        yield "\r".join(segs) + "\r\n"
