"""docs/security.md stays true: every promise names the tests that prove it, and those tests exist."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from config.settings import PROJECT_ROOT

SECURITY_DOC = PROJECT_ROOT / "docs" / "security.md"
# "(tests/e2e/test_x.py::test_name, tests/unit/test_y.py::test_other)" at the end of a promise.
TEST_REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
PROMISE = re.compile(r"^- \*\*(?P<title>[^*]+)\*\*(?P<body>.*)$")


def _promises() -> list[tuple[str, str]]:
    """(title, text) of each promise: a bullet with a bold title under the promises heading."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    section = text.split("## What GridDesk promises", 1)[1].split("\n## ", 1)[0]
    promises: list[tuple[str, str]] = []
    for line in section.splitlines():
        match = PROMISE.match(line)
        if match:
            promises.append((match["title"], match["body"]))
        elif promises and line.startswith("  "):
            title, body = promises[-1]
            promises[-1] = (title, body + " " + line.strip())
    return promises


@cache  # the doc names some files dozens of times; parsing each once saves seconds
def _test_names(path: Path) -> frozenset[str]:
    """Test functions defined at module level or in classes of one test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    )


def test_every_promise_names_at_least_one_test() -> None:
    promises = _promises()
    assert len(promises) >= 10
    unproven = [title for title, body in promises if not TEST_REFERENCE.search(body)]
    assert unproven == []


def test_every_test_the_security_doc_names_exists() -> None:
    missing = []
    for _title, body in _promises():
        for file, name in TEST_REFERENCE.findall(body):
            path = PROJECT_ROOT / file
            if not path.is_file() or name not in _test_names(path):
                missing.append(f"{file}::{name}")
    assert missing == []
