"""The daily check-in of elders living alone: a ping, one reminder, a 敲门 task, and the family told.

One CheckIn row per resident and local day carries the state:
pinged -> reminded -> missed (a knock ticket is open) -> answered, or visited (the knock ticket was
settled by a worker); help (the answer asked for help); unreachable (no way to ping them) and skipped
(a ping not sent: too late after downtime, or due at night), both of which go on the worker's one
daily call list. The unique (resident_id, day) constraint and UPDATEs conditional on the status they
move from make every sweep idempotent. The flow and the catch-up policy: docs/checkins.md.

One module per job: timing (the local clock, quiet hours), states (the row's states and the sweeps'
tally), pings (the ping sweep and the reminder), knocks (敲门 tasks), family (what family contacts
are sent), call_list (the worker's daily call list), answers (a resident's message as the answer).
Callers import the names below from the package.
"""

from handlers.jobs.checkins.answers import OK_REPLY, note_checkin
from handlers.jobs.checkins.call_list import call_list_sweep
from handlers.jobs.checkins.knocks import knock_sweep
from handlers.jobs.checkins.pings import FULL_PASS_MINUTE, PingSweep, ping_sweep, remind_sweep
from handlers.jobs.checkins.states import OPEN_ROWS, CheckInResult
from handlers.jobs.checkins.timing import local_moment

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
