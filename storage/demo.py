"""Loading a community (grids, buildings, workers, residents) from a TOML file, idempotently."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Building, FamilyContact, Grid, Resident, Worker

HOUSEHOLD_CATEGORIES = ("hardship", "key", "ordinary")
WORKER_FIELDS = ("name", "role", "phone", "on_duty", "wecom_userid")
RESIDENT_FIELDS = ("name", "phone", "unit", "room", "household_category", "lives_alone")


def seed_community(session: Session, path: Path, now: datetime) -> bool:
    """Load the community into an empty register; later starts keep what people changed since."""
    if session.scalar(select(Grid.id).limit(1)) is not None:
        return False
    load_community(session, path, now)
    return True


def load_community(session: Session, path: Path, now: datetime) -> None:
    """Create or update everything the file describes; running it twice changes nothing."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    workers = {spec["openid"]: _upsert_worker(session, spec) for spec in data.get("workers", [])}
    session.flush()
    for spec in data.get("workers", []):
        if "backup" in spec:
            workers[spec["openid"]].backup = workers[spec["backup"]]
    buildings = {}
    for spec in data.get("grids", []):
        grid = _upsert_grid(session, spec, workers)
        for name in spec.get("buildings", []):
            buildings[name] = _upsert_building(session, _key({"name": name}, "name", "building"), grid)
    for spec in data.get("residents", []):
        _upsert_resident(session, spec, buildings, now)
    session.flush()


def _key(spec: dict[str, Any], name: str, what: str) -> str:
    """A text key the file looks rows up by; a number there is an error on every database, not just some."""
    value = spec[name]
    if not isinstance(value, str):
        raise ValueError(f"{what} {name} must be text, not {value!r}")
    return value


def _upsert_worker(session: Session, spec: dict[str, Any]) -> Worker:
    openid = _key(spec, "openid", "worker")
    worker = session.scalar(select(Worker).where(Worker.openid == openid)) or Worker(openid=openid)
    for field in WORKER_FIELDS:
        if field in spec:
            setattr(worker, field, spec[field])
    worker.on_duty = spec.get("on_duty", True)
    session.add(worker)
    return worker


def _upsert_grid(session: Session, spec: dict[str, Any], workers: dict[str, Worker]) -> Grid:
    code = _key(spec, "code", "grid")
    grid = session.scalar(select(Grid).where(Grid.code == code)) or Grid(code=code)
    grid.name = spec["name"]
    grid.worker = workers.get(spec.get("worker", ""))
    grid.leader = workers.get(spec.get("leader", ""))
    session.add(grid)
    return grid


def _upsert_building(session: Session, name: str, grid: Grid) -> Building:
    building = session.scalar(select(Building).where(Building.name == name)) or Building(name=name)
    building.grid = grid
    session.add(building)
    return building


def _upsert_resident(
    session: Session, spec: dict[str, Any], buildings: dict[str, Building], now: datetime
) -> None:
    openid = _key(spec, "openid", "resident")
    resident = session.scalar(select(Resident).where(Resident.openid == openid))
    if resident is None:
        resident = Resident(openid=openid, created_at=now)
        session.add(resident)
    for field in RESIDENT_FIELDS:
        if field in spec:
            setattr(resident, field, spec[field])
    if resident.household_category not in HOUSEHOLD_CATEGORIES:
        raise ValueError(
            f"resident {spec['openid']}: household_category must be one of {HOUSEHOLD_CATEGORIES}"
        )
    resident.building = buildings[spec["building"]] if "building" in spec else None
    if "family" in spec:
        resident.family = [FamilyContact(**contact) for contact in spec["family"]]
    checkin_time = spec.get("checkin_time", "09:00" if spec.get("lives_alone") else None)
    resident.checkin_minute = minutes_after_midnight(checkin_time) if checkin_time else None


def minutes_after_midnight(clock_time: str) -> int:
    """'09:30' -> 570."""
    hours, _, minutes = clock_time.strip().partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value < 24 * 60:
        raise ValueError(f"not a time of day: {clock_time!r}")
    return value
