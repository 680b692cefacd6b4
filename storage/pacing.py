"""Per-member send budgets for staff pushes, counted in the database so every dispatcher shares them.

WeCom delivers at most 30 app messages a minute and 1,000 an hour to one member and drops the rest
while still answering errcode 0, so the API's answers cannot tell us when we went over: we count
ourselves. A send is recorded (a `staff_sends` row) before it is made, under the member's row lock,
so two dispatchers in different processes never both take the last slot of a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import StaffSend, Worker

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


@dataclass(frozen=True)
class Budget:
    """At most `per_minute` sends in any 60 seconds and `per_hour` in any hour, to one member."""

    per_minute: int
    per_hour: int


def take_send_slot(
    factory: sessionmaker[Session], worker_id: int, now: datetime, budget: Budget
) -> timedelta | None:
    """Record one send to a staff member if their budget allows it; else how long until it does."""
    with transaction(factory) as session:
        # The member's row lock makes rival dispatchers count one after another (SQLite: one writer).
        session.execute(select(Worker.id).where(Worker.id == worker_id).with_for_update())
        session.execute(
            delete(StaffSend).where(StaffSend.worker_id == worker_id, StaffSend.sent_at <= now - HOUR)
        )
        recent = list(
            session.scalars(
                select(StaffSend.sent_at)
                .where(StaffSend.worker_id == worker_id, StaffSend.sent_at > now - HOUR)
                .order_by(StaffSend.sent_at)
            )
        )
        wait = slot_wait(recent, now, budget)
        if wait is None:
            session.add(StaffSend(worker_id=worker_id, sent_at=now))
        return wait


def slot_wait(recent: list[datetime], now: datetime, budget: Budget) -> timedelta | None:
    """None when one more send fits both sliding windows; else the time until it does."""
    last_minute = [at for at in recent if at > now - MINUTE]
    waits = [
        window[len(window) - limit] + span - now
        for window, limit, span in ((last_minute, budget.per_minute, MINUTE), (recent, budget.per_hour, HOUR))
        if len(window) >= limit
    ]
    return max(waits) if waits else None
