"""The deadline sweep: warnings, the escalation ladder, emergency re-paging, overdue pages, auto-close.

One module per job: sweeper (runs every rule over the tickets it finds due, each in its own
transaction), deadline_warnings (the time to sign or to resolve is nearly up), missed_signing (one rung
up the ladder, re-pages at the top, then giving up), emergencies (page every rung until someone signs),
overdue (past the resolve deadline), unrated (resolved, never rated: closed), pages (what the pushes
say and who gets them). Callers import the names below from the package.
"""

from handlers.jobs.escalation.missed_signing import EXHAUSTED
from handlers.jobs.escalation.pages import SYSTEM
from handlers.jobs.escalation.sweeper import SweepResult, sweep

__all__ = ["EXHAUSTED", "SYSTEM", "SweepResult", "sweep"]
