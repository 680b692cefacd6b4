"""Tickets, one per resident request, and their audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.community import Grid, Resident, Worker


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


class TicketEvent(Base):
    """The audit trail: who did what to a ticket, and when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
    # Open311's updates are read by time, across every ticket (bot/open311/updates.py).
    created_at: Mapped[datetime] = mapped_column(index=True)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
