"""Open-loop HTTP load: requests leave on a fixed schedule whether or not earlier ones ended.

Latency is measured from each request's scheduled start, so a stalled server is charged
for the queue it causes (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    bodies: list[tuple[float, Any]] = field(default_factory=list)  # (t since start, json)
    # (t since start, latency ms or None for a failure), kept when record_failures is set
    timeline: list[tuple[float, float | None]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.asarray([np.nan])
        return {"p50_ms": round(float(np.percentile(lat, 50)), 2),
                "p99_ms": round(float(np.percentile(lat, 99)), 2),
                "max_ms": round(float(np.max(lat)), 2), "errors": self.errors,
                "sent": self.sent}


async def _run(url: str, make_body: Callable[[int], dict], rps: float, seconds: float,
               timeout_s: float, keep: Callable[[Any], Any] | None,
               record_failures: bool) -> LoadResult:
    result = LoadResult()
    n = int(rps * seconds)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            scheduled = start + i / rps
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                resp = await client.post(url, json=make_body(i))
                ok = resp.status_code == 200
                body = resp.json() if ok else None
            except (httpx.HTTPError, ValueError):
                ok, body = False, None
            done = time.perf_counter()
            result.sent += 1
            latency = (done - scheduled) * 1000
            if record_failures:
                result.timeline.append((done - start, latency if ok else None))
            if ok:
                result.latencies_ms.append(latency)
                if keep is not None:
                    result.bodies.append((done - start, keep(body)))
            else:
                result.errors += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return result


def open_loop(url: str, make_body: Callable[[int], dict], *, rps: float, seconds: float,
              timeout_s: float = 5.0, keep: Callable[[Any], Any] | None = None,
              record_failures: bool = False) -> LoadResult:
    return asyncio.run(_run(url, make_body, rps, seconds, timeout_s, keep, record_failures))


def wait_ready(url: str, *, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")
