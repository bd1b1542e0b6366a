"""Remote teaching: courses open to the whole alliance, taught by an institution's
teachers; live sessions with the network-adaptive video policy; enrolment, attendance
recorded by the teacher, continuing-education credits once enough sessions are attended;
a case library of de-identified, consented consultation cases.
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.auth.deps import Caller
from collaboration_api.consult.models import Consult
from collaboration_api.db import utcnow
from collaboration_api.notifications.service import notify
from collaboration_api.pagination import decode_cursor
from collaboration_api.problems import Problem
from collaboration_api.supervision import audit
from collaboration_api.teaching.models import (
    Attendance,
    CaseEntry,
    Course,
    CourseSession,
    Enrolment,
)
from collaboration_api.teaching.schemas import (
    AttendanceCreate,
    CaseCreate,
    CourseCreate,
    SessionCreate,
)
from collaboration_api.telemedicine import policy

TEACHERS = ("teacher",)
LEARNERS = ("clinician", "specialist", "radiologist", "scheduler", "teacher")
CASE_ROLES = ("clinician", "specialist")


def _deny(db: Session, caller: Caller, status: int, detail: str, *, entity: str = "Course",
          entity_id: str | None = None, institution: str | None = None,
          action: str = "R") -> None:
    audit.deny(db, caller, status, detail, entity_type=entity, entity_id=entity_id,
               entity_institution=institution, action=action)


def create_course(*, db: Session, caller: Caller, data: CourseCreate) -> Course:
    if not caller.has_role(*TEACHERS):
        _deny(db, caller, 403, f"a {caller.role} may not create courses", action="C")
    course = Course(id=str(uuid.uuid4()), institution_id=caller.institution_id,
                    teacher_id=caller.id, title=data.title, description=data.description,
                    credits=data.credits, min_sessions=data.min_sessions, created_at=utcnow())
    db.add(course)
    db.commit()
    return course


def list_courses(*, db: Session, q: str | None, cursor: str | None, limit: int
                 ) -> tuple[list[Course], str | None]:
    """Courses of the whole alliance, searchable by title."""
    stmt = select(Course)
    if q:
        stmt = stmt.where(func.lower(Course.title).contains(q.lower()))
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(stmt.order_by(Course.created_at.desc(), Course.id)
                           .offset(offset).limit(limit + 1)))
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def get_course(db: Session, caller: Caller, course_id: str) -> Course:
    course = db.get(Course, course_id)
    if course is None:
        _deny(db, caller, 404, f"no course {course_id}", entity_id=course_id)
    return course


def _own_course(db: Session, caller: Caller, course_id: str, action: str) -> Course:
    """A course the caller teaches (a teacher of its institution)."""
    course = get_course(db, caller, course_id)
    if not caller.has_role(*TEACHERS) or caller.institution_id != course.institution_id:
        _deny(db, caller, 403, "only the course's institution's teachers manage it",
              entity_id=course.id, institution=course.institution_id, action=action)
    return course


def add_session(*, db: Session, caller: Caller, course_id: str,
                data: SessionCreate) -> CourseSession:
    course = _own_course(db, caller, course_id, "C")
    session = CourseSession(id=str(uuid.uuid4()), course_id=course.id, start=data.start,
                            minutes=data.minutes, status="scheduled", video_state={})
    db.add(session)
    db.commit()
    return session


def sessions_of(db: Session, course_id: str) -> list[CourseSession]:
    return list(db.scalars(select(CourseSession).where(CourseSession.course_id == course_id)
                           .order_by(CourseSession.start)))


def _session(db: Session, caller: Caller, session_id: str) -> tuple[CourseSession, Course]:
    session = db.get(CourseSession, session_id)
    if session is None:
        _deny(db, caller, 404, f"no session {session_id}", entity_id=session_id)
    return session, db.get(Course, session.course_id)  # type: ignore[return-value]


def enrol(*, db: Session, caller: Caller, course_id: str) -> Enrolment:
    """The caller enrols in a course (any institution's course: teaching is regional)."""
    course = get_course(db, caller, course_id)
    if not caller.has_role(*LEARNERS):
        _deny(db, caller, 403, f"a {caller.role} does not take courses", entity_id=course.id,
              action="C")
    found = db.scalars(select(Enrolment).where(Enrolment.course_id == course.id,
                                               Enrolment.user_id == caller.id)).first()
    if found:
        return found
    row = Enrolment(course_id=course.id, user_id=caller.id,
                    institution_id=caller.institution_id, enrolled_at=utcnow())
    db.add(row)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Problem(409, "Conflict", "already enrolling") from None
    return row


def set_status(*, db: Session, caller: Caller, session_id: str, status: str) -> CourseSession:
    """start: scheduled -> live; end: live -> ended, then credits are awarded."""
    session, course = _session(db, caller, session_id)
    _own_course(db, caller, course.id, "U")
    allowed = {"live": ("scheduled",), "ended": ("live",)}[status]
    if session.status not in allowed:
        raise Problem(409, "Conflict", f"the session is {session.status}")
    session.status = status
    if status == "ended":
        award_credits(db, course)
    db.commit()
    return session


def join(*, db: Session, caller: Caller, session_id: str,
         sample: policy.NetworkReport) -> CourseSession:
    """An enrolled learner or the teacher joins the live session with a network report;
    the session's profile follows the video policy of part 1."""
    session, course = _session(db, caller, session_id)
    is_teacher = caller.has_role(*TEACHERS) and caller.institution_id == course.institution_id
    enrolled = db.scalars(select(Enrolment).where(Enrolment.course_id == course.id,
                                                  Enrolment.user_id == caller.id)).first()
    if not is_teacher and enrolled is None:
        _deny(db, caller, 403, "enrol in the course first", entity_id=course.id, action="U")
    if session.status != "live":
        raise Problem(409, "Conflict", f"the session is {session.status}, not live")
    state = policy.SessionPolicy.from_state(session.video_state or {})
    state.report(caller.id, sample)
    session.video_state = state.to_state()
    session.video_profile = state.profile()
    db.commit()
    return session


def record_attendance(*, db: Session, caller: Caller, session_id: str,
                      data: AttendanceCreate) -> list[Attendance]:
    """The teacher records who attended (enrolled learners only)."""
    session, course = _session(db, caller, session_id)
    _own_course(db, caller, course.id, "C")
    if session.status == "scheduled":
        raise Problem(409, "Conflict", "the session has not started")
    enrolled = {e.user_id: e for e in db.scalars(select(Enrolment).where(
        Enrolment.course_id == course.id))}
    missing = [u for u in data.user_ids if u not in enrolled]
    if missing:
        raise Problem(422, "Not enrolled", f"not enrolled in the course: {', '.join(missing)}")
    rows = []
    for uid in dict.fromkeys(data.user_ids):
        row = db.scalars(select(Attendance).where(Attendance.session_id == session.id,
                                                  Attendance.user_id == uid)).first()
        if row is None:
            row = Attendance(session_id=session.id, course_id=course.id, user_id=uid,
                             institution_id=enrolled[uid].institution_id,
                             minutes=data.minutes, at=utcnow())
            db.add(row)
        else:
            row.minutes = data.minutes
        rows.append(row)
    db.commit()
    return rows


def attended(db: Session, course_id: str, user_id: str) -> int:
    return int(db.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.course_id == course_id, Attendance.user_id == user_id)) or 0)


