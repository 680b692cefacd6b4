"""Production web serving: the webhook under gunicorn, each worker process building its own app and engine.

The master process never calls the app factory: gunicorn calls `load` in each worker after the fork, so no
database connection is ever shared between processes. The scheduler runs elsewhere (`run.py scheduler`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from bot.arrival import note_arrival

# Seconds a worker may spend on one request, and that stopping workers get to finish theirs.
REQUEST_TIMEOUT_SECONDS = 30
GRACEFUL_STOP_SECONDS = 10


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn settings: gthread workers on host:port, no access log (query strings carry openids)."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": QueueTimedWorker,
        "threads": threads,
        "timeout": REQUEST_TIMEOUT_SECONDS,
        "graceful_timeout": GRACEFUL_STOP_SECONDS,
        "preload_app": False,
        "accesslog": None,
        "loglevel": "info",
        "proc_name": "griddesk-web",
        # Several servers on one machine (and the tests) would fight over gunicorn's default socket.
        "control_socket_disable": True,
    }


class QueueTimedWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, noting when each request joins the queue for a thread (bot/arrival.py).

    Under a burst, requests wait in that queue while every thread is busy: the webhook counts that wait
    when it decides to answer at once and finish later (docs/architecture.md, "When messages pile up").
    """

    def enqueue_req(self, conn: Any) -> None:
        """Note the time, then queue the connection for a thread as gthread does."""
        conn.griddesk_enqueued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        """Handle the connection's request with its arrival noted for the app."""
        note_arrival(getattr(conn, "griddesk_enqueued_at", None))
        try:
            return super().handle(conn)
        finally:
            note_arrival(None)


class WebServer(BaseApplication):  # type: ignore[misc]
    """gunicorn run from Python: `app_factory` is called once in each worker process, after the fork."""

    def __init__(self, app_factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__(prog="run.py serve")

    def load_config(self) -> None:
        """Apply the options; gunicorn's own command line and config files are not read."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build this worker's app (and with it its own database engine)."""
        return self.app_factory()
