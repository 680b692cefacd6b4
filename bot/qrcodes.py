"""One permanent QR code per building (qrcode/create, QR_LIMIT_STR_SCENE), rendered as a printable PNG;
and temporary ones (QR_STR_SCENE) that carry an elder's one-time family code (`wechat family-qr`).

A resident who scans a building's code follows the Official Account (or, already following, just
scans) and is placed in that building at once (handlers/messages/binding.py:handle_building_scan). The scene
is "building:<name>", so the codes survive a rebuilt database; renaming a building needs new codes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import segno
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.wechat_api import OfficialAccountClient, call_with_fresh_token
from handlers.messages.binding import building_scene
from handlers.people.family_codes import family_scene, hash_code, issue_family_code
from storage.db import transaction
from storage.models import FamilyCode, Resident

# Printed at 300 dpi, 20 pixels a module make a code about 8 cm wide: easy to scan on a notice board.
SCALE, DPI = 20, 300
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class BuildingCode:
    """A building's QR code: the scene it carries, WeChat's URL for it, and the PNG written."""

    building: str
    scene: str
    url: str
    path: Path


def create_building_codes(
    client: OfficialAccountClient, buildings: Iterable[str], out_dir: Path
) -> Iterator[BuildingCode]:
    """Ask WeChat for each building's permanent code and write `<building>.png` into out_dir, one by one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in buildings:
        yield create_building_code(client, name, out_dir)


def create_building_code(client: OfficialAccountClient, building: str, out_dir: Path) -> BuildingCode:
    """One building's code; any code carrying the building's scene, old or new, places residents there."""
    scene = building_scene(building)
    request = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
    answer = call_with_fresh_token(client, lambda: client.qrcode.create(request))
    path = out_dir / f"{file_stem(building)}.png"
    render_png(answer["url"], path)
    return BuildingCode(building, scene, answer["url"], path)


@dataclass(frozen=True)
class FamilyQr:
    """An elder's one-time family code, WeChat's URL for the QR code carrying it, and whose it is."""

    code: str
    url: str
    elder_name: str | None


def issue_family_qr(
    client: OfficialAccountClient,
    factory: sessionmaker[Session],
    now: datetime,
    find_elder: Callable[[Session], Resident],
    issued_by: str,
    hours: int,
    relation: str | None = None,
) -> FamilyQr:
    """A fresh family code for the elder `find_elder` returns, and its temporary QR code from WeChat.

    If WeChat refuses (or cannot be reached), the code is withdrawn: nobody holds a code without its QR.
    The same path for `run.py wechat family-qr` and the console's 家属二维码 button.
    """
    with transaction(factory) as session:
        elder = find_elder(session)
        code = issue_family_code(session, now, elder, issued_by, hours, relation)
        name = elder.name
    try:
        # Outside the transaction: the access token is shared through the database.
        url = family_qr_url(client, family_scene(code), hours)
    except BaseException:
        with transaction(factory) as session:
            session.execute(delete(FamilyCode).where(FamilyCode.code_hash == hash_code(code)))
        raise
    return FamilyQr(code, url, name)


def family_qr_url(client: OfficialAccountClient, scene: str, hours: int) -> str:
    """A temporary code (QR_STR_SCENE) carrying a family code, valid as long as the code; its URL."""
    request = {
        "action_name": "QR_STR_SCENE",
        "expire_seconds": hours * 3600,
        "action_info": {"scene": {"scene_str": scene}},
    }
    answer = call_with_fresh_token(client, lambda: client.qrcode.create(request))
    return answer["url"]


def render_png(url: str, path: Path) -> None:
    """The URL as a QR code PNG (high error correction: posters get dirty and creased)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(url))


def png_bytes(url: str, scale: int = SCALE) -> bytes:
    """The URL as a QR code PNG, in memory."""
    out = io.BytesIO()
    segno.make_qr(url, error="h", boost_error=False).save(out, kind="png", scale=scale, dpi=DPI)
    return out.getvalue()


def file_stem(building: str) -> str:
    """The building's name, safe as a file name on any system."""
    return _UNSAFE.sub("_", building).strip(" .") or "building"
