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
    then is handled; when the oldest one has been in hand for seconds, the next would wait as long.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._serial = itertools.count()
        # Arrival times by ticket, oldest first (dicts keep insertion order, and arrivals only grow).
        self._arrived: dict[int, float] = {}

    @contextmanager
    def in_hand(self) -> Iterator[None]:
        """Count a message as waiting or being handled for the block."""
        ticket = next(self._serial)
        with self._lock:
            self._arrived[ticket] = self._clock()
        try:
            yield
        finally:
            with self._lock:
                del self._arrived[ticket]

    def age(self) -> float:
        """Seconds the oldest message in hand has waited so far; 0 when there is none."""
        with self._lock:
            oldest = next(iter(self._arrived.values()), None)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)
