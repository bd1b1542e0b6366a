"""``generate``: a deterministic synthetic region, its exports and its ground truth."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import DIAGNOSIS_BY_CODE
from features.synth.appointments import GT_COLUMNS as GT_APPOINTMENT_COLUMNS
from features.synth.export import (
    DATE_FORMATS,
    ENCODINGS,
    PATIENTS_PER_BUNDLE,
    CsvWriter,
    FhirWriter,
    fhir_appointment,
    fhir_condition,
    fhir_directory,
    fhir_patient,
    fhir_referral,
)
from features.synth.population import Counters, make_chunk
from features.synth.preference import WEIGHTS, weights_to_json
from features.synth.world import (
    SCALES,
    make_institutions,
    make_practitioners,
    make_regions,
    make_slots,
    sessions_text,
)
from regioncare.errors import UserError

GT_REFERRAL_COLUMNS = ["truth_id", "institution", "source_id", "person_id", "home_region",
                       "origin_tier", "diagnosis", "urgency", "authored", "comorbidities",
                       "charlson", "prior_practitioners", "target", "target_institution",
                       "utility", "status", "outcome", "decision"]


def _append_csv(path: Path, df: pd.DataFrame) -> None:
    first = not path.exists()
    df.to_csv(path, mode="w" if first else "a", header=first, index=False,
              lineterminator="\n")


def generate(out: Path, *, seed: int, scale: str, as_of: date,
             patients: int | None = None) -> dict:
    """Write OUT/exports/<INST>/..., OUT/ground_truth/..., OUT/manifest.json.

    Byte-identical for the same (seed, scale, as_of). Patients are generated and written
    in chunks (``Scale.chunk``), so memory stays bounded at every scale.
    """
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    sc = SCALES[scale]
    if patients is not None:  # the scale's world with another number of patients
        sc = dataclasses.replace(sc, patients=int(patients))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise UserError(f"{out} is not empty and was not written by synth; pick a new folder")
    for sub in ("exports", "ground_truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "manifest.json").unlink(missing_ok=True)
    exports, gt = out / "exports", out / "ground_truth"
    exports.mkdir(parents=True)
    gt.mkdir(parents=True)

    rng = np.random.default_rng([seed, 0])
    regions = make_regions(sc)
    institutions = make_institutions(rng, regions, sc)
    practitioners = make_practitioners(rng, institutions, sc)
    slots = make_slots(rng, practitioners, as_of)
    sessions = sessions_text(slots)

    # Formats: a shuffled half of the institutions export FHIR, the rest HIS CSV.
    order = [str(x) for x in rng.permutation(institutions["institution"].to_numpy())]
    n_fhir = (len(order) + 1) // 2
    fmt = {inst: ("fhir" if k < n_fhir else "csv") for k, inst in enumerate(order)}
    writers: dict[str, FhirWriter | CsvWriter] = {}
    csv_k = 0
    for k, inst in enumerate(sorted(fmt)):
        folder = exports / inst
        if fmt[inst] == "fhir":
            writers[inst] = FhirWriter(inst, folder, transaction=(k % 3 == 0))
        else:
            df, dtf = DATE_FORMATS[csv_k % len(DATE_FORMATS)]
            writers[inst] = CsvWriter(
                inst, folder, vendor=["zh", "en", "py"][csv_k % 3], date_format=df,
                datetime_format=dtf, encoding=ENCODINGS[(csv_k + 2) % len(ENCODINGS)],
                diag_style="national" if csv_k % 2 else "local",
                dept_prefix=["NK", "D", "KS", "K"][csv_k % 4], variant=csv_k // 3)
            csv_k += 1

    region_by = regions.set_index("region")
    for inst_row in institutions.itertuples():
        inst = inst_row.institution
        staff = practitioners[practitioners["institution"] == inst]
        islots = slots[slots["institution"] == inst] if not slots.empty else slots
        w = writers[inst]
        region = region_by.loc[inst_row.region]
        if isinstance(w, FhirWriter):
            w.write_bundle(fhir_directory(pd.Series(inst_row._asdict()),
                                          pd.Series({"region": inst_row.region,
                                                     **region.to_dict()}),
                                          staff, islots, sessions))
        else:
            w.write("institution", [{
                "code": inst, "name": inst_row.name, "tier": w.code("tier", str(inst_row.tier)),
                "region": inst_row.region, "region_name_zh": region["name_zh"],
                "region_name_en": region["name_en"], "lat": inst_row.lat, "lon": inst_row.lon}])
            w.write("staff", [{
                "local_id": f"E{j + 1:05d}", "practitioner_id": p.practitioner_id, "name": p.name,
                "gender": w.code("gender", p.gender), "department": w.local_dept(p.specialty),
                "sub_specialty": p.sub_specialty, "title": w.code("title", p.title),
                "experience_years": p.experience_years, "languages": p.languages}
                for j, p in enumerate(staff.itertuples())])
            w.write("schedule", [{
                "slot_id": s.slot_id, "practitioner_id": s.practitioner_id, "start": s.start,
                "end": s.end, "status": w.code("slot_status", s.status)}
                for s in islots.itertuples()], {"start": "datetime", "end": "datetime"})

    counters = Counters()
    n_persons = n_refs = 0
    for k, start in enumerate(range(0, sc.patients, sc.chunk)):
        n = min(sc.chunk, sc.patients - start)
        crng = np.random.default_rng([seed, 1, k])
        ch = make_chunk(crng, start, n, as_of=as_of, regions=regions,
                        institutions=institutions, practitioners=practitioners,
                        counters=counters, weights=WEIGHTS,
                        appointment_rng=np.random.default_rng([seed, 4, k]))
        n_persons += len(ch.persons)
        n_refs += len(ch.referrals)
        _write_chunk(ch, writers)
        _append_csv(gt / "identities.csv", ch.registrations[
            ["institution", "local_id", "person_id"]].rename(
            columns={"local_id": "local_patient_id"}))
        _append_csv(gt / "persons.csv", ch.persons[
            ["person_id", "name", "name_pinyin", "gender", "birth_date", "resident_id",
             "phone", "address", "home_region", "primary"]])
        if not ch.referrals.empty:
            r = ch.referrals.copy()
            r["truth_id"] = r["institution"] + "|" + r["source_id"]
            for c in ("authored", "decision"):
                r[c] = [x.isoformat(timespec="seconds") for x in r[c]]
            _append_csv(gt / "referrals.csv", r[GT_REFERRAL_COLUMNS])
        if not ch.appointments.empty:
            _append_csv(gt / "appointments.csv", ch.appointments[GT_APPOINTMENT_COLUMNS])

    hidden = practitioners[["practitioner_id", "institution", "region", "tier", "lat", "lon",
                            "specialty", "sub_specialty", "title", "title_rank",
                            "experience_years", "languages", "expertise", "quality",
                            "expected_wait_days", "weekly_sessions"]]
    hidden.to_csv(gt / "practitioners.csv", index=False, lineterminator="\n")
    regions.to_csv(gt / "regions.csv", index=False, lineterminator="\n")
    (gt / "weights.json").write_text(weights_to_json(WEIGHTS) + "\n")
    (gt / "meta.json").write_text(json.dumps(
        {"seed": seed, "scale": scale, "as_of": as_of.isoformat(),
         "note": "hidden: read only by evaluation, never by ingest"}, indent=1) + "\n")

    for inst, w in writers.items():
        if isinstance(w, CsvWriter):
            for kind in ("patients", "diagnoses", "referrals", "appointments"):
                if kind not in w.started:
                    w.write(kind, [])
            (w.folder / "mapping.json").write_text(
                json.dumps(w.mapping(), ensure_ascii=False, indent=1) + "\n",
                encoding="utf-8")
            w.n_files += 1
            del inst
    manifest = {
        "seed": seed, "scale": scale, "as_of": as_of.isoformat(),
        "regions": [{"region": r.region, "name_zh": r.name_zh, "name_en": r.name_en, "lat": r.lat,
                         "lon": r.lon} for r in regions.itertuples()],
        "exports": [{"institution": inst, "format": fmt[inst], "path": f"exports/{inst}"}
                    for inst in sorted(fmt)],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1)
                                       + "\n", encoding="utf-8")
    files = sum(1 for p in exports.rglob("*") if p.is_file())
    return {"institutions": len(institutions), "patients": n_persons,
            "practitioners": len(practitioners), "referrals": n_refs, "files": files}


def _write_chunk(ch, writers: dict) -> None:
    regs = ch.registrations
    conds = ch.conditions
    refs = ch.referrals
    appts = ch.appointments
    appts_by = dict(list(appts.groupby("institution", sort=True))) if len(appts) else {}
    conds_by = dict(list(conds.groupby("institution", sort=True))) if len(conds) else {}
    refs_by = dict(list(refs.groupby("institution", sort=True))) if len(refs) else {}
    for inst, g in regs.groupby("institution", sort=True):
        w = writers[inst]
        c = conds_by.get(inst, conds.iloc[:0])
        r = refs_by.get(inst, refs.iloc[:0] if len(refs) else pd.DataFrame())
        a = appts_by.get(inst)
        if isinstance(w, FhirWriter):
            c_by: dict[str, list[dict]] = {}
            for x in c.to_dict("records"):
                c_by.setdefault(x["local_id"], []).append(x)
            r_by: dict[str, list[dict]] = {}
            for x in (r.to_dict("records") if len(r) else []):
                r_by.setdefault(x["local_id"], []).append(x)
            a_by: dict[str, list[dict]] = {}
            for x in (a.to_dict("records") if a is not None else []):
                a_by.setdefault(x["local_id"], []).append(x)
            recs = g.to_dict("records")
            for b in range(0, len(recs), PATIENTS_PER_BUNDLE):
                res: list[dict] = []
                for p in recs[b:b + PATIENTS_PER_BUNDLE]:
                    res.append(fhir_patient(p))
                    res.extend(fhir_condition(x) for x in c_by.get(p["local_id"], []))
                    for x in r_by.get(p["local_id"], []):
                        res.extend(fhir_referral(x))
                    res.extend(fhir_appointment(x) for x in a_by.get(p["local_id"], []))
                w.write_bundle(res)
        else:
            w.write("patients", [{
                "local_id": p["local_id"], "name": p["name"],
                "gender": w.code("gender", p["gender"]),
                "birth_date": p["birth_date"], "resident_id": p["resident_id"], "phone": p["phone"],
                "address": p["address"], "region": p["region"], "registered": p["registered"]}
                for p in g.to_dict("records")], {"birth_date": "date", "registered": "date"})
            w.write("diagnoses", [{
                "condition_id": x["condition_id"], "local_patient_id": x["local_id"],
                "code": w.local_diag(x["code"]), "name": DIAGNOSIS_BY_CODE[x["code"]].display,
                "onset": x["onset"]} for x in c.to_dict("records")], {"onset": "date"})
            w.write("referrals", [{
                "source_id": x["source_id"], "local_patient_id": x["local_id"],
                "diagnosis": w.local_diag(x["diagnosis"]),
                "urgency": w.code("urgency", x["urgency"]),
                "authored": x["authored"], "requester": x["requester"], "target": x["target"],
                "status": w.code("status", x["status"]),
                "outcome": w.code("outcome", x["outcome"]) if x["outcome"] else "",
                "decision": x["decision"], "visit": x["visit"]}
                for x in r.to_dict("records")],
                {"authored": "datetime", "decision": "datetime", "visit": "datetime"})
            if a is not None:
                w.write("appointments", [{
                    "appointment_id": x["appointment_id"], "local_patient_id": x["local_id"],
                    "practitioner_id": x["practitioner_id"], "created": x["created"],
                    "start": x["start"], "end": x["end"],
                    "status": w.code("appointment_status", x["status"]),
                    "referral_org": x["referral_org"], "referral_no": x["referral_no"]}
                    for x in a.to_dict("records")],
                    {"created": "datetime", "start": "datetime", "end": "datetime"})
