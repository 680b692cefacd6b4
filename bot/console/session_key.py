"""The key that signs console session cookies: from settings, else made once and kept in the database."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConsoleSettings
from storage.db import transaction
from storage.models import AppSecret

SECRET_NAME = "console_session_key"


def session_key(factory: sessionmaker[Session], console: ConsoleSettings, now: datetime) -> str:
    """The configured key, or the one stored in the database (created by whichever process asks first)."""
    if console.secret_key:
        return console.secret_key
    stored = _stored(factory)
    if stored is not None:
        return stored
    try:
        with transaction(factory) as session:
            session.add(AppSecret(name=SECRET_NAME, value=secrets.token_urlsafe(48), created_at=now))
    except IntegrityError:
        pass  # another process made it first: everyone uses that one
    stored = _stored(factory)
    assert stored is not None
    return stored


def _stored(factory: sessionmaker[Session]) -> str | None:
    with transaction(factory) as session:
        row = session.get(AppSecret, SECRET_NAME)
        return row.value if row is not None else None
