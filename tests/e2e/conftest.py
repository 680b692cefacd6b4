"""Fixtures of the end-to-end tests that more than one module uses."""

from tests.e2e.street_support import heping_templates, street, street_environment  # noqa: F401 (fixtures)
