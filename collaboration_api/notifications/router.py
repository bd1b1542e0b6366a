"""/notifications: the caller's feed, and the same as server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from collaboration_api.auth.deps import CurrentUser
from collaboration_api.deps import DbSession, SettingsDep
from collaboration_api.notifications import service
from collaboration_api.notifications.schemas import NotificationPage, NotificationRead
from collaboration_api.pagination import MAX_PAGE, decode_cursor
from collaboration_api.problems import Problem, responses

router = APIRouter(prefix="/notifications", tags=["notifications"],
                   responses=responses(401))


@router.get("", response_model=NotificationPage)
def my_notifications(caller: CurrentUser, db: DbSession,
                     cursor: str | None = Query(None, description="`next` of the last page"),
                     unread: bool = False,
                     limit: int = Query(50, ge=1, le=MAX_PAGE)) -> NotificationPage:
    rows = service.feed(db, user_id=caller.id, after=decode_cursor(cursor), unread_only=unread,
                        limit=limit)
    nxt = str(rows[-1].id) if len(rows) == limit else None
    return NotificationPage(items=[NotificationRead.model_validate(r) for r in rows], next=nxt)


@router.post("/{notification_id}/read", response_model=NotificationRead,
             responses=responses(404))
def mark_read(notification_id: int, caller: CurrentUser, db: DbSession) -> NotificationRead:
    note = service.mark_read(db, user_id=caller.id, notification_id=notification_id)
    if note is None:
        raise Problem(404, "Not found", f"no notification {notification_id}")
    return NotificationRead.model_validate(note)


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`id`, `event` (the kind) and JSON `data` per "
                                            "notification; reconnect with Last-Event-ID"}})
async def stream(request: Request, caller: CurrentUser, settings: SettingsDep,
                 after: int | None = Query(None, description="only notifications after this id"),
                 seconds: float = Query(30.0, gt=0, le=300,
                                        description="close the stream after this long"),
                 last_event_id: str | None = Header(None)) -> StreamingResponse:
    """Server-sent events: the caller's new notifications as they arrive."""
    start = after
    if start is None and last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    sessions = request.app.state.sessions

    def fetch(since: int | None) -> list[dict]:
        with sessions() as db:
            rows = service.feed(db, user_id=caller.id, after=since, unread_only=False,
                                limit=MAX_PAGE)
            return [NotificationRead.model_validate(r).model_dump(mode="json") for r in rows]

    async def events() -> AsyncIterator[str]:
        since = start
        deadline = time.monotonic() + seconds
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            for note in await run_in_threadpool(fetch, since):
                since = note["id"]
                yield f"id: {note['id']}\nevent: {note['kind']}\ndata: {json.dumps(note)}\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(min(settings.sse_poll_s, max(0.0, deadline - time.monotonic())))
        yield ": end of stream, reconnect with Last-Event-ID\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
