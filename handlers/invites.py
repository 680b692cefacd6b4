"""One-time binding codes: the only way anyone becomes a worker on WeChat."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.texts import ROLE_LABELS
from storage.models import Grid, Worker, WorkerInvite

ROLES = ("worker", "leader", "community", "street")
# No 0/O or 1/I: codes are read aloud and typed by hand.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
INVITE_MESSAGE = re.compile(rf"^(?:绑定|綁定)\s*([A-Za-z2-9]{{{CODE_LENGTH}}})$")
INVALID_CODE = "绑定码无效、已使用或已过期。请向社区工作人员索取新的绑定码。"


class InviteError(ValueError):
    """An invite cannot be made as asked; the message says why."""


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
) -> WorkerInvite:
    """Check the invite against the register and store it with a fresh random code."""
    if role not in ROLES:
        raise InviteError(f"role must be one of {', '.join(ROLES)}")
    if role == "worker" and len(grid_codes) != 1:
        raise InviteError("a grid worker needs exactly one --grid")
    if role == "leader" and not grid_codes:
        raise InviteError("a grid leader needs at least one --grid")
    for code in grid_codes:
        if session.scalar(select(Grid.id).where(Grid.code == code)) is None:
            raise InviteError(f"no grid with code {code!r}")
    backup_worker = find_worker(session, backup) if backup else None
    if backup and backup_worker is None:
        raise InviteError(f"no worker named {backup!r} for the backup")
    invite = WorkerInvite(
        code=_new_code(session),
        name=name,
        role=role,
        phone=phone,
        grid_codes=",".join(grid_codes),
        backup_id=backup_worker.id if backup_worker else None,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(invite)
    session.flush()
    return invite


def find_worker(session: Session, name_or_openid: str) -> Worker | None:
    """A worker by name (as people say it) or by openid."""
    query = select(Worker).where((Worker.name == name_or_openid) | (Worker.openid == name_or_openid))
    return session.scalars(query.order_by(Worker.id)).first()


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.scalar(select(WorkerInvite.id).where(WorkerInvite.code == code)) is None:
            return code


def redeem_invite(services: Services, openid: str, code: str) -> Reply:
    """Bind the sender as the invited worker, once and before the code expires."""
    session = services.session
    invite = session.scalar(select(WorkerInvite).where(WorkerInvite.code == code))
    if invite is None or invite.used_at is not None or invite.expires_at <= services.now:
        return Reply(INVALID_CODE)
    if session.scalar(select(Worker).where(Worker.openid == openid)) is not None:
        return Reply("您的微信已经绑定为工作人员,无需重复绑定。")
    worker = _worker_for(session, invite)
    worker.openid, worker.on_duty = openid, True
    grids = _place(session, worker, invite)
    invite.used_at, invite.worker_id = services.now, worker.id
    where = "、".join(grid.name for grid in grids) or "全社区"
    return Reply(
        f"绑定成功!{ROLE_LABELS[worker.role]}{worker.name},您好。您负责:{where}。\n"
        "新工单会推送到这里。回复“帮助”查看工单指令。"
    )


def _worker_for(session: Session, invite: WorkerInvite) -> Worker:
    """The register's entry for this person if it has no WeChat yet, else a new one."""
    query = select(Worker).where(
        Worker.name == invite.name, Worker.role == invite.role, Worker.openid.is_(None)
    )
    worker = session.scalars(query).first() or Worker(name=invite.name, role=invite.role)
    worker.phone = invite.phone or worker.phone
    if invite.backup_id is not None:
        worker.backup_id = invite.backup_id
    session.add(worker)
    session.flush()
    return worker


def _place(session: Session, worker: Worker, invite: WorkerInvite) -> list[Grid]:
    """Make the worker the grid's worker, or the leader of the listed grids."""
    codes = [code for code in invite.grid_codes.split(",") if code]
    grids = list(session.scalars(select(Grid).where(Grid.code.in_(codes)).order_by(Grid.code)))
    for grid in grids:
        if worker.role == "worker":
            grid.worker = worker
        elif worker.role == "leader":
            grid.leader = worker
    return grids
