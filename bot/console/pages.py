"""What every console view uses: its dependencies, the signed-in person, sessions and page rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, render_template, session
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.console.scope import Scope
from bot.console.sessions import end_session, open_session
from config.settings import Settings
from handlers.context import Clock, Dependencies, Services
from handlers.domain_settings import DomainSettings
from handlers.language.intents import IntentClassifier
from handlers.texts import ROLE_LABELS, local_time
from storage.db import transaction
from storage.models import Worker

EXTENSION = "griddesk.console"


@dataclass(frozen=True)
class Console:
    """What the console's views need: settings, the database, the classifier and the clock."""

    # The whole settings: the console's own key, sessions and media folder are not the domain's.
    settings: Settings
    dependencies: Dependencies
    factory: sessionmaker[Session]

    @property
    def domain(self) -> DomainSettings:
        """The settings handlers and reports read."""
        return self.dependencies.settings

    @property
    def classifier(self) -> IntentClassifier:
        """The intent rules."""
        return self.dependencies.classifier

    @property
    def clock(self) -> Clock:
        """The clock."""
        return self.dependencies.clock

    def services(self, session: Session) -> Services:
        """Services for one console action in `session`."""
        return self.dependencies.services(session)


@dataclass(frozen=True)
class Staff:
    """The signed-in person, as plain values (no database session outlives a request's unit of work)."""

    worker_id: int
    name: str
    role: str
    login: str | None
    scope: Scope

    @property
    def title(self) -> str:
        """'网格员 王芳'."""
        return f"{ROLE_LABELS.get(self.role, '')} {self.name}"

    @property
    def may_reassign(self) -> bool:
        """Leaders and offices reassign tickets (the WeChat 转派 rule)."""
        return self.role in ("leader", "community", "street")


def console() -> Console:
    """The console's dependencies for the current app."""
    return current_app.extensions[EXTENSION]


def staff() -> Staff:
    """The signed-in person (every non-public view runs after _load_staff)."""
    return g.staff


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def start_session(db: Session, worker_id: int, account_id: int | None, now: datetime) -> None:
    """Sign a person in: a fresh session (no fixation) recorded in the database, a fresh CSRF token."""
    hours = console().settings.console.session_hours
    session.clear()
    session.permanent = True
    session["sid"] = open_session(db, worker_id, account_id, now, hours)
    csrf_token()


def forget_session() -> None:
    """Forget this browser's session cookie."""
    session.clear()


def sign_out() -> None:
    """End the session here and in the database, so a copy of the cookie opens nothing either."""
    app = console()
    if session.get("sid"):
        with transaction(app.factory) as db:
            end_session(db, str(session["sid"]), app.clock())
    forget_session()


def page(template: str, **context: Any) -> str:
    """Render a console page with the signed-in person."""
    community = console().settings.community_name
    return render_template(f"console/{template}", me=g.get("staff"), community=community, **context)


def local(moment: datetime | None) -> str:
    """A stored UTC time as the community's clock shows it: '11月23日 10:00'."""
    return local_time(moment, console().settings.timezone) if moment is not None else "—"


def span(delta: timedelta) -> str:
    """A stretch of time as staff say it: '25分钟', '3小时', '2天5小时'."""
    minutes = max(1, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{minutes}分钟"


def colleagues(session: Session, me: Staff) -> list[Worker]:
    """People a ticket can be reassigned to (none for those who may not reassign)."""
    if not me.may_reassign:
        return []
    query = select(Worker).where(Worker.id != me.worker_id, Worker.left_at.is_(None))
    query = query.order_by(Worker.role, Worker.name)
    return list(session.scalars(query))
