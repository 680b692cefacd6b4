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
