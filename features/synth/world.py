"""Regions, institutions, practitioners, weekly schedules and slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from features.codes import SPECIALIST_SPECIALTIES, SPECIALTIES, TITLES
from features.synth.names import person_name
from features.synth.preference import WEIGHTS

CST = timezone(timedelta(hours=8), "CST")  # China Standard Time, UTC+8

# Fictional regions of one alliance; centroids 25-60 km apart. Area codes are fictional
# but shaped like GB/T 2260 codes (used as the first 6 digits of resident IDs).
REGIONS = [
    ("R1", "滨江区", "Binjiang", 31.230, 121.470, "310191"),
    ("R2", "西山区", "Xishan", 31.420, 121.250, "310192"),
    ("R3", "东湖区", "Donghu", 31.050, 121.760, "310193"),
    ("R4", "北塘区", "Beitang", 31.560, 121.620, "310194"),
    ("R5", "南湾区", "Nanwan", 30.930, 121.300, "310195"),
    ("R6", "青浦湾区", "Qingpuwan", 31.700, 121.080, "310196"),
    ("R7", "临港新区", "Lingang", 30.800, 121.900, "310197"),
    ("R8", "松林区", "Songlin", 31.300, 120.950, "310198"),
]
STREETS_ZH = ["城南", "城北", "新桥", "花园", "枫林", "长桥", "金山", "石门", "梅园", "桃源",
              "湖滨", "江湾", "翠竹", "锦绣", "安居", "丰收", "永乐", "双塔", "白鹤", "云台"]


@dataclass(frozen=True)
class Scale:
    regions: int
    tertiary: int
    secondary: int
    community: int
    patients: int
    tertiary_staff: int
    secondary_staff: int
    chunk: int


SCALES = {
    "tiny": Scale(3, 1, 1, 4, 2_000, 24, 14, 50_000),
    "small": Scale(5, 2, 3, 8, 50_000, 40, 18, 25_000),
    "medium": Scale(6, 3, 4, 12, 200_000, 50, 22, 25_000),
    "large": Scale(8, 4, 6, 20, 1_000_000, 60, 25, 25_000),
}

# Share of specialists by specialty at secondary/tertiary hospitals (assumption shaped by
# the China Health Statistics Yearbook department mix: internal medicine, surgery,
# paediatrics and obstetrics dominate).
SPECIALTY_WEIGHT = {
    "cardiology": 1.4, "endocrinology": 1.1, "respiratory": 1.2, "neurology": 1.1,
    "nephrology": 0.7, "gastroenterology": 1.0, "oncology": 0.8, "orthopaedics": 1.1,
    "general_surgery": 1.1, "paediatrics": 1.0, "obstetrics_gynaecology": 1.0,
    "psychiatry": 0.5, "rheumatology": 0.4,
}
SECONDARY_SPECIALTIES = ["cardiology", "endocrinology", "respiratory", "neurology",
                         "gastroenterology", "orthopaedics", "general_surgery", "paediatrics",
                         "obstetrics_gynaecology", "nephrology"]


def make_regions(scale: Scale) -> pd.DataFrame:
    rows = [{"region": r[0], "name_zh": r[1], "name_en": r[2], "lat": r[3], "lon": r[4],
             "area": r[5]}
            for r in REGIONS[: scale.regions]]
    return pd.DataFrame(rows)


def make_institutions(rng: np.random.Generator, regions: pd.DataFrame,
                      scale: Scale) -> pd.DataFrame:
    rows = []
    for reg in regions.itertuples():
        streets = list(rng.permutation(STREETS_ZH))
        for letter, n, tier in (("T", scale.tertiary, 3), ("S", scale.secondary, 2),
                                ("C", scale.community, 1)):
            for i in range(1, n + 1):
                code = f"{reg.region}-{letter}{i}"
                if letter == "T":
                    name = f"{reg.name_zh}{'中心' if i == 1 else f'第{i}中心'}医院"
                elif letter == "S":
                    name = f"{reg.name_zh}第{i}人民医院"
                else:
                    name = f"{reg.name_zh}{streets[(i - 1) % len(streets)]}社区卫生服务中心"
                spread = 0.02 if tier == 3 else 0.05  # big hospitals near the centre
                rows.append({
                    "institution": code, "region": reg.region, "tier": tier, "letter": letter,
                    "name": name,
                    "lat": round(float(reg.lat + rng.normal(0, spread)), 5),
                    "lon": round(float(reg.lon + rng.normal(0, spread)), 5)})
    return pd.DataFrame(rows)


def _title(rng: np.random.Generator, tier: int) -> tuple[str, int]:
    p = {3: [0.25, 0.35, 0.25, 0.15], 2: [0.3, 0.4, 0.22, 0.08], 1: [0.35, 0.5, 0.13, 0.02]}
    t = int(rng.choice(4, p=p[tier]))
    lo, hi = [(1, 6), (5, 15), (10, 25), (15, 38)][t]
    return TITLES[t], int(rng.integers(lo, hi + 1))


def make_practitioners(rng: np.random.Generator, institutions: pd.DataFrame,
                       scale: Scale) -> pd.DataFrame:
    """Public attributes plus the hidden ones (quality, expertise, expected wait)."""
    rows = []
    spec_all = np.array(SPECIALIST_SPECIALTIES)
    wt = np.array([SPECIALTY_WEIGHT[s] for s in spec_all])
    for inst in institutions.itertuples():
        if inst.tier == 3:
            n = scale.tertiary_staff
            specs = list(spec_all) + list(rng.choice(spec_all, size=max(0, n - len(spec_all)),
                                                      p=wt / wt.sum()))
        elif inst.tier == 2:
            n = scale.secondary_staff
            sec = np.array(SECONDARY_SPECIALTIES)
            w2 = np.array([SPECIALTY_WEIGHT[s] for s in sec])
            specs = list(sec[: min(n, len(sec))]) + list(
                rng.choice(sec, size=max(0, n - len(sec)), p=w2 / w2.sum()))
        else:
            n = int(rng.integers(2, 4))
            specs = ["general_practice"] * n
        specs = sorted(specs)
        for k, spec in enumerate(specs, start=1):
            male = bool(rng.random() < 0.5)
            zh, _ = person_name(rng, male)
            title, years = _title(rng, inst.tier)
            subs = SPECIALTIES[spec]
            sub = subs[int(rng.integers(len(subs)))]
            langs = ["Mandarin"]
            if rng.random() < 0.45:
                langs.append("Wu")  # the local dialect
            if rng.random() < 0.10:
                langs.append("Cantonese")
            if rng.random() < (0.45 if inst.tier == 3 else 0.2):
                langs.append("English")
            groups = ["hypertension", "diabetes", "copd", "chd", "ckd"]
            expertise = [g for g in groups if rng.random() < 0.25]
            quality = float(rng.normal(0, WEIGHTS.sigma_quality))
            # Expected wait: tertiary senior doctors are booked out (assumption: 2-21 days).
            base = {3: 6.0, 2: 3.0, 1: 1.0}[inst.tier] * (1 + 0.35 * TITLES.index(title))
            wait = round(float(base * rng.gamma(4, 0.25)), 2)
            sessions = int(rng.integers(2, 6)) if spec != "general_practice" else 8
            rows.append({
                "practitioner_id": f"PR-{inst.institution.replace('-', '')}-{k:04d}",
                "institution": inst.institution, "region": inst.region, "tier": inst.tier,
                "lat": inst.lat, "lon": inst.lon, "name": zh,
                "gender": "male" if male else "female",
                "specialty": spec, "sub_specialty": sub, "title": title,
                "title_rank": TITLES.index(title) + 1, "experience_years": years,
                "languages": "|".join(langs), "expertise": "|".join(expertise),
                "quality": round(quality, 4), "expected_wait_days": wait,
                "weekly_sessions": sessions})
    return pd.DataFrame(rows)


def make_slots(rng: np.random.Generator, practitioners: pd.DataFrame,
               as_of: date) -> pd.DataFrame:
    """Weekly half-day clinic sessions -> 30-minute slots for the 14 days after as_of."""
    rows = []
    for p in practitioners.itertuples():
        if p.specialty == "general_practice":
            continue
        # Sessions: (weekday 0-4, morning/afternoon) pairs, fixed per practitioner.
        pairs = rng.choice(10, size=p.weekly_sessions, replace=False)
        busy_p = min(0.95, 0.3 + p.expected_wait_days / 20)
        sessions = sorted((int(x) // 2, int(x) % 2) for x in pairs)
        n = 0
        for day in range(1, 15):
            d = as_of + timedelta(days=day)
            for wd, half in sessions:
                if d.weekday() != wd:
                    continue
                start_h = 8 if half == 0 else 13
                for s in range(8):
                    start = datetime(d.year, d.month, d.day, start_h, 0, tzinfo=CST) + \
                        timedelta(minutes=30 * s)
                    n += 1
                    rows.append({
                        "slot_id": f"SL-{p.practitioner_id[3:]}-{n:04d}",
                        "schedule_id": f"SC-{p.practitioner_id[3:]}",
                        "practitioner_id": p.practitioner_id, "institution": p.institution,
                        "start": start, "end": start + timedelta(minutes=30),
                        "status": "busy" if rng.random() < busy_p else "free"})
    return pd.DataFrame(rows)


def sessions_text(slots: pd.DataFrame) -> dict[str, str]:
    """Human-readable weekly plan per practitioner, e.g. 'Mon AM, Thu PM'."""
    out: dict[str, str] = {}
    if slots.empty:
        return out
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    for pid, g in slots.groupby("practitioner_id", sort=True):
        keys = sorted({(s.weekday(), "AM" if s.hour < 12 else "PM") for s in g["start"]})
        out[str(pid)] = ", ".join(f"{names[d]} {h}" for d, h in keys)
    return out
