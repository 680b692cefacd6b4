"""Queries about households: the buildings, who lives at an address, and register entries merging."""

from __future__ import annotations

from sqlalchemy import and_, delete, not_, or_, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from storage.models import Base, Building, CheckIn, FamilyContact, Resident


def building_named(session: Session, name: str) -> Building | None:
    """The building with this name."""
    return session.scalar(select(Building).where(Building.name == name))


def buildings(session: Session) -> list[Building]:
    """Every building."""
    return list(session.scalars(select(Building)))


def at_address(
    session: Session, building_id: int, unit: str | None, room: str | None, name: str | None = None
) -> list[Resident]:
    """Residents bound to one building, unit and room (of this name, when given), oldest first."""
    same_unit = Resident.unit.is_(None) if unit is None else Resident.unit == unit
    query = select(Resident).where(Resident.building_id == building_id, same_unit, Resident.room == room)
    if name is not None:
        query = query.where(Resident.name == name)
    return list(session.scalars(query.order_by(Resident.id)))


def by_openid(session: Session, openid: str) -> Resident | None:
    """The resident with this openid."""
    return session.scalar(select(Resident).where(Resident.openid == openid))


def with_address(session: Session) -> list[Resident]:
    """Every resident with an address, their building and family loaded."""
    query = select(Resident).where(Resident.building_id.is_not(None))
    loaded = query.options(selectinload(Resident.building), selectinload(Resident.family))
    return list(session.scalars(loaded))


def unnamed_on_entries(
    session: Session, placeholder_prefix: str, other_prefixes: tuple[str, ...]
) -> list[Resident]:
    """Unnamed residents, not themselves an entry or of other_prefixes, bound where an entry (an openid
    starting with placeholder_prefix) lives."""
    entry = aliased(Resident)
    same_unit = or_(and_(Resident.unit.is_(None), entry.unit.is_(None)), Resident.unit == entry.unit)
    query = (
        select(Resident)
        .join(entry, and_(entry.building_id == Resident.building_id, same_unit, entry.room == Resident.room))
        .where(
            entry.openid.startswith(placeholder_prefix),
            Resident.name.is_(None),
            not_(Resident.openid.startswith(placeholder_prefix)),
            *(not_(Resident.openid.startswith(prefix)) for prefix in other_prefixes),
        )
        .distinct()
        .order_by(Resident.id)
    )
    return list(session.scalars(query))


def move_references(session: Session, from_id: int, to_id: int) -> None:
    """Point rows that referred to one resident at another, whichever tables they are in."""
    # A check-in day is unique per resident: the resident's own record of a day wins.
    own_days = select(CheckIn.day).where(CheckIn.resident_id == to_id)
    session.execute(delete(CheckIn).where(CheckIn.resident_id == from_id, CheckIn.day.in_(own_days)))
    # Other modules add tables that point at residents; any row left pointing at the entry would
    # block deleting it, so every foreign key to residents is followed, not a fixed list.
    for model, column_name in _resident_references():
        column = getattr(model, column_name)
        session.execute(update(model).where(column == from_id).values({column_name: to_id}))


def _resident_references() -> list[tuple[type[Base], str]]:
    """(model, attribute) for every mapped column holding a resident's id, family contacts aside."""
    residents_id = Resident.__table__.c.id
    found = []
    for mapper in Base.registry.mappers:
        if mapper.class_ is FamilyContact:
            continue
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            if any(key.column is residents_id for key in column.foreign_keys):
                found.append((mapper.class_, attribute.key))
    return found
