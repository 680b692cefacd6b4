"""Fixtures of the end-to-end tests that more than one module uses."""

from tests.e2e.street_support import (  # noqa: F401 (fixtures)
    heping_templates,
    live_street,
    street,
    street_environment,
    street_wechat,
)
