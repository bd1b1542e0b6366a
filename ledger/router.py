"""HTTP view of the access log: roots and RFC 9162 proofs (a plain router, no app).

The app supplies the log by overriding :func:`get_access_log`::

    app.include_router(ledger.router.router, dependencies=[Depends(current_user)])
    app.dependency_overrides[ledger.router.get_access_log] = lambda: the_ledger.log
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from ledger.accesslog import AccessLog

router = APIRouter(prefix="/ledger", tags=["ledger"])


def get_access_log() -> AccessLog:
    raise HTTPException(status_code=503, detail="the access log is not configured")


Log = Annotated[AccessLog, Depends(get_access_log)]


@router.get("/log/root")
def log_root(log: Log) -> dict[str, Any]:
    """The current size and root of the access log, and the latest anchored size."""
    return {"size": log.size, "root": log.root().hex(), "anchored_size": log.anchored_size}


@router.get("/log/inclusion")
def log_inclusion(
    log: Log, index: Annotated[int, Query(ge=0)], size: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    """Audit path for entry ``index`` in the tree of ``size`` (default: current size)."""
    n = log.size if size is None else size
    if n > log.size or index >= n:
        raise HTTPException(status_code=422, detail=f"need index < size <= {log.size}")
    return log.inclusion(index, n)


@router.get("/log/consistency")
def log_consistency(
    log: Log, old: Annotated[int, Query(ge=1)], new: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    """Proof that the tree of size ``old`` is a prefix of the tree of size ``new``."""
    n = log.size if new is None else new
    if n > log.size or old > n:
        raise HTTPException(status_code=422, detail=f"need old <= new <= {log.size}")
    return log.consistency(old, n)
