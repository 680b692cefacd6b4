"""The deadline sweep: warnings, the escalation ladder, emergency re-paging, overdue pages, auto-close.

Callers import the names below from the package.
"""

from handlers.escalation.sweeper import EXHAUSTED, SYSTEM, SweepResult, sweep

__all__ = ["EXHAUSTED", "SYSTEM", "SweepResult", "sweep"]
