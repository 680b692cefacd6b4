"""The composition root: `bootstrap(settings) -> Runtime`, the one place GridDesk's parts are wired together.

serve, the gunicorn workers, the scheduler, every command and the tests take their engine, session
factory, classifier, clock, WeChat client, messenger, scheduler and Flask app from a Runtime. Each part is
built the first time something asks for it, and its module imported only then: a command that needs
only the database loads neither Flask nor APScheduler nor the intent rules (docs/architecture.md).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from config.settings import Settings
from handlers.clock import Clock, utc_now
from storage.db import (
    current_revisions,
    head_revision,
    make_engine,
    make_session_factory,
    startup_lock,
    transaction,
    upgrade,
)

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from flask import Flask
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bot.messenger import Messenger
    from bot.wechat_api import OfficialAccountClient
    from handlers.context import Dependencies, Services
    from handlers.domain_settings import DomainSettings
    from handlers.language.intents import IntentClassifier

log = logging.getLogger("griddesk")


class SchemaBehind(Exception):
    """A read command found the database not at this code's schema; it changes nothing and stops."""


def bootstrap(
    settings: Settings, *, clock: Clock | None = None, classifier: IntentClassifier | None = None
) -> Runtime:
    """GridDesk's parts for these settings, none built yet; `clock` and `classifier` replace the real ones."""
    runtime = Runtime(settings, clock or utc_now)
    if classifier is not None:
        # Instance attributes win over cached_property: this one is simply never built.
        runtime.classifier = classifier
    return runtime


class Runtime:
    """The long-lived parts of one process, each built on first use; `close()` lets go of the database."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings, self.clock = settings, clock

    @cached_property
    def engine(self) -> Engine:
        """The database engine (no connection is made until one is needed)."""
        return make_engine(self.settings.database_url)

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        """Sessions on this runtime's engine."""
        return make_session_factory(self.engine)

    @cached_property
    def classifier(self) -> IntentClassifier:
        """The intent rules (and emergency model) the settings name."""
        from handlers.language.intents import classifier_for

        return classifier_for(self.settings)

    @cached_property
    def domain(self) -> DomainSettings:
        """The settings handlers and sweeps may read: no credentials, addresses or paths."""
        from handlers.domain_settings import DomainSettings

        return DomainSettings.of(self.settings)

    @cached_property
    def dependencies(self) -> Dependencies:
        """What every unit of work shares: the domain's settings, classifier and clock."""
        from handlers.context import Dependencies

        return Dependencies(self.domain, self.classifier, self.clock)

    def services(self, session: Session, message_id: int | None = None) -> Services:
        """Services for one unit of work in `session`, now, caused by `message_id` if any."""
        return self.dependencies.services(session, message_id)

    @cached_property
    def official_account(self) -> OfficialAccountClient:
        """The Official Account's API client for a command, its access token shared through the database.

        The messenger and the media downloads build their own (bot/channels.py, bot/scheduler.py): they run
        in different scheduler threads, and wechatpy's client keeps one requests.Session.
        """
        from bot.wechat_api import official_account_client

        return official_account_client(self.settings, self.factory)

    @cached_property
    def messenger(self) -> Messenger:
        """Where pushes go: the terminal in the sandbox, else WeChat (and WeCom when configured)."""
        from bot.channels import build_messenger

        return build_messenger(self.settings, self.factory, self.clock)

    @cached_property
    def scheduler(self) -> BackgroundScheduler:
        """The scheduler with every job (outbox, sweeps, digests, reports), not yet started."""
        from bot.scheduler import build_scheduler

        return build_scheduler(self.settings, self.factory, self.messenger, self.clock, self.classifier)

    @cached_property
    def app(self) -> Flask:
        """The web app: webhook, Open311, console (its spool replayer not started)."""
        from bot.app import create_app

        return create_app(self.settings, self.factory, self.classifier, self.clock)

    def prepare(self) -> Runtime:
        """Migrate the database and, in the sandbox, load the demo; the engine is let go if that fails."""
        try:
            prepare_database(self.settings, self.engine, self.factory, self.clock)
        except BaseException:
            self.close()
            raise
        return self

    def check_schema(self) -> Runtime:
        """Stop (SchemaBehind) unless the database's schema is this code's; changes nothing either way."""
        try:
            current, head = current_revisions(self.engine), head_revision()
        except BaseException:
            self.close()
            raise
        if head is None or current != [head]:
            self.close()
            raise SchemaBehind(schema_advice(current, head))
        return self

    def close(self) -> None:
        """Close the database connections, if any were opened (called in-process too: tests, scripts)."""
        engine = self.__dict__.get("engine")
        if engine is not None:
            engine.dispose()


def prepare_database(
    settings: Settings, engine: Engine, factory: sessionmaker[Session], clock: Clock = utc_now
) -> None:
    """Migrate, and seed the demo in sandbox mode; safe when `serve` and `scheduler` start together."""
    # Imported here: the demo loader is only needed when the schema may change.
    from storage.demo import seed_community

    with startup_lock(engine):
        upgrade(engine)
        if settings.sandbox and settings.demo_path is not None:
            with transaction(factory) as session:
                if seed_community(session, settings.demo_path, clock()):
                    log.info("demo community loaded from %s", settings.demo_path)


def schema_advice(current: list[str], head: str | None) -> str:
    """One line: what the database's schema is, and the command that brings it up to date."""
    fix = "run `uv run run.py migrate` once (or start the server, `uv run run.py`, which migrates too)"
    if not current:
        return f"the database has no GridDesk tables yet: {fix}"
    needed = f"this GridDesk needs {head}" if head else "this GridDesk's migrations name no single newest"
    return f"the database schema is behind ({', '.join(current)}; {needed}): {fix}"
