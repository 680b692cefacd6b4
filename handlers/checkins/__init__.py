"""The daily check-in of elders living alone (moved to handlers/checkins/answers.py, split next)."""

from handlers.checkins.answers import (
    FULL_PASS_MINUTE,
    OK_REPLY,
    OPEN_ROWS,
    CheckInResult,
    PingSweep,
    call_list_sweep,
    knock_sweep,
    local_moment,
    note_checkin,
    ping_sweep,
    remind_sweep,
)

__all__ = [
    "FULL_PASS_MINUTE",
    "OK_REPLY",
    "OPEN_ROWS",
    "CheckInResult",
    "PingSweep",
    "call_list_sweep",
    "knock_sweep",
    "local_moment",
    "note_checkin",
    "ping_sweep",
    "remind_sweep",
]
