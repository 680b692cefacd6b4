"""POST requests: a client's report becomes a real ticket through open_ticket, routed like any other.

The person reporting is not a WeChat user. Each request gets its own Resident row with a synthetic openid
(`open311:<uuid>`, like the register's `register:<uuid>` placeholders), marked unsubscribed so no push is
ever attempted to it, and it is not left in any building: it is no household (no visits, no check-ins,
not in the register). The building found in the address routes the ticket to that building's grid; the
request itself (location, media_url, contact fields, the client) is kept as an inbound message of type
`open311`, linked to the ticket.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.open311.catalog import Catalog, Service
from bot.open311.formats import Open311Error
from bot.open311.reading import FILED_TYPE, agency
from handlers.context import Services
from handlers.language.normalize import int_from_text, simplify
from handlers.language.privacy import mask_name, mask_phone
from handlers.register.entries import OPEN311_PREFIX
from handlers.texts import local_time
from handlers.tickets.core import open_ticket
from storage.models import Building, InboundMessage, Resident, Ticket

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
MAX_ADDRESS = 200
# Contact and device fields kept with the request for staff; api_key never is.
KEPT_FIELDS = (
    "service_code", "lat", "long", "address_string", "address_id", "email", "device_id",
    "account_id", "first_name", "last_name", "phone", "description", "media_url",
)  # fmt: skip
_NUMBER = r"[0-9零一二两三四五六七八九十]+"
_BUILDING = re.compile(rf"(?P<number>{_NUMBER})(?:号楼|号|栋|幢|楼)")
_PHONE = re.compile(r"[0-9+()\- ]{3,30}")
EMERGENCY_NOTICE = "如遇危险,请立即拨打120(急救)、119(火警)、110(报警)。"


@dataclass(frozen=True)
class Location:
    """Where the client says the problem is: coordinates, an address, or one of our building names."""

    lat: float | None
    long: float | None
    address_string: str | None
    address_id: str | None

    def described(self, building: Building | None) -> str:
        """The location as a worker reads it in the ticket."""
        if self.address_string:
            return self.address_string
        if building is not None:
            return building.name
        return f"坐标 {self.lat:.5f},{self.long:.5f}"


@dataclass(frozen=True)
class Filed:
    """What POST requests answers: the new ticket's number and what the client's user is told."""

    ticket_id: int
    notice: str


def file_request(services: Services, catalog: Catalog, client: str, form: Mapping[str, str]) -> Filed:
    """Check the request, store it, and open its ticket (assigned and pushed) in the caller's transaction."""
    service = _service(catalog, form)
    location = _location(form)
    description = _description(form)
    building = _building(services.session, location)
    requester, message = _store(services, client, form, location, description, building)
    ticket = open_ticket(
        services.caused_by(message.id),
        requester,
        service.category,
        f"{description or service.name}(地点:{location.described(building)})",
        kind=service.kind,
        message_id=message.id,
        actor=f"{OPEN311_PREFIX}{client}",
    )
    # The building routed the ticket; the requester is no household of it (visits, register, reports).
    requester.building = None
    notice = _notice(services, ticket, building, description)
    message.ticket_id, message.reply = ticket.id, notice
    log.info(
        "open311 client %s filed ticket #%s (%s) for %s %s",
        client, ticket.id, service.code, mask_name(requester.name), mask_phone(requester.phone),
    )  # fmt: skip
    return Filed(ticket.id, notice)


def _store(
    services: Services,
    client: str,
    form: Mapping[str, str],
    location: Location,
    description: str | None,
    building: Building | None,
) -> tuple[Resident, InboundMessage]:
    """The requester (a synthetic resident) and the request as sent, less the api_key."""
    token = uuid.uuid4().hex
    requester = Resident(
        openid=f"{OPEN311_PREFIX}{token}",
        name=_requester_name(form),
        phone=_phone(form),
        building=building,
        subscribed=False,
        created_at=services.now,
    )
    record = {
        "client": client,
        "fields": {key: form[key] for key in KEPT_FIELDS if form.get(key)},
        "building": building.name if building else None,
        "media_url": _media_url(form),
    }
    message = InboundMessage(
        dedup_key=f"{OPEN311_PREFIX}{token}",
        openid=requester.openid,
        msg_type=FILED_TYPE,
        content=description,
        latitude=location.lat,
        longitude=location.long,
        label=location.address_string,
        raw=json.dumps(record, ensure_ascii=False),
        received_at=services.now,
    )
    services.session.add_all([requester, message])
    services.session.flush()
    return requester, message


