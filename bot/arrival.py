"""When the web server took in the request this thread is handling: the start of its wait, not of its work.

gunicorn's gthread worker (bot/wsgi.py) notes it when it hands a request to its thread pool; a request
that waited there while every thread was busy has waited before GridDesk's code even saw it. Flask's own
server (the sandbox) notes nothing, and the request counts from when the app starts on it.
"""

from __future__ import annotations

import threading

_local = threading.local()


def note_arrival(monotonic_seconds: float | None) -> None:
    """Record (or, with None, forget) when this thread's request arrived, on time.monotonic()'s clock."""
    _local.arrived = monotonic_seconds


def arrived_at() -> float | None:
    """When the request this thread is handling arrived, if the web server said so."""
    arrived: float | None = getattr(_local, "arrived", None)
    return arrived
