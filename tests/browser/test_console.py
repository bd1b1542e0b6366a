"""The console in a real browser: every role signs in, the clinician's referral flow and the
scheduler's accept flow run through the pages, the dashboard shows the API's figures, no
page shows another institution's data; every page's answer time is recorded.

Screenshots of every page go to ``test-artifacts/screenshots/``, the timings to
``test-artifacts/page-timings.json``. The tests share state in file order (a referral made
by the clinician is accepted by the scheduler), like a user's day.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.browser.conftest import Console

pytestmark = pytest.mark.e2e

HOME = {
    "clinician": "/console/referrals/new",
    "specialist": "/console/worklist",
    "scheduler": "/console/scheduler",
    "radiologist": "/console/worklist",
    "teacher": "/console/teaching",
    "supervisor": "/console/supervision",
    "data_scientist": "/console/models",
    "admin": "/console/supervision",
}


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    """What one test leaves for the next (the referral the clinician sent, ...)."""
    return {}


def _api_referral(
    console: Console, clinician: str, practitioner: str, institution: str, code: str = "I20.9"
) -> str:
    """A referral sent to a practitioner over the API (for the board's other actions)."""
    patient = console.api("GET", "/patients?limit=3", clinician).json()["items"][-1]
    r = console.api(
        "POST",
        "/referrals",
        clinician,
        json={
            "patient_id": patient["id"],
            "diagnosis_code": code,
            "urgency": "routine",
            "reason": "exertional chest pain",
        },
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    chosen = console.api(
        "POST",
        f"/referrals/{rid}/choose",
        clinician,
        json={"practitioner_id": practitioner, "institution_id": institution},
    )
    assert chosen.status_code == 200, chosen.text
    return rid


def test_every_role_signs_in_to_its_page(session_as, console: Console) -> None:
    teacher = console.account("teacher")["username"]
    course = console.api(
        "POST",
        "/teaching/courses",
        teacher,
        json={
            "title": "高血压基层规范管理 / Hypertension in primary care",
            "credits": 2.0,
            "min_sessions": 2,
            "description": "Diagnosis, first-line drugs, when to refer.",
        },
    )
    assert course.status_code == 201, course.text
    for role in HOME:
        s = session_as(role)
        assert s.page.url.endswith(HOME[role]), (role, s.page.url)
        who = s.page.inner_text("#who")
        assert s.account["institution"] in who and s.account["username"] in who
        # the navigation offers this role's pages, its first page among them
        visible = s.page.locator("#nav li:not([hidden]) a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
        assert HOME[role] in visible, (role, visible)
        assert not s.page.locator("#flash [role=alert]").count(), (role, "an error shown")
        if role == "teacher":
            s.page.wait_for_selector(f'#courses tr[data-id="{course.json()["id"]}"]')
            s.shot("home-teacher")
        s.close()


def test_login_is_keyboard_only_and_says_when_it_fails(
    session_as, console: Console, browser
) -> None:
    from tests.browser.conftest import Session

    s = Session(console, browser, console.account("clinician"))
    page = s.page
    s.visit("/console/login", "login")
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    page.keyboard.type(s.account["username"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash [role=alert]")
    assert "用户名或密码错误" in page.inner_text("#flash")
    s.shot("login-failed")
    page.fill("#password", s.account["password"])
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith(HOME["clinician"]))
    page.wait_for_load_state("networkidle")
    # the first stop is the skip link to the content, then the navigation
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "brand"
    s.close()


def _institution_names(console: Console, username: str) -> dict[str, str]:
    found = console.api("GET", "/directory/institutions?limit=1000", username).json()
    return {i["id"]: i["name"] for i in found}


def test_clinician_refers_a_patient_through_the_pages(
    session_as, console: Console, flow: dict
) -> None:
    s = session_as("clinician", console.account("clinician")["institution"])
    page = s.page
    me = s.account
    mark = console.timed.mark()
    page.wait_for_selector("#patient option[value]:not([value=''])", state="attached")
    ours = {
        p["id"] for p in console.api("GET", "/patients?limit=100", me["username"]).json()["items"]
    }
    options = set(
        page.locator("#patient option").evaluate_all("os => os.map(o => o.value).filter(Boolean)")
    )
    assert options == ours  # only the clinician's own institution's patients
    page.select_option("#patient", index=1)
    # ICD-10 search in English, then in Chinese
    page.fill("#dx-search", "infarction")
    page.wait_for_selector('#dx-results button[data-code="I21.9"]')
    page.fill("#dx-search", "心肌梗死")
    page.wait_for_selector('#dx-results button[data-code="I21.9"]')
    s.shot("clinician-diagnosis-search")
    page.click('#dx-results button[data-code="I21.9"]')
    assert page.input_value("#diagnosis_code") == "I21.9"
    page.check("input[name=urgency][value=urgent]")
    page.fill("#reason", "胸痛 3 小时，肌钙蛋白升高 / chest pain, raised troponin")
    page.click("#create-btn")
    page.wait_for_selector("#rec-table tbody tr")
    rows = page.locator("#rec-table tbody tr")
    assert rows.count() == 10
    first = rows.first.inner_text()
    # reasons (the model's top contributions) and distance shown on every row
    # worded in the page's language from the reasons' codes ("心内科对口诊断 I21.9")
    assert "km" in first and "对口诊断 I21.9" in page.inner_text("#rec-table")
    assert "fits diagnosis" not in page.inner_text("#rec-table")
    # the practitioner's name first, from the directory
    listed = console.api(
        "GET",
        f"/directory/practitioners?q={rows.first.get_attribute('data-practitioner')}",
        me["username"],
    ).json()
    assert rows.first.locator("strong").inner_text() == listed[0]["name"]
    # and its institution by name, with the code beside it
    names = _institution_names(console, me["username"])
    code = rows.first.get_attribute("data-institution")
    shown = rows.first.locator("[data-inst]").inner_text()
    assert names[code] in shown and code in shown and shown.index(names[code]) < shown.index(code)
    assert "2026" in first or "20" in first  # an earliest slot
    s.record("clinician-recommendations", mark)
    # the patient's travel limit: a bad one is refused in the page, a wide one keeps all ten
    # and the recommender says what it measured
    page.fill("#max-km", "-3")
    page.click("#rerank-btn")
    page.wait_for_selector("#flash:has-text('5000')")
    page.fill("#max-km", "5000")
    page.click("#rerank-btn")
    page.wait_for_selector("#rec-notes li")
    assert "距离超过 5000 公里" in page.inner_text("#rec-notes")
    assert rows.count() == 10

    schedulers = {a["institution"] for a in console.accounts if a["role"] == "scheduler"}
    target = None
    for i in range(rows.count()):
        if rows.nth(i).get_attribute("data-institution") in schedulers:
            target = rows.nth(i)
            break
    assert target is not None, "no suggestion at an institution with a scheduler"
    practitioner = target.get_attribute("data-practitioner")
    institution = target.get_attribute("data-institution")
    mark = console.timed.mark()
    target.locator("button").click()
    page.wait_for_selector("#sent-link")
    s.record("clinician-sent", mark)
    href = page.get_attribute("#sent-link", "href")
    rid = href.rsplit("/", 1)[-1]
    sent = console.api("GET", f"/referrals/{rid}", me["username"]).json()
    assert sent["business_status"] == "awaiting-acceptance"
    assert (sent["target_practitioner_id"], sent["target_institution_id"]) == (
        practitioner,
        institution,
    )
    flow.update(
        referral=rid, practitioner=practitioner, institution=institution, clinician=me["username"]
    )

    s.visit(f"/console/referrals/{rid}", "clinician-referral-detail", ready="#timeline li")
    steps = page.locator("#timeline li").all_inner_texts()
    assert len(steps) == 2 and "创建" in steps[0] and "选择专家并发送" in steps[1]
    s.visit(
        "/console/referrals?side=sent", "clinician-outbox", ready=f'#ref-table tr[data-id="{rid}"]'
    )
    # whom it went to, by name, at which institution
    row = page.locator(f'#ref-table tr[data-id="{rid}"]').inner_text()
    assert sent["target_practitioner_name"] and sent["target_practitioner_name"] in row
    assert names[institution] in row
    s.visit("/console/referrals?side=received", "clinician-inbox")

    # a consultation request with expert suggestions
    s.visit("/console/consults", "clinician-consults")
    mark = console.timed.mark()
    page.select_option("#c-patient", index=1)
    page.fill("#c-dx", "E11.9")
    page.fill("#c-q", "HbA1c 9.8% on metformin: add an SGLT2 inhibitor or insulin?")
    page.click("#consult-form button[type=submit]")
    page.wait_for_selector("#c-suggest li button")
    # each expert by name, then id (the names come from the directory)
    first_expert = page.locator("#c-suggest li").first.inner_text()
    assert not first_expert.startswith("PR-") and " · PR-" in first_expert
    page.locator("#c-suggest li button").first.click()
    page.wait_for_selector("#c-suggest li", state="detached")  # cleared once chosen
    page.wait_for_selector("#c-table tbody tr")
    # the list names the chosen expert too
    page.wait_for_selector(f'#c-table tbody tr:has-text("{first_expert.split(" · ")[0]}")')
    s.record("clinician-consult-requested", mark)
    consults = console.api("GET", "/consults?limit=100", me["username"]).json()["items"]
    assert any(c["business_status"] == "awaiting-acceptance" for c in consults)


def test_scheduler_accepts_adjusts_and_rejects_on_the_board(
    session_as, console: Console, flow: dict
) -> None:
    rid, pid, inst = flow["referral"], flow["practitioner"], flow["institution"]
    adjust_id = _api_referral(console, flow["clinician"], pid, inst)
    reject_id = _api_referral(console, flow["clinician"], pid, inst)
    s = session_as("scheduler", inst)  # lands on the board
    page = s.page
    s.visit("/console/scheduler", "scheduler-board", ready=f'#board tr[data-id="{rid}"]')
    row = page.locator(f'#board tr[data-id="{rid}"]')
    slot_text = row.locator(".slot-cell").inner_text()
    assert slot_text != "—", "the board suggests a free slot"
    assert "对口诊断" in row.inner_text()  # the suggestion's reasons travel along
    board = console.api("GET", "/console/api/board", s.account["username"]).json()
    item = next(i for i in board["items"] if i["referral_id"] == rid)
    # when the referral was made, in the scheduler's own time (Asia/Shanghai, UTC+8)
    made = datetime.fromisoformat(item["created_at"]).astimezone(timezone(timedelta(hours=8)))
    assert made.strftime("%Y/%m/%d %H:%M") in row.inner_text()
    origin = item["origin_institution_id"]  # the referring institution by name
    assert _institution_names(console, s.account["username"])[origin] in row.inner_text()

    mark = console.timed.mark()
    row.locator("button[data-act=accept]").click()
    page.wait_for_selector(f'#board tr[data-id="{rid}"]', state="detached")
    assert "已接受并预约" in page.inner_text("#flash")
    s.record("scheduler-accepted", mark)
    done = console.api("GET", f"/referrals/{rid}", s.account["username"]).json()
    assert done["business_status"] == "scheduled" and done["appointment_id"]
    assert [e["action"] for e in done["history"]][-2:] == ["accept", "schedule"]
    appt = console.api(
        "GET", f"/fhir/Appointment/{done['appointment_id']}", s.account["username"]
    ).json()
    assert _same_instant(appt["start"], item["suggested_slot"])

    # adjust: another slot from the practitioner's calendar
    mark = console.timed.mark()
    page.locator(f'#board tr[data-id="{adjust_id}"] button[data-act=adjust]').click()
    page.wait_for_selector("#adjust-slots input")
    s.shot("scheduler-adjust")
    second = page.locator("#adjust-slots input").nth(1)
    chosen = second.get_attribute("value")
    second.check()
    page.click("#adjust-ok")
    page.wait_for_selector(f'#board tr[data-id="{adjust_id}"]', state="detached")
    s.record("scheduler-adjusted", mark, shot=False)
    adjusted = console.api("GET", f"/referrals/{adjust_id}", s.account["username"]).json()
    assert adjusted["business_status"] == "scheduled"
    appt = console.api(
        "GET", f"/fhir/Appointment/{adjusted['appointment_id']}", s.account["username"]
    ).json()
    assert _same_instant(appt["start"], chosen)

    # reject with a reason
    mark = console.timed.mark()
    page.locator(f'#board tr[data-id="{reject_id}"] button[data-act=reject]').click()
    page.fill("#reject-reason", "no catheter lab capacity this week")
    s.shot("scheduler-reject")
    page.click("#reject-ok")
    page.wait_for_selector(f'#board tr[data-id="{reject_id}"]', state="detached")
    s.record("scheduler-rejected", mark)
    rejected = console.api("GET", f"/referrals/{reject_id}", s.account["username"]).json()
    assert rejected["business_status"] == "declined"
    assert rejected["status_reason"] == "no catheter lab capacity this week"

    # the requester chooses again on the referral's page, from suggestions without the decliner
    c = session_as("clinician", console.account("clinician")["institution"])
    c.visit(f"/console/referrals/{reject_id}", "clinician-choose-again", ready="#choose-again li")
    offered = c.page.locator("#choose-again li").evaluate_all(
        "ls => ls.map(l => l.dataset.practitioner)")
    assert offered and pid not in offered
    c.page.locator("#choose-again li button").first.click()
    c.page.wait_for_selector("#timeline li:nth-child(4)")  # create, choose, decline, choose
    again = console.api("GET", f"/referrals/{reject_id}", flow["clinician"]).json()
    assert again["business_status"] == "awaiting-acceptance"
    assert again["target_practitioner_id"] == offered[0]

    # the practitioner's calendar shows the booked slots
    s.visit(f"/console/calendar?practitioner={pid}", "scheduler-calendar", ready=".calendar .day")
    cal = console.api(
        "GET", f"/console/api/calendar?practitioner_id={pid}&days=21", s.account["username"]
    ).json()
    booked = {x["start"] for x in cal["slots"] if x["status"] == "booked"}
    assert any(_same_instant(b, item["suggested_slot"]) for b in booked)
    assert any(_same_instant(b, chosen) for b in booked)
    s.visit("/console/referrals", "scheduler-referrals", ready=f'#ref-table tr[data-id="{rid}"]')
    flow["scheduler"] = s.account["username"]


def test_specialist_reads_the_referred_patients_records_checked_on_the_ledger(
    session_as, console: Console, flow: dict
) -> None:
    from collaboration_api.records.access import ledger_access
    from ledger.indexer import index_stores

    rid = flow["referral"]
    origin = console.api("GET", f"/referrals/{rid}", flow["clinician"]).json()["institution_id"]
    # `up` indexes every store in the background; here the origin's store is enough (through
    # the server's own handle: one process holds the embedded chain)
    ledger = ledger_access(console.settings).ledger
    report = index_stores(ledger.client, console.settings.records_dir, holders={origin})
    assert report.registered + report.unchanged > 0 and not report.conflicts
    s = session_as("specialist", flow["institution"])
    page = s.page
    s.visit(f"/console/referrals/{rid}", "specialist-referral-records-link", ready="#records-link")
    mark = console.timed.mark()
    page.click("#records-link")
    page.wait_for_selector("#records-table tbody tr")
    s.record("specialist-patient-records", mark)
    rows = page.locator("#records-table tbody tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.holder, r.querySelector('td[data-verified]')"
        ".dataset.verified])"
    )
    # the origin's records, read under the referral's grant, each verified on the ledger;
    # the patient may also have records at the specialist's own hospital
    theirs = [verified for holder, verified in rows if holder == origin]
    assert theirs and set(theirs) == {"true"}
    assert {holder for holder, _ in rows} <= {origin, flow["institution"]}
    assert "已核验" in page.inner_text("#records-table")
    assert "访问日志 #" in page.inner_text("#records-table")
    # record types, sex and statuses in the page's language
    kinds = page.locator("#records-table tbody tr td:first-child").all_inner_texts()
    assert {"患者信息", "诊断"} <= set(kinds) and "Patient" not in kinds
    patient = page.locator("#records-table tbody tr", has_text="患者信息").first.inner_text()
    assert ("男" in patient or "女" in patient) and "male" not in patient


def _same_instant(a: str | None, b: str | None) -> bool:
    def parse(x: str) -> datetime:
        d = datetime.fromisoformat(x.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)

    return a is not None and b is not None and parse(a) == parse(b)


def test_worklists_of_specialist_and_radiologist(session_as, console: Console, flow: dict) -> None:
    rid = flow["referral"]
    s = session_as("specialist", flow["institution"])
    page = s.page
    page.wait_for_selector(f'#wl-ref tr[data-id="{rid}"]')
    s.visit(f"/console/referrals/{rid}", "specialist-referral-detail", ready="#actions form")
    # when and where the patient comes, in the specialist's time (UTC+8), and to whom
    detail = console.api("GET", f"/referrals/{rid}", s.account["username"]).json()
    start = datetime.fromisoformat(detail["appointment"]["start"].replace("Z", "+00:00"))
    local = start.astimezone(timezone(timedelta(hours=8))).strftime("%Y/%m/%d %H:%M")
    # at the specialist's own institution: said short, its name on hover
    where = page.locator("#appointment [data-inst]")
    assert " ".join(page.inner_text("#appointment").split()) == (
        f"{local} · 本机构 {flow['institution']}")
    names = _institution_names(console, s.account["username"])
    assert where.get_attribute("title") == f"{names[flow['institution']]} {flow['institution']}"
    assert detail["target_practitioner_name"] in page.inner_text("#facts")
    # the specialist is offered the next step only; then the loop runs down again
    for steps, action in ((5, "arrive"), (6, "complete"), (7, "refer-back")):
        forms = page.locator("#actions form").evaluate_all("fs => fs.map(f => f.dataset.action)")
        assert forms == [action]
        mark = console.timed.mark()
        if action == "refer-back":
            page.fill("#f-sum", "PCI to LAD, uneventful; EF 50%. 经皮冠脉介入术顺利。")
            page.fill("#f-plan", "Dual antiplatelet 12 months; review in 3 months. 社区随访。")
            s.shot("specialist-refer-back")
        page.click(f'#actions form[data-action="{action}"] button[type=submit]')
        page.wait_for_selector(f"#timeline li:nth-child({steps})")
        s.record(f"specialist-{action}", mark, shot=False)
    s.visit("/console/calendar", "specialist-calendar", ready=".calendar")

    c = session_as("clinician", console.account("clinician")["institution"])
    c.visit(f"/console/referrals/{rid}", "clinician-close-loop", ready="#actions form")
    mark = console.timed.mark()
    c.page.click('#actions form[data-action="close"] button[type=submit]')
    c.page.wait_for_selector("#timeline li:nth-child(8)")
    c.record("clinician-loop-closed", mark)
    closed = console.api("GET", f"/referrals/{rid}", flow["clinician"]).json()
    assert closed["business_status"] == "closed" and closed["status"] == "completed"
    assert [e["action"] for e in closed["history"]] == [
        "create",
        "choose",
        "accept",
        "schedule",
        "arrive",
        "complete",
        "refer-back",
        "close",
    ]
    assert c.page.locator("#timeline li.down").count() == 2  # the way back down
    # a study registered by the community (a real DICOM header from pydicom's test data) is
    # assigned to a radiologist of the tertiary hospital and shows on their worklist
    import base64

    from pydicom.data import get_testdata_file

    rad = console.account("radiologist")["username"]
    assert (
        console.api(
            "POST", "/imaging/readers", rad, json={"modalities": ["CT"], "daily_max": 20}
        ).status_code
        == 200
    )
    patient = console.api("GET", "/patients?limit=1", flow["clinician"]).json()["items"][0]
    with open(get_testdata_file("CT_small.dcm"), "rb") as fh:
        dicom = base64.b64encode(fh.read()).decode()
    study = console.api(
        "POST",
        "/imaging/studies",
        flow["clinician"],
        json={
            "patient_id": patient["id"],
            "urgency": "urgent",
            "body_part": "HEAD",
            "reason": "head trauma, rule out a bleed",
            "instances": [dicom],
        },
    )
    assert study.status_code == 201, study.text
    r = session_as("radiologist")
    r.page.wait_for_selector(f'#img-table tr[data-id="{study.json()["id"]}"]')
    r.shot("home-radiologist")


def test_a_consultation_runs_from_question_to_rated_opinion(
    session_as, console: Console
) -> None:
    clinician = console.account("clinician")
    expert = next(a for a in console.accounts
                  if a["role"] == "specialist" and a["institution"] != clinician["institution"])
    who = console.api("GET", f"/directory/practitioners?institution={expert['institution']}",
                      clinician["username"]).json()[0]
    patient = console.api("GET", "/patients?limit=1", clinician["username"]).json()["items"][0]
    cid = console.api("POST", "/consults", clinician["username"], json={
        "patient_id": patient["id"], "diagnosis_code": "E11.9", "mode": "async",
        "question": "HbA1c 9.8% on metformin: add an SGLT2 inhibitor or insulin?"}).json()["id"]
    assert console.api("POST", f"/consults/{cid}/choose", clinician["username"], json={
        "practitioner_id": who["id"], "institution_id": expert["institution"]}).status_code == 200

    # the expert finds it on the worklist, opens it, accepts and answers
    s = session_as("specialist", expert["institution"])
    page = s.page
    page.wait_for_selector(f'#wl-con tr[data-id="{cid}"] a')
    page.click(f'#wl-con tr[data-id="{cid}"] a')
    page.wait_for_selector('#actions form[data-action="accept"]')
    assert who["name"] in page.inner_text("#facts")  # the expert by name
    assert page.locator("#actions form").evaluate_all("fs => fs.map(f => f.dataset.action)") == [
        "accept", "decline"]
    mark = console.timed.mark()
    page.click('#actions form[data-action="accept"] button[type=submit]')
    page.wait_for_selector('#actions form[data-action="opinion"]')
    page.fill("#f-opinion", "Add empagliflozin 10 mg daily; recheck HbA1c in 3 months.")
    s.shot("specialist-consult-opinion")
    page.click('#actions form[data-action="opinion"] button[type=submit]')
    page.wait_for_selector("#opinion")
    s.record("specialist-consult-answered", mark)
    assert page.locator("#actions form").count() == 0  # the rating is the requester's

    # the requester reads the opinion and rates it; the consultation closes
    c = session_as("clinician", clinician["institution"])
    c.visit(f"/console/consults/{cid}", "clinician-consult-detail", ready="#actions form")
    assert "empagliflozin" in c.page.inner_text("#opinion")
    c.page.select_option("#f-rating", "4")
    c.page.fill("#f-feedback", "clear, actionable")
    c.page.click('#actions form[data-action="feedback"] button[type=submit]')
    c.page.wait_for_selector("#feedback")
    assert c.page.inner_text("#feedback") == "★★★★ · clear, actionable"
    done = console.api("GET", f"/consults/{cid}", clinician["username"]).json()
    assert (done["business_status"], done["rating"]) == ("closed", 4)
    assert [e["action"] for e in done["history"]] == [
        "create", "choose", "accept", "opinion", "feedback"]
    # the consults list links to it
    c.visit("/console/consults", "clinician-consults-list", ready=f'#c-table tr[data-id="{cid}"] a')

    # a live consultation's session, once the expert's side schedules it, is on its page
    live = console.api("POST", "/consults", clinician["username"], json={
        "patient_id": patient["id"], "diagnosis_code": "E11.9", "mode": "live",
        "question": "Insulin start: titration plan by video?"}).json()["id"]
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=6, minute=0, second=0,
                                                             microsecond=0)
    for user, action, body in (
            (clinician["username"], "choose", {"practitioner_id": who["id"],
                                               "institution_id": expert["institution"]}),
            (expert["username"], "accept", None),
            (expert["username"], "schedule", {"start": start.isoformat(), "minutes": 20})):
        got = console.api("POST", f"/consults/{live}/{action}", user, json=body)
        assert got.status_code == 200, (action, got.text)
    c.visit(f"/console/consults/{live}", "clinician-consult-session", ready="#session")
    assert c.page.locator("#session .badge.st-booked").count() == 1
    assert c.page.locator("#actions form").count() == 0  # the expert starts the session
    when = c.page.inner_text("#session")
    row = f'#c-table tr[data-id="{live}"]'
    c.visit("/console/consults", "clinician-consults-session", ready=row)
    mode = c.page.inner_text(f"{row} td.mode")  # the list says when, as the page does
    assert " · " in mode and when.startswith(mode.split(" · ")[1])


def test_supervisor_dashboard_shows_the_apis_figures(session_as, console: Console) -> None:
    s = session_as("supervisor")
    page = s.page
    page.wait_for_selector('body[data-loaded="1"]')
    user = s.account["username"]
    inst = s.account["institution"]
    for key, code in (("institution", inst), ("region", inst.split("-")[0])):
        scope = {key: code}
        if key == "region":
            mark = console.timed.mark()
            page.select_option("#scope", f"region:{inst.split('-')[0]}")
            page.click("#scope-form button[type=submit]")
            page.wait_for_selector('body[data-loaded="1"][data-scope^="region"]')
            s.record("supervisor-dashboard-region", mark)
        api = console.api("GET", "/supervision/kpis", user, params=scope).json()
        shown = dict(
            page.locator("#figures .figure").evaluate_all(
                "fs => fs.map(f => [f.dataset.figure, f.dataset.value])"
            )
        )
        assert len(shown) == 10
        for name, value in shown.items():
            if api[name] is None:
                assert value == "", name
            else:
                assert float(value) == pytest.approx(float(api[name])), (scope, name)
        # the current period of the series is the API's figure for that period
        end = _next_monday()
        period = console.api(
            "GET",
            "/supervision/kpis",
            user,
            params={
                **scope,
                "start": (end - timedelta(days=7)).isoformat(),
                "end": end.isoformat(),
            },
        ).json()
        last = page.locator("#series tbody tr").last
        cells = dict(
            last.locator("td").evaluate_all("ts => ts.map(t => [t.dataset.figure, t.textContent])")
        )
        assert cells["referrals_up"] == str(period["referrals_up"])
        assert cells["referrals_down"] == str(period["referrals_down"])
        bars = page.locator("#c-vol rect").evaluate_all(
            "rs => rs.map(r => Number(r.dataset.value))"
        )
        assert bars[-2:] == [period["referrals_up"], period["referrals_down"]]
    assert api["referrals_up"] >= 3  # the clinician's referrals of this session count
    assert api["referrals_down"] >= 1 and api["loop_closure_rate"] == 1.0
    s.shot("supervisor-dashboard-region")
    # alerts as the API lists them; a drift alert names its feature and has no deadline
    alerts = console.api("GET", "/supervision/alerts", user, params=scope).json()
    assert page.locator("#alerts tbody tr").count() == len(alerts)
    for a in (a for a in alerts if a["kind"] == "model.drift"):
        row = page.locator('#alerts tbody tr[data-kind="model.drift"]').first.inner_text()
        assert "模型特征漂移" in row and f"{a['feature']}：PSI" in row
    # the supervisor is offered their institution and region only
    assert page.locator("#scope option").evaluate_all("os => os.map(o => o.value)") == [
        f"institution:{inst}",
        f"region:{inst.split('-')[0]}",
    ]

    s.visit("/console/audit", "supervisor-audit", ready="#audit tbody tr")
    mark = console.timed.mark()
    colleague = console.account("scheduler", inst)["username"]
    page.fill("#a-actor", colleague)
    with page.expect_response(lambda r: "/supervision/audit?" in r.url and "actor=" in r.url):
        page.click("#audit-form button[type=submit]")
    page.wait_for_selector(f'#audit tbody tr[data-actor="{colleague}"]')
    s.record("supervisor-audit-search", mark)
    rows = page.locator("#audit tbody tr").evaluate_all(
        "rs => rs.map(r => [r.dataset.actor, r.dataset.institution, r.dataset.actorInstitution])"
    )
    assert rows and all(actor == colleague for actor, _, _ in rows)
    assert all(inst in (ent, act) for _, ent, act in rows)
    # a community clinician's reads of their own patients are not this supervisor's to see
    page.fill("#a-actor", console.account("clinician")["username"])
    with page.expect_response(lambda r: "/supervision/audit?" in r.url and "actor=" in r.url):
        page.click("#audit-form button[type=submit]")
    page.wait_for_selector("#audit-empty:not([hidden])")
    assert page.locator("#audit tbody tr").count() == 0


def _next_monday() -> datetime:
    now = datetime.now(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return day + timedelta(days=8 - (day.isoweekday()))


def test_data_scientist_compares_promotes_and_rolls_back(
    session_as, console: Console, flow: dict
) -> None:
    from mlflow import MlflowClient

    from training import registry

    settings = console.settings
    name = settings.referral_model_name
    registry.configure(settings)
    client = MlflowClient()
    champion = registry.champion_version(settings, name)
    v1 = client.get_model_version(name, champion)
    # a challenger: the same run registered again (training a second model takes minutes)
    v2 = client.create_model_version(name, v1.source, run_id=v1.run_id)
    client.set_registered_model_alias(name, registry.CHALLENGER, v2.version)

    s = session_as("data_scientist")
    page = s.page
    s.visit("/console/models", "data-scientist-models", ready="#m-versions tbody tr")
    api = console.api("GET", "/models", s.account["username"]).json()
    assert (api["champion"], api["challenger"]) == (champion, str(v2.version))
    model = next(v for v in api["versions"] if v["version"] == champion)["metrics"]["model"]
    for key in ("ndcg@5", "ndcg@10", "hit@5", "mrr"):
        shown = page.inner_text(f'#m-champion [data-metric="{key}"]')
        assert shown == f"{model[key]:.3f}"
    assert page.inner_text('#m-champion [data-metric="gap"]') == (
        f"{model['subgroup_max_gap_ndcg@10']:.3f}"
    )
    low, high = model["subgroup_max_gap_vs_oracle_ci95"]
    assert page.inner_text('#m-champion [data-metric="own-gap"]') == (
        f"{model['subgroup_max_gap_vs_oracle']:.3f} [{low:.3f}, {high:.3f}]"
    )
    assert "版本 " + str(v2.version) in page.inner_text("#m-challenger")
    assert page.locator("#m-table tbody tr").count() >= 4  # model, baselines, oracle
    page.wait_for_selector("#m-shadow tbody tr")  # pairs scored in shadow, or "none yet"
    shadow = console.api("GET", f"/models/{name}/shadow", s.account["username"]).json()
    assert page.locator("#m-shadow tbody tr[data-challenger]").count() == len(shadow["pairs"])
    assert page.get_attribute("#m-mlflow", "href").startswith("http")

    mark = console.timed.mark()
    page.click(f'button[data-promote="{v2.version}"]')
    page.wait_for_selector("#confirm[open]")
    s.shot("data-scientist-confirm-promote")
    page.click("#confirm-ok")
    page.wait_for_selector("#flash .ok")
    s.record("data-scientist-promoted", mark)
    assert registry.champion_version(settings, name) == str(v2.version)

    mark = console.timed.mark()
    page.click("#m-rollback")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-ok")
    page.wait_for_selector(f'#m-versions tr[data-version="{champion}"] .alias-champion')
    s.record("data-scientist-rolled-back", mark)
    assert registry.champion_version(settings, name) == champion
    # serving follows the alias within seconds: wait until it answers with the champion
    deadline = time.monotonic() + 30
    while True:
        got = console.api(
            "GET", f"/referrals/{flow['referral']}/recommendations", flow["clinician"]
        ).json()
        if got["model_version"] == champion or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got["model_version"] == champion


def test_no_page_shows_another_institutions_data(session_as, console: Console, flow: dict) -> None:
    other = next(
        a
        for a in console.accounts
        if a["role"] == "clinician" and a["username"] != flow["clinician"]
    )
    s = session_as("clinician", other["institution"])
    page = s.page
    mine = other["institution"]
    for side in ("sent", "received"):
        s.visit(f"/console/referrals?side={side}", f"isolation-{side}")
        rows = page.locator("#ref-table tbody tr").evaluate_all(
            "rs => rs.map(r => [r.dataset.id, r.dataset.institution, r.dataset.target])"
        )
        assert flow["referral"] not in {r[0] for r in rows}
        assert all(mine in (inst, target) for _, inst, target in rows)
    s.visit(
        f"/console/referrals/{flow['referral']}", "isolation-denied", ready="#flash [role=alert]"
    )
    assert page.is_hidden("#detail")
    assert "无权查看" in page.inner_text("#flash")
    s.visit("/console/consults", "isolation-consults")
    assert all(
        mine in (a, b)
        for a, b in page.locator("#c-table tbody tr").evaluate_all(
            "rs => rs.map(r => [r.dataset.institution, r.dataset.target])"
        )
    )

    # a referral waiting at one hospital is not on another hospital's board
    waiting = _api_referral(console, flow["clinician"], flow["practitioner"], flow["institution"])
    elsewhere = next(
        a
        for a in console.accounts
        if a["role"] == "scheduler" and a["institution"] != flow["institution"]
    )
    t = session_as("scheduler", elsewhere["institution"])
    ids = t.page.locator("#board tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert waiting not in ids
    assert (
        console.api(
            "GET",
            f"/console/api/calendar?practitioner_id={flow['practitioner']}",
            elsewhere["username"],
        ).status_code
        == 404
    )
    here = console.api("GET", "/console/api/board", flow["scheduler"]).json()
    assert waiting in {i["referral_id"] for i in here["items"]}


def test_english_switch_and_tablet_width(session_as, console: Console) -> None:
    s = session_as("clinician", viewport={"width": 768, "height": 1024})
    page = s.page
    s.visit("/console/referrals/new?lang=en", "tablet-en-referral-new")
    assert page.inner_text("h1") == "New referral"
    assert page.get_attribute("html", "lang") == "en"
    s.visit("/console/referrals", "tablet-en-referrals")  # the choice is remembered
    assert page.inner_text("h1") == "Referrals"
    for path in ("/console/referrals/new", "/console/consults", "/console/referrals?side=sent"):
        page.goto(console.base + path)
        page.wait_for_load_state("networkidle")
        # nothing wider than the screen: tables scroll inside their card
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
    # and the sent list's last column, the link to each referral, is in view without scrolling
    link = page.locator("#ref-table tbody tr a").first.bounding_box()
    assert link is not None and link["x"] + link["width"] <= 768
    s.visit("/console/referrals?lang=zh-CN", "tablet-zh-referrals")
    assert page.inner_text("h1") == "转诊收发"
    # the console's files are all served here: no request leaves 127.0.0.1
    hosts = set(
        page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).host)")
    )
    assert hosts <= {console.base.removeprefix("http://")}
