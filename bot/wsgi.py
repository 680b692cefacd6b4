"""Production web serving: the webhook under gunicorn, each worker process building its own app and engine.

The master process never calls the app factory: gunicorn calls `load` in each worker after the fork, so no
database connection is ever shared between processes. The scheduler runs elsewhere (`run.py scheduler`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

# Seconds a worker may spend on one request, and that stopping workers get to finish theirs.
REQUEST_TIMEOUT_SECONDS = 30
GRACEFUL_STOP_SECONDS = 10


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn settings: gthread workers on host:port, no access log (query strings carry openids)."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
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
