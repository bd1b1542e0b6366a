"""Specialist scheduling (issue 6): problem model, validator, baselines, batch optimiser,
exact CP-SAT optimum/bound, the online suggestion mode, and (``risk``) the learned no-show
and visit-length model that sizes requests.  Pure code, no IO."""

from .baselines import fcfs, greedy
from .batch import exact, lp_relaxation, optimise
from .candidates import Candidates, generate_candidates
from .objective import assignment_value, evaluate, gini
from .online import (
    NotEligible,
    ScheduleState,
    SlotTaken,
    Suggestion,
    explain_plan,
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
    "assignment_value", "check", "evaluate", "exact", "explain_plan", "fcfs",
    "generate_candidates", "gini", "greedy", "lp_relaxation", "online_plan", "optimise", "suggest",
]
