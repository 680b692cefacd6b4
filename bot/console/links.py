"""One-time sign-in links in pushes: {base_url}/console/go/<token> signs a worker in and opens the ticket.

The outbox keeps a placeholder, {base_url}/console/go/{link:<id>}; the dispatcher swaps in a fresh token
as it sends (render_links), so nothing stored in the database is a link that signs anyone in. Handlers
add the placeholder (handlers/console_links.py); this module mints, redeems and ends the links.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.console_links import LINK_PATH
from storage.models import ConsoleLink, StaffAccount, Worker

TOKEN_BYTES = 24
_PLACEHOLDER = re.compile(r"(\S*)/console/go/\{link:(\d+)\}")


def token_hash(token: str) -> str:
    """What is stored instead of the token: its SHA-256, so a database leak signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def render_links(session: Session, text: str, recipient_id: int | None, now: datetime) -> str:
    """The text to send: each placeholder of the recipient's own live link becomes a freshly minted token.

    A placeholder of someone else's link (an alert quoting a worker's push to their leader) or of a
    used, expired or cancelled link becomes the plain console page, which asks for a password.
    """

    def mint(match: re.Match[str]) -> str:
        base, link = match[1], session.get(ConsoleLink, int(match[2]))
        live = link is not None and link.used_at is None and link.expires_at > now
        if link is None or not live or link.worker_id != recipient_id:
            tail = f"tickets/{link.ticket_id}" if link is not None and link.ticket_id is not None else ""
            return f"{base}/console/{tail}"
        # A new token each try: an earlier try's token (perhaps never delivered) stops working.
        token = secrets.token_urlsafe(TOKEN_BYTES)
        link.token_hash = token_hash(token)
        return f"{base}{LINK_PATH}{token}"

    return _PLACEHOLDER.sub(mint, text)


def without_tokens(text: str) -> str:
    """A stored push as people may read it: each link placeholder said in words, not a broken URL."""
    return _PLACEHOLDER.sub(r"\1/console/go/…(一次性登录链接,发送时生成)", text)


def end_links(session: Session, worker_id: int) -> None:
    """Every unused link of this worker stops working (a new password, a disabled account)."""
    # Expired as of their making: whatever clock the caller and the console go by.
    session.execute(
        update(ConsoleLink)
        .where(ConsoleLink.worker_id == worker_id, ConsoleLink.used_at.is_(None))
        .values(expires_at=ConsoleLink.created_at)
        .execution_options(synchronize_session=False)
    )


def may_sign_in(session: Session, worker: Worker | None) -> bool:
    """A worker still on staff whose console account, if they have one, is not disabled."""
    if worker is None or worker.left_at is not None:
        return False
    active = session.scalar(select(StaffAccount.active).where(StaffAccount.worker_id == worker.id))
    return active is None or active


def redeem_link(session: Session, token: str, now: datetime) -> ConsoleLink | None:
    """The link for a token if it is unused and unexpired, marking it used; None otherwise."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(ConsoleLink).where(ConsoleLink.token_hash == token_hash(token)))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    if not may_sign_in(session, session.get(Worker, link.worker_id)):
        return None
    # Conditional update: of two requests racing with the same token, exactly one wins.
    claimed = session.execute(
        update(ConsoleLink)
        .where(ConsoleLink.id == link.id, ConsoleLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return link if claimed.rowcount == 1 else None
