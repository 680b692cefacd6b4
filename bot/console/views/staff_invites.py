"""Bringing a new worker in from the staff page: the invite form, and its one-time code shown once.

The code is made by the same domain function as `run.py worker invite`; the database keeps only its hash,
and between the form and the page that shows it the code rides in the session, sealed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response

from bot.console.pages import console, page
from bot.console.views.roster import actor, audit
from bot.console.views.tickets import MAX_ROW_ID
from handlers.language.privacy import mask_name
from handlers.people.invites import InviteError, create_invite, grid_holders
from handlers.register.cells import parse_phone
from handlers.texts import ROLE_LABELS
from storage.db import transaction
from storage.models import WorkerInvite
from storage.repositories import staff as staff_queries

log = logging.getLogger(__name__)

# Roles the community office brings in from the console (the street office's own are not its to make).
INVITED_ROLES = ("worker", "leader", "community")
# The session keeps the code of the invite just made, sealed, for the one page that shows it.
SHOWN_CODE = "invite_code"
# The sealed code opens only this long after the form was sent: the page right after it, not a later copy.
SHOWN_SECONDS = 600


def register(blueprint: Blueprint) -> None:
    """Add the invite form's routes."""
    blueprint.add_url_rule("/staff/invite", "invite_form", invite_form)
    blueprint.add_url_rule("/staff/invite", "invite", invite, methods=["POST"])
    blueprint.add_url_rule("/staff/invites/<int:invite_id>", "invite_code", invite_code)


@dataclass(frozen=True)
class InviteForm:
    """The invite form as sent (or empty), to fill it in again after a refusal."""

    name: str = ""
    role: str = "worker"
    grids: tuple[str, ...] = ()
    phone: str = ""
    backup: str = ""
    replace: bool = False

    @classmethod
    def sent(cls) -> InviteForm:
        """The form's fields from the request, whitespace trimmed."""
        form = request.form
        grids = tuple(dict.fromkeys(code.strip() for code in form.getlist("grid") if code.strip()))
        return cls(
            name=form.get("name", "").strip(),
            role=form.get("role", "").strip(),
            grids=grids,
            phone=form.get("phone", "").strip(),
            backup=form.get("backup", "").strip(),
            replace=form.get("replace") == "1",
        )


def invite_form() -> str:
    """The empty invite form."""
    actor()
    return _form_page(InviteForm())


def _form_page(form: InviteForm, refusal: str = "") -> str:
    """The invite form, filled in as sent, with why it was refused."""
    with transaction(console().factory) as db:
        grids = staff_queries.all_grids(db)
        backups = staff_queries.serving_by_role(db, "worker")
        return page(
            "staff_invite_form.html",
            form=form,
            refusal=refusal,
            grids=grids,
            backups=sorted({worker.name for worker in backups}),
            roles={role: ROLE_LABELS[role] for role in INVITED_ROLES},
            hours=console().settings.escalation.invite_hours,
        )


def invite() -> Response | str:
    """Make the invite as `worker invite` does; its code goes, sealed, to the page shown next."""
    me, app = actor(), console()
    form = InviteForm.sent()
    problem = _form_problem(form)
    if problem:
        return _form_page(form, problem)
    now = app.clock()
    try:
        with transaction(app.factory) as db:
            made = create_invite(
                db,
                now,
                name=form.name,
                role=form.role,
                grid_codes=form.grids,
                backup=form.backup or None,
                phone=parse_phone(form.phone) if form.phone else None,
                hours=app.settings.escalation.invite_hours,
                replace=form.replace,
            )
            invite_id = made.invite.id
            detail = f"role {form.role}; grids {','.join(form.grids) or '-'}; replace {form.replace}"
            audit(db, now, me, "console_invite", f"invite #{invite_id}", detail)
            sealed = _seal(made.code)
    except InviteError as exc:
        return _form_page(form, exc.said)
    # Neither the code nor the newcomer's name reaches the log.
    log.info("console: %s made invite %s (%s)", mask_name(me.name), invite_id, form.role)
    session[SHOWN_CODE] = {"invite": invite_id, "sealed": sealed}
    return redirect(url_for("console.invite_code", invite_id=invite_id))


def _form_problem(form: InviteForm) -> str:
    """What the form itself gets wrong before the register is asked ('' when nothing)."""
    if form.role not in INVITED_ROLES:
        return "请选择人员的岗位。"
    if form.role == "community" and form.grids:
        return "社区值班负责全社区,不用选择网格。"
    if form.phone:
        try:
            parse_phone(form.phone)
        except ValueError:
            return "手机号码格式不对,请填写11位手机号或带区号的座机号,也可以不填。"
    return ""


def invite_code(invite_id: int) -> str:
    """The invite just made, with its code the first time this page is opened, never again."""
    actor()
    if not 0 < invite_id <= MAX_ROW_ID:
        abort(404)
    shown = session.pop(SHOWN_CODE, None) or {}
    app = console()
    now = app.clock()
    with transaction(app.factory) as db:
        made = db.get(WorkerInvite, invite_id)
        if made is None:
            abort(404)
        code = _unseal(shown.get("sealed", "")) if shown.get("invite") == invite_id else None
        usable = made.used_at is None and made.expires_at > now
        grids = staff_queries.grids_by_code(db, [c for c in made.grid_codes.split(",") if c])
        takes_over = grid_holders(db, made.name, made.role, tuple(grid.code for grid in grids))
        return page(
            "staff_invite.html",
            invite=made,
            code=code if usable else None,
            usable=usable,
            grids=grids,
            takes_over=takes_over,
            role=ROLE_LABELS.get(made.role, made.role),
        )


def _fernet() -> Fernet:
    """A key of its own for sealing codes, drawn from the console's session key."""
    secret = str(current_app.secret_key or "").encode()
    digest = hashlib.sha256(b"griddesk console invite code\0" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(code: str) -> str:
    """The code encrypted: the session cookie is signed, not secret, and the database keeps only hashes."""
    return _fernet().encrypt(code.encode()).decode()


def _unseal(sealed: str) -> str | None:
    """The sealed code, if it is this console's and fresh; else None."""
    try:
        return _fernet().decrypt(sealed.encode(), ttl=SHOWN_SECONDS).decode()
    except (InvalidToken, ValueError):
        return None
