"""/console: the web console, server-rendered pages over the same JSON API.

Pages are Jinja2 templates rendered without any patient data: the browser signs in at
``POST /auth/token``, keeps the bearer token in sessionStorage and fetches everything a
page shows from the API, so a page shows exactly what the API allows the user to see.
Strings come from one dictionary per language (``i18n/zh-CN.json`` default, ``en.json``).

A few read-only helper routes under ``/console/api`` fill gaps the area routers do not
cover yet (the scheduler's board with the suggestion behind each match, a practitioner's
slots); they need the same bearer token and stay inside the caller's institution.
"""

from __future__ import annotations

import functools
import json
import mimetypes
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.db import as_utc
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.directory.service import institution_directory
from collaboration_api.problems import Problem

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False)

# page name -> (template, title key, roles that use it; the API still decides what they see)
PAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "referral_new": ("referral_new.html", "nav.referral_new", ("clinician", "specialist")),
    "referrals": ("referrals.html", "nav.referrals", ("clinician", "specialist", "scheduler")),
    "referral": (
        "subject_detail.html",
        "referral.detail",
        ("clinician", "specialist", "scheduler"),
    ),
    "consults": ("consults.html", "nav.consults", ("clinician", "specialist")),
    "consult": (
        "subject_detail.html",
        "consult.detail",
        ("clinician", "specialist", "scheduler"),
    ),
    "records": ("records.html", "records.title", ("clinician", "specialist", "radiologist")),
    "scheduler": ("scheduler.html", "nav.scheduler", ("scheduler",)),
    "calendar": ("calendar.html", "nav.calendar", ("scheduler", "specialist")),
    "worklist": ("worklist.html", "nav.worklist", ("specialist", "radiologist")),
    "supervision": ("supervision.html", "nav.supervision", ("supervisor", "admin")),
    "audit": ("audit.html", "nav.audit", ("supervisor", "admin")),
    "models": ("models.html", "nav.models", ("data_scientist", "admin")),
    "teaching": ("teaching.html", "nav.teaching", ("teacher", "clinician", "admin")),
}
# the first page of each role after signing in
HOME = {
    "clinician": "referral_new",
    "specialist": "worklist",
    "scheduler": "scheduler",
    "radiologist": "worklist",
    "supervisor": "supervision",
    "data_scientist": "models",
    "admin": "supervision",
    "teacher": "teaching",
}
NAV = {
    "clinician": ["referral_new", "referrals", "consults", "teaching"],
    "specialist": ["worklist", "referrals", "consults", "calendar", "referral_new"],
    "scheduler": ["scheduler", "calendar", "referrals"],
    "radiologist": ["worklist"],
    "supervisor": ["supervision", "audit"],
    "data_scientist": ["models"],
    "admin": ["supervision", "audit", "models"],
    "teacher": ["teaching"],
}


