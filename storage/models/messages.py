"""Messages in and out: what WeChat delivered, the webhook nonces, and the outbox of pushes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


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
        # Inbox workers look for queued messages, and whether a sender still has one waiting.
        Index("ix_inbound_messages_status_openid", "status", "openid"),
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
    # handled, failed, throttled; queued (stored under overload, answered at once, handled by an inbox
    # worker later: bot/queueing/) and working (claimed by an inbox worker until lease_until).
    status: Mapped[str] = mapped_column(String(20), default="handled")
    # The passive reply the sender got: a retry gets it again.
    reply: Mapped[str | None] = mapped_column(Text)
    # A queued emergency: the inbox workers take it before anything else.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    # How often inbox workers claimed it: a message that keeps killing its worker is given up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
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
    # The digest push this row went out in (status "folded"), when a burst to one staff member was folded.
    folded_into: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)


class StaffSend(Base):
    """One push a dispatcher sent to a staff member: what per-member pacing counts, across processes."""

    __tablename__ = "staff_sends"
    __table_args__ = (Index("ix_staff_sends_worker_sent", "worker_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    sent_at: Mapped[datetime]


class CustomerServiceWindow(Base):
    """One WeChat user's customer-service allowances as GridDesk has spent them, shared by every dispatcher.

    A user's message allows 5 customer-service messages within 48 hours; a follow, QR scan or menu tap 3
    within a minute (storage/windows.py). The counts restart when a newer message or tap opens the
    allowance again; the row is locked while a dispatcher counts a send, so two never take the last one.
    """

    __tablename__ = "customer_service_windows"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The message that opened the 48-hour allowance (None: known only from residents.last_message_at).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id", ondelete="SET NULL"))
    message_at: Mapped[datetime | None]
    message_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The follow, scan or menu tap that opened the one-minute allowance.
    event_at: Mapped[datetime | None]
    event_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
