"""How long messages wait in this process: the age of the oldest one still in hand (the queue's age)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Backlog:
    """The messages this process is storing and handling now, each with when it arrived.

    A message in hand waits for its turn at the database (on SQLite, behind every writer before it) and
    then is handled; when the oldest one has been in hand for seconds, the next would wait as long. A
    message may have waited before the app saw it too (bot/arrival.py): it counts from its arrival.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._serial = itertools.count()
        self._arrived: dict[int, float] = {}  # by ticket: as many as the process has threads

    @contextmanager
    def in_hand(self, arrived: float | None = None) -> Iterator[None]:
        """Count a message as waiting or being handled for the block, since `arrived` (else now)."""
        ticket = next(self._serial)
        with self._lock:
            self._arrived[ticket] = self._clock() if arrived is None else arrived
        try:
            yield
        finally:
            with self._lock:
                del self._arrived[ticket]

    def ago(self, seconds: float) -> float:
        """The moment `seconds` ago on this backlog's clock (when a message that waited that long arrived)."""
        return self._clock() - seconds

    def age(self, arrived: float | None = None) -> float:
        """Seconds the oldest message in hand (or the one that `arrived`, if older) has waited; 0: none."""
        with self._lock:
            oldest = min(self._arrived.values(), default=arrived)
        if arrived is not None and oldest is not None:
            oldest = min(oldest, arrived)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)
