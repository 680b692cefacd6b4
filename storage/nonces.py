"""The nonce memory of /wechat: every signed (timestamp, nonce) accepted within the window, in the database.

Kept in a table rather than in memory so every web process shares it. The primary key lets exactly one
request claim a (timestamp, nonce); a second request with it is WeChat's retry when it carries the same
message (its digest matches), and a replay with a forged message when it does not.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import one_writer, transaction
from storage.models import WebhookNonce


def remember_nonce(factory: sessionmaker[Session], timestamp: int, nonce: str, digest: str) -> bool:
    """Claim (timestamp, nonce) for a message's digest; False when it was claimed for another message."""
    try:
        with factory() as session, one_writer(session, short=True), session.begin():
            row = {"timestamp": timestamp, "nonce": nonce, "body_digest": digest}
            session.connection().execute(_claim(), row)
        return True
    except IntegrityError:
        pass  # claimed before (or by a copy arriving at the same moment, now committed): compare
    with transaction(factory) as session:
        earlier = session.scalar(
            select(WebhookNonce.body_digest).where(
                WebhookNonce.timestamp == timestamp, WebhookNonce.nonce == nonce
            )
        )
    return earlier == digest


@cache
def _claim() -> Insert:
    """The INSERT every message passes: plain Core, built once."""
    return insert(WebhookNonce.__table__)


def forget_expired_nonces(factory: sessionmaker[Session], older_than: int) -> int:
    """Delete nonces whose timestamp is before `older_than` (requests with them are stale anyway)."""
    with factory() as session, one_writer(session), session.begin():
        result = session.execute(delete(WebhookNonce).where(WebhookNonce.timestamp < older_than))
        return result.rowcount or 0
