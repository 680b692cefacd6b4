"""A small HTTP load driver for the benches: open loop (each request at its scheduled time) or closed loop.

Open loop: latency is counted from when a request was due, not from when it went out, so a slow server
cannot slow the load down and hide its own queueing (no coordinated omission). A request that could not
even start within `give_up_after` seconds of its due time is not sent at all and counts as dropped.
"""

from __future__ import annotations

import http.client
import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

HOST = "127.0.0.1"
START_DELAY_SECONDS = 0.2
DROPPED = -1  # Outcome.status of a request the driver gave up on before sending it
NO_ANSWER = 0  # Outcome.status when the connection was refused, reset or timed out
# WeChat waits this long for the passive reply, then gives up on the request and retries.
WECHAT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Request:
    """One POST: path and query, body, and (open loop) seconds after the start it is due."""

    target: str
    body: bytes
    at: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What one request got, and when."""

    status: int  # HTTP status, NO_ANSWER or DROPPED
    body: bytes
    latency: float  # from when it was due (open loop) or sent (closed loop) to the answer
    lag: float  # how late the send started after it was due
    done: float  # seconds after the run started


@dataclass(frozen=True)
class Summary:
    """One run summed up: good answers a second, and latency over every request, failures included."""

    sent: int
    errors: int
    dropped: int
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    lag_p99_ms: float
    late: int = 0  # good answers that came after WECHAT_WAIT_SECONDS: WeChat had given up on them


def drive(
    port: int,
    requests: Sequence[Request],
    senders: int,
    *,
    paced: bool,
    timeout: float,
    give_up_after: float,
) -> list[Outcome]:
    """POST every request from `senders` threads: each when due (paced) or as fast as answers come."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    claim = itertools.count()  # next() on it is atomic under the GIL
    start = time.perf_counter() + START_DELAY_SECONDS

    def sender() -> None:
        while (index := next(claim)) < len(requests):
            request = requests[index]
            due = start + request.at if paced else max(start, time.perf_counter())
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif paced and -wait > give_up_after:
                outcomes[index] = Outcome(DROPPED, b"", -wait, -wait, time.perf_counter() - start)
                continue
            sent = time.perf_counter()
            status, body = post(port, request.target, request.body, timeout)
            done = time.perf_counter()
            outcomes[index] = Outcome(status, body, done - due, sent - due, done - start)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(min(senders, len(requests)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcome for outcome in outcomes if outcome is not None]


def post(port: int, target: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    """One POST on a new connection, as a reverse proxy without upstream keep-alive sends it."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("POST", target, body, {"Content-Type": "text/xml", "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return NO_ANSWER, b""
    finally:
        connection.close()


def summarize(outcomes: Sequence[Outcome], good: Callable[[Outcome], bool]) -> Summary:
    """Good answers over the run's length (first due time to last answer), and latency percentiles."""
    latencies = sorted(outcome.latency for outcome in outcomes)
    ok = sum(1 for outcome in outcomes if good(outcome))
    wall = max((outcome.done for outcome in outcomes), default=0.0)
    return Summary(
        sent=len(outcomes),
        errors=len(outcomes) - ok,
        dropped=sum(1 for outcome in outcomes if outcome.status == DROPPED),
        per_second=ok / wall if wall > 0 else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] if latencies else 0.0) * 1000,
        lag_p99_ms=percentile(sorted(outcome.lag for outcome in outcomes), 0.99) * 1000,
        late=sum(1 for outcome in outcomes if good(outcome) and outcome.latency > WECHAT_WAIT_SECONDS),
    )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
