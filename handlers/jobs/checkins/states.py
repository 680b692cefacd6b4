"""A check-in row's states: the sweeps' tally and the open states (storage/repositories/checkins.py moves
rows between them with conditional UPDATEs)."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.tickets.tally import Tally

# Check-ins a message from the resident turns into "answered".
OPEN_ROWS = ("pinged", "reminded", "unreachable", "skipped")


@dataclass
class CheckInResult(Tally):
    """What one run of a check-in sweep did."""

    pinged: int = 0
    unreachable: int = 0
    skipped: int = 0
    reminded: int = 0
    silent_reminders: int = 0
    knocked: int = 0
    visited: int = 0
    call_lists: int = 0
    failed: int = 0
