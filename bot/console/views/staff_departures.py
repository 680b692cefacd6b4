"""A worker leaving, recorded from the staff page as `run.py worker leave` does, saying what went to whom."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from bot.console.pages import Staff, console, page
from bot.console.views.roster import actor, audit
from bot.console.views.tickets import MAX_ROW_ID
from handlers.language.privacy import mask_name
from handlers.people.departures import DepartureError, leave
from handlers.texts import ROLE_LABELS
from handlers.tickets.core import OPEN_STATUSES
from storage.db import transaction
from storage.models import Worker
from storage.repositories import staff as staff_queries
from storage.repositories import tickets as ticket_queries

log = logging.getLogger(__name__)

# A departure's notice names at most this many tickets (the notice travels in the session cookie).
TICKETS_NAMED = 30


def register(blueprint: Blueprint) -> None:
    """Add the departure's routes."""
    blueprint.add_url_rule("/staff/<int:worker_id>/leave", "leave_form", leave_form)
    blueprint.add_url_rule("/staff/<int:worker_id>/leave", "leave", departure, methods=["POST"])


def leave_form(worker_id: int) -> str:
    """What leaving will pass on, a successor to choose (optional), and the button to confirm."""
    me, app = actor(), console()
    with transaction(app.factory) as db:
        worker = _leaving(db, me, worker_id)
        return page(
            "staff_leave.html",
            worker=worker,
            role=ROLE_LABELS.get(worker.role, worker.role),
            grids=staff_queries.grids_of(db, worker.id),
            backed_up=staff_queries.backed_up_by(db, worker.id),
            tickets=len(ticket_queries.held_by(db, worker.id, OPEN_STATUSES)),  # what leave() passes on
            successors=_successors(db, worker),
        )


def departure(worker_id: int) -> Response:
    """Record the worker leaving, as `worker leave` does, and say what went to whom."""
    me, app = actor(), console()
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
            audit(db, now, me, "console_leave", f"worker #{worker_id}", detail)
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
