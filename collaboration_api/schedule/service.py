"""Booking and moving appointments for referrals and consultations."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from collaboration_api.db import utcnow
from collaboration_api.problems import Problem
from collaboration_api.schedule.models import Appointment

log = logging.getLogger("regioncare.schedule")


def book(db: Session, *, subject_type: str, subject_id: str, institution_id: str,
         requester_institution: str, practitioner_id: str | None, patient_ref: str,
         start: datetime, minutes: int) -> Appointment:
    appt = Appointment(id=str(uuid.uuid4()), subject_type=subject_type, subject_id=subject_id,
                       institution_id=institution_id,
                       requester_institution=requester_institution,
                       practitioner_id=practitioner_id, patient_ref=patient_ref, start=start,
                       end=start + timedelta(minutes=minutes), status="booked",
                       created_at=utcnow())
    db.add(appt)
    try:
        db.flush()  # the slot's unique index speaks here, before anything else is written
    except IntegrityError as exc:
        if "appointment" not in str(exc.orig).lower():
            raise
        db.rollback()
        raise Problem(409, "Slot taken", f"{practitioner_id} already has an appointment at "
                                         f"{start:%Y-%m-%d %H:%M}Z") from None
    if practitioner_id:
        _push_after_commit(db, practitioner_id, start, "booked")
    return appt


def set_status(db: Session, appointment_id: str | None, status: str) -> None:
    if appointment_id:
        appt = db.get(Appointment, appointment_id)
        if appt is not None:
            appt.status = status
            if status == "cancelled" and appt.practitioner_id:
                _push_after_commit(db, appt.practitioner_id, appt.start, "cancelled")


_pusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feature-push")


def _push_after_commit(db: Session, practitioner_id: str, start: datetime, status: str
                       ) -> None:
    """Tell the feature store about a booking or cancellation once it is committed.

    Off the request path and best effort: a failed push is logged, the booking stands, and
    the next materialisation brings the online store up to date anyway.
    """
    settings = db.info.get("settings")
    if settings is None or not (settings.feast_dir / "registry.db").exists():
        return  # no feature store on this deployment (e.g. API-only tests)

    def push() -> None:
        try:
            from features.push import push_booking

            push_booking(settings, practitioner_id=practitioner_id, start=start, status=status)
        except Exception:
            log.warning("feature push failed for %s at %s", practitioner_id, start,
                        exc_info=True)

    event.listen(db, "after_commit", lambda _session: _pusher.submit(push), once=True)
