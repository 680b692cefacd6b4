"""gunicorn wiring: options from the command line, and an app built only in the worker, after the fork."""

from __future__ import annotations

from flask import Flask
from gunicorn.workers.gthread import ThreadWorker

from bot.commands.runtime import shown_url
from bot.wsgi import QueueTimedWorker, WebServer, gunicorn_options
from run import build_parser


def test_options_bind_the_address_with_gthread_workers_and_no_access_log() -> None:
    options = gunicorn_options("0.0.0.0", 8000, workers=4, threads=8)
    assert options["bind"] == "0.0.0.0:8000"
    assert (options["workers"], options["worker_class"], options["threads"]) == (4, QueueTimedWorker, 8)
    assert issubclass(QueueTimedWorker, ThreadWorker)  # gthread, noting when requests queue for a thread
    assert options["accesslog"] is None and options["preload_app"] is False
    assert gunicorn_options("::", 8000, 1, 1)["bind"] == "[::]:8000"


def test_the_app_factory_runs_when_a_worker_loads_not_before() -> None:
    built: list[Flask] = []

    def factory() -> Flask:
        built.append(Flask("worker"))
        return built[-1]

    server = WebServer(factory, gunicorn_options("127.0.0.1", 8000, 2, 4))
    assert built == [] and server.cfg.workers == 2 and server.cfg.address == [("127.0.0.1", 8000)]
    assert server.load() is built[0]


def test_serve_takes_workers_and_threads_and_scheduler_is_a_command() -> None:
    args = build_parser().parse_args(["serve", "--workers", "3", "--threads", "2", "--port", "8000"])
    assert (args.workers, args.threads, args.port) == (3, 2, 8000)
    assert build_parser().parse_args(["serve"]).workers is None  # the one-process sandbox
    assert build_parser().parse_args(["scheduler"]).func.__name__ == "scheduler_command"


def test_banners_mask_the_database_password() -> None:
    assert shown_url("postgresql+psycopg://griddesk:secret@db/griddesk") == (
        "postgresql+psycopg://griddesk:***@db/griddesk"
    )
