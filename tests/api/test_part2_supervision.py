"""Supervision figures against counts computed independently from the raw events of a
seeded scenario (referrals up and down, acceptance, time to accept, waiting time, loop
closure, consultation and imaging turnaround, teaching participation, suggestion
acceptance per model version, SLA breaches), by institution, region and period; the
same figures as CSV and on /metrics; who may see which figures."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from statistics import fmean

import pytest

from tests.api.conftest import patient_id, practitioner_id
from tests.api.test_part2_support import (
    dicom_b64,
    ensure_user,
    rows,
    shift,
    ts,
    user_id,
)


def _referral(api, clin: str, n: int, urgency: str = "routine") -> str:  # type: ignore[no-untyped-def]
    inst = api.accounts[clin]["institution"]
    r = api.post("/referrals", clin, {"patient_id": patient_id(inst, n),
                                      "diagnosis_code": "I10", "urgency": urgency,
                                      "reason": "blood pressure not controlled"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _log(api, referral_id: str, version: str, practitioners: list[str],  # type: ignore[no-untyped-def]
         institution: str) -> None:
    from collaboration_api.referral.models import RecommendationLog

    with api.client.app.state.sessions() as db:
        db.add(RecommendationLog(referral_id=referral_id, model_version=version,
                                 degraded=False, items=[
                                     {"practitioner_id": p, "institution_id": institution,
                                      "score": 1.0 - i / 10, "reasons": []}
                                     for i, p in enumerate(practitioners)]))
        db.commit()


def _steps(api, rid: str, steps: list[tuple[str, str, dict | None]]) -> None:  # type: ignore[no-untyped-def]
    for action, user, body in steps:
        r = api.post(f"/referrals/{rid}/{action}", user, body)
        assert r.status_code == 200, (action, r.text)


@pytest.fixture(scope="module")
def world(api):  # type: ignore[no-untyped-def]
    """The seeded scenario; times are moved back so that waits are hours long."""
    c1, c2 = api.user("clinician", "R1-C1"), api.user("clinician", "R1-C2")
    s1, s2 = api.user("specialist", "R1-T1"), api.user("specialist", "R2-T1")
    sched = api.user("scheduler", "R1-T1")
    to_t1 = {"practitioner_id": practitioner_id("R1-T1", 1), "institution_id": "R1-T1"}
    to_t2 = {"practitioner_id": practitioner_id("R2-T1", 1), "institution_id": "R2-T1"}
    start = {"start": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    ids = {k: _referral(api, c1, n) for k, n in (("A", 1), ("B", 2), ("C", 3))}
    ids["E"] = _referral(api, c1, 4, "urgent")
    ids["D"] = _referral(api, c2, 1)
    _log(api, ids["A"], "3", [practitioner_id("R1-T1", 1)], "R1-T1")  # chosen: suggested
    _log(api, ids["B"], "3", [practitioner_id("R1-T1", 3)], "R1-T1")  # chosen: not
    _log(api, ids["D"], "4", [practitioner_id("R2-T1", 1)], "R2-T1")
    for key in ("A", "B", "C", "E"):
        _steps(api, ids[key], [("choose", c1, to_t1)])
    _steps(api, ids["D"], [("choose", c2, to_t2), ("accept", s2, None)])
    shift(api, "workflow_event", "at", 10, "subject_id = :s AND action = 'choose'", s=ids["A"])
    shift(api, "workflow_event", "at", 4, "subject_id = :s AND action = 'choose'", s=ids["B"])
    shift(api, "workflow_event", "at", 30, "subject_id = :s AND action = 'choose'", s=ids["E"])
    shift(api, "referral", "created_at", 30, "id IN (:a, :e)", a=ids["A"], e=ids["E"])
    shift(api, "referral", "created_at", 20, "id = :b", b=ids["B"])
    full = [("accept", s1, None), ("schedule", sched, start), ("arrive", sched, None),
            ("complete", s1, None)]
    _steps(api, ids["A"], [*full, ("refer-back", s1, {"discharge_summary": "controlled",
                                                      "follow_up_plan": "review in 3m"}),
                           ("close", c1, None)])
    _steps(api, ids["B"], full)
    _steps(api, ids["C"], [("decline", s1, {"reason": "no capacity this month"})])

    consult = api.post("/consults", c1, {"patient_id": patient_id("R1-C1", 5),
                                         "diagnosis_code": "E11.9", "mode": "async",
                                         "question": "add SGLT2 inhibitor?"}).json()["id"]
    for action, user, body in (("choose", c1, to_t1), ("accept", s1, None),
                               ("opinion", s1, {"opinion": "add empagliflozin 10 mg"}),
                               ("feedback", c1, {"rating": 5})):
        if action == "opinion":
            shift(api, "consult", "created_at", 6, "id = :c", c=consult)
        r = api.post(f"/consults/{consult}/{action}", user, body)
        assert r.status_code == 200, (action, r.text)

    rad = api.user("radiologist", "R1-T1")
    study = lambda urgency: api.post("/imaging/studies", c1, {  # noqa: E731
        "patient_id": patient_id("R1-C1", 6), "urgency": urgency, "reason": "chest pain",
        "body_part": "CHEST", "instances": [dicom_b64("CT_small.dcm")]}).json()["id"]
    read, waiting = study("urgent"), study("emergency")
    shift(api, "imaging_study", "registered_at", 3, "id = :s", s=read)
    shift(api, "imaging_study", "registered_at", 2, "id = :s", s=waiting)
    r = api.post(f"/imaging/studies/{read}/report", rad, {
        "findings": "Right lower lobe consolidation.", "conclusion": "Pneumonia.",
        "critical": True})
    assert r.status_code == 200, r.text

    teacher = api.user("teacher", "R1-T1")
    course = api.post("/teaching/courses", teacher, {"title": "COPD basics", "credits": 1.5,
                                                     "min_sessions": 2}).json()["id"]
    sessions = [api.post(f"/teaching/courses/{course}/sessions", teacher, {
        "start": datetime.now(UTC).isoformat(), "minutes": 45}).json()["id"]
        for _ in range(2)]
    for learner in (c1, c2):
        api.post(f"/teaching/courses/{course}/enrol", learner)
    for n, sid in enumerate(sessions):
        api.post(f"/teaching/sessions/{sid}/start", teacher)
        present = [user_id(api, c1)] + ([user_id(api, c2)] if n == 0 else [])
        r = api.post(f"/teaching/sessions/{sid}/attendance", teacher,
                     {"user_ids": present, "minutes": 40})
        assert r.status_code == 200, r.text
        api.post(f"/teaching/sessions/{sid}/end", teacher)
    return {**ids, "consult": consult, "read": read, "waiting": waiting,
            "sup_t1": api.user("supervisor", "R1-T1"),
            "sup_c1": ensure_user(api, "supervisor", "R1-C1"),
            "admin": api.user("admin", "R1-T1")}


def kpis(api, user: str, **params: str) -> dict:  # type: ignore[no-untyped-def]
    r = api.get("/supervision/kpis", user, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def events(api) -> list:  # type: ignore[no-untyped-def]
    return rows(api, "SELECT id, subject_type, subject_id, action, at, actor_institution "
                     "FROM workflow_event ORDER BY id")


def test_referral_figures_match_the_raw_events(api, world) -> None:
    ev = events(api)
    t1 = kpis(api, world["sup_t1"])
    c1 = kpis(api, world["sup_c1"])
    assert t1["scope"]["institution"] == "R1-T1"
    # up: referrals created by the institution; down: refer-back steps it took
    created = rows(api, "SELECT institution_id, created_at FROM referral")
    assert c1["referrals_up"] == sum(1 for i, _ in created if i == "R1-C1") == 4
    assert t1["referrals_up"] == 0
    backs = [e for e in ev if e.action == "refer-back"]
    assert t1["referrals_down"] == sum(e.actor_institution == "R1-T1" for e in backs) == 1
    decided = rows(api, "SELECT decision FROM recommendation_decision WHERE "
                        "institution_id = 'R1-T1' AND subject_type = 'referral' AND "
                        "decision IN ('accepted', 'declined')")
    accepted = sum(d == "accepted" for (d,) in decided)
    assert (accepted, len(decided)) == (2, 3)
    assert t1["acceptance_rate"] == pytest.approx(accepted / len(decided), abs=1e-4)
    waits = []
    for e in ev:
        if (e.subject_type, e.action, e.actor_institution) == ("referral", "accept", "R1-T1"):
            choose = [c for c in ev if c.subject_id == e.subject_id and c.action == "choose"
                      and c.id < e.id][-1]
            waits.append((ts(e.at) - ts(choose.at)).total_seconds() / 3600)
    assert t1["time_to_accept_h"] == pytest.approx(fmean(waits), abs=1e-3)
    assert t1["time_to_accept_h"] == pytest.approx(7.0, abs=0.1)  # (10 h + 4 h) / 2
    booked = rows(api, "SELECT a.start, r.created_at FROM appointment a JOIN referral r ON "
                       "r.id = a.subject_id WHERE a.institution_id = 'R1-T1'")
    assert len(booked) == 2
    assert t1["waiting_time_h"] == pytest.approx(
        fmean((ts(s) - ts(c)).total_seconds() / 3600 for s, c in booked), abs=1e-3)
    completed = {e.subject_id for e in ev if (e.subject_type, e.action) == ("referral",
                                                                             "complete")}
    came_back = {e.subject_id for e in backs} & completed
    assert c1["loop_closure_rate"] == pytest.approx(len(came_back) / len(completed)) == 0.5
    assert t1["loop_closure_rate"] is None  # R1-T1 sent no referral


def test_periods_and_regions(api, world) -> None:
    now = datetime.now(UTC)
    created = [(i, ts(c)) for i, c in rows(api, "SELECT institution_id, created_at "
                                                "FROM referral")]
    for hours, expected in ((12, 1), (25, 2), (48, 4)):
        start = now - timedelta(hours=hours)
        got = kpis(api, world["sup_c1"], start=start.isoformat())["referrals_up"]
        assert got == sum(1 for i, c in created if i == "R1-C1" and c >= start) == expected
    future = kpis(api, world["sup_t1"], start=(now + timedelta(hours=1)).isoformat())
    assert future["referrals_down"] == 0 and future["acceptance_rate"] is None
    region = kpis(api, world["admin"], region="R1")
    assert region["referrals_up"] == 5  # R1-C1's four and R1-C2's one
    alliance = kpis(api, world["admin"])
    assert alliance["acceptance_rate"] == pytest.approx(3 / 4, abs=1e-4)  # R2-T1 accepted D
    assert region["acceptance_rate"] == pytest.approx(2 / 3, abs=1e-4)


def test_consult_imaging_and_teaching_figures(api, world) -> None:
    t1 = kpis(api, world["sup_t1"])
    (created, opinion), = rows(api, "SELECT c.created_at, e.at FROM consult c JOIN "
                                    "workflow_event e ON e.subject_id = c.id AND "
                                    "e.action = 'opinion'")
    assert t1["consult_turnaround_h"] == pytest.approx(
        (ts(opinion) - ts(created)).total_seconds() / 3600, abs=1e-3)
    assert t1["consult_turnaround_h"] == pytest.approx(6.0, abs=0.1)
    reports = rows(api, "SELECT s.registered_at, r.issued, r.critical FROM imaging_report r "
                        "JOIN imaging_study s ON s.id = r.study_id "
                        "WHERE r.author_institution = 'R1-T1'")
    assert (t1["imaging_reports"], t1["imaging_critical"]) == (
        len(reports), sum(bool(c) for *_, c in reports)) == (1, 1)
    assert t1["imaging_turnaround_h"] == pytest.approx(
        fmean((ts(i) - ts(r)).total_seconds() / 3600 for r, i, _ in reports), abs=1e-3)
    assert t1["imaging_turnaround_h"] == pytest.approx(3.0, abs=0.1)
    attended = rows(api, "SELECT institution_id, user_id FROM teach_attendance")
    credited = rows(api, "SELECT institution_id, credits FROM teach_enrolment "
                         "WHERE credited_at IS NOT NULL")
    c1 = kpis(api, world["sup_c1"])
    assert c1["teaching_attendances"] == sum(i == "R1-C1" for i, _ in attended) == 2
    assert c1["teaching_participants"] == len({u for i, u in attended if i == "R1-C1"}) == 1
    assert c1["teaching_credits"] == sum(c for i, c in credited if i == "R1-C1") == 1.5
    region = kpis(api, world["admin"], region="R1")
    assert region["teaching_attendances"] == len(attended) == 3
    assert region["teaching_participants"] == len({u for _, u in attended}) == 2


def test_suggestion_acceptance_per_model_version(api, world) -> None:
    chosen = rows(api, "SELECT d.subject_id, d.suggested, l.model_version FROM "
                       "recommendation_decision d JOIN recommendation_log l ON "
                       "l.referral_id = d.subject_id WHERE d.decision = 'chosen'")
    expected: dict[str, dict[str, int]] = {}
    origin = dict(rows(api, "SELECT id, institution_id FROM referral"))
    for subject, suggested, version in chosen:
        if origin[subject] == "R1-C1":
            row = expected.setdefault(version, {"choices": 0, "suggested": 0})
            row["choices"] += 1
            row["suggested"] += int(bool(suggested))
    assert expected == {"3": {"choices": 2, "suggested": 1}}
    got = kpis(api, world["sup_c1"])["model_suggestions"]
    assert got == {"3": {**expected["3"], "acceptance_rate": 0.5}}
    region = kpis(api, world["admin"], region="R1")["model_suggestions"]
    assert region["4"] == {"choices": 1, "suggested": 1, "acceptance_rate": 1.0}


def test_sla_breaches_are_alerts(api, world) -> None:
    r = api.get("/supervision/alerts", world["sup_t1"])
    assert r.status_code == 200, r.text
    alerts = {(a["kind"], a["subject_id"]) for a in r.json()}
    assert alerts == {("referral.acceptance", world["E"]), ("imaging.report", world["waiting"])}
    assert all(a["hours_open"] > a["sla_hours"] for a in r.json())
    assert kpis(api, world["sup_t1"])["sla_breaches"] == 2
    assert api.get("/supervision/alerts", world["sup_c1"]).json() == []


def test_csv_and_metrics_give_the_same_figures(api, world) -> None:
    figures = kpis(api, world["admin"], institution="R1-T1")
    r = api.get("/supervision/kpis.csv", world["admin"], params={"institution": "R1-T1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.text)))
    flat = {x["figure"]: x["value"] for x in lines if not x["model_version"]}
    for name, value in flat.items():
        assert (value == "" and figures[name] is None) or float(value) == pytest.approx(
            figures[name]), name
    samples = _samples(api.client.get("/metrics").text)
    found = {labels["figure"]: value for name, labels, value in samples
             if name == "regioncare_kpi" and labels["scope"] == "R1-T1"}
    expected = {k: v for k, v in figures.items()
                if k not in ("scope", "model_suggestions") and v is not None}
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        assert found[name] == pytest.approx(value), name
    assert ("regioncare_sla_breaches", {"kind": "imaging.report"}, 1.0) in samples
    assert ("regioncare_kpi_model_suggestions",
            {"model_version": "3", "figure": "acceptance_rate"}, 0.5) in samples


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text format -> (name, labels, value), whatever the label order."""
    out = []
    for m in re.finditer(r"^([a-z_]+)\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2)))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def test_who_sees_which_figures(api, world) -> None:
    clin = api.user("clinician", "R1-C1")
    assert api.get("/supervision/kpis", clin).status_code == 403
    assert api.get("/supervision/alerts", clin).status_code == 403
    sup = world["sup_t1"]
    for params in ({"institution": "R1-C1"}, {"region": "R2"}, {"institution": "R2-T1"}):
        assert api.get("/supervision/kpis", sup, params=params).status_code == 404
        assert api.get("/supervision/kpis.csv", sup, params=params).status_code == 404
    assert api.get("/supervision/kpis", sup, params={"region": "R1"}).status_code == 200
    assert api.get("/supervision/kpis", world["admin"],
                   params={"institution": "R2-T1"}).status_code == 200
    # the audit trail: who saw this patient's records
    pseudo = rows(api, "SELECT patient_ref FROM imaging_study WHERE id = :s",
                  s=world["read"])[0][0]
    r = api.get("/supervision/audit", world["sup_c1"], params={"patient_ref": pseudo})
    assert r.status_code == 200
    assert {"imaging.register", "imaging.report"} <= {e["subtype"] for e in r.json()["items"]}
