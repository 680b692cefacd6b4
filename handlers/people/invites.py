"""One-time binding codes: the only way anyone becomes a worker on WeChat."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.texts import ROLE_LABELS
from storage.codes import hash_code
from storage.models import AuditEvent, Grid, Worker, WorkerInvite
from storage.repositories import audit, pushes, staff

ROLES = tuple(ROLE_LABELS)
# No 0/O or 1/I: codes are read aloud and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
INVITE_MESSAGE = re.compile(rf"^(?:绑定|綁定)\s*([A-Za-z2-9]{{{CODE_LENGTH}}})$")
INVALID_CODE = "绑定码无效、已使用或已过期。请向社区工作人员索取新的绑定码。"
# The audit line `worker invite --replace` leaves: the office knowingly hands the grids over.
REPLACE_ACTION = "invite_replace"
OFFICE = "社区"
SLOTS = {"worker": "grid worker", "leader": "grid leader"}
# What binding does once the newcomer holds a grid someone else held (handlers/departures.take_over):
# (services, grid, the one replaced, the newcomer) -> lines for the newcomer's reply.
TakeOver = Callable[[Services, Grid, Worker, Worker], list[str]]


# Longest name the register keeps (workers.name).
NAME_CHARS = 50


class InviteError(ValueError):
    """An invite cannot be made as asked; the message says why (for the command line), `said` in the
    console's words."""

    def __init__(self, message: str, said: str = "无法生成绑定码,请核对填写的内容。") -> None:
        super().__init__(message)
        self.said = said


@dataclass(frozen=True)
class NewInvite:
    """An invite just made, and its code: the only time the code exists, as the database keeps its hash."""

    invite: WorkerInvite
    code: str = field(repr=False)  # logging or printing the object never shows it


def invite_code_in(text: str) -> str | None:
    """The code in "绑定 <code>", upper-cased, or None."""
    match = INVITE_MESSAGE.match(text.strip())
    return match.group(1).upper() if match else None


