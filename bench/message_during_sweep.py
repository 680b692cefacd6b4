"""An elder's message during the morning ping sweep: `uv run python -m bench.message_during_sweep
[--size 100k] [--database-url URL]`.

Builds the check-in register of bench/checkins.py, starts the 09:00 ping sweep over it in a thread and,
once the sweep is under way, sends one elder's signed message through the real webhook. Prints how long
the sweep took and how long the message waited for its reply. The sweep writes a push to every elder in
one transaction; the message must not wait for that transaction to end.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench.checkins import MORNING, build_register, parse_size
from bench.databases import describe_database, fresh_database
from bot.app import create_app
from bot.simulator import read_reply, sign, text_xml
from config.settings import load_settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import ping_sweep
from handlers.language.intents import classifier_for
from storage.db import make_engine, make_session_factory, upgrade


def main(argv: Sequence[str] | None = None) -> int:
    """Build the register, run the sweep and the message side by side, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("100k"))
    parser.add_argument("--delay", type=float, default=1.5, help="seconds into the sweep to send (1.5)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, fresh_database(args.database_url, Path(folder)) as url:
        print(describe_database(url))
        sweep_seconds, message_seconds, reply = measure(url, args.size, args.delay)
    print(f"{args.size:,} elders: the 09:00 ping sweep took {sweep_seconds:.2f} s")
    waited = f"{message_seconds * 1000:.0f} ms"
    print(f"a message sent {args.delay:.1f} s into it was answered in {waited}: {reply}")
    return 0


def measure(url: str, size: int, delay: float) -> tuple[float, float, str]:
    """(sweep seconds, message seconds, the reply's first line)."""
    settings = load_settings(environ={"GRIDDESK_DATABASE_URL": url})
    engine = make_engine(url)
    try:
        upgrade(engine)
        build_register(engine, size)
        factory = make_session_factory(engine)
        app = create_app(settings, factory, classifier_for(settings), lambda: MORNING)
        client = app.test_client()

        def send(openid: str, text: str, msg_id: int) -> tuple[float, str]:
            body = text_xml(openid, text, msg_id=msg_id)
            signed = sign(settings.wechat.token, body, timestamp=int(MORNING.timestamp()))
            started = time.perf_counter()
            response = client.post("/wechat", query_string=signed.params, data=signed.body)
            return time.perf_counter() - started, read_reply(response.get_data(as_text=True)) or ""

        send("bench-resident-1", "你好", 1)  # warm up: first statements, first connection
        swept: list[float] = []
        domain = DomainSettings.of(settings)

        def sweep() -> None:
            started = time.perf_counter()
            ping_sweep(factory, domain, MORNING)
            swept.append(time.perf_counter() - started)

        thread = threading.Thread(target=sweep)
        thread.start()
        time.sleep(delay)
        message_seconds, reply = send(f"bench-resident-{size - 1}", "楼道灯坏了", 2)
        thread.join()
        return swept[0], message_seconds, reply.splitlines()[0]
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
