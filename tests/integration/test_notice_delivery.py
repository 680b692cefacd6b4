"""The notice delivery job on a real database: schedulers running it at once tell each resident once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from bot.notice_delivery import run_notice_deliveries
from handlers.notices.delivery import Planned
from handlers.notices.writing import Draft, write_notice
from storage.db import transaction
from storage.models import Building, NoticeDelivery, OutboxMessage, Resident, Worker

HOUSEHOLDS = 120


def add_building_of(factory, clock, households: int) -> int:
    """A building of households who each wrote an hour ago; returns its id."""
    with transaction(factory) as session:
        building = session.scalars(select(Building).where(Building.name == "8号楼")).one()
        for number in range(households):
            session.add(
                Resident(
                    openid=f"o-eight-{number}", building_id=building.id, unit="1", room=str(100 + number),
                    last_message_at=clock() - timedelta(hours=1), created_at=clock(),
                )
            )  # fmt: skip
        return building.id


def notice_for(factory, clock, building: int, *, hours: float = 6) -> int:
    with transaction(factory) as session:
        author = session.scalars(select(Worker.id).where(Worker.openid == "demo-worker-chen")).one()
        until = clock() + timedelta(hours=hours)
        draft = Draft("power", "线路检修,8号楼停电", frozenset({building}), clock(), until)
        return write_notice(session, clock(), author, draft).id


def counts(factory) -> tuple[int, int, int]:
    """Delivery rows, distinct residents among them, and notice pushes in the outbox."""
    with transaction(factory) as session:
        rows = session.scalar(select(func.count()).select_from(NoticeDelivery))
        people = session.scalar(select(func.count(func.distinct(NoticeDelivery.resident_id))))
        queued = session.scalar(select(func.count()).where(OutboxMessage.kind == "notice"))
        return rows, people, queued


def test_two_schedulers_planning_at_once_tell_each_household_once(factory, settings, clock) -> None:
    building = add_building_of(factory, clock, HOUSEHOLDS)
    notice_for(factory, clock, building)
    start = threading.Barrier(2)
    results: list[Planned] = []

    def scheduler() -> None:
        start.wait()
        results.append(run_notice_deliveries(factory, settings, clock()))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(result.notices for result in results) == [0, 1]
    assert counts(factory) == (HOUSEHOLDS, HOUSEHOLDS, HOUSEHOLDS)  # everyone wrote within 48 hours


def test_a_notice_ended_before_the_job_ran_tells_nobody(factory, settings, clock) -> None:
    building = add_building_of(factory, clock, 3)
    notice_for(factory, clock, building, hours=1)
    clock.advance(hours=2)
    planned = run_notice_deliveries(factory, settings, clock())
    assert (planned.notices, planned.total) == (1, 0)
    assert counts(factory) == (0, 0, 0)