def create_invite(
    session: Session,
    now: datetime,
    *,
    name: str,
    role: str = "worker",
    grid_codes: tuple[str, ...] = (),
    backup: str | None = None,
    phone: str | None = None,
    hours: int = 24,
    new_wechat: bool = False,
    replace: bool = False,
) -> NewInvite:
    """Check the invite against the register and store it with a fresh random code (only its hash).

    With new_wechat the code moves a bound worker to another WeChat, keeping their grids and tickets.
    A grid that already has a worker (or, for a leader, a leader) is taken over only with replace.
    """
    _check_name(name)
    if role not in ROLES:
        raise InviteError(f"role must be one of {', '.join(ROLES)}", "请选择人员的岗位。")
    if replace and not grid_codes:
        raise InviteError("--replace goes with the --grid to take over", "接替现有人员时请选择要接替的网格。")
    moving = _moving_worker(session, name, role, grid_codes) if new_wechat else None
    if moving is None:
        _check_new_binding(session, name, role, grid_codes)
    for code in grid_codes:
        if staff.grid_id(session, code) is None:
            raise InviteError(f"no grid with code {code!r}", "没有找到所选的网格,请刷新页面后重新选择。")
    held = grid_holders(session, name, role, grid_codes)
    if held and not replace:
        raise InviteError(
            f"{_describe_held(held, role)}; add --replace to hand it to {name}",
            f"{_said_held(held, role)}。如确需由{name}接替,请勾选“接替现有人员”。",
        )
    backup_worker = find_worker(session, backup) if backup else None
    if backup and backup_worker is None:
        raise InviteError(f"no worker named {backup!r} for the backup", f"没有找到在职的AB岗人员“{backup}”。")
    code = _new_code(session)
    invite = WorkerInvite(
        code_hash=hash_code(code),
        name=name,
        role=role,
        phone=phone,
        grid_codes=",".join(grid_codes),
        backup_id=backup_worker.id if backup_worker else None,
        worker_id=moving.id if moving is not None else None,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(invite)
    session.flush()
    if replace:
        detail = ", ".join(f"{grid.code} {role}: worker #{holder.id}" for grid, holder in held)
        audit = AuditEvent(action=REPLACE_ACTION, actor=OFFICE, subject=f"invite #{invite.id}", detail=detail)
        audit.created_at = now
        session.add(audit)
    return NewInvite(invite, code)


def grid_holders(
    session: Session, name: str, role: str, grid_codes: tuple[str, ...]
) -> list[tuple[Grid, Worker]]:
    """The listed grids that someone else already holds in this role (worker, leader), with that person."""
    if role not in SLOTS or not grid_codes:
        return []
    held = []
    for grid in staff.grids_by_code(session, grid_codes):
        holder = grid.worker if role == "worker" else grid.leader
        # The register's own unbound entry of this name is the person being invited, not a takeover.
        if holder is not None and holder.left_at is None and (holder.name, holder.openid) != (name, None):
            held.append((grid, holder))
    return held


def _check_name(name: str) -> None:
    """A name as people write it: not blank, no line breaks or control characters, and not too long."""
    if not name.strip():
        raise InviteError("the name is empty", "请填写姓名。")
    if len(name) > NAME_CHARS:
        raise InviteError(f"the name is longer than {NAME_CHARS} characters", f"姓名最多{NAME_CHARS}个字。")
    if name != name.strip() or not name.isprintable():
        raise InviteError(
            "the name has spaces at its ends, a line break or a control character",
            "姓名里不能有换行或特殊字符,前后也不要留空格。",
        )


def _said_held(held: list[tuple[Grid, Worker]], role: str) -> str:
    """'第一网格已有网格员王芳': the console's words for grids already held."""
    return "、".join(f"{grid.name}已有{ROLE_LABELS[role]}{holder.name}" for grid, holder in held)


def _describe_held(held: list[tuple[Grid, Worker]], role: str) -> str:
    """'G1 (第一网格) already has a grid worker, 王芳': the office's tool names staff in full."""
    return "; ".join(
        f"{grid.code} ({grid.name}) already has a {SLOTS[role]}, {holder.name}" for grid, holder in held
    )


def find_worker(session: Session, name_or_openid: str) -> Worker | None:
    """A serving worker by name (as people say it) or by openid."""
    return staff.serving_by_name_or_openid(session, name_or_openid)


def _check_new_binding(session: Session, name: str, role: str, grid_codes: tuple[str, ...]) -> None:
    """A first binding: nobody of that name and role is bound yet, and the grids suit the role."""
    if _bound_worker(session, name, role) is not None:
        raise InviteError(
            f"{name} ({role}) already has a WeChat bound. The same person on a new WeChat: add --new-wechat."
            f" Someone who left: run `worker leave --name {name}` first.",
            f"{ROLE_LABELS[role]}{name}已经绑定了微信。已离岗的请先办理离岗;同名的另一位请在姓名上加以区分。",
        )
    if role == "worker" and len(grid_codes) != 1:
        raise InviteError("a grid worker needs exactly one --grid", "网格员请选择一个网格(只能选一个)。")
    if role == "leader" and not grid_codes:
        raise InviteError("a grid leader needs at least one --grid", "网格长请至少选择一个网格。")


def _moving_worker(session: Session, name: str, role: str, grid_codes: tuple[str, ...]) -> Worker:
    """The bound worker a --new-wechat code is for; they keep their grids."""
    if grid_codes:
        raise InviteError("--new-wechat keeps the worker's grids; leave out --grid")
    worker = _bound_worker(session, name, role)
    if worker is None:
        raise InviteError(f"no {role} named {name!r} has a WeChat bound; leave out --new-wechat")
    return worker


def _bound_worker(session: Session, name: str, role: str) -> Worker | None:
    """The serving worker of this name and role whose WeChat is bound, if any."""
    return staff.bound_worker(session, name, role)


def _new_code(session: Session) -> str:
    """A random code no invite has had."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not staff.invite_known(session, hash_code(code)):
            return code


def redeem_invite(services: Services, openid: str, code: str, take_over: TakeOver) -> Reply:
    """Bind the sender as the invited worker, once and before the code expires.

    A grid someone else holds by now passes to them only if the invite said --replace; take_over then
    hands it over (tickets, and telling the person replaced). Otherwise the code stays unused.
    """
    session = services.session
    invite = staff.invite_by_hash(session, hash_code(code))
    if invite is None or invite.used_at is not None or invite.expires_at <= services.now:
        return Reply(INVALID_CODE)
    if staff.worker_by_openid(session, openid) is not None:
        return Reply("您的微信已经绑定为工作人员,无需重复绑定。")
    held = grid_holders(session, invite.name, invite.role, _codes(invite))
    if held and not _replacing(session, invite):
        taken = _said_held(held, invite.role)
        return Reply(f"{taken},这个绑定码不能接替。请联系社区工作人员核实后重新领取绑定码。")
    worker = _worker_for(session, invite)
    if worker is None:
        return Reply(INVALID_CODE)
    moved = worker.openid is not None
    if moved:
        _readdress_pushes(session, worker, openid)
    worker.openid, worker.on_duty = openid, True
    _place(session, worker, invite)
    invite.used_at, invite.worker_id = services.now, worker.id
    handed = [line for grid, holder in held for line in take_over(services, grid, holder, worker)]
    where = "、".join(grid.name for grid in _grids_of(session, worker)) or "全社区"
    moved_note = "原来绑定的微信已停用,今后只推送到这里。" if moved else ""
    return Reply(
        f"绑定成功!{ROLE_LABELS[worker.role]}{worker.name},您好。您负责:{where}。{moved_note}\n"
        + "".join(f"{line}\n" for line in handed)
        + "新工单会推送到这里。回复“帮助”查看工单指令。"
    )


def _codes(invite: WorkerInvite) -> tuple[str, ...]:
    return tuple(code for code in invite.grid_codes.split(",") if code)


def _replacing(session: Session, invite: WorkerInvite) -> bool:
    """Whether the office made this invite with --replace."""
    return audit.has_event(session, REPLACE_ACTION, f"invite #{invite.id}")


def _worker_for(session: Session, invite: WorkerInvite) -> Worker | None:
    """Whom the code binds: the worker moving WeChat (None if they left since), else the register's
    unbound entry of that name, else a new worker."""
    if invite.worker_id is not None:
        moving = session.get(Worker, invite.worker_id)
        return moving if moving is not None and moving.left_at is None else None
    unbound = staff.unbound_worker(session, invite.name, invite.role)
    worker = unbound or Worker(name=invite.name, role=invite.role)
    worker.phone = invite.phone or worker.phone
    if invite.backup_id is not None:
        worker.backup_id = invite.backup_id
    session.add(worker)
    session.flush()
    return worker


def _place(session: Session, worker: Worker, invite: WorkerInvite) -> None:
    """Make the worker the grid's worker, or the leader of the listed grids."""
    for grid in staff.grids_with_codes(session, _codes(invite)):
        if worker.role == "worker":
            grid.worker = worker
        elif worker.role == "leader":
            grid.leader = worker
    session.flush()


def _grids_of(session: Session, worker: Worker) -> list[Grid]:
    return staff.grids_of(session, worker.id)


def _readdress_pushes(session: Session, worker: Worker, openid: str) -> None:
    """Pushes still waiting for the old WeChat go to the new one instead."""
    pushes.readdress_pending(session, worker.id, worker.openid, openid)
