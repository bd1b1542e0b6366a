"""The network-adaptive video policy: network reports in, one session profile out.

Pure code (no IO), so it is tested on recorded network traces. Each participant reports
network type, bandwidth, round-trip time and loss at join and periodically. For each
participant the policy computes the highest profile the network carries:

* the network type caps it: 5G and wired carry HD (1080p); Wi-Fi carries HD when it is as
  good as 5G (>= 10 Mbit/s and <= 60 ms), else 720p; 4G carries 720p;
* the bandwidth caps it at the highest rung whose bitrate fits with 25 % headroom;
* loss caps it: above 2 % at 360p, above 5 % at 180p, above 15 % audio only;
* a round-trip time above 400 ms caps it at 360p.

Stepping down is immediate. Stepping up is one rung at a time and only after
``UP_AFTER`` consecutive reports that would carry the higher rung under stricter limits
(half the loss thresholds, 50 % bandwidth headroom): hysteresis, so a network hovering
around a threshold does not make the picture flap. The session's profile is the lowest
participant profile, and any participant may force it lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LADDER = ("audio-only", "180p", "360p", "540p", "720p", "1080p")  # lowest first
BITRATE_KBPS = {"audio-only": 48, "180p": 300, "360p": 800, "540p": 1500, "720p": 2500,
                "1080p": 4500}
LOSS_CAPS = ((15.0, "audio-only"), (5.0, "180p"), (2.0, "360p"))  # above pct -> cap
RTT_CAP_MS, RTT_CAP = 400.0, "360p"
UP_AFTER = 3
NetworkType = Literal["5G", "4G", "wifi", "wired"]


class NetworkReport(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "network_type": "5G", "bandwidth_kbps": 45000, "rtt_ms": 28, "loss_pct": 0.2}]})

    network_type: NetworkType = Field(description="5G, 4G, wifi (Wi-Fi) or wired")
    bandwidth_kbps: float = Field(gt=0, le=10_000_000, description="measured downlink")
    rtt_ms: float = Field(ge=0, le=60_000)
    loss_pct: float = Field(ge=0, le=100, description="packet loss, percent")

    @field_validator("network_type", mode="before")
    @classmethod
    def _normalise(cls, v: Any) -> Any:
        if isinstance(v, str):
            key = v.strip().lower().replace("-", "")
            return {"5g": "5G", "4g": "4G", "lte": "4G", "wifi": "wifi", "wlan": "wifi",
                    "wired": "wired", "ethernet": "wired"}.get(key, v)
        return v


def rank(profile: str) -> int:
    return LADDER.index(profile)


def carried(r: NetworkReport, *, strict: bool = False) -> int:
    """The highest rung this report carries (strict: the limits for stepping up)."""
    if r.network_type in ("5G", "wired"):
        cap = rank("1080p")
    elif r.network_type == "wifi":
        cap = rank("1080p") if r.bandwidth_kbps >= 10_000 and r.rtt_ms <= 60 else rank("720p")
    else:
        cap = rank("720p")
    headroom = 1.5 if strict else 1.25
    fits = [i for i, p in enumerate(LADDER) if BITRATE_KBPS[p] * headroom <= r.bandwidth_kbps]
    cap = min(cap, max(fits) if fits else 0)
    loss_scale = 0.5 if strict else 1.0
    for threshold, profile in LOSS_CAPS:
        if r.loss_pct > threshold * loss_scale:
            cap = min(cap, rank(profile))
            break
    rtt_limit = RTT_CAP_MS * (0.75 if strict else 1.0)
    if r.rtt_ms > rtt_limit:
        cap = min(cap, rank(RTT_CAP))
    return cap


@dataclass
class Participant:
    current: int
    up_streak: int = 0

    def step(self, r: NetworkReport) -> str:
        now = carried(r)
        if now < self.current:
            self.current, self.up_streak = now, 0
            return "down"
        if carried(r, strict=True) > self.current:
            self.up_streak += 1
            if self.up_streak >= UP_AFTER:
                self.current, self.up_streak = self.current + 1, 0
                return "up"
            return "hold"
        self.up_streak = 0
        return "steady"


@dataclass
class SessionPolicy:
    participants: dict[str, Participant] = field(default_factory=dict)
    forced: dict[str, int] = field(default_factory=dict)
    last_reason: str = ""

    def report(self, user_id: str, r: NetworkReport) -> str:
        p = self.participants.get(user_id)
        if p is None:  # joining: start at what the network carries now
            self.participants[user_id] = Participant(current=carried(r))
            self.last_reason = f"{user_id} joined on {r.network_type}"
        else:
            move = p.step(r)
            self.last_reason = f"{user_id}: {move} ({r.network_type}, {r.loss_pct}% loss)"
        return self.profile()

    def force(self, user_id: str, profile: str | None) -> str:
        if profile is None:
            self.forced.pop(user_id, None)
            self.last_reason = f"{user_id} lifted their cap"
        else:
            self.forced[user_id] = rank(profile)
            self.last_reason = f"{user_id} forced {profile} at most"
        return self.profile()

    def profile(self) -> str:
        levels = [p.current for p in self.participants.values()] + list(self.forced.values())
        return LADDER[min(levels)] if levels else LADDER[-1]

    def to_state(self) -> dict[str, Any]:
        return {"participants": {u: {"current": p.current, "up_streak": p.up_streak}
                                 for u, p in self.participants.items()},
                "forced": dict(self.forced)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SessionPolicy:
        return cls(participants={u: Participant(int(p["current"]), int(p.get("up_streak", 0)))
                                 for u, p in state.get("participants", {}).items()},
                   forced={u: int(v) for u, v in state.get("forced", {}).items()})
