"""Done when: the video policy chooses the expected profile on recorded network traces
(steady 5G, 5G -> 4G hand-over, lossy Wi-Fi, recovery) without oscillating."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collaboration_api.telemedicine.policy import (
    LADDER,
    UP_AFTER,
    NetworkReport,
    SessionPolicy,
    carried,
    rank,
)

TRACES = sorted((Path(__file__).parent / "traces").glob("*.json"))


def replay(trace: dict) -> list[str]:
    session, profiles = SessionPolicy(), []
    for step in trace["steps"]:
        report = NetworkReport.model_validate({k: v for k, v in step.items()
                                               if k not in ("t", "user", "expect")})
        # the state goes through JSON between reports, as it does on the encounter
        session = SessionPolicy.from_state(json.loads(json.dumps(session.to_state())))
        profiles.append(session.report(step["user"], report))
        if "expect" in step:
            assert profiles[-1] == step["expect"], (trace["name"], step)
    return profiles


def changes(profiles: list[str]) -> list[str]:
    out: list[str] = []
    for p in profiles:
        if not out or out[-1] != p:
            out.append(p)
    return out


def test_all_four_traces_are_there() -> None:
    assert {t.stem for t in TRACES} == {"steady_5g", "handover_5g_4g", "lossy_wifi",
                                        "recovery"}


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_trace_gives_expected_profiles_without_oscillation(path: Path) -> None:
    trace = json.loads(path.read_text())
    everyone = {s["user"] for s in trace["steps"]}
    both_in = next(i for i in range(len(trace["steps"]))
                   if {s["user"] for s in trace["steps"][: i + 1]} == everyone)
    profiles = replay(trace)[both_in:]  # the session's profile once both have joined
    assert profiles[-1] == trace["final"]
    # the whole sequence of distinct profiles is as expected: no extra flips anywhere
    assert changes(profiles) == trace["expected_profiles"]
    # and no step up happens sooner than UP_AFTER reports after a change
    last_change = 0
    for i in range(1, len(profiles)):
        if profiles[i] != profiles[i - 1]:
            if rank(profiles[i]) > rank(profiles[i - 1]):
                assert i - last_change >= UP_AFTER, (path.stem, i)
                assert rank(profiles[i]) - rank(profiles[i - 1]) == 1  # one rung at a time
            last_change = i


def test_hd_only_when_both_are_on_5g_or_equivalent() -> None:
    good = {"bandwidth_kbps": 50000, "rtt_ms": 20, "loss_pct": 0.0}
    for a, b, expected in (("5G", "5G", "1080p"), ("5G", "wired", "1080p"),
                           ("5G", "wifi", "1080p"), ("5G", "4G", "720p"),
                           ("4G", "4G", "720p")):
        s = SessionPolicy()
        s.report("a", NetworkReport(network_type=a, **good))
        assert s.report("b", NetworkReport(network_type=b, **good)) == expected, (a, b)
    slow_wifi = NetworkReport(network_type="Wi-Fi", bandwidth_kbps=8000, rtt_ms=80, loss_pct=0)
    assert LADDER[carried(slow_wifi)] == "720p"


@pytest.mark.parametrize(("loss", "expected"), [(1.9, "1080p"), (2.1, "360p"), (5.1, "180p"),
                                                (15.1, "audio-only")])
def test_loss_thresholds(loss: float, expected: str) -> None:
    r = NetworkReport(network_type="5G", bandwidth_kbps=50000, rtt_ms=20, loss_pct=loss)
    assert LADDER[carried(r)] == expected


def test_bandwidth_and_rtt_cap_the_profile() -> None:
    assert LADDER[carried(NetworkReport(network_type="5G", bandwidth_kbps=2000, rtt_ms=20,
                                        loss_pct=0))] == "540p"
    assert LADDER[carried(NetworkReport(network_type="5G", bandwidth_kbps=50000, rtt_ms=450,
                                        loss_pct=0))] == "360p"


def test_a_user_can_force_a_lower_profile_but_not_a_higher_one() -> None:
    s = SessionPolicy()
    good = NetworkReport(network_type="5G", bandwidth_kbps=50000, rtt_ms=20, loss_pct=0)
    s.report("a", good)
    s.report("b", good.model_copy(update={"loss_pct": 3.0}))
    assert s.profile() == "360p"
    assert s.force("a", "180p") == "180p"
    assert s.force("a", "1080p") == "360p"  # a cap above the network's answer changes nothing
    assert s.force("a", None) == "360p"
