"""What the Official Account may send, as settings declare it or WeChat's answers showed it (48001).

A personal-subject account has no customer-service messages at all, an unverified one no template
messages, and only government-service (政务民生) and medical accounts may send long-term subscription
messages: WeChat answers 48001 ("api unauthorized", or 48004 when banned) to every try. The first such
answer is kept in `account_capabilities`, so every process stops trying what cannot work (and the ping
sweep stops choosing subscription messages, through `usable`). A template id WeChat does not know (40037:
deleted in the account's admin pages, or mistyped in the settings) is kept the same way, per template.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import AccountCapability

CUSTOMER_SERVICE, TEMPLATE, SUBSCRIPTION = "customer_service", "template", "subscription"


def one_template(template_id: str) -> str:
    """The capability of one template id: unavailable once WeChat answered it does not know the id (40037)."""
    return f"{TEMPLATE}:{template_id}"


def unavailable_apis(session: Session) -> dict[str, AccountCapability]:
    """The APIs WeChat told us the account may not use, by name."""
    query = select(AccountCapability).where(AccountCapability.available.is_(False))
    return {row.name: row for row in session.scalars(query)}


def usable(name: str) -> ColumnElement[bool]:
    """SQL: WeChat has not told us the account may not use this API (no refusal kept for it)."""
    refused = exists().where(AccountCapability.name == name, AccountCapability.available.is_(False))
    return ~refused


def record_unavailable(
    factory: sessionmaker[Session], name: str, errcode: int, detail: str, now: datetime
) -> None:
    """Keep WeChat's word that the account may not use this API (the first answer's time and text)."""
    with transaction(factory) as session:
        row = session.get(AccountCapability, name)
        if row is not None:
            if row.available:
                row.available, row.errcode, row.detail, row.discovered_at = False, errcode, detail[:200], now
            return
        try:
            with session.begin_nested():
                session.add(
                    AccountCapability(
                        name=name, available=False, errcode=errcode, detail=detail[:200], discovered_at=now
                    )
                )
        except IntegrityError:
            pass  # another process recorded it first

