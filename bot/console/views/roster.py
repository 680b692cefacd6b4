"""The staff page (人员): who looks after each grid, bringing a new worker in, and a worker leaving.

Offices (community, street) see every grid, a leader the grids they lead, read-only; a worker has no such
page. Only the community office acts, through the same domain functions as the command line: an invite
(`run.py worker invite`), whose one-time code is shown once, and a departure (`run.py worker leave`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from flask import Blueprint, abort, current_app, flash, g, redirect, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from bot.console.pages import Staff, console, page, staff
from bot.console.scope import OFFICES, visible_grids
from bot.console.views.board import overdue_condition
from bot.console.views.tickets import MAX_ROW_ID
from handlers.language.privacy import mask_name, mask_phone
from handlers.people.departures import DepartureError, leave
from handlers.people.invites import InviteError, create_invite, grid_holders
from handlers.register.cells import parse_phone
from handlers.texts import ROLE_LABELS
from handlers.tickets.core import OPEN_STATUSES
from storage.db import transaction
from storage.models import (
    AuditEvent,
    ConsoleSession,
    Grid,
    InboundMessage,
    StaffAccount,
    Ticket,
    Worker,
    WorkerInvite,
)
from storage.repositories import staff as staff_queries

log = logging.getLogger(__name__)

# Who may see the page: the offices every grid, a leader their own.
READERS = (*OFFICES, "leader")
ACTOR_ROLE = "community"
# Roles the community office brings in from the console (the street office's own are not its to make).
INVITED_ROLES = ("worker", "leader", "community")
# The session keeps the code of the invite just made, sealed, for the one page that shows it.
SHOWN_CODE = "invite_code"
# The sealed code opens only this long after the form was sent: the page right after it, not a later copy.
SHOWN_SECONDS = 600
# A departure's notice names at most this many tickets (the notice travels in the session cookie).
TICKETS_NAMED = 30
BOUND, UNBOUND = "已绑定微信", "未绑定"


def register(blueprint: Blueprint) -> None:
    """Add the staff page's routes."""
    blueprint.add_url_rule("/staff", "staff", roster)
    blueprint.add_url_rule("/staff/invite", "invite_form", invite_form)
    blueprint.add_url_rule("/staff/invite", "invite", invite, methods=["POST"])
    blueprint.add_url_rule("/staff/invites/<int:invite_id>", "invite_code", invite_code)
    blueprint.add_url_rule("/staff/<int:worker_id>/leave", "leave_form", leave_form)
    blueprint.add_url_rule("/staff/<int:worker_id>/leave", "leave", departure, methods=["POST"])
    blueprint.app_template_global("staff_tab")(staff_tab)


def staff_tab() -> bool:
    """Whether the signed-in person's navigation shows the staff page."""
    me = g.get("staff")
    return me is not None and me.role in READERS


def _reader() -> Staff:
    """The signed-in person if they may see the page; a worker is told it is not found."""
    me = staff()
    if me.role not in READERS:
        abort(404)
    return me


def _actor() -> Staff:
    """The signed-in person if they may bring people in or record them leaving (the community office)."""
    me = _reader()
    if me.role != ACTOR_ROLE:
        abort(403)
    return me


# The page


@dataclass(frozen=True)
class Person:
    """One person of a grid as the page shows them: phone masked, WeChat bound or not, their load."""

    worker_id: int
    name: str
    role: str
    phone: str
    bound: bool
    open: int
    overdue: int
    last_active: datetime | None

    @property
    def binding(self) -> str:
        """'已绑定微信' or '未绑定'."""
        return BOUND if self.bound else UNBOUND


@dataclass(frozen=True)
class GridRow:
    """One grid: its worker (网格员), their backup (AB岗) and its leader (网格长); None where nobody is."""

    code: str
    name: str
    worker: Person | None
    backup: Person | None
    leader: Person | None


def roster() -> str:
    """Every grid in the person's view with who looks after it, and invites waiting to be bound."""
    me, app = _reader(), console()
    now = app.clock()
    with transaction(app.factory) as db:
        grids = _grids(db, me)
        return page(
            "staff.html",
            rows=_rows(db, grids, now),
            waiting=_waiting_invites(db, now) if me.scope.everything else [],
            grid_names={grid.code: grid.name for grid in grids},
            may_act=me.role == ACTOR_ROLE,
            me_id=me.worker_id,
            roles=ROLE_LABELS,
        )


