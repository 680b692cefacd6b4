"""Register entries: residents known only from the register, and binding one to a WeChat user.

Residents imported from a register have no WeChat openid yet; they get a placeholder (`register:<uuid>`)
until the person binds their address on WeChat and `adopt_register_entry` merges the entry into them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.models import Building, FamilyContact, Resident
from storage.repositories import households

PLACEHOLDER_PREFIX = "register:"
# People who filed a request through the Open311 API: residents with no WeChat account at all.
OPEN311_PREFIX = "open311:"
Contact = tuple[str, str | None, str | None, str | None]  # name, relation, phone, openid


def is_open311_requester(openid: str | None) -> bool:
    """True for someone known only through the Open311 API; they read their request's status there."""
    return bool(openid and openid.startswith(OPEN311_PREFIX))


def is_placeholder(openid: str | None) -> bool:
    """True for the openid of a register entry nobody has bound on WeChat yet."""
    return bool(openid and openid.startswith(PLACEHOLDER_PREFIX))


def contacts_of(resident: Resident) -> list[Contact]:
    """The resident's family contacts as plain tuples."""
    return [(c.name, c.relation, c.phone, c.openid) for c in resident.family]


def needs_proof(entry: Resident) -> bool:
    """True when taking over the entry would hand someone personal details or an elder's check-in.

    Entries with a phone, family contacts or a check-in time, and elders living alone, are bound only
    with proof (handlers/people/claims/). An entry of name, address and household category alone may be
    adopted by address: the binder learns nothing from it, and the worker sees a name for the flat.
    """
    return bool(entry.phone or entry.lives_alone or entry.family or entry.checkin_minute is not None)


def adopt_register_entry(session: Session, resident: Resident, entry: Resident | None = None) -> bool:
    """Merge a register entry (by default the one at the resident's address) into the resident's row.

    The register's details (name, phone, household category, living alone, check-in time, family)
    are copied onto the resident, whatever pointed at the entry (visits, check-ins ...) moves to the
    resident, and the entry is deleted. False when no entry, or several, could be the resident.
    Callers decide whether the resident has proven they may (handlers/people/claims/).
    """
    session.flush()
    entry = entry if entry is not None else register_entry_for(session, resident)
    if entry is None or not is_placeholder(entry.openid):
        return False
    _copy_register_details(entry, resident)
    households.move_references(session, entry.id, resident.id)
    session.delete(entry)
    session.flush()
    return True


def register_entry_for(session: Session, resident: Resident) -> Resident | None:
    """The one placeholder entry at the resident's address (by name too, when the resident has one)."""
    if resident.building is None or is_placeholder(resident.openid):
        return None
    return register_entry_at(session, resident.building, resident.unit, resident.room, resident.name)


def register_entry_at(
    session: Session, building: Building, unit: str | None, room: str | None, name: str | None = None
) -> Resident | None:
    """The one register entry nobody has bound on WeChat at this address (and of this name, if given)."""
    here = households.at_address(session, building.id, unit, room)
    entries = [other for other in here if is_placeholder(other.openid)]
    if name is not None:
        entries = [entry for entry in entries if entry.name == name]
    return entries[0] if len(entries) == 1 else None


def residents_on_entries(session: Session) -> list[Resident]:
    """WeChat users bound by address alone where an unbound register entry lives, e.g. before an import."""
    return households.unnamed_on_entries(session, PLACEHOLDER_PREFIX, (OPEN311_PREFIX,))


def _copy_register_details(entry: Resident, resident: Resident) -> None:
    """The register knows the household; what the resident has and the register lacks is kept."""
    resident.name = entry.name or resident.name
    resident.phone = entry.phone or resident.phone
    resident.household_category = entry.household_category
    resident.lives_alone = entry.lives_alone
    resident.checkin_minute = entry.checkin_minute
    visits = [moment for moment in (resident.last_visit_at, entry.last_visit_at) if moment is not None]
    resident.last_visit_at = max(visits, default=None)
    if entry.family:
        resident.family = [
            FamilyContact(name=c.name, relation=c.relation, phone=c.phone, openid=c.openid)
            for c in entry.family
        ]
