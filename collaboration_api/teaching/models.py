"""Courses, their live sessions, enrolments, attendance and the case library."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from collaboration_api.db import Base, utcnow


class Course(Base):
    __tablename__ = "teach_course"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    teacher_id: Mapped[str] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    credits: Mapped[float] = mapped_column(Float)
    min_sessions: Mapped[int] = mapped_column(Integer, default=1)  # attended to be credited
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CourseSession(Base):
    __tablename__ = "teach_session"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(String(36), index=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")  # live | ended
    video_profile: Mapped[str | None] = mapped_column(String(16), nullable=True)
    video_state: Mapped[dict] = mapped_column(JSON, default=dict)


class Enrolment(Base):
    __tablename__ = "teach_enrolment"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    credits: Mapped[float | None] = mapped_column(Float, nullable=True)
    credited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)


class Attendance(Base):
    __tablename__ = "teach_attendance"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    course_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    institution_id: Mapped[str] = mapped_column(String(32), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseEntry(Base):
    """A de-identified, consented consultation case for teaching (no patient reference)."""

    __tablename__ = "teach_case"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_consult_id: Mapped[str] = mapped_column(String(36), unique=True)
    institution_id: Mapped[str] = mapped_column(String(32))  # contributing institution
    diagnosis_code: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    opinion: Mapped[str] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSON)
    consent_reference: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
