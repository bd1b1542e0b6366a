"""The record-index contract, compiled in-process by the ``vyper`` package.

The compiled ABI and bytecode are cached under ``<state>/compiled/<sha256 of source>.json``
so that a process compiles at most once per contract version.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).parent / "contracts" / "record_index.vy"


def source_hash(source: str | None = None) -> str:
    text = SOURCE.read_text() if source is None else source
    return hashlib.sha256(text.encode()).hexdigest()


_MEMO: dict[str, dict[str, Any]] = {}


def compiled(cache_dir: Path | None = None) -> dict[str, Any]:
    """``{"abi": [...], "bytecode": "0x...", "source_sha256": "..."}``."""
    source = SOURCE.read_text()
    digest = source_hash(source)
    if digest in _MEMO and cache_dir is None:
        return _MEMO[digest]
    cached = None if cache_dir is None else Path(cache_dir) / f"{digest}.json"
    if cached is not None and cached.exists():
        try:
            _MEMO[digest] = json.loads(cached.read_text())
            return _MEMO[digest]
        except ValueError:
            pass  # a torn write: compile again
    if digest in _MEMO:
        result = _MEMO[digest]
    else:
        result = _compile(source, digest)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, cached)
    return result


def _compile(source: str, digest: str) -> dict[str, Any]:
    import vyper

    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    _MEMO[digest] = {"abi": out["abi"], "bytecode": out["bytecode"], "source_sha256": digest}
    return _MEMO[digest]
