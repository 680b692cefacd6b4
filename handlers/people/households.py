"""Finding a household from what a worker typed: an address, a room number or a name, in their grids."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.language.normalize import normalize
from handlers.messages.binding import parse_address
from storage.models import Resident, Worker
from storage.repositories import residents

# Households listed when what was typed matches several.
LISTED = 5


def one_household(session: Session, worker: Worker, target: str, example: str) -> Resident | str:
    """The one household `target` names in the worker's grids, or what to tell the worker instead."""
    matches = households_matching(session, worker, target)
    if not matches:
        return f"在您负责的网格里没有找到“{target}”,请写完整地址,例如“{example}”。"
    if len(matches) > 1:
        listed = "\n".join(f"{r.name or '未登记姓名'} {r.address}" for r in matches[:LISTED])
        return f"“{target}”对应多户,请写完整地址:\n{listed}"
    return matches[0]


def households_matching(session: Session, worker: Worker, target: str) -> list[Resident]:
    """Residents in the worker's grids matching an address, a room number or a name."""
    # Offices see every building; workers and leaders the buildings of the grids they look after.
    everywhere = worker.role in ("community", "street")
    text = normalize(target)
    address = parse_address(text)
    if address is not None:
        return residents.households(
            session,
            worker,
            all_buildings=everywhere,
            building=address.building,
            unit=address.unit,
            room=address.room,
        )
    if text.isdigit():
        return residents.households(session, worker, all_buildings=everywhere, room=text)
    return residents.households(session, worker, all_buildings=everywhere, name=target.strip())
