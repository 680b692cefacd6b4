"""Residents' photos and voice, served only to staff who may see their ticket."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_file
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from bot.console.pages import console, staff
from bot.console.views.tickets import MAX_ROW_ID, visible_ticket
from bot.media_store import SNIFF_BYTES, sniffed_type
from storage.db import transaction
from storage.models import InboundMessage

# A media file opened on its own runs nothing and loads nothing.
MEDIA_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


def register(blueprint: Blueprint) -> None:
    """Add the media route."""
    blueprint.add_url_rule("/media/<int:message_id>", "media", media)


def media(message_id: int) -> Response:
    """A saved photo or voice file, only for staff who may see its ticket, only as a photo or a sound."""
    me, app = staff(), console()
    with transaction(app.factory) as session:
        message = saved_media(session, message_id)
        visible_ticket(session, me, message.ticket_id)
        stored, msg_type = message.media_path, message.msg_type
    return sent_media(stored, msg_type, app.settings.delivery.media_dir)


def saved_media(session: Session, message_id: int) -> InboundMessage:
    """A message of a ticket whose photo or voice was saved; 404 for anything else."""
    if not 0 < message_id <= MAX_ROW_ID:
        abort(404)
    message = session.get(InboundMessage, message_id)
    if message is None or message.ticket_id is None or not message.media_path:
        abort(404)
    return message


def sent_media(stored: str, msg_type: str, media_dir: Path) -> Response:
    """The saved file, if it is inside the media folder, served only as a photo or a sound."""
    folder = media_dir.resolve()
    path = Path(stored).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        abort(404)
    with path.open("rb") as file:
        mimetype = sniffed_type(file.read(SNIFF_BYTES), msg_type)
    # Anything else (HTML or SVG a misbehaving media API sent) is a download, never a page of ours.
    response = send_file(
        path,
        mimetype=mimetype or "application/octet-stream",
        as_attachment=mimetype is None,
        download_name=path.name,
        max_age=0,
        conditional=True,
    )
    response.headers["Content-Security-Policy"] = MEDIA_POLICY
    return response
