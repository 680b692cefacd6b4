"""One dispatcher run: due rows claimed a few at a time, each sent and settled, stopping on an outage."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.dispatcher.budget import plan_residents
from bot.dispatcher.claims import _bury_exhausted, _Claim, _claim, _release, _Run, new_claimer
from bot.dispatcher.pacing import fold_bursts, take_slot
from bot.dispatcher.settling import DispatchResult, _close, _count_failure, _hold, _mark_sent, _postpone
from bot.messenger import Delivery, Held, Messenger, Push, SendError, Throttled, Undeliverable, Unreachable
from config.settings import DispatcherSettings

log = logging.getLogger(__name__)
# Rows taken per claim: few enough that one slow row does not keep many others waiting.
CLAIM_CHUNK = 10
# Pushes in a row that found WeChat not answering before a run stops spending tries on the outage.
OUTAGE_AFTER = 3


def dispatch_due(
    factory: sessionmaker[Session],
    messenger: Messenger,
    settings: DispatcherSettings,
    now: datetime,
    *,
    claimer: str | None = None,
) -> DispatchResult:
    """Send up to a batch of due pushes, emergencies first: claimed a few at a time, each settled alone.

    Through a messenger with platform limits (`paces_staff`), staff pushes are paced per member and a
    burst waiting for one member is folded into a digest first; residents' pushes are planned against
    their customer-service window (superseded news dropped, a crowd folded into one message).
    """
    paced = getattr(messenger, "paces_staff", False)  # test doubles may not say
    run = _Run(factory, settings, claimer or new_claimer(), now, time.monotonic(), paced)
    result = DispatchResult(dead=_bury_exhausted(run))
    result.folded = fold_bursts(run)
    plan = plan_residents(run, messenger if hasattr(messenger, "template_carries") else None)
    result.folded += plan.folded
    result.superseded, result.released = plan.superseded, plan.released
    outage = _OutageWatch()
    left, sequence = settings.batch_size, 0
    while left > 0 and not outage.declared:
        sequence += 1
        claim = _claim(run, min(CLAIM_CHUNK, left), f"{run.claimer}/{sequence}")
        if not claim.pushes:
            break
        left -= len(claim.pushes)
        _send_claimed(run, messenger, claim, result, outage)
    return result


@dataclass
class _OutageWatch:
    """Counts pushes in a row that found the platform itself not answering."""

    in_a_row: int = 0

    @property
    def declared(self) -> bool:
        # One busy answer is noise; several in a row are an outage, and further tries would be wasted.
        return self.in_a_row >= OUTAGE_AFTER

    def saw(self, answered: bool) -> None:
        self.in_a_row = 0 if answered else self.in_a_row + 1


def _send_claimed(
    run: _Run, messenger: Messenger, claim: _Claim, result: DispatchResult, outage: _OutageWatch
) -> None:
    half_lease = timedelta(seconds=run.settings.lease_seconds / 2)
    for index, push in enumerate(claim.pushes):
        if run.lease_clock() > claim.lease_until - half_lease or outage.declared:
            # Sending is slow (timeouts) or the platform is down: hand back the rest, their tries refunded.
            _release(run, claim.holder, [p.outbox_id for p in claim.pushes[index:]])
            return
        outage.saw(_send(run, messenger, push, claim.holder, result))


def _send(run: _Run, messenger: Messenger, push: Push, holder: str, result: DispatchResult) -> bool:
    """Send one push and settle its row; False when the platform itself did not answer."""
    wait = take_slot(run, push)
    if wait is not None:
        # The member's budget is spent: sending now would be dropped unseen. Wait, untried, for a slot.
        _postpone(
            run,
            push.outbox_id,
            holder,
            Throttled(f"paced: staff member {push.worker_id} used their budget", wait),
        )
        result.paced += 1
        return True
    try:
        delivery = messenger.send(push) or Delivery(messenger.channel)
    except Held as exc:
        _hold(run, push.outbox_id, holder, str(exc))
        result.held += 1
    except Throttled as exc:
        _postpone(run, push.outbox_id, holder, exc)
        result.throttled += 1
    except Undeliverable as exc:
        _close(run, push.outbox_id, holder, str(exc), unsubscribed=exc.unsubscribed)
        result.undeliverable += 1
    except Unreachable as exc:
        _count_failure(run, push.outbox_id, holder, str(exc), result)
        return False
    except SendError as exc:
        _count_failure(run, push.outbox_id, holder, str(exc), result)
    except Exception as exc:
        # A bug in a messenger must not stall the whole outbox: the row is retried, then dead and alerted.
        log.exception("messenger failed on push %s", push.outbox_id)
        _count_failure(run, push.outbox_id, holder, f"{type(exc).__name__}: {exc}", result)
    else:
        _mark_sent(run, push.outbox_id, holder, delivery)
        result.sent += 1
    return True
