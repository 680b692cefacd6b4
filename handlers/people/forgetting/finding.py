"""Finding whom to forget: by openid or by address and name, or saying they were forgotten before."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.language.normalize import normalize
from handlers.messages.binding import parse_address
from storage.erasure import FORGOTTEN_PREFIX, is_forgotten_openid
from storage.models import Resident
from storage.repositories import audit, households, staff

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
    resident = households.by_openid(session, openid)
    if resident is not None and not is_forgotten(resident):
        return resident
    tombstone = resident or households.by_openid(session, forgotten_openid(openid))
    if tombstone is not None:
        return AlreadyForgotten(tombstone.id, _forgotten_at(session, tombstone.id))
    if staff.worker_id_by_openid(session, openid) is not None:
        raise ForgetError("that openid is a staff member's: use `run.py worker leave`")
    raise ForgetError("no resident has that openid")


def _by_address(session: Session, address: str, name: str | None) -> Resident:
    parsed = parse_address(normalize(address))
    if parsed is None:
        raise ForgetError(f"not an address: {address!r} (write it like 3号楼2单元301)")
    building = households.building_named(session, parsed.building)
    if building is None:
        raise ForgetError(f"no building {parsed.building} in the community")
    named = name.strip() if name else None
    found = households.at_address(session, building.id, parsed.unit, parsed.room, named)
    if not found:
        raise ForgetError(f"nobody {'of that name ' if name else ''}lives at {address}")
    if len(found) > 1:
        raise ForgetError(f"{len(found)} residents at {address}: give --name, or their openid")
    return found[0]


def _forgotten_at(session: Session, resident_id: int) -> datetime | None:
    return audit.last_event_at(session, FORGOTTEN_EVENT, audit_subject(resident_id))


def audit_subject(resident_id: int) -> str:
    return f"resident #{resident_id}"
