"""The command line's grammar and labels agree with the domain it names without importing it."""

from __future__ import annotations

import tomllib

from bot.commands.parser import PERIODS, ROLES
from config.settings import PROJECT_ROOT
from handlers.jobs.reports import KINDS
from handlers.people import invites
from handlers.texts import KIND_LABELS


def test_the_parser_offers_the_report_periods_and_roles_the_domain_knows() -> None:
    assert PERIODS == KINDS
    assert ROLES == invites.ROLES


def test_every_kind_the_rules_can_give_has_a_chinese_label_for_listings() -> None:
    rules = tomllib.loads((PROJECT_ROOT / "config" / "intents.toml").read_text())["categories"]
    kinds = {rules[name].get("default_kind") for name in rules} - {None}
    for category in rules.values():
        kinds |= set(category.get("kinds", {}))
        kinds |= {family["kind"] for family in category.get("families", {}).values() if "kind" in family}
    assert kinds and kinds <= KIND_LABELS.keys()
