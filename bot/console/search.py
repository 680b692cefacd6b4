"""The board's search box: a ticket number (#12), a resident's name or phone tail, a building, or words."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select

from handlers.language.normalize import simplify
from storage.models import Building, Resident, Ticket

# A query longer than this is no search anyone typed; it is cut, not refused.
LONGEST_QUERY = 40
# Digits a phone's tail is searched by (staff say "尾号5678").
PHONE_TAIL = 4
# More digits than a ticket number can have is no ticket number (and no column compares it).
TICKET_DIGITS = 9


def cleaned(query: str) -> str:
    """What was typed, trimmed, without a leading '尾号', at most LONGEST_QUERY characters."""
    text = " ".join(query.split())[:LONGEST_QUERY]
    return text.removeprefix("尾号").strip()


def matches(query: str) -> ColumnElement[bool]:
    """Tickets the query finds, by number, resident's name, phone tail, building or summary.

    Traditional characters find simplified text and the other way round: both spellings are looked for.
    """
    number = query.removeprefix("#")
    if query.startswith("#") and number.isdecimal():
        # '#12' is ticket 12 and nothing else.
        return Ticket.id == int(number) if len(number) <= TICKET_DIGITS else false()
    if not query:
        return false()
    spellings = {query, simplify(query)}
    found: list[ColumnElement[bool]] = []
    if query.isdecimal():
        if len(query) <= TICKET_DIGITS:
            found.append(Ticket.id == int(query))
        if len(query) >= PHONE_TAIL:
            found.append(Ticket.resident_id.in_(select(Resident.id).where(Resident.phone.endswith(query))))
    for words in spellings:
        residents = select(Resident.id).where(
            or_(
                Resident.name.contains(words, autoescape=True),
                Resident.building_id.in_(
                    select(Building.id).where(Building.name.contains(words, autoescape=True))
                ),
            )
        )
        found.append(Ticket.resident_id.in_(residents))
        found.append(Ticket.summary.contains(words, autoescape=True))
    return or_(*found)
