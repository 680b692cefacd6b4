"""The nonce memory of /wechat: every signed (timestamp, nonce) accepted within the window, in the database.

Kept in a table rather than in memory so every web process shares it. The primary key lets exactly one
request claim a (timestamp, nonce); a second request with it is WeChat's retry when it carries the same
message (its digest matches), and a replay with a forged message when it does not.

The claim is made in the message's own transaction (bot/inbox.py), so a message costs one commit, not
two, and a message that is not stored leaves its nonce unclaimed for the spool to claim at replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Executable, Select, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from storage.db import one_writer
from storage.models import WebhookNonce


@dataclass(frozen=True)
class NonceClaim:
    """A request's (timestamp, nonce) and the SHA-256 of the message it carried."""

    timestamp: int
    nonce: str
    digest: str


class NonceReused(Exception):
    """The (timestamp, nonce) came before with another message: a captured query string replayed."""


def claim_nonce(session: Session, claim: NonceClaim) -> None:
    """Claim (timestamp, nonce) for its message in the session's transaction; NonceReused when another
    message claimed it. The same message again (WeChat's retry) passes, for the MsgId check to answer."""
    connection = session.connection()
    row = {"timestamp": claim.timestamp, "nonce": claim.nonce, "body_digest": claim.digest}
    if connection.scalar(_claim(connection.dialect.name), row) is not None:
        return  # claimed now
    earlier = connection.scalar(_digest(), {"timestamp": claim.timestamp, "nonce": claim.nonce})
    if earlier != claim.digest:
        raise NonceReused(f"nonce {claim.nonce!r} already came with another message")


@cache
def _claim(dialect: str) -> Executable:
    """INSERT ... ON CONFLICT DO NOTHING: a retry's claim must not end the transaction it is in. It
    returns a row only when it inserted one (a driver's rowcount for an INSERT is not to be relied on)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = WebhookNonce.__table__
    return module.insert(table).on_conflict_do_nothing().returning(table.c.timestamp)


@cache
def _digest() -> Select[Any]:
    table = WebhookNonce.__table__
    return select(table.c.body_digest).where(
        table.c.timestamp == bindparam("timestamp"), table.c.nonce == bindparam("nonce")
    )


def forget_expired_nonces(factory: sessionmaker[Session], older_than: int) -> int:
    """Delete nonces whose timestamp is before `older_than` (requests with them are stale anyway)."""
    with factory() as session, one_writer(session), session.begin():
        result = session.execute(delete(WebhookNonce).where(WebhookNonce.timestamp < older_than))
        return result.rowcount or 0
