"""Finding whom to forget: by openid or by address and name, or saying they were forgotten before."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.language.normalize import normalize
from handlers.messages.binding import parse_address
from storage.erasure import FORGOTTEN_PREFIX, is_forgotten_openid
from storage.models import AuditEvent, Building, Resident, Worker

FORGOTTEN_EVENT = "resident_forgotten"


class ForgetError(LookupError):
    """Nobody to forget, or not unambiguously; the message says why."""


@dataclass(frozen=True)
class AlreadyForgotten:
    """The openid was forgotten before: nothing is left to erase."""

    resident_id: int
    when: datetime | None


def forgotten_openid(openid: str) -> str:
    """The tombstone's openid: a digest, so a second request for the same openid is recognised."""
    return FORGOTTEN_PREFIX + hashlib.sha256(openid.encode()).hexdigest()[:40]


def is_forgotten(resident: Resident) -> bool:
    """True for the tombstone of a forgotten resident."""
    return is_forgotten_openid(resident.openid)


def find_resident(
    session: Session, openid: str | None, address: str | None = None, name: str | None = None
) -> Resident | AlreadyForgotten:
    """The resident by openid (a register entry's `register:...` too), or by address and name."""
    if openid:
        return _by_openid(session, openid)
    if not address:
        raise ForgetError("name the resident by openid, or by --address (and --name)")
    return _by_address(session, address, name)


def _by_openid(session: Session, openid: str) -> Resident | AlreadyForgotten:
    resident = session.scalar(select(Resident).where(Resident.openid == openid))
    if resident is not None and not is_forgotten(resident):
        return resident
    tombstone = resident or session.scalar(
        select(Resident).where(Resident.openid == forgotten_openid(openid))
    )
    if tombstone is not None:
        return AlreadyForgotten(tombstone.id, _forgotten_at(session, tombstone.id))
    if session.scalar(select(Worker.id).where(Worker.openid == openid)) is not None:
        raise ForgetError("that openid is a staff member's: use `run.py worker leave`")
    raise ForgetError("no resident has that openid")


def _by_address(session: Session, address: str, name: str | None) -> Resident:
    parsed = parse_address(normalize(address))
    if parsed is None:
        raise ForgetError(f"not an address: {address!r} (write it like 3号楼2单元301)")
    building = session.scalar(select(Building).where(Building.name == parsed.building))
    if building is None:
        raise ForgetError(f"no building {parsed.building} in the community")
    same_unit = Resident.unit.is_(None) if parsed.unit is None else Resident.unit == parsed.unit
    query = select(Resident).where(
        Resident.building_id == building.id, same_unit, Resident.room == parsed.room
    )
    if name:
        query = query.where(Resident.name == name.strip())
    found = list(session.scalars(query.order_by(Resident.id)))
    if not found:
        raise ForgetError(f"nobody {'of that name ' if name else ''}lives at {address}")
    if len(found) > 1:
        raise ForgetError(f"{len(found)} residents at {address}: give --name, or their openid")
    return found[0]


def _forgotten_at(session: Session, resident_id: int) -> datetime | None:
    query = select(func.max(AuditEvent.created_at)).where(
        AuditEvent.action == FORGOTTEN_EVENT, AuditEvent.subject == audit_subject(resident_id)
    )
    return session.scalar(query)


def audit_subject(resident_id: int) -> str:
    return f"resident #{resident_id}"
