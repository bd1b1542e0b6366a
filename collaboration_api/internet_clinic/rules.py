"""Prescription renewal rules, one set per chronic condition. Pure code, no IO.

A renewal is allowed only when every rule of the condition holds; a refusal names each
rule that failed. Months are 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MONTH = timedelta(days=30)


@dataclass(frozen=True)
class RuleSet:
    in_person_months: int  # an in-person visit within this many months
    atc_prefixes: tuple[str, ...]  # medicines this condition's renewals may cover
    max_days: int  # longest supply one renewal gives
    observation: str | None = None  # a recent observation of this code is needed ...
    observation_days: int = 0  # ... taken within this many days
    follow_up_days: int = 90  # default interval between follow-ups


RULES: dict[str, RuleSet] = {
    "hypertension": RuleSet(12, ("C02", "C03", "C07", "C08", "C09", "C10"), 90,
                            "bp-systolic", 90, 90),
    "diabetes": RuleSet(6, ("A10", "C09", "C10"), 90, "hba1c", 180, 90),
    "copd": RuleSet(12, ("R03",), 90, None, 0, 180),
    "asthma": RuleSet(12, ("R03",), 90, None, 0, 180),
}


@dataclass(frozen=True)
class Facts:
    condition: str
    medication_code: str
    days: int
    on_plan: bool
    formulary_max_days: int | None  # None: not on the institution's formulary
    formulary_known: bool  # the institution keeps a formulary
    last_in_person: datetime | None
    last_observation: datetime | None
    now: datetime


def check(f: Facts) -> list[str]:
    """Reasons for refusal; empty when the renewal is allowed."""
    rules = RULES[f.condition]
    reasons: list[str] = []
    if not f.on_plan:
        reasons.append(f"{f.medication_code} is not on the patient's {f.condition} plan")
    if not f.medication_code.upper().startswith(rules.atc_prefixes):
        reasons.append(f"{f.medication_code} is not a {f.condition} medicine "
                       f"(ATC {', '.join(rules.atc_prefixes)})")
    if f.formulary_known and f.formulary_max_days is None:
        reasons.append(f"{f.medication_code} is not on the institution's formulary")
    limit = min(rules.max_days, f.formulary_max_days or rules.max_days)
    if f.days > limit:
        reasons.append(f"{f.days} days exceeds the {limit}-day maximum for one renewal")
    since = f.now - rules.in_person_months * MONTH
    if f.last_in_person is None or f.last_in_person < since:
        seen = f.last_in_person.date().isoformat() if f.last_in_person else "never"
        reasons.append(f"no in-person visit in the last {rules.in_person_months} months "
                       f"(last: {seen})")
    if rules.observation:
        if f.last_observation is None or f.last_observation < f.now - timedelta(
                days=rules.observation_days):
            reasons.append(f"no {rules.observation} observation in the last "
                           f"{rules.observation_days} days")
    return reasons
