"""Loading a community (grids, buildings, staff, residents) from a TOML file: all of it or nothing, and
every change it makes said in words, so the office sees what `community load` did (or would do)."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Building, FamilyContact, Grid, Resident, Worker

HOUSEHOLD_CATEGORIES = ("hardship", "key", "ordinary")
WORKER_FIELDS = ("name", "role", "phone", "wecom_userid")
RESIDENT_FIELDS = ("name", "phone", "unit", "room", "household_category", "lives_alone")
FAMILY_FIELDS = ("name", "relation", "phone", "openid")
NOBODY = "nobody"


class CommunityFileError(ValueError):
    """The file cannot be loaded as it is; the message says why, and nothing was changed."""


def load_community(session: Session, path: Path, now: datetime) -> list[str]:
    """Create or update everything the file describes; the changes made, in words ([] when none).

    Staff the file names (a grid's worker or leader, a backup) are looked up among the file's workers,
    then among the serving staff in the database, by openid or name. A grid's worker or leader left out
    of the file stays as it is; `worker = ""` leaves the grid without one. Unknown names change nothing.
    """
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    _check_shape(data)
    loader = _Loader(session, data, now)
    loader.check()
    return loader.apply()


# What each row of the file must name, as text; the rest of a row is optional.
REQUIRED_KEYS = {"workers": ("openid", "name"), "grids": ("code", "name"), "residents": ("openid",)}


def _check_shape(data: dict[str, Any]) -> None:
    """Every row is a table with the keys it needs, and family contacts name only known fields."""
    for table, keys in REQUIRED_KEYS.items():
        rows = data.get(table, [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise CommunityFileError(f"{table} must be written as [[{table}]] tables")
        for number, row in enumerate(rows, 1):
            missing = [key for key in keys if not isinstance(row.get(key), str) or not row[key].strip()]
            if missing:
                raise CommunityFileError(f"[[{table}]] number {number} needs {' and '.join(missing)} (text)")
            for contact in row.get("family", []) if table == "residents" else []:
                unknown = sorted(set(contact) - set(FAMILY_FIELDS)) if isinstance(contact, dict) else ["?"]
                if unknown or not contact.get("name"):
                    raise CommunityFileError(
                        f"[[residents]] number {number}: each family contact needs a name and may have "
                        f"only {', '.join(FAMILY_FIELDS)}"
                    )


class _Loader:
    """One load: first every reference is checked, then the rows are written and each change noted."""

    def __init__(self, session: Session, data: dict[str, Any], now: datetime) -> None:
        self.session, self.now = session, now
        self.workers_spec: list[dict[str, Any]] = data.get("workers", [])
        self.grids_spec: list[dict[str, Any]] = data.get("grids", [])
        self.residents_spec: list[dict[str, Any]] = data.get("residents", [])
        self.changes: list[str] = []
        self.in_file: dict[str, Worker] = {}

    def check(self) -> None:
        """Every staff member and building the file names exists, in the file or the database."""
        known = {_key(spec, "openid", "worker") for spec in self.workers_spec}
        known |= {spec["name"] for spec in self.workers_spec if "name" in spec}
        unknown = [
            f"{ref} ({what})" for ref, what in self._references() if ref not in known and not self._in_db(ref)
        ]
        buildings = {name for spec in self.grids_spec for name in spec.get("buildings", [])}
        for spec in self.residents_spec:
            name = spec.get("building")
            if name is not None and name not in buildings and self._building(name) is None:
                unknown.append(f"{name} (building of resident {spec.get('openid')})")
        if unknown:
            raise CommunityFileError(f"unknown: {', '.join(unknown)}; nothing was changed")

    def _references(self) -> list[tuple[str, str]]:
        """(name or openid, where the file names it) for every person the file refers to."""
        refs = [
            (spec["backup"], f"backup of {spec.get('name', spec['openid'])}")
            for spec in self.workers_spec
            if spec.get("backup")
        ]
        for spec in self.grids_spec:
            for slot in ("worker", "leader"):
                if spec.get(slot):
                    refs.append((spec[slot], f"{slot} of {spec.get('code')}"))
        return refs

    def _in_db(self, ref: str) -> bool:
        return self._serving(ref) is not None

    def _serving(self, ref: str) -> Worker | None:
        """A serving staff member in the database by openid, else the one of that name."""
        by_openid = self.session.scalar(select(Worker).where(Worker.openid == ref, Worker.left_at.is_(None)))
        if by_openid is not None:
            return by_openid
        named = list(self.session.scalars(select(Worker).where(Worker.name == ref, Worker.left_at.is_(None))))
        if len(named) > 1:
            raise CommunityFileError(f"{len(named)} serving staff are named {ref}: name them by openid")
        return named[0] if named else None

    def _person(self, ref: str) -> Worker | None:
        """The worker a reference means: the file's own (by openid, then name), else the database's."""
        if not ref:
            return None
        if ref in self.in_file:
            return self.in_file[ref]
        named = [worker for worker in self.in_file.values() if worker.name == ref]
        return named[0] if named else self._serving(ref)

    def _building(self, name: str) -> Building | None:
        return self.session.scalar(select(Building).where(Building.name == name))

    def apply(self) -> list[str]:
        """Write the file's rows; the changes, in the order made."""
        for spec in self.workers_spec:
            self.in_file[spec["openid"]] = self._worker(spec)
        self.session.flush()
        for spec in self.workers_spec:
            if "backup" in spec:
                worker = self.in_file[spec["openid"]]
                self._set(worker, "backup", self._person(spec["backup"]), f"backup of {worker.name}")
        buildings: dict[str, Building] = {}
        for spec in self.grids_spec:
            grid = self._grid(spec)
            for name in spec.get("buildings", []):
                buildings[name] = self._place_building(_key({"name": name}, "name", "building"), grid)
        for spec in self.residents_spec:
            self._resident(spec, buildings)
        self.session.flush()
        return self.changes

    def _worker(self, spec: dict[str, Any]) -> Worker:
        openid = _key(spec, "openid", "worker")
        worker = self.session.scalar(select(Worker).where(Worker.openid == openid))
        if worker is None:
            worker = Worker(openid=openid, on_duty=spec.get("on_duty", True))
            for field in WORKER_FIELDS:
                if field in spec:
                    setattr(worker, field, spec[field])
            self.session.add(worker)
            self.changes.append(f"staff added: {worker.name} ({worker.role or 'worker'}, {openid})")
            return worker
        for field in (*WORKER_FIELDS, "on_duty"):
            if field in spec:
                self._set(worker, field, spec[field], f"{field} of {worker.name}")
        return worker

    def _grid(self, spec: dict[str, Any]) -> Grid:
        code = _key(spec, "code", "grid")
        grid = self.session.scalar(select(Grid).where(Grid.code == code))
        if grid is None:
            grid = Grid(code=code, name=spec["name"])
            self.session.add(grid)
            self.changes.append(f"grid {code} created ({grid.name})")
        else:
            self._set(grid, "name", spec["name"], f"name of grid {code}")
        for slot in ("worker", "leader"):
            if slot in spec:
                self._set(grid, slot, self._person(spec[slot]), f"{slot} of {code}")
        return grid

    def _place_building(self, name: str, grid: Grid) -> Building:
        building = self._building(name)
        if building is None:
            building = Building(name=name, grid=grid)
            self.session.add(building)
            self.changes.append(f"building {name} added to {grid.code}")
        elif building.grid is not grid:
            self.changes.append(f"building {name} moved: {building.grid.code} -> {grid.code}")
            building.grid = grid
        return building

    def _resident(self, spec: dict[str, Any], buildings: dict[str, Building]) -> None:
        openid = _key(spec, "openid", "resident")
        resident = self.session.scalar(select(Resident).where(Resident.openid == openid))
        added = resident is None
        if resident is None:
            resident = Resident(openid=openid, created_at=self.now, household_category="ordinary")
            resident.lives_alone = False
            self.session.add(resident)
        wanted = {field: spec[field] for field in RESIDENT_FIELDS if field in spec}
        if wanted.get("household_category", resident.household_category) not in HOUSEHOLD_CATEGORIES:
            raise CommunityFileError(
                f"resident {openid}: household_category must be one of {HOUSEHOLD_CATEGORIES}"
            )
        name = spec.get("building")
        wanted["building"] = (buildings.get(name) or self._building(name)) if name else None
        checkin_time = spec.get("checkin_time", "09:00" if spec.get("lives_alone") else None)
        wanted["checkin_minute"] = minutes_after_midnight(checkin_time) if checkin_time else None
        # Personal data: the office is told which fields changed, never their values.
        changed = [field for field, value in wanted.items() if getattr(resident, field) != value]
        for field in changed:
            setattr(resident, field, wanted[field])
        if "family" in spec and _family(resident.family) != [_contact(c) for c in spec["family"]]:
            resident.family = [FamilyContact(**contact) for contact in spec["family"]]
            changed.append("family")
        if added:
            self.changes.append(f"resident {openid} added")
        elif changed:
            self.changes.append(f"resident {openid} updated: {', '.join(changed)}")

    def _set(self, row: Any, field: str, value: Any, what: str) -> None:
        """Set one field, noting 'what: old -> new' when it changes."""
        old = getattr(row, field)
        if old == value:
            return
        setattr(row, field, value)
        self.changes.append(f"{what}: {_shown(old)} -> {_shown(value)}")


def _shown(value: Any) -> str:
    """A value as the office reads it: a person by name, nothing as 'nobody'."""
    if value is None:
        return NOBODY
    return value.name if isinstance(value, Worker) else str(value)


def _family(contacts: list[FamilyContact]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(contact, field) for field in FAMILY_FIELDS) for contact in contacts]


def _contact(spec: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(spec.get(field) for field in FAMILY_FIELDS)


def _key(spec: dict[str, Any], name: str, what: str) -> str:
    """A text key the file looks rows up by; a number there is an error on every database, not just some."""
    if name not in spec:
        raise CommunityFileError(f"a {what} without {name}")
    value = spec[name]
    if not isinstance(value, str):
        raise CommunityFileError(f"{what} {name} must be text, not {value!r}")
    return value


def minutes_after_midnight(clock_time: str) -> int:
    """'09:30' -> 570."""
    hours, _, minutes = clock_time.strip().partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value < 24 * 60:
        raise ValueError(f"not a time of day: {clock_time!r}")
    return value
