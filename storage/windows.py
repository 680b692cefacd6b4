"""Each WeChat user's customer-service budget, counted in the database so every dispatcher shares it.

Since June 2023 a user's message allows 5 customer-service messages (客服消息) within 48 hours; a follow,
a QR scan or a menu tap 3 within one minute. The allowances do not add up: a send fits while any open
allowance has room, and counts against each open one. Past the window WeChat answers 45015, past the
count 45047: GridDesk counts for itself, so it plans instead of finding out.

What opened an allowance is read from `inbound_messages` (`residents.last_message_at` stands for a
message only for someone with no inbound rows at all: it is stamped for taps too); the sends spent are
kept per openid in `customer_service_windows`, restarted when a newer message or tap arrives.
`window_open` is the read-only question other code may ask ("how many sends are left for this person
now?"); `take_window_send` counts one send under the row's lock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import CustomerServiceWindow, InboundMessage, Resident

MESSAGE_SENDS, EVENT_SENDS = 5, 3
MESSAGE_SPAN, EVENT_SPAN = timedelta(hours=48), timedelta(minutes=1)
# What opens the short allowance besides a message: following, scanning a QR code, and the menu buttons
# that push an event (wechatpy lower-cases event names).
WINDOW_EVENTS = ("subscribe", "subscribe_scan", "scan", "click", "scancode_push", "scancode_waitmsg")


@dataclass
class Allowances:
    """A user's two allowances: since their last message (48 h, 5) and since their last tap (1 min, 3)."""

    message_at: datetime | None = None
    message_id: int | None = None
    message_sends: int = 0
    event_at: datetime | None = None
    event_sends: int = 0

    def open_now(self, now: datetime, span: timedelta = MESSAGE_SPAN) -> list[tuple[int, int]]:
        """(sends spent, limit) of each allowance still inside its time."""
        spans = (
            (self.message_at, span, self.message_sends, MESSAGE_SENDS),
            (self.event_at, EVENT_SPAN, self.event_sends, EVENT_SENDS),
        )
        return [(spent, limit) for at, within, spent, limit in spans if at is not None and now - at < within]

    def sends_left(self, now: datetime, span: timedelta = MESSAGE_SPAN) -> int:
        """Customer-service messages that may still go to the user now (0: closed or used up)."""
        return max((limit - spent for spent, limit in self.open_now(now, span)), default=0)

    def in_conversation(self, now: datetime, span: timedelta = MESSAGE_SPAN) -> bool:
        """True inside the 48-hour window of their last message, whatever is left of its count."""
        return self.message_at is not None and now - self.message_at < span


def window_open(session: Session, openid: str, now: datetime, span: timedelta = MESSAGE_SPAN) -> int:
    """How many customer-service messages may go to this WeChat user now (0: none); reads only."""
    return allowances(session, openid).sends_left(now, span)


def allowances_of(session: Session, openids: Collection[str]) -> dict[str, Allowances]:
    """`allowances` for many users in a few queries (a dispatcher run plans for all of them)."""
    wanted = set(openids)
    if not wanted:
        return {}
    states = {openid: Allowances() for openid in wanted}
    messages = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(InboundMessage.openid.in_(wanted), InboundMessage.event.is_(None))
        .group_by(InboundMessage.openid)
    )
    taps = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(InboundMessage.openid.in_(wanted), InboundMessage.event.in_(WINDOW_EVENTS))
        .group_by(InboundMessage.openid)
    )
    stamps = select(Resident.openid, Resident.last_message_at).where(Resident.openid.in_(wanted))
    for openid, at in session.execute(messages):
        states[openid].message_at = at
    for openid, at in session.execute(taps):
        states[openid].event_at = at
    for openid, at in session.execute(stamps):
        if states[openid].message_at is None and states[openid].event_at is None:
            states[openid].message_at = at
    rows = session.scalars(select(CustomerServiceWindow).where(CustomerServiceWindow.openid.in_(wanted)))
    for row in rows:
        state = _as_allowances(row)
        _catch_up(state, states[row.openid])
        states[row.openid] = state
    return states


def allowances(session: Session, openid: str) -> Allowances:
    """The user's allowances: the latest message and tap we received, and what was spent since."""
    latest = _openers(session, openid)
    row = session.get(CustomerServiceWindow, openid)
    if row is None:
        return latest
    state = _as_allowances(row)
    _catch_up(state, latest)
    return state


