"""Keyset pagination helpers: pages are capped, cursors are opaque strings."""

from __future__ import annotations

from collaboration_api.problems import Problem

MAX_PAGE = 100


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None or cursor == "":
        return None
    if not cursor.isdigit():
        raise Problem(400, "Bad cursor", f"bad cursor {cursor!r}")
    return int(cursor)


def encode_offset(offset: int) -> str:
    return str(offset)
