"""Booking and moving appointments for referrals and consultations."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from collaboration_api.db import utcnow
from collaboration_api.schedule.models import Appointment


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
    return appt


def set_status(db: Session, appointment_id: str | None, status: str) -> None:
    if appointment_id:
        appt = db.get(Appointment, appointment_id)
        if appt is not None:
            appt.status = status