def take_window_send(
    factory: sessionmaker[Session],
    openid: str,
    now: datetime,
    *,
    keep: int = 0,
    span: timedelta = MESSAGE_SPAN,
) -> bool:
    """Count one customer-service message to this user if more than `keep` sends are left; False if not."""
    with transaction(factory) as session:
        row = _locked_row(session, openid)
        _catch_up(row, _openers(session, openid))
        state = _as_allowances(row)
        if state.sends_left(now, span) <= keep:
            return False
        if state.message_at is not None and now - state.message_at < span:
            row.message_sends += 1
        if state.event_at is not None and now - state.event_at < EVENT_SPAN:
            row.event_sends += 1
        return True


def refund_window_send(factory: sessionmaker[Session], openid: str, now: datetime) -> None:
    """WeChat refused or never got the message: the send counted for it is given back."""
    with transaction(factory) as session:
        row = _locked_row(session, openid)
        row.message_sends = max(0, row.message_sends - 1)
        if row.event_at is not None and now - row.event_at < EVENT_SPAN:
            row.event_sends = max(0, row.event_sends - 1)


def window_used_up(factory: sessionmaker[Session], openid: str) -> None:
    """WeChat said the window is closed or its count spent (45015, 45047): nothing more until they write."""
    with transaction(factory) as session:
        row = _locked_row(session, openid)
        _catch_up(row, _openers(session, openid))
        row.message_sends, row.event_sends = MESSAGE_SENDS, EVENT_SENDS


def _locked_row(session: Session, openid: str) -> CustomerServiceWindow:
    """The user's row under a lock (rival dispatchers count one after another), created when missing."""
    query = select(CustomerServiceWindow).where(CustomerServiceWindow.openid == openid).with_for_update()
    row = session.scalar(query)
    if row is None:
        try:
            with session.begin_nested():
                session.add(CustomerServiceWindow(openid=openid, message_sends=0, event_sends=0))
        except IntegrityError:
            pass  # a rival created it first: lock theirs
        row = session.scalars(query).one()
    return row


def _openers(session: Session, openid: str) -> Allowances:
    """The newest message (and the resident's last-message stamp) and the newest tap from this user."""
    message = session.execute(
        select(InboundMessage.id, InboundMessage.received_at)
        .where(InboundMessage.openid == openid, InboundMessage.event.is_(None))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(1)
    ).first()
    tapped = session.scalar(
        select(func.max(InboundMessage.received_at)).where(
            InboundMessage.openid == openid, InboundMessage.event.in_(WINDOW_EVENTS)
        )
    )
    state = Allowances(message_at=message.received_at if message else None, event_at=tapped)
    state.message_id = message.id if message else None
    if message is None and tapped is None:
        # Stamped for taps too, so it stands for a message only where no inbound row says otherwise.
        state.message_at = session.scalar(select(Resident.last_message_at).where(Resident.openid == openid))
    return state


def _catch_up(row: CustomerServiceWindow | Allowances, latest: Allowances) -> None:
    """A newer message or tap than the row knows restarts that allowance's count."""
    if latest.message_at is not None and (row.message_at is None or latest.message_at > row.message_at):
        row.message_at, row.message_id, row.message_sends = latest.message_at, latest.message_id, 0
    if latest.event_at is not None and (row.event_at is None or latest.event_at > row.event_at):
        row.event_at, row.event_sends = latest.event_at, 0


def _as_allowances(row: CustomerServiceWindow) -> Allowances:
    return Allowances(row.message_at, row.message_id, row.message_sends, row.event_at, row.event_sends)


def window_figures(session: Session, now: datetime, span: timedelta = MESSAGE_SPAN) -> tuple[int, int]:
    """(users GridDesk has sent customer-service messages to in a window still open, those with none left)."""
    query = select(CustomerServiceWindow.message_sends).where(CustomerServiceWindow.message_at > now - span)
    spent = list(session.scalars(query))
    return len(spent), sum(1 for sends in spent if sends >= MESSAGE_SENDS)


def forget_window(session: Session, openid: str) -> None:
    """A forgotten resident's window row goes (it names their openid)."""
    session.execute(delete(CustomerServiceWindow).where(CustomerServiceWindow.openid == openid))
