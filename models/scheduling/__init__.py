"""Specialist scheduling (issue 6): problem model, validator, baselines, batch optimiser,
exact CP-SAT optimum/bound and the online suggestion mode.  Pure code, no IO."""

from .baselines import fcfs, greedy
from .batch import exact, lp_relaxation, optimise
from .candidates import Candidates, generate_candidates
from .objective import assignment_value, evaluate, gini
from .online import (
    NotEligible,
    ScheduleState,
    SlotTaken,
    Suggestion,
    online_plan,
    suggest,
)
from .problem import (
    MODALITIES,
    SLOT_MINUTES,
    TIERS,
    URGENCIES,
    Appointment,
    CompiledProblem,
    DeadlinePolicy,
    Location,
    Plan,
    Practitioner,
    Problem,
    Request,
    Slot,
    Weights,
)
from .validate import Violation, check

__all__ = [
    "MODALITIES", "SLOT_MINUTES", "TIERS", "URGENCIES", "Appointment", "Candidates",
    "CompiledProblem", "DeadlinePolicy", "Location", "NotEligible", "Plan", "Practitioner",
    "Problem",
    "Request", "ScheduleState", "Slot", "SlotTaken", "Suggestion", "Violation", "Weights",
    "assignment_value", "check", "evaluate", "exact", "fcfs", "generate_candidates", "gini",
    "greedy", "lp_relaxation", "online_plan", "optimise", "suggest",
]
