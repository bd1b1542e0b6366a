"""The online-store breaker: a dead store costs one deadline, not one back-off per request."""

from __future__ import annotations

import threading
import time

import pytest

from serving.predictor import StoreBreaker, StoreUnavailable


class _Store:
    """The store's behaviour at the system's edge: answering, refusing, or hanging."""

    def __init__(self) -> None:
        self.mode = "up"
        self.calls = 0

    def lookup(self, key: str) -> dict:
        self.calls += 1
        if self.mode == "refused":
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        if self.mode == "hung":
            time.sleep(2.0)
        return {"patient_id": key}


def _wait(check, limit_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("failure", ["refused", "hung"])
def test_breaker_opens_on_failure_and_closes_when_the_store_is_back(failure: str) -> None:
    store, stop = _Store(), threading.Event()
    breaker = StoreBreaker(store.lookup, deadline_s=0.05, stop=stop, probe_interval_s=0.05)
    try:
        assert breaker.call("p1") == {"patient_id": "p1"}
        store.mode = failure
        # A refusal opens it at once; a store that hangs, on its third overrun in a row.
        for _ in range(1 if failure == "refused" else breaker.overruns_to_open):
            with pytest.raises(StoreUnavailable, match="online store"):
                breaker.call("p1")
        assert breaker.open_reason is not None and breaker.trips == 1
        # While open, requests do not touch the store at all (the probe may, in between).
        probe_calls = store.calls
        for _ in range(20):
            with pytest.raises(StoreUnavailable):
                breaker.call("p2")
        assert store.calls - probe_calls <= 2
        store.mode = "up"
        assert _wait(lambda: breaker.open_reason is None)
        assert breaker.call("p3") == {"patient_id": "p3"}
    finally:
        stop.set()


def test_one_slow_answer_degrades_only_itself() -> None:
    """A pause on a busy machine is not an outage: the next lookup goes to the store."""
    store, stop = _Store(), threading.Event()
    breaker = StoreBreaker(store.lookup, deadline_s=0.05, stop=stop, probe_interval_s=0.05)
    try:
        for _ in range(3):  # overruns that are not in a row never open it
            store.mode = "hung"
            with pytest.raises(StoreUnavailable, match="no answer within 50 ms"):
                breaker.call("p1")
            assert breaker.open_reason is None
            store.mode = "up"
            assert breaker.call("p2") == {"patient_id": "p2"}
        assert breaker.trips == 0 and breaker.overruns == 0
    finally:
        stop.set()