def _grids(db: Session, me: Staff) -> list[Grid]:
    """The grids in view, their people loaded."""
    grids = visible_grids(db, me.scope)
    ids = [grid.id for grid in grids]
    query = select(Grid).where(Grid.id.in_(ids)).order_by(Grid.code)
    loads = (selectinload(Grid.worker).selectinload(Worker.backup), selectinload(Grid.leader))
    return list(db.scalars(query.options(*loads)))


def _rows(db: Session, grids: list[Grid], now: datetime) -> list[GridRow]:
    """The page's rows; people who left are not shown."""
    serving = [
        person
        for grid in grids
        for person in (grid.worker, grid.worker.backup if grid.worker else None, grid.leader)
        if person is not None and person.left_at is None
    ]
    people = _people(db, {person.id: person for person in serving}, now)
    rows = []
    for grid in grids:
        worker = people.get(grid.worker_id) if grid.worker_id else None
        backup_id = grid.worker.backup_id if grid.worker is not None and worker is not None else None
        backup = people.get(backup_id) if backup_id else None
        leader = people.get(grid.leader_id) if grid.leader_id else None
        rows.append(GridRow(grid.code, grid.name, worker, backup, leader))
    return rows


def _people(db: Session, workers: dict[int, Worker], now: datetime) -> dict[int, Person]:
    """Each worker as a Person: open and overdue tickets, last message or console sign-in."""
    ids = list(workers)
    open_query = select(Ticket.assignee_id, func.count()).where(
        Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES)
    )
    held = dict(db.execute(open_query.group_by(Ticket.assignee_id)).all())
    late = dict(db.execute(open_query.where(overdue_condition(now)).group_by(Ticket.assignee_id)).all())
    active = _last_active(db, workers)
    return {
        worker.id: Person(
            worker_id=worker.id,
            name=worker.name,
            role=worker.role,
            phone=mask_phone(worker.phone) if worker.phone else "",
            bound=worker.openid is not None,
            open=held.get(worker.id, 0),
            overdue=late.get(worker.id, 0),
            last_active=active.get(worker.id),
        )
        for worker in workers.values()
    }


def _last_active(db: Session, workers: dict[int, Worker]) -> dict[int, datetime]:
    """When each worker last wrote to the Official Account or signed in to the console, the later."""
    by_openid = {worker.openid: worker.id for worker in workers.values() if worker.openid}
    moments: list[tuple[int, datetime | None]] = []
    messages = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(InboundMessage.openid.in_(list(by_openid)))
        .group_by(InboundMessage.openid)
    )
    moments += [(by_openid[openid], at) for openid, at in db.execute(messages)]
    signins = select(StaffAccount.worker_id, StaffAccount.last_signin_at).where(
        StaffAccount.worker_id.in_(list(workers))
    )
    moments += list(db.execute(signins).all())
    # Push links open sessions without a password sign-in.
    sessions = (
        select(ConsoleSession.worker_id, func.max(ConsoleSession.created_at))
        .where(ConsoleSession.worker_id.in_(list(workers)))
        .group_by(ConsoleSession.worker_id)
    )
    moments += list(db.execute(sessions).all())
    latest: dict[int, datetime] = {}
    for worker_id, at in moments:
        if at is not None and (worker_id not in latest or at > latest[worker_id]):
            latest[worker_id] = at
    return latest


def _waiting_invites(db: Session, now: datetime) -> list[WorkerInvite]:
    """Invites still waiting for their "绑定" message, newest first."""
    query = select(WorkerInvite).where(WorkerInvite.used_at.is_(None), WorkerInvite.expires_at > now)
    return list(db.scalars(query.order_by(WorkerInvite.created_at.desc(), WorkerInvite.id.desc())))


# Bringing a new worker in


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
    _actor()
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
    me, app = _actor(), console()
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
            _audit(db, now, me, "console_invite", f"invite #{invite_id}", detail)
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
    _actor()
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


# A worker leaving


def leave_form(worker_id: int) -> str:
    """What leaving will pass on, a successor to choose (optional), and the button to confirm."""
    me, app = _actor(), console()
    with transaction(app.factory) as db:
        worker = _leaving(db, me, worker_id)
        return page(
            "staff_leave.html",
            worker=worker,
            role=ROLE_LABELS.get(worker.role, worker.role),
            grids=staff_queries.grids_of(db, worker.id),
            backed_up=staff_queries.backed_up_by(db, worker.id),
            tickets=_open_count(db, worker.id),
            successors=_successors(db, worker),
        )


