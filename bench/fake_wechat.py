"""tests/fakewechat.py as a process of its own, for benches whose dispatcher runs in another process.

`python -m bench.fake_wechat --appid A --secret S --openids FILE --log FILE` serves the fake Official
Account API on a free loopback port, prints `port N` when it listens, opens the 48-hour
customer-service window of every openid in FILE (one a line: they have just written), and on SIGTERM
writes every message it delivered to the log, one JSON object a line: api, to, text, at (Unix time).
`fake_wechat(...)` runs it from a bench in its own process group, so the bench's own threads (the
load) and the fake's do not share one interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.webhook_server import stop_process_group
from config.settings import PROJECT_ROOT
from tests.fakewechat import TEMPLATE_IDS, FakeWeChat, Sent

BOOT_SECONDS = 30.0


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM, then write the delivery log."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appid", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--openids", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fake = FakeWeChat(appid=args.appid, secret=args.secret, templates=TEMPLATE_IDS.values()).start()
    for openid in args.openids.read_text().split():
        fake.user_wrote(openid)
    print(f"port {fake.port}", flush=True)
    while not stop.wait(0.5):
        pass
    fake.stop()
    with args.log.open("w", encoding="utf-8") as log:
        for sent in fake.sent:
            log.write(json.dumps(_line(sent), ensure_ascii=False) + "\n")
    return 0


def _line(sent: Sent) -> dict[str, Any]:
    """One delivery: its text is the customer-service message's, or a template's field values joined."""
    payload = sent.payload
    if sent.api == "custom":
        text = payload["text"]["content"]
    else:
        text = " ".join(str(field.get("value", "")) for field in (payload.get("data") or {}).values())
    return {"api": sent.api, "to": sent.to, "text": text, "at": sent.at}


# The bench's side


@dataclass(frozen=True)
class Delivery:
    """A message the fake delivered to a phone."""

    api: str  # custom or template
    to: str
    text: str
    at: float  # Unix time


@dataclass
class FakeProcess:
    """The running fake: its port, and once stopped, what it delivered."""

    port: int
    log: Path
    deliveries: list[Delivery] | None = None

    @property
    def mp_base_url(self) -> str:
        """What api.weixin.qq.com/cgi-bin/ is to GridDesk."""
        return f"http://127.0.0.1:{self.port}/cgi-bin/"


@contextmanager
def fake_wechat(folder: Path, appid: str, secret: str, openids: Sequence[str]) -> Iterator[FakeProcess]:
    """The fake in its own process group; its deliveries are read when the block ends."""
    (folder / "openids.txt").write_text("\n".join(openids))
    log = folder / "fake-wechat.jsonl"
    command = [sys.executable, "-m", "bench.fake_wechat", "--appid", appid, "--secret", secret]
    command += ["--openids", str(folder / "openids.txt"), "--log", str(log)]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        fake = FakeProcess(_port(process), log)
        yield fake
    finally:
        stop_process_group(process)
    fake.deliveries = [Delivery(**json.loads(line)) for line in log.read_text(encoding="utf-8").splitlines()]


def _port(process: subprocess.Popen[str]) -> int:
    """The port the fake printed, once it listens."""
    deadline = time.monotonic() + BOOT_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("port "):
            return int(line.split()[1])
        if not line and process.poll() is not None:
            break
    raise RuntimeError(f"the fake WeChat did not start (exit status {process.poll()})")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
