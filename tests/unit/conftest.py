"""Unit-test plumbing: figures that tests measure are printed at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import add_to_summary


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends to, printed in the terminal summary (figures worth watching, e.g. accuracy)."""
    lines: list[str] = []
    yield lines
    add_to_summary(request, "figures", lines)
