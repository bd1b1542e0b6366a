"""Notifying the other side of a workflow, and reading one's own feed."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from collaboration_api.auth.models import User
from collaboration_api.db import utcnow
from collaboration_api.notifications.models import Notification


def users_at(db: Session, institution_id: str, roles: Iterable[str]) -> list[str]:
    return list(db.scalars(select(User.id).where(User.institution_id == institution_id,
                                                 User.role.in_(list(roles)),
                                                 User.active.is_(True))))


def notify(db: Session, user_ids: Iterable[str], *, kind: str, subject_type: str,
           subject_id: str, message: str, exclude: str | None = None) -> int:
    n = 0
    for uid in dict.fromkeys(user_ids):
        if uid and uid != exclude:
            db.add(Notification(user_id=uid, kind=kind, subject_type=subject_type,
                                subject_id=subject_id, message=message))
            n += 1
    return n


def feed(db: Session, *, user_id: str, after: int | None, unread_only: bool,
         limit: int) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if after is not None:
        stmt = stmt.where(Notification.id > after)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(db.scalars(stmt.order_by(Notification.id).limit(limit)))


def mark_read(db: Session, *, user_id: str, notification_id: int) -> Notification | None:
    note = db.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        return None
    if note.read_at is None:
        note.read_at = utcnow()
        db.commit()
    return note
