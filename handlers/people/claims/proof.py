"""Settling a claim by proof, and what every step of a claim shares: which claims are open, the pushes."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from handlers.context import Services
from handlers.register.entries import adopt_register_entry, is_placeholder
from storage.models import BindingClaim, Resident, Worker
from storage.outbox import queue_push
from storage.repositories import claims

log = logging.getLogger(__name__)
# Claims that still wait for the worker; refused ones may yet be proven by a code the worker gives.
OPEN = ("pending", "locked", "refused")
ADOPTED = "已和社区台账中的登记信息关联。"


def prove(services: Services, claim: BindingClaim, claimant: Resident, entry: Resident, by: str) -> None:
    """The claimant takes over the entry; every other claim on it, and its codes, are spent."""
    claims.void_other_claims(
        services.session, entry.id, claim.id, OPEN, services.now, settled_by=f"已由{by}确认给他人"
    )
    claim.status, claim.settled_at, claim.settled_by = "proven", services.now, by
    adopt_register_entry(services.session, claimant, entry)
    log.info("binding claim #%s proven by %s", claim.id, by)


def still_there(claimant: Resident, entry: Resident) -> bool:
    """The claimant is still bound to the entry's flat, and nobody has taken the entry over."""
    return (
        is_placeholder(entry.openid)
        and claimant.building_id == entry.building_id
        and claimant.unit == entry.unit
        and claimant.room == entry.room
    )


def locked_entry(session: Session, claim: BindingClaim) -> Resident | None:
    """The claimed entry, its row locked: two proofs of one entry at once take turns, one finds it gone."""
    return session.get(Resident, claim.entry_id, with_for_update=True)


def push_to_worker(services: Services, worker: Worker, kind: str, text: str) -> None:
    queue_push(
        services.session, services.now, worker=worker, kind=kind, text=text, message_id=services.message_id
    )


def push_to_resident(services: Services, resident: Resident, text: str) -> None:
    queue_push(
        services.session,
        services.now,
        resident=resident,
        kind="binding",
        text=text,
        message_id=services.message_id,
    )
