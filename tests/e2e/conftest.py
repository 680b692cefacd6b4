"""Fixtures of the end-to-end tests that more than one module uses."""

import pytest

from run import main
from tests.e2e.street_support import (  # noqa: F401 (fixtures)
    heping_templates,
    live_street,
    street,
    street_environment,
    street_wechat,
)


@pytest.fixture
def office(monkeypatch, settings):
    """`run.py` in-process on the test's database (the community office's command line)."""
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", settings.database_url)
    return main