def departure(worker_id: int) -> Response:
    """Record the worker leaving, as `worker leave` does, and say what went to whom."""
    me, app = _actor(), console()
    now = app.clock()
    try:
        with transaction(app.factory) as db:
            worker = _leaving(db, me, worker_id)
            successor = _chosen_successor(db, worker)
            name, successor_name = worker.name, successor.name if successor is not None else None
            covered = [
                (colleague.name, successor is not None and colleague.id != successor.id)
                for colleague in staff_queries.backed_up_by(db, worker.id)
            ]
            done = leave(app.services(db), worker, successor)
            grid_names = {grid.code: grid.name for grid in staff_queries.grids_by_code(db, done.grids)}
            detail = (
                f"grids {','.join(done.grids) or '-'}; tickets {len(done.tickets)}; "
                f"successor {f'worker #{successor.id}' if successor else '-'}"
            )
            _audit(db, now, me, "console_leave", f"worker #{worker_id}", detail)
    except DepartureError:
        flash("所选的接替人员不合适,请重新选择。", "refused")
        return redirect(url_for("console.leave_form", worker_id=worker_id))
    log.info("console: %s recorded worker %s leaving", mask_name(me.name), worker_id)
    lines = [f"{name}已离岗:微信已解绑,今后不再向其推送。"]
    grids = "、".join(grid_names.get(code, code) for code in done.grids)
    if grids:
        after = f"已交给{successor_name}" if successor_name else "暂无人负责,请尽快安排"
        lines.append(f"网格{grids}{after}。")
    # leave() makes the successor everyone's backup, but not their own.
    if moved := [colleague for colleague, passed in covered if passed]:
        lines.append(f"{'、'.join(moved)}的AB岗改由{successor_name}担任。")
    if dropped := [colleague for colleague, passed in covered if not passed]:
        lines.append(f"{'、'.join(dropped)}暂无AB岗,请重新安排。")
    lines += _ticket_lines(done.tickets)
    if done.pushes_cancelled:
        lines.append(f"未发出的推送{done.pushes_cancelled}条已取消。")
    if done.console_closed:
        lines.append("其控制台账号已停用。")
    flash("\n".join(lines), "done")
    return redirect(url_for("console.staff"))


def _leaving(db: Session, me: Staff, worker_id: int) -> Worker:
    """The serving person to record leaving: not oneself, nor the street office's staff."""
    worker = db.get(Worker, worker_id) if 0 < worker_id <= MAX_ROW_ID else None
    if worker is None or worker.left_at is not None or worker.role == "street":
        abort(404)
    if worker.id == me.worker_id:
        abort(403)
    return worker


def _successors(db: Session, worker: Worker) -> list[Worker]:
    """Who can take over: serving people of the same role."""
    return [other for other in staff_queries.serving_by_role(db, worker.role) if other.id != worker.id]


def _chosen_successor(db: Session, worker: Worker) -> Worker | None:
    """The successor picked in the form (None: nobody, the ladder covers the grids); DepartureError for
    someone the form never offered."""
    given = request.form.get("successor", "").strip()
    if not given:
        return None
    chosen = {str(other.id): other for other in _successors(db, worker)}.get(given)
    if chosen is None:
        raise DepartureError(f"no serving {worker.role} with id {given!r}")
    return chosen


def _open_count(db: Session, worker_id: int) -> int:
    query = select(func.count()).where(Ticket.assignee_id == worker_id, Ticket.status.in_(OPEN_STATUSES))
    return db.scalar(query) or 0


def _ticket_lines(tickets: dict[int, str | None]) -> list[str]:
    """'工单 #3、#5 已转给赵建国。', one line per new holder; tickets nobody could take are named first."""
    by_holder: dict[str | None, list[int]] = {}
    for number, holder in tickets.items():
        by_holder.setdefault(holder, []).append(number)
    lines = []
    for holder, numbers in sorted(by_holder.items(), key=lambda item: item[0] is not None):
        shown = "、".join(f"#{number}" for number in numbers[:TICKETS_NAMED])
        more = f"等{len(numbers)}张" if len(numbers) > TICKETS_NAMED else ""
        if holder is None:
            lines.append(f"工单{shown}{more}暂无在岗人员接手,请手动转派。")
        else:
            lines.append(f"工单{shown}{more}已转给{holder}。")
    return lines


def _audit(db: Session, now: datetime, me: Staff, action: str, subject: str, detail: str) -> None:
    """Who in the console did it, to which row, by ids only."""
    event = AuditEvent(action=action, actor=f"console worker #{me.worker_id}", subject=subject, detail=detail)
    event.created_at = now
    db.add(event)
