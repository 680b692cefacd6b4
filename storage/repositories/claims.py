"""Queries about binding claims: a resident's claim to a register entry and the codes that prove it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import BindingClaim


def claims_of(session: Session, claimant_id: int, statuses: Collection[str]) -> list[BindingClaim]:
    """The resident's claims in these statuses, newest first."""
    query = select(BindingClaim).where(
        BindingClaim.claimant_id == claimant_id, BindingClaim.status.in_(statuses)
    )
    return list(session.scalars(query.order_by(BindingClaim.id.desc())))


def claim_to(
    session: Session, claimant_id: int | None, entry_id: int, statuses: Collection[str]
) -> BindingClaim | None:
    """The resident's newest claim to this entry in these statuses."""
    query = select(BindingClaim).where(
        BindingClaim.claimant_id == claimant_id,
        BindingClaim.entry_id == entry_id,
        BindingClaim.status.in_(statuses),
    )
    return session.scalars(query.order_by(BindingClaim.id.desc())).first()


def live_code(session: Session, entry_id: int, code: str, now: datetime) -> BindingClaim | None:
    """The unexpired, unused code for this entry with these digits."""
    query = select(BindingClaim).where(
        BindingClaim.entry_id == entry_id,
        BindingClaim.claimant_id.is_(None),
        BindingClaim.status == "pending",
        BindingClaim.code == code,
        BindingClaim.expires_at > now,
    )
    return session.scalars(query).first()


def spend_code(session: Session, code_id: int, now: datetime) -> bool:
    """Mark a code proven, if it is still pending; False when someone else used it first."""
    # Conditional, so two people sending one code at once cannot both use it.
    spent = session.execute(
        update(BindingClaim)
        .where(BindingClaim.id == code_id, BindingClaim.status == "pending")
        .values(status="proven", settled_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return spent.rowcount == 1


def count_wrong_code(session: Session, entry_id: int, limit: int, now: datetime, settled_by: str) -> None:
    """One more wrong try on every live code of the entry; codes at the limit are void."""
    live_codes = update(BindingClaim).where(
        BindingClaim.entry_id == entry_id,
        BindingClaim.claimant_id.is_(None),
        BindingClaim.status == "pending",
    )
    session.execute(
        live_codes.values(wrong_codes=BindingClaim.wrong_codes + 1).execution_options(
            synchronize_session=False
        )
    )
    session.execute(
        live_codes.where(BindingClaim.wrong_codes >= limit)
        .values(status="void", settled_at=now, settled_by=settled_by)
        .execution_options(synchronize_session=False)
    )


def void_claims_elsewhere(
    session: Session,
    claimant_id: int,
    statuses: Collection[str],
    keep_entry_id: int | None,
    now: datetime,
    settled_by: str,
) -> None:
    """Void the resident's claims in these statuses, except one to keep_entry_id."""
    query = (
        update(BindingClaim)
        .where(BindingClaim.claimant_id == claimant_id, BindingClaim.status.in_(statuses))
        .values(status="void", settled_at=now, settled_by=settled_by)
        .execution_options(synchronize_session="fetch")
    )
    if keep_entry_id is not None:
        query = query.where(BindingClaim.entry_id != keep_entry_id)
    session.execute(query)


def void_other_claims(
    session: Session, entry_id: int, claim_id: int, statuses: Collection[str], now: datetime, settled_by: str
) -> None:
    """Void every other claim on the entry in these statuses (its codes included)."""
    session.execute(
        update(BindingClaim)
        .where(
            BindingClaim.entry_id == entry_id,
            BindingClaim.id != claim_id,
            BindingClaim.status.in_(statuses),
        )
        .values(status="void", settled_at=now, settled_by=settled_by)
        .execution_options(synchronize_session="fetch")
    )