def award_credits(db: Session, course: Course) -> int:
    """Credit every enrolled learner who attended enough sessions (once)."""
    n = 0
    for e in db.scalars(select(Enrolment).where(Enrolment.course_id == course.id,
                                                Enrolment.credited_at.is_(None))):
        if attended(db, course.id, e.user_id) >= course.min_sessions:
            e.credits, e.credited_at = course.credits, utcnow()
            notify(db, [e.user_id], kind="teaching.credited", subject_type="course",
                   subject_id=course.id,
                   message=f"{course.credits:g} credits for '{course.title}'")
            n += 1
    return n


def my_enrolments(*, db: Session, caller: Caller) -> list[tuple[Enrolment, int]]:
    rows = db.scalars(select(Enrolment).where(Enrolment.user_id == caller.id)
                      .order_by(Enrolment.id))
    return [(e, attended(db, e.course_id, caller.id)) for e in rows]


# --------------------------------------------------------------------------- case library

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_PHONE = re.compile(r"\+?\d[\d\s-]{8,}\d")
_ID = re.compile(r"\b[A-Z]{1,3}\d?-?[A-Z]?\d?-?[A-Z]?\d{4,}\b|\bMRN\s*\d+\b", re.I)


def deidentify(text: str, known: list[str]) -> str:
    """Remove identifiers: the patient's ids and names, dates, phone numbers, record ids."""
    for value in sorted({k for k in known if k}, key=len, reverse=True):
        text = re.sub(re.escape(value), "[patient]", text, flags=re.I)
    text = _DATE.sub("[date]", text)
    text = _PHONE.sub("[phone]", text)
    return _ID.sub("[id]", text)


