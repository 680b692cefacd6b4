"""Shared fixtures: settings on a temporary SQLite file, the demo community, the app and a fake WeChat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.intents import IntentClassifier, load_classifier
from config.settings import Settings, load_settings
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.demo import load_community
from storage.models import OutboxMessage, Ticket
from tests.support import FakeClock, WeChatServer

# A valid 43-character EncodingAESKey, for safe-mode tests only.
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEST_APPID = "wx0123456789abcdef"


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings on a fresh SQLite file, ignoring the developer's own environment."""
    environ = {"GRIDDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'griddesk.db'}"} | env
    return load_settings(environ=environ)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings on a temporary database file."""
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture(scope="session")
def classifier() -> IntentClassifier:
    """The rules shipped in config/intents.toml."""
    return load_classifier(load_settings(environ={}).intents_path)


@pytest.fixture
def factory(settings: Settings, clock: FakeClock) -> Iterator[sessionmaker[Session]]:
    """A migrated database with the demo community loaded."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    session_factory = make_session_factory(engine)
    with transaction(session_factory) as session:
        load_community(session, settings.demo_path, clock())
    yield session_factory
    engine.dispose()


@pytest.fixture
def app(
    settings: Settings, factory: sessionmaker[Session], classifier: IntentClassifier, clock: FakeClock
) -> Flask:
    """The real Flask app on the temporary database."""
    return create_app(settings, factory, classifier, clock)


@pytest.fixture
def wechat(app: Flask, settings: Settings) -> WeChatServer:
    """Plays WeChat's servers against the app, in plaintext mode."""
    return WeChatServer(app.test_client(), settings.wechat)


def tickets(factory: sessionmaker[Session]) -> list[Ticket]:
    """All tickets, oldest first, with what tests look at loaded."""
    with transaction(factory) as session:
        found = list(session.scalars(select(Ticket).order_by(Ticket.id)))
        for ticket in found:
            _ = ticket.assignee, ticket.resident, ticket.events, ticket.grid
        return found


def pushes(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    """All outbox rows, oldest first."""
    with transaction(factory) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
