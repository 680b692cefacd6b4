"""SQLAlchemy 2.0 typed models: the community, its residents, tickets, messages and the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (same on SQLite and PostgreSQL), returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark a stored naive UTC value as UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with UTC-aware datetimes."""

    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


class Worker(Base):
    """A grid worker, grid leader, or community / street office account."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    role: Mapped[str] = mapped_column(String(20), default="worker")
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    on_duty: Mapped[bool] = mapped_column(default=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    # Set by `run.py worker leave`: the row stays for the tickets' history, but nothing reaches it any more.
    left_at: Mapped[datetime | None]

    # post_update: two workers may back each other up (AB岗), a cycle in the rows.
    backup: Mapped[Worker | None] = relationship(remote_side=[id], post_update=True)


class Grid(Base):
    """A patch of the community looked after by one worker."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))

    worker: Mapped[Worker | None] = relationship(foreign_keys=[worker_id])
    leader: Mapped[Worker | None] = relationship(foreign_keys=[leader_id])
    buildings: Mapped[list[Building]] = relationship(back_populates="grid")


class Building(Base):
    """A residential building; it belongs to exactly one grid."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))

    grid: Mapped[Grid] = relationship(back_populates="buildings")


class Resident(Base):
    """A person who messages the Official Account, known by their openid."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    unit: Mapped[str | None] = mapped_column(String(10))
    room: Mapped[str | None] = mapped_column(String(10))
    household_category: Mapped[str] = mapped_column(String(20), default="ordinary")
    lives_alone: Mapped[bool] = mapped_column(default=False)
    subscribed: Mapped[bool] = mapped_column(default=True)
    last_message_at: Mapped[datetime | None]
    # Minutes after local midnight of the daily check-in ping; None: not in the check-in population.
    checkin_minute: Mapped[int | None] = mapped_column(index=True)
    last_visit_at: Mapped[datetime | None]
    # A menu tap (报修, 缴费 ...) says what the next message is about.
    pending_category: Mapped[str | None] = mapped_column(String(20))
    pending_until: Mapped[datetime | None]
    created_at: Mapped[datetime]

    building: Mapped[Building | None] = relationship()
    family: Mapped[list[FamilyContact]] = relationship(
        back_populates="resident", cascade="all, delete-orphan", order_by="FamilyContact.id"
    )

    @property
    def address(self) -> str | None:
        """Building, unit and room as residents write them, or None when unbound."""
        if self.building is None:
            return None
        unit = f"{self.unit}单元" if self.unit else ""
        return f"{self.building.name}{unit}{self.room or ''}"


class FamilyContact(Base):
    """A relative told when an elder misses a check-in."""

    __tablename__ = "family_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(30))
    openid: Mapped[str | None] = mapped_column(String(64))

    resident: Mapped[Resident] = relationship(back_populates="family")


class CheckIn(Base):
    """One resident's daily check-in: pinged, reminded, answered, or missed (a 敲门 task)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("resident_id", "day", name="uq_checkins_resident_day"),
        Index("ix_checkins_status_pinged", "status", "pinged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    # The local calendar day the check-in is for.
    day: Mapped[date] = mapped_column(Date)
    # pinged, reminded, missed (knock task open), answered, help, unreachable
    status: Mapped[str] = mapped_column(String(20))
    pinged_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    missed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Visit(Base):
    """A worker's home visit (走访), which resets the household's visit clock (三访)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    visited_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)


