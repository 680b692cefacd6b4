"""The command line's grammar agrees with the domain it names without importing it."""

from __future__ import annotations

from bot.commands.parser import PERIODS, ROLES
from handlers import invites
from handlers.reports import KINDS


def test_the_parser_offers_the_report_periods_and_roles_the_domain_knows() -> None:
    assert PERIODS == KINDS
    assert ROLES == invites.ROLES