def add_case(*, db: Session, caller: Caller, data: CaseCreate,
             patient_names: list[str] | None = None) -> CaseEntry:
    """The requesting institution contributes a closed consultation it holds consent for."""
    if not caller.has_role(*CASE_ROLES):
        _deny(db, caller, 403, f"a {caller.role} may not contribute cases", entity="Consent",
              action="C")
    consult = db.get(Consult, data.consult_id)
    if consult is None or consult.institution_id != caller.institution_id:
        _deny(db, caller, 404, f"no consultation {data.consult_id} held here",
              entity="ServiceRequest", entity_id=data.consult_id, action="C")
    if consult.business_status not in ("opinion-given", "closed") or not consult.opinion:
        raise Problem(409, "Conflict", "only consultations with an expert opinion")
    if db.scalars(select(CaseEntry).where(CaseEntry.source_consult_id == consult.id)).first():
        raise Problem(409, "Conflict", "this consultation is in the library already")
    known = [consult.patient_id, consult.patient_ref, *(patient_names or [])]
    case = CaseEntry(id=str(uuid.uuid4()), source_consult_id=consult.id,
                     institution_id=consult.institution_id,
                     diagnosis_code=consult.diagnosis_code, title=deidentify(data.title, known),
                     question=deidentify(consult.question, known),
                     opinion=deidentify(consult.opinion, known),
                     tags=[t.lower() for t in data.tags],
                     consent_reference=data.consent_reference, created_at=utcnow())
    db.add(case)
    audit.record(db, caller, action="C", subtype="teaching.case", entity_type="ServiceRequest",
                 entity_id=consult.id, patient_ref=consult.patient_ref,
                 entity_institution=consult.institution_id,
                 detail=f"de-identified into case {case.id}, consent "
                        f"{data.consent_reference}")
    db.commit()
    return case


def list_cases(*, db: Session, q: str | None, diagnosis: str | None, cursor: str | None,
               limit: int) -> tuple[list[CaseEntry], str | None]:
    stmt = select(CaseEntry)
    if q:
        like = q.lower()
        stmt = stmt.where(or_(func.lower(CaseEntry.title).contains(like),
                              func.lower(CaseEntry.question).contains(like)))
    if diagnosis:
        stmt = stmt.where(CaseEntry.diagnosis_code.startswith(diagnosis.upper()))
    offset = decode_cursor(cursor) or 0
    rows = list(db.scalars(stmt.order_by(CaseEntry.created_at.desc(), CaseEntry.id)
                           .offset(offset).limit(limit + 1)))
    return rows[:limit], (str(offset + limit) if len(rows) > limit else None)


def my_enrolments_of(db: Session, course_id: str, user_id: str
                     ) -> list[tuple[Enrolment, int]]:
    rows = db.scalars(select(Enrolment).where(Enrolment.course_id == course_id,
                                              Enrolment.user_id == user_id))
    return [(e, attended(db, course_id, user_id)) for e in rows]
