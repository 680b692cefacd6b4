"""Job leases: a row per scheduled job in `scheduler_leases`, so two schedulers never run it at once.

A process takes a lease with a conditional UPDATE (only when the lease ran out) or, the first time a job
runs anywhere, an INSERT that the primary key lets only one process win. Both work the same on SQLite and
PostgreSQL. The holder hands the lease back when the run ends; a process that dies leaves it to run out.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import SchedulerLease


def _utc_now() -> datetime:
    return datetime.now(UTC)


def process_holder() -> str:
    """A name for this process that no other process shares: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class JobLeases:
    """Takes and hands back job leases for one scheduler process."""

    factory: sessionmaker[Session]
    holder: str = field(default_factory=process_holder)
    clock: Callable[[], datetime] = _utc_now

    def acquire(self, name: str, seconds: float) -> bool:
        """Take the lease on `name` for `seconds` if nobody holds it; True when this process got it."""
        now = self.clock()
        until = now + timedelta(seconds=seconds)
        return self._take_expired(name, now, until) or self._take_new(name, until)

    def release(self, name: str) -> None:
        """Hand the lease back at once, if this process still holds it."""
        give_back = (
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.holder == self.holder)
            .values(lease_until=self.clock())
            .execution_options(synchronize_session=False)
        )
        with transaction(self.factory) as session:
            session.execute(give_back)

    @contextmanager
    def held(self, name: str, seconds: float) -> Iterator[bool]:
        """Hold the lease on `name` for the block if it is free; yields whether this process holds it."""
        taken = self.acquire(name, seconds)
        try:
            yield taken
        finally:
            if taken:
                self.release(name)

    def _take_expired(self, name: str, now: datetime, until: datetime) -> bool:
        take = (
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.lease_until <= now)
            .values(holder=self.holder, lease_until=until)
            .execution_options(synchronize_session=False)
        )
        with transaction(self.factory) as session:
            return session.execute(take).rowcount == 1

    def _take_new(self, name: str, until: datetime) -> bool:
        # The row exists (held by someone) or a rival inserts it first: either way the key refuses us.
        try:
            with transaction(self.factory) as session:
                session.add(SchedulerLease(name=name, holder=self.holder, lease_until=until))
        except IntegrityError:
            return False
        return True