class Ticket(Base):
    """One request from a resident, carried until it is resolved."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_resident_status", "resident_id", "status"),
        # The deadline sweep asks "which open tickets are due" every minute.
        Index("ix_tickets_status_ack_due", "status", "ack_due_at"),
        Index("ix_tickets_status_resolve_due", "status", "resolve_due_at"),
        # Reports count the tickets opened in a day, week or month.
        Index("ix_tickets_created_at", "created_at"),
        # The retention sweep asks for closed tickets not yet erased, closed before a cutoff.
        Index("ix_tickets_erased_closed", "erased_at", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    summary: Mapped[str] = mapped_column(Text)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    ack_due_at: Mapped[datetime]
    resolve_due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Escalation rung now holding the ticket: 0 worker, 1 backup, 2 leader, 3 community, 4 street.
    escalation_level: Mapped[int] = mapped_column(default=0)
    # Pages sent at the current rung after the first (bounded), or emergency re-pages so far.
    repeat_pages: Mapped[int] = mapped_column(default=0)
    last_paged_at: Mapped[datetime | None]
    ack_warned_at: Mapped[datetime | None]
    resolve_warned_at: Mapped[datetime | None]
    overdue_paged_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_requested_at: Mapped[datetime | None]
    # When the resident's personal details in it were erased (retention, or the resident forgotten).
    erased_at: Mapped[datetime | None]
    # Optimistic lock: two sweeps (or a sweep and a worker) changing one ticket cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    resident: Mapped[Resident] = relationship()
    grid: Mapped[Grid | None] = relationship()
    assignee: Mapped[Worker | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(back_populates="ticket", order_by="TicketEvent.id")


class WorkerInvite(Base):
    """A one-time code that makes whoever sends "绑定 <code>" a worker, created by `run.py worker invite`."""

    __tablename__ = "worker_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(30))
    # Comma-separated grid codes: one for a worker, several for a leader, none for community/street.
    grid_codes: Mapped[str] = mapped_column(String(200), default="")
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))


class BindingClaim(Base):
    """Proof before a WeChat user takes over a register entry (an elder not yet on WeChat).

    A claim: someone bound the entry's address; they stay bound to the building and room only until a
    worker confirms (确认绑定 <id>) or they send a code. A code: what a worker's "绑定码 <address>" made,
    with no claimant until someone sends it.
    """

    __tablename__ = "binding_claims"
    __table_args__ = (Index("ix_binding_claims_entry_status", "entry_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    claimant_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    # Six digits, kept as they are (like worker invites): hashing cannot hide a million possibilities.
    code: Mapped[str | None] = mapped_column(String(12))
    # pending, proven, refused, locked (too many wrong codes), void (superseded, spent or expired)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    # Who was asked to confirm the claim, or who issued the code.
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    settled_by: Mapped[str | None] = mapped_column(String(80))


class TicketEvent(Base):
    """The audit trail: who did what to a ticket, and when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class InboundMessage(Base):
    """Every message and event WeChat delivered, kept whether or not it opened a ticket."""

    __tablename__ = "inbound_messages"
    # The media download job asks every minute which photos and voice messages are not saved yet.
    __table_args__ = (
        Index("ix_inbound_messages_media_pending", "media_path", "media_id"),
        # Flood throttling counts one sender's messages in the last minute.
        Index("ix_inbound_messages_openid_received", "openid", "received_at"),
        # The retention sweep asks for messages not yet erased, received before a cutoff.
        Index("ix_inbound_messages_erased_received", "erased_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # MsgId, or FromUserName+CreateTime for events: WeChat's retries share it.
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(20))
    event: Mapped[str | None] = mapped_column(String(30))
    event_key: Mapped[str | None] = mapped_column(String(120))
    content: Mapped[str | None] = mapped_column(Text)
    media_id: Mapped[str | None] = mapped_column(String(200))
    # Where the photo or voice was saved; "" when it could not be saved before WeChat deleted it.
    media_path: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
    raw: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="handled")
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    # When its text, raw XML, location, reply and media file were erased; the row stays for de-duplication.
    erased_at: Mapped[datetime | None]


class WebhookNonce(Base):
    """A /wechat request's signed (timestamp, nonce), kept while that timestamp is inside the window.

    The digest of the message it carried tells WeChat's retry of it (the same message) from a replay of
    its query string with another message (refused).
    """

    __tablename__ = "webhook_nonces"

    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))


class OutboxMessage(Base):
    """A push owed to a worker or resident, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
        # Daily digests check "did this person get today's list already?" by kind and time.
        Index("ix_outbox_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(20), default="auto")
    recipient: Mapped[str] = mapped_column(String(64))
    recipient_name: Mapped[str] = mapped_column(String(50))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The dispatcher sending the row holds it until lease_until; a lease that ran out (a crash) is free.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    # WeChat's msgid for a template message (TEMPLATESENDJOBFINISH names it), or WeCom's.
    wechat_msgid: Mapped[str | None] = mapped_column(String(64), index=True)
    # WeChat's final word on a template message: success, failed:user block, failed: system failed.
    receipt: Mapped[str | None] = mapped_column(String(40))


class AuditEvent(Base):
    """Who did what to personal data and when (a resident forgotten, a retention sweep), never the data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    # What it was done to, by id, e.g. "resident #12"; never a name, phone or openid.
    subject: Mapped[str] = mapped_column(String(120))
    # Counts of what went, e.g. "tickets 3, messages 12"; never the data itself.
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)


class AccessToken(Base):
    """A WeChat or WeCom access token shared by every process, and who may refresh it right now."""

    __tablename__ = "access_tokens"

    # e.g. "mp:<appid>" or "wecom:<corp_id>:<agent_id>".
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    # Only the process whose lease this is may fetch a new token; the others wait and read it.
    refresh_owner: Mapped[str | None] = mapped_column(String(64))
    refresh_until: Mapped[datetime | None]
    fetched_at: Mapped[datetime | None]
    fetches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SchedulerLease(Base):
    """Which scheduler process runs a job right now: a lease that runs out on its own if the process dies."""

    __tablename__ = "scheduler_leases"

    # The job's id, e.g. "deadline-sweep".
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    lease_until: Mapped[datetime]


class StaffAccount(Base):
    """A staff member's console sign-in, tied to their Worker row (created by `run.py staff add`)."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), unique=True)
    login: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Sessions signed in before a password change stop working.
    password_changed_at: Mapped[datetime]
    last_signin_at: Mapped[datetime | None]

    worker: Mapped[Worker] = relationship()


class ConsoleLink(Base):
    """A one-time console sign-in link sent in a push; only the token's SHA-256 is kept."""

    __tablename__ = "console_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None until the dispatcher sends the push: the token is made at send time and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console session: the cookie holds a random token, the database only its SHA-256."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    # None for a session opened by a push link.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set by signing out, a new password, or the account being disabled.
    ended_at: Mapped[datetime | None]


class SigninThrottle(Base):
    """Recent failed console sign-ins per login and per client address, and how long they are locked out."""

    __tablename__ = "signin_throttle"

    # "login:<login>" or "addr:<ip>".
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class AppSecret(Base):
    """A secret generated once and shared by every process, e.g. the console's session key."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class RequestCount(Base):
    """Requests one client made in its current one-minute window, shared by every web process."""

    __tablename__ = "request_counts"

    # "open311:<client>".
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_started_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)