@functools.cache
def _dictionary(lang: str) -> dict[str, str]:
    return json.loads((HERE / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("rc_lang") or DEFAULT_LANG
    return asked if asked in LANGS else DEFAULT_LANG


def _render(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    words = _dictionary(lang)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "lang": lang,
            "t": lambda key: words.get(key, key),
            "words": words,
            "langs": LANGS,
            "nav": NAV,
            "pages": PAGES,
            "home": HOME,
            **context,
        },
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie("rc_lang", lang, samesite="lax", max_age=365 * 86400)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """Sends a signed-in user to their role's first page, others to the login page."""
    return _render(request, "index.html", "index")


@router.get("/login", response_class=HTMLResponse)
def login(request: Request) -> HTMLResponse:
    return _render(request, "login.html", "login")


@router.get("/referrals/new", response_class=HTMLResponse)
def referral_new(request: Request) -> HTMLResponse:
    return _page(request, "referral_new")


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
def referral_detail(request: Request, referral_id: str) -> HTMLResponse:
    return _page(request, "referral", subject_id=referral_id, back_href="/console/referrals",
                 back_key="nav.referrals", timeline_key="referral.timeline",
                 script="referral_detail.js")


@router.get("/consults/{consult_id}", response_class=HTMLResponse)
def consult_detail(request: Request, consult_id: str) -> HTMLResponse:
    return _page(request, "consult", subject_id=consult_id, back_href="/console/consults",
                 back_key="nav.consults", timeline_key="consult.timeline",
                 script="consult_detail.js")


@router.get("/patients/{patient_ref}/records", response_class=HTMLResponse)
def patient_records(request: Request, patient_ref: str) -> HTMLResponse:
    """A referred patient's records, each with its ledger check (from the records API)."""
    return _page(request, "records", subject_id=patient_ref)


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    template, title, roles = PAGES[name]
    return _render(request, template, name, title_key=title, roles=roles, **context)


def _simple(name: str, path: str) -> None:
    def view(request: Request) -> HTMLResponse:
        return _page(request, name)

    view.__name__ = f"page_{name}"
    router.add_api_route(path, view, methods=["GET"], response_class=HTMLResponse)


for _name, _path in (
    ("referrals", "/referrals"),
    ("consults", "/consults"),
    ("scheduler", "/scheduler"),
    ("calendar", "/calendar"),
    ("worklist", "/worklist"),
    ("supervision", "/supervision"),
    ("audit", "/audit"),
    ("models", "/models"),
    ("teaching", "/teaching"),
):
    _simple(_name, _path)


@router.get("/static/{path:path}")
def static(path: str) -> Response:
    """The console's own scripts, styles and data (no CDN: everything is served here)."""
    target = (STATIC / path).resolve()
    if STATIC not in target.parents or not target.is_file():
        raise Problem(404, "Not found", f"no console file {path!r}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if target.suffix == ".js":
        media = "text/javascript"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "public, max-age=300"})


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/console/static/favicon.svg")


# ---- helper JSON routes (bearer token, caller's institution only) -----------------------


@router.get("/api/practitioners")
def practitioners(caller: CurrentUser, settings: SettingsDep) -> dict[str, Any]:
    """The practitioners of the caller's institution, with their specialty."""
    if not caller.has_role("scheduler", "specialist", "admin"):
        raise Problem(403, "Forbidden", "only schedulers and specialists see the rota")
    return {
        "institution_id": caller.institution_id,
        "items": institution_directory(settings, caller.institution_id)["practitioners"],
    }


@router.get("/api/calendar")
def calendar(
    caller: CurrentUser,
    settings: SettingsDep,
    db: DbSession,
    practitioner_id: str = Query(min_length=1, max_length=64),
    days: int = Query(14, ge=1, le=60),
) -> dict[str, Any]:
    """One practitioner's slots from now on, each marked free or booked, plus the
    appointments booked with them (no patient data: only times and status)."""
    if not caller.has_role("scheduler", "specialist", "admin"):
        raise Problem(403, "Forbidden", "only schedulers and specialists see calendars")
    directory = institution_directory(settings, caller.institution_id)
    if practitioner_id not in {p["id"] for p in directory["practitioners"]}:
        raise Problem(
            404, "Not found", f"no practitioner {practitioner_id} at {caller.institution_id}"
        )
    start = datetime.now(UTC)
    until = start + timedelta(days=days)
    booked = _booked(db, caller.institution_id, practitioner_id)
    slots = []
    for slot in directory["slots"].get(practitioner_id, []):
        begin = _parse(slot["start"])
        if begin is None or begin < start or begin > until:
            continue
        taken = slot.get("status") == "busy" or begin in booked
        slots.append(
            {
                "id": slot["id"],
                "start": slot["start"],
                "end": slot.get("end"),
                "status": "booked" if taken else "free",
            }
        )
    return {
        "practitioner_id": practitioner_id,
        "institution_id": caller.institution_id,
        "slots": slots,
        "appointments": [{"start": b.isoformat(), "status": s} for b, s in sorted(booked.items())],
    }


@router.get("/api/board")
def board(caller: CurrentUser, settings: SettingsDep, db: DbSession) -> dict[str, Any]:
    """The scheduler's board: referrals received by the caller's institution that wait for
    acceptance or a booking, each with the suggestion behind the chosen practitioner
    (rank, score, reasons, distance) and that practitioner's next free slots."""
    from sqlalchemy import select

    from collaboration_api.referral import service as referrals
    from collaboration_api.referral.models import RecommendationLog

    if not caller.has_role("scheduler", "specialist", "admin"):
        raise Problem(403, "Forbidden", "only the receiving side sees the board")
    rows: list[Any] = []
    for status in ("awaiting-acceptance", "accepted"):
        page, _ = referrals.list_referrals(
            db=db, caller=caller, side="received", business_status=status, cursor=None, limit=100
        )
        rows += page
    directory = institution_directory(settings, caller.institution_id)
    names = {p["id"]: p for p in directory["practitioners"]}
    now = datetime.now(UTC)
    items = []
    for r in rows:
        logs = db.scalars(
            select(RecommendationLog)
            .where(RecommendationLog.referral_id == r.id)
            .order_by(RecommendationLog.id.desc())
        )
        match, rank, version = None, None, None
        for log in logs:
            for i, item in enumerate(log.items or [], start=1):
                if item.get("practitioner_id") == r.target_practitioner_id:
                    match, rank, version = item, i, log.model_version
                    break
            if match:
                break
        pid = r.target_practitioner_id or ""
        booked = _booked(db, caller.institution_id, pid)
        free = [
            s
            for s in directory["slots"].get(pid, [])
            if s.get("status") != "busy"
            and (b := _parse(s["start"])) is not None
            and b >= now
            and b not in booked
        ][:5]
        items.append(
            {
                "referral_id": r.id,
                "origin_institution_id": r.institution_id,
                "diagnosis_code": r.diagnosis_code,
                "urgency": r.urgency,
                "reason": r.reason,
                "business_status": r.business_status,
                "created_at": as_utc(r.created_at).isoformat(),  # SQLite drops the UTC
                "practitioner_id": pid,
                "practitioner_name": names.get(pid, {}).get("name"),
                "specialty": names.get(pid, {}).get("specialty"),
                "rank": rank,
                "model_version": version,
                "score": match.get("score") if match else None,
                "reasons": match.get("reasons", []) if match else [],
                "reason_codes": match.get("reason_codes", []) if match else [],
                "distance_km": match.get("distance_km") if match else None,
                "suggested_slot": free[0]["start"] if free else None,
                "free_slots": [s["start"] for s in free],
            }
        )
    urgency = {"emergency": 0, "urgent": 1, "routine": 2}
    items.sort(key=lambda i: (urgency.get(i["urgency"], 3), i["created_at"]))
    return {"institution_id": caller.institution_id, "items": items}


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _booked(db: Any, institution_id: str, practitioner_id: str) -> dict[datetime, str]:
    from sqlalchemy import select

    from collaboration_api.schedule.models import Appointment

    rows = db.scalars(
        select(Appointment).where(
            Appointment.institution_id == institution_id,
            Appointment.practitioner_id == practitioner_id,
            Appointment.status != "cancelled",
        )
    )
    out = {}
    for a in rows:
        start = a.start if a.start.tzinfo else a.start.replace(tzinfo=UTC)
        out[start] = a.status
    return out
