"""Helpers shared by the part-2 API tests (no tests here): extra accounts, real DICOM
files from pydicom's test data, time travel on stored rows."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

PASSWORD = "part2-password-123"


def ensure_user(api: Any, role: str, institution: str) -> str:
    """A user of this role at this institution (created by the demo admin if missing)."""
    try:
        return api.user(role, institution)
    except KeyError:
        pass
    username = f"p2-{role.replace('_', '-')}-{institution.lower()}"
    r = api.post("/auth/users", api.user("admin", "R1-T1"), {
        "username": username, "password": PASSWORD, "role": role,
        "institution_id": institution})
    assert r.status_code == 201, r.text
    api.accounts[username] = {"username": username, "password": PASSWORD, "role": role,
                              "institution": institution}
    return username


def user_id(api: Any, username: str) -> str:
    r = api.get("/auth/me", username)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def dicom_b64(name: str) -> str:
    """A real DICOM file shipped with pydicom, base64 (no download)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    assert path is not None
    with open(path, "rb") as fh:
        return base64.b64encode(fh.read()).decode()


def shift(api: Any, table: str, column: str, hours: float, where: str,
          **params: Any) -> int:
    """Move stored times back by ``hours`` (a seeded scenario spread over time)."""
    with api.client.app.state.engine.begin() as conn:
        rows = conn.execute(text(f"SELECT id, {column} FROM {table} WHERE {where}"),
                            params).all()
        for rid, value in rows:
            if isinstance(value, str):  # SQLite keeps naive UTC text: write it back alike
                moved = datetime.fromisoformat(value) - timedelta(hours=hours)
                new: Any = moved.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            else:
                new = value - timedelta(hours=hours)
            conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :id"),
                         {"v": new, "id": rid})
    return len(rows)


def ts(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives naive text back)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rows(api: Any, sql: str, **params: Any) -> list[Any]:
    with api.client.app.state.engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def notifications(api: Any, username: str) -> list[dict]:
    r = api.get("/notifications", username, params={"limit": 100})
    assert r.status_code == 200, r.text
    return r.json()["items"]
