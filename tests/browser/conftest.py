"""Fixtures of the browser tests that come from elsewhere: the two-community street of the tenancy tests."""

from tests.e2e.street_support import heping_templates, street, street_environment  # noqa: F401 (fixtures)
