"""The address file: where a running `serve` listens, so `say` finds it on any port."""

from __future__ import annotations

import json
import os
from pathlib import Path

WILDCARDS = {"", "0.0.0.0", "::"}


def webhook_url(host: str, port: int) -> str:
    """The URL a client on this machine reaches the webhook at (a wildcard address means loopback)."""
    reachable = "127.0.0.1" if host in WILDCARDS else host
    if ":" in reachable:
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}/wechat"


def write_address(path: Path, url: str) -> None:
    """Record that this process serves `url` (written whole, then renamed, so a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n", encoding="utf-8")
    partial.replace(path)


def remove_address(path: Path) -> None:
    """Remove the address file if it still names this process (a later server may have taken it over)."""
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_server_url(path: Path) -> str | None:
    """The URL in the address file, if the process that wrote it is still alive."""
    found = _read(path)
    url, pid = found.get("url"), found.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or not _alive(pid):
        return None
    return url


def _read(path: Path) -> dict[str, object]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: int) -> bool:
    """Whether a process with this id runs (one of another user counts too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