def _service(catalog: Catalog, form: Mapping[str, str]) -> Service:
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "缺少 service_code")
    service = catalog.get(code)
    if service is None:
        raise Open311Error(404, f"service_code 不存在:{code}")
    return service


def _location(form: Mapping[str, str]) -> Location:
    """lat and long, or address_string, or address_id: at least one, as the spec requires."""
    lat_text, long_text = form.get("lat", "").strip(), form.get("long", "").strip()
    address = " ".join(form.get("address_string", "").split()) or None
    address_id = form.get("address_id", "").strip() or None
    if bool(lat_text) != bool(long_text):
        raise Open311Error(400, "lat 和 long 需要同时提供")
    lat = _coordinate(lat_text, "lat", 90.0) if lat_text else None
    long = _coordinate(long_text, "long", 180.0) if long_text else None
    if lat is None and address is None and address_id is None:
        raise Open311Error(400, "需要位置:lat 和 long,或 address_string,或 address_id")
    if address is not None and len(address) > MAX_ADDRESS:
        raise Open311Error(400, f"address_string 不能超过 {MAX_ADDRESS} 个字")
    return Location(lat, long, address, address_id)


def _coordinate(text: str, name: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 应为数字(WGS84)") from exc
    if not math.isfinite(value) or abs(value) > limit:
        raise Open311Error(400, f"{name} 超出范围")
    return value


def _description(form: Mapping[str, str]) -> str | None:
    text = form.get("description", "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description 不能超过 {MAX_DESCRIPTION} 个字")
    return text or None


def _media_url(form: Mapping[str, str]) -> str | None:
    url = form.get("media_url", "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise Open311Error(400, "media_url 应为 http(s) 地址")
    return url


def _requester_name(form: Mapping[str, str]) -> str | None:
    """Family name first for Chinese names ('张' + '三'), given name first for Latin ones."""
    first, last = form.get("first_name", "").strip(), form.get("last_name", "").strip()
    name = f"{first} {last}".strip() if (first + last).isascii() else f"{last}{first}"
    return name[:50] or None


def _phone(form: Mapping[str, str]) -> str | None:
    phone = form.get("phone", "").strip()
    if phone and not _PHONE.fullmatch(phone):
        raise Open311Error(400, "phone 格式不对")
    return phone or None


def _building(session: Session, location: Location) -> Building | None:
    """address_id names one of our buildings; else the first building named in address_string."""
    if location.address_id is not None:
        building = _building_named(session, location.address_id)
        if building is None:
            raise Open311Error(400, f"address_id 不是本社区的楼栋:{location.address_id}")
        return building
    if location.address_string is None:
        return None
    return building_in(session, location.address_string)


def building_in(session: Session, address: str) -> Building | None:
    """'北京市朝阳区幸福里社区三号楼2单元301' -> 3号楼, read the way binding reads '绑定 三号楼...'."""
    compact = "".join(simplify(address).split())
    for match in _BUILDING.finditer(compact):
        building = _building_named(session, f"{int_from_text(match.group('number'))}号楼")
        if building is not None:
            return building
    # Buildings not named by a number ('东区A座') are found by their name as written.
    others = [b for b in session.scalars(select(Building)) if not _BUILDING.fullmatch(b.name)]
    return next((b for b in sorted(others, key=lambda b: -len(b.name)) if b.name in compact), None)


def _building_named(session: Session, name: str) -> Building | None:
    return session.scalar(select(Building).where(Building.name == name))


def _notice(services: Services, ticket: Ticket, building: Building | None, text: str | None) -> str:
    """Who handles it and by when; where the building was not found, that the duty desk places it."""
    due = local_time(ticket.resolve_due_at, services.settings.timezone)
    lines = [f"已受理,由{agency(ticket, services.settings.community_name)}办理,预计{due}前办结。"]
    if building is None:
        lines.append("未能从地址确定楼栋,已转社区值班台分派。")
    if text and services.classifier.classify(text).category == "emergency":
        lines.append(EMERGENCY_NOTICE)
    return "".join(lines)
