"""An elder's family QR code from the check-in board: a one-time family code and WeChat's QR code for it.

The same path as `run.py wechat family-qr` (bot/qrcodes.py:issue_family_qr): the code is issued for an
elder in the person's grids, WeChat is asked for a temporary QR code carrying it, and a refusal
withdraws the code. The page shows the code and the QR code as an image this console serves.
"""

from __future__ import annotations

import logging

import requests
from flask import Blueprint, abort, session
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException
from werkzeug.wrappers import Response

from bot.console.pages import console, page, staff
from bot.console.views.tickets import MAX_ROW_ID
from bot.qrcodes import issue_family_qr, png_bytes
from bot.tokens import TokenUnavailable
from bot.wechat_api import official_account_client
from handlers.people.family_codes import CODE_HOURS, FollowerError
from storage.db import transaction
from storage.erasure import is_forgotten_openid
from storage.models import Resident

log = logging.getLogger(__name__)
# The session keeps WeChat's URL of the last QR code this person made, for the image route.
SESSION_KEY = "family_qr"
# On a screen, 8 pixels a module is about 4 cm wide: a phone held to it scans at once.
SCREEN_SCALE = 8
LIVE_ONLY = "生成家属二维码需要正式公众号。也可以在微信里发“家属码 地址”,把家属码告诉家属。"
WECHAT_REFUSED = "微信暂时没能生成二维码,家属码已作废,请稍后再试。"


def register(blueprint: Blueprint) -> None:
    """Add the family QR routes."""
    blueprint.add_url_rule(
        "/residents/<int:resident_id>/family-qr", "family_qr", make_family_qr, methods=["POST"]
    )
    blueprint.add_url_rule("/residents/<int:resident_id>/family-qr.png", "family_qr_png", family_qr_png)


def make_family_qr(resident_id: int) -> str:
    """Issue a one-time family code for an elder in the person's grids and show it with its QR code."""
    me, app = staff(), console()
    with transaction(app.factory) as db:
        name = _visible_elder(db, resident_id).name or "这位居民"
    if app.settings.sandbox:
        return page("family_qr.html", elder=name, refused=LIVE_ONLY)
    client = official_account_client(app.settings, app.factory)
    try:
        issued = issue_family_qr(
            client,
            app.factory,
            app.clock(),
            lambda db: _visible_elder(db, resident_id),
            me.name,
            CODE_HOURS,
        )
    except FollowerError as exc:
        return page("family_qr.html", elder=name, refused=str(exc))
    except (WeChatClientException, requests.RequestException, TokenUnavailable) as exc:
        log.warning("family QR code for resident %s: WeChat refused: %s", resident_id, exc)
        return page("family_qr.html", elder=name, refused=WECHAT_REFUSED)
    session[SESSION_KEY] = {"resident_id": resident_id, "url": issued.url}
    return page("family_qr.html", elder=name, code=issued.code, hours=CODE_HOURS, resident_id=resident_id)


def family_qr_png(resident_id: int) -> Response:
    """The QR code this person made last for this elder, as a PNG; 404 for anything else."""
    app = console()
    made = session.get(SESSION_KEY) or {}
    if made.get("resident_id") != resident_id or not made.get("url"):
        abort(404)
    with transaction(app.factory) as db:
        _visible_elder(db, resident_id)  # still in the person's grids
    return Response(png_bytes(made["url"], SCREEN_SCALE), mimetype="image/png")


def _visible_elder(db: Session, resident_id: int) -> Resident:
    """The resident, if the signed-in person's grids include them; else 404 (nothing said of others)."""
    if not 0 < resident_id <= MAX_ROW_ID:
        abort(404)
    resident = db.get(Resident, resident_id)
    grid_id = resident.building.grid_id if resident is not None and resident.building else None
    # A forgotten resident's tombstone keeps dated check-ins for the reports, and no family.
    if resident is None or is_forgotten_openid(resident.openid) or not staff().scope.sees_grid(grid_id):
        abort(404)
    return resident
