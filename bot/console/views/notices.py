"""Notices to buildings (停水, 停电, 电梯检修): write one, list those in force, read one's deliveries, end it.

Writing only stores the notice; the delivery job (bot/notice_delivery.py) tells the residents, so a
building of 300 households never waits on the request. Staff write for the buildings of the grids they
see (bot/console/scope.py): a worker their grids, a leader the grids they lead, offices every building.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from bot.console.pages import console, page, staff
from bot.console.scope import Scope
from handlers.language.privacy import mask_name
from handlers.notices.delivery import delivery_counts, to_post
from handlers.notices.writing import (
    KINDS,
    TEXT_CHARS,
    TITLES,
    Draft,
    current_notices,
    end_notice,
    places,
    refusal,
    when_text,
    write_notice,
)
from storage.db import transaction
from storage.models import Building, Grid, Notice

log = logging.getLogger(__name__)

# A notice's row id from the URL; larger is no notice (32-bit ids on PostgreSQL).
MAX_ROW_ID = 2**31 - 1
FORM_TIME = "%Y-%m-%dT%H:%M"
# The form's default: from now, for this long.
DEFAULT_HOURS = 4


def register(blueprint: Blueprint) -> None:
    """Add the notice routes."""
    blueprint.add_url_rule("/notices", "notices", notices)
    blueprint.add_url_rule("/notices", "write_notice", write, methods=["POST"])
    blueprint.add_url_rule("/notices/<int:notice_id>", "notice", notice_page)
    blueprint.add_url_rule("/notices/<int:notice_id>/end", "end_notice", end, methods=["POST"])


def buildings_in_scope(session: Session, scope: Scope) -> list[Building]:
    """The buildings of the grids a person sees, by grid and name, grids loaded."""
    query = select(Building).join(Grid).options(selectinload(Building.grid))
    query = query.order_by(Grid.code, Building.name)
    if scope.grid_ids is not None:
        query = query.where(Building.grid_id.in_(scope.grid_ids))
    return list(session.scalars(query))


def notices_in_scope(session: Session, scope: Scope, now: datetime) -> list[Notice]:
    """Notices in force or still to come for any building the person sees."""
    if scope.everything:
        return current_notices(session, now)
    return current_notices(session, now, [b.id for b in buildings_in_scope(session, scope)])


def notices() -> str:
    """Notices in force and to come, and the form to write one."""
    me, app = staff(), console()
    now = app.clock()
    with transaction(app.factory) as session:
        buildings = buildings_in_scope(session, me.scope)
        return page(
            "notices.html",
            notices=notices_in_scope(session, me.scope, now),
            grids=_by_grid(buildings),
            kinds=KINDS,
            titles=TITLES,
            now=now,
            text_chars=TEXT_CHARS,
            defaults=_form_defaults(now),
            when=lambda n: when_text(n, app.settings.timezone),
            places=places,
        )


def write() -> Response:
    """Store a notice from the form; refusals say what to fix."""
    me, app = staff(), console()
    now = app.clock()
    with transaction(app.factory) as session:
        allowed = {b.id: b for b in buildings_in_scope(session, me.scope)}
        draft, problem = _draft_from_form(allowed, app.settings.timezone)
        problem = problem or (refusal(draft, now) if draft else None)
        if draft is None or problem:
            flash(problem or "请检查表单。", "refused")
            return redirect(url_for("console.notices"))
        notice = write_notice(session, now, me.worker_id, draft)
        notice_id = notice.id
    log.info("console: %s wrote notice %s", mask_name(me.name), notice_id)
    flash("通知已保存,正在发送给这些楼的居民(约1分钟内)。", "done")
    return redirect(url_for("console.notice", notice_id=notice_id))


def notice_page(notice_id: int) -> str:
    """One notice: where and when, how its residents were told, and who the worker should tell by hand."""
    me, app = staff(), console()
    now = app.clock()
    with transaction(app.factory) as session:
        notice = _visible(session, me.scope, notice_id)
        return page(
            "notice.html",
            notice=notice,
            title=TITLES[notice.kind],
            when=when_text(notice, app.settings.timezone),
            places=places(notice),
            counts=delivery_counts(session, notice),
            to_post=to_post(session, notice),
            in_force=notice.starts_at <= now < notice.until(),
            over=notice.until() <= now,
            may_end=_covers(me.scope, notice) and notice.until() > now,
        )


def end(notice_id: int) -> Response:
    """End a notice early: reports of the outage open tickets again."""
    me, app = staff(), console()
    with transaction(app.factory) as session:
        notice = _visible(session, me.scope, notice_id)
        if not _covers(me.scope, notice):
            abort(403)
        ended = end_notice(session, notice.id, app.clock())
    if ended:
        flash("通知已结束,居民再反映会照常生成工单。", "done")
    else:
        flash("这条通知已经结束了。", "refused")
    return redirect(url_for("console.notice", notice_id=notice_id))


def _visible(session: Session, scope: Scope, notice_id: int) -> Notice:
    """The notice if one of its buildings is in the person's grids; else 404, whether or not it exists."""
    notice = session.get(Notice, notice_id) if 0 < notice_id <= MAX_ROW_ID else None
    if notice is None or not any(scope.sees_grid(b.grid_id) for b in notice.buildings):
        abort(404)
    return notice


def _covers(scope: Scope, notice: Notice) -> bool:
    """Every building of the notice is in the person's grids (only then may they end it)."""
    return all(scope.sees_grid(building.grid_id) for building in notice.buildings)


def _by_grid(buildings: list[Building]) -> list[tuple[Grid, list[Building]]]:
    """Buildings grouped under their grids, for the form."""
    grouped: dict[int, tuple[Grid, list[Building]]] = {}
    for building in buildings:
        grouped.setdefault(building.grid_id, (building.grid, []))[1].append(building)
    return list(grouped.values())


def _draft_from_form(allowed: dict[int, Building], timezone: str) -> tuple[Draft | None, str | None]:
    """The form as a draft, or why it cannot be one (a building or grid out of scope is refused)."""
    form = request.form
    chosen: set[int] = set()
    for value in form.getlist("building"):
        if not value.isdecimal() or int(value) not in allowed:
            return None, "所选楼栋不在您负责的网格里。"
        chosen.add(int(value))
    grid_codes = set(form.getlist("grid"))
    in_grids = {b.id for b in allowed.values() if b.grid.code in grid_codes}
    known = {b.grid.code for b in allowed.values()}
    if grid_codes - known:
        return None, "所选网格不在您负责的范围里。"
    starts = _local_time(form.get("starts_at", ""), timezone)
    ends = _local_time(form.get("ends_at", ""), timezone)
    if starts is None or ends is None:
        return None, "请填写开始和结束时间。"
    text = " ".join(form.get("text", "").split())
    return Draft(form.get("kind", ""), text, frozenset(chosen | in_grids), starts, ends), None


def _local_time(value: str, timezone: str) -> datetime | None:
    """A form's local date and time ('2026-11-23T10:00') as UTC; None when it is not one."""
    try:
        moment = datetime.strptime(value.strip(), FORM_TIME)
    except ValueError:
        return None
    return moment.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _form_defaults(now: datetime) -> dict[str, str]:
    """From now for a few hours, in the community's time."""
    zone = ZoneInfo(console().settings.timezone)
    start = now.astimezone(zone).replace(second=0, microsecond=0)
    return {
        "starts_at": start.strftime(FORM_TIME),
        "ends_at": (start + timedelta(hours=DEFAULT_HOURS)).strftime(FORM_TIME),
    }
