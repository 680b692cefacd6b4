"""Sends due outbox rows through a messenger: each row claimed under a lease, retried with backoff."""

# At least once, never twice on purpose: a row is claimed with a conditional UPDATE (only one dispatcher
# wins it), sent, then settled. A dispatcher that dies mid-send leaves its lease to run out, and the next
# one sends the row again; a row marked sent is never picked up again.
#
# sending.py runs the dispatcher, claims.py takes and hands back rows, recipients.py finds who a push
# reaches, settling.py records each try. Names with a leading underscore are shared only inside this
# package; these are its public ones.
from bot.dispatcher.claims import new_claimer
from bot.dispatcher.recipients import last_interactions, pushes_for
from bot.dispatcher.sending import OUTAGE_AFTER, dispatch_due
from bot.dispatcher.settling import DispatchResult, backoff

__all__ = [
    "OUTAGE_AFTER",
    "DispatchResult",
    "backoff",
    "dispatch_due",
    "last_interactions",
    "new_claimer",
    "pushes_for",
]
