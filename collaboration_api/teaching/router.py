"""/teaching routes: courses, sessions, enrolment, attendance, credits, case library."""

from __future__ import annotations

from fastapi import APIRouter, Query

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession
from collaboration_api.pagination import MAX_PAGE
from collaboration_api.problems import responses
from collaboration_api.teaching import service
from collaboration_api.teaching.schemas import (
    AttendanceCreate,
    CaseCreate,
    CasePage,
    CaseRead,
    CourseCreate,
    CoursePage,
    CourseRead,
    EnrolmentRead,
    SessionCreate,
    SessionRead,
)
from collaboration_api.telemedicine.policy import NetworkReport

router = APIRouter(prefix="/teaching", tags=["teaching"],
                   responses=responses(401, 403, 404, 429))
STEP = responses(409, 422)


@router.post("/courses", status_code=201, response_model=CourseRead, responses=STEP)
def create_course(data: CourseCreate, db: DbSession, caller: CurrentUser) -> CourseRead:
    """A teacher offers a course to the whole alliance."""
    return CourseRead.model_validate(service.create_course(db=db, caller=caller, data=data))


@router.get("/courses", response_model=CoursePage)
def list_courses(db: DbSession, caller: CurrentUser, q: str | None = None,
                 cursor: str | None = None,
                 limit: int = Query(50, ge=1, le=MAX_PAGE)) -> CoursePage:
    rows, nxt = service.list_courses(db=db, q=q, cursor=cursor, limit=limit)
    return CoursePage(items=[CourseRead.model_validate(c) for c in rows], next=nxt)


@router.get("/courses/{course_id}/sessions", response_model=list[SessionRead])
def list_sessions(course_id: str, db: DbSession, caller: CurrentUser) -> list[SessionRead]:
    course = service.get_course(db, caller, course_id)
    return [SessionRead.model_validate(s) for s in service.sessions_of(db, course.id)]


@router.post("/courses/{course_id}/sessions", status_code=201, response_model=SessionRead,
             responses=STEP)
def add_session(course_id: str, data: SessionCreate, db: DbSession,
                caller: CurrentUser) -> SessionRead:
    return SessionRead.model_validate(service.add_session(db=db, caller=caller,
                                                          course_id=course_id, data=data))


@router.post("/courses/{course_id}/enrol", response_model=EnrolmentRead, responses=STEP)
def enrol(course_id: str, db: DbSession, caller: CurrentUser) -> EnrolmentRead:
    """The caller enrols (idempotent: enrolling twice keeps one enrolment)."""
    return EnrolmentRead.model_validate(service.enrol(db=db, caller=caller,
                                                      course_id=course_id))


@router.post("/sessions/{session_id}/start", response_model=SessionRead, responses=STEP)
def start(session_id: str, db: DbSession, caller: CurrentUser) -> SessionRead:
    return SessionRead.model_validate(service.set_status(db=db, caller=caller,
                                                         session_id=session_id, status="live"))


@router.post("/sessions/{session_id}/end", response_model=SessionRead, responses=STEP)
def end(session_id: str, db: DbSession, caller: CurrentUser) -> SessionRead:
    """End the session; learners who attended enough sessions are credited."""
    return SessionRead.model_validate(service.set_status(db=db, caller=caller,
                                                         session_id=session_id,
                                                         status="ended"))


@router.post("/sessions/{session_id}/join", response_model=SessionRead, responses=STEP)
def join(session_id: str, data: NetworkReport, db: DbSession,
         caller: CurrentUser) -> SessionRead:
    """Join the live session with a network report; the answer holds the video profile."""
    return SessionRead.model_validate(service.join(db=db, caller=caller,
                                                   session_id=session_id, sample=data))


@router.post("/sessions/{session_id}/attendance", response_model=list[EnrolmentRead],
             responses=STEP)
def attendance(session_id: str, data: AttendanceCreate, db: DbSession,
               caller: CurrentUser) -> list[EnrolmentRead]:
    """The teacher records who attended and for how long."""
    rows = service.record_attendance(db=db, caller=caller, session_id=session_id, data=data)
    out = []
    for row in rows:
        e = next(e for e, _ in service.my_enrolments_of(db, row.course_id, row.user_id))
        out.append(EnrolmentRead.model_validate(e).model_copy(update={
            "sessions_attended": service.attended(db, row.course_id, row.user_id)}))
    return out


@router.get("/enrolments/me", response_model=list[EnrolmentRead])
def my_enrolments(db: DbSession, caller: CurrentUser) -> list[EnrolmentRead]:
    """The caller's courses, sessions attended and credits earned."""
    return [EnrolmentRead.model_validate(e).model_copy(update={"sessions_attended": n})
            for e, n in service.my_enrolments(db=db, caller=caller)]


@router.post("/cases", status_code=201, response_model=CaseRead, responses=STEP)
def add_case(data: CaseCreate, db: DbSession, caller: CurrentUser) -> CaseRead:
    """Contribute a consented consultation to the case library (de-identified)."""
    return CaseRead.model_validate(service.add_case(db=db, caller=caller, data=data))


@router.get("/cases", response_model=CasePage)
def list_cases(db: DbSession, caller: CurrentUser, q: str | None = None,
               diagnosis: str | None = Query(None, examples=["E11"]),
               cursor: str | None = None,
               limit: int = Query(50, ge=1, le=MAX_PAGE)) -> CasePage:
    rows, nxt = service.list_cases(db=db, q=q, diagnosis=diagnosis, cursor=cursor, limit=limit)
    return CasePage(items=[CaseRead.model_validate(c) for c in rows], next=nxt)
