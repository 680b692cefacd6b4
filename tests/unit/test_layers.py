"""Folders are the layers and imports point down: config < storage < handlers < bot < run.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"config": 0, "storage": 1, "handlers": 2, "bot": 3, "run": 4}


def upward_imports(root: Path) -> set[tuple[str, str]]:
    """(file, module) for every import, at the top or inside a function, of a layer above the file's."""
    found = set()
    for path in sorted(root.glob("*/**/*.py")):
        relative = path.relative_to(root)
        layer = LAYERS.get(relative.parts[0])
        if layer is None or "migrations" in relative.parts:
            continue
        for module in _imported(path):
            if LAYERS.get(module.split(".")[0], -1) > layer:
                found.add((relative.as_posix(), module))
    return found


def _imported(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


def test_imports_point_down_the_layers() -> None:
    assert upward_imports(ROOT) == set()


def test_the_check_catches_an_import_that_runs_back_up(tmp_path: Path) -> None:
    for folder in ("storage", "bot", "handlers"):
        (tmp_path / folder).mkdir()
    (tmp_path / "storage" / "rows.py").write_text("def late():\n    from bot.app import create_app\n")
    (tmp_path / "handlers" / "rules.py").write_text("import run\nfrom storage import rows\n")
    (tmp_path / "bot" / "door.py").write_text("import handlers.rules\nfrom config.settings import Settings\n")
    assert upward_imports(tmp_path) == {("storage/rows.py", "bot.app"), ("handlers/rules.py", "run")}


# Queries live in storage/repositories/ (docs/architecture.md). Every handler module has moved its own there;
# this list of exceptions stays empty.
QUERIES_ALLOWED: tuple[str, ...] = ()
STATEMENTS = frozenset({"select", "update", "delete", "insert"})


def handler_queries(root: Path, allowed: tuple[str, ...] = QUERIES_ALLOWED) -> set[tuple[str, str]]:
    """(file, name) for every handler module off the allow-list that imports or calls sqlalchemy's
    select, update, delete or insert."""
    found = set()
    for path in sorted((root / "handlers").glob("**/*.py")):
        relative = path.relative_to(root)
        if any(relative.match(pattern) for pattern in allowed):
            continue
        found |= {(relative.as_posix(), name) for name in _statements_used(path)}
    return found


def _statements_used(path: Path) -> set[str]:
    """The statement builders a module takes from sqlalchemy: imported by name, or called as sa.select."""
    aliases, used = set(), set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            used |= {alias.name for alias in node.names if alias.name in STATEMENTS}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STATEMENTS and _root_name(node.value) in aliases:
            used.add(node.attr)
    return used


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def test_handlers_leave_queries_to_storage() -> None:
    assert handler_queries(ROOT) == set()


def test_every_module_allowed_queries_still_exists() -> None:
    missing = [pattern for pattern in QUERIES_ALLOWED if not list(ROOT.glob(pattern))]
    assert missing == []


def test_the_query_check_catches_a_handler_building_its_own(tmp_path: Path) -> None:
    (tmp_path / "handlers" / "jobs").mkdir(parents=True)
    (tmp_path / "handlers" / "routing").mkdir()
    (tmp_path / "handlers" / "jobs" / "sweep.py").write_text(
        "from sqlalchemy import func, update\nimport sqlalchemy as sa\n\n"
        "def due(session):\n    return session.scalars(sa.select(Ticket))\n"
    )
    (tmp_path / "handlers" / "jobs" / "clean.py").write_text(
        "from sqlalchemy import ColumnElement\n\ndef drop(session, row):\n    session.delete(row)\n"
    )
    (tmp_path / "handlers" / "routing" / "old.py").write_text("from sqlalchemy import select\n")
    assert handler_queries(tmp_path, ("handlers/routing/*.py",)) == {
        ("handlers/jobs/sweep.py", "update"),
        ("handlers/jobs/sweep.py", "select"),
    }
