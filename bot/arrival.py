"""When the web server took in the request this thread is handling: the start of its wait, not of its work.

gunicorn's gthread worker (bot/wsgi.py) notes it when it hands a request to its thread pool; a request
that waited there while every thread was busy has waited before GridDesk's code even saw it. Flask's own
server (the sandbox) notes nothing, and the request counts from when the app starts on it.

Behind a reverse proxy a request can wait before gunicorn too (the listen backlog, the accept loop):
nginx stamps when it took the request in, `X-Request-Start: t=<seconds since the epoch>` ($msec,
deploy/nginx/griddesk.conf), and the webhook counts from that when the proxy is trusted (server.proxy_hops).
"""

from __future__ import annotations

import re
import threading

_local = threading.local()
REQUEST_START = "X-Request-Start"
# 't=1795000000.123' (nginx's $msec), or a bare number; some proxies write milli- or microseconds.
_START = re.compile(r"(?:t=)?(\d{1,17}(?:\.\d{1,6})?)")


def note_arrival(monotonic_seconds: float | None) -> None:
    """Record (or, with None, forget) when this thread's request arrived, on time.monotonic()'s clock."""
    _local.arrived = monotonic_seconds


def arrived_at() -> float | None:
    """When the request this thread is handling arrived, if the web server said so."""
    arrived: float | None = getattr(_local, "arrived", None)
    return arrived


def waited_at_proxy(header: str | None, now: float) -> float | None:
    """Seconds since the reverse proxy took the request in, by its X-Request-Start; None if absent or odd."""
    match = _START.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    start = float(match.group(1))
    while start > 1e11:  # milli- or microseconds
        start /= 1000
    waited = now - start
    # A proxy's clock is this machine's; a stamp from the future or from hours ago is no stamp at all.
    return waited if 0 <= waited < 600 else None
