"""Handlers never see the secrets: they read DomainSettings, made once from Settings, and never Settings."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path

from config.settings import load_settings
from handlers.domain_settings import DomainSettings

ROOT = Path(__file__).resolve().parents[2]
# The one module under handlers/ that may name the whole Settings: it makes DomainSettings from them.
BUILDER = "handlers/domain_settings.py"
SECRETS = {
    "GRIDDESK_DATABASE_URL": "postgresql://griddesk:db-pass-0001@db.internal/griddesk",
    "GRIDDESK_WECHAT_APPID": "wx0123456789abcdef",
    "GRIDDESK_WECHAT_SECRET": "wechat-secret-0002",
    "GRIDDESK_WECHAT_AES_KEY": "aeskey0003" + "k" * 33,
    "GRIDDESK_WECOM_CORP_ID": "ww00000000corp0004",
    "GRIDDESK_WECOM_SECRET": "wecom-secret-0005",
    "GRIDDESK_WECOM_AGENT_ID": "1000002",
    "GRIDDESK_OPEN311_API_KEYS": "city12345:open311-key-0006",
    "GRIDDESK_CONSOLE_SECRET_KEY": "console-key-0007" + "s" * 24,
}


def whole_settings_importers(root: Path) -> set[str]:
    """Modules under handlers/ that import config.settings.Settings (or config.settings itself)."""
    found = set()
    for path in sorted((root / "handlers").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "config.settings":
                if any(alias.name in ("Settings", "*") for alias in node.names):
                    found.add(relative)
            elif isinstance(node, ast.ImportFrom) and node.module == "config":
                if any(alias.name == "settings" for alias in node.names):
                    found.add(relative)
            elif isinstance(node, ast.Import) and any(a.name == "config.settings" for a in node.names):
                found.add(relative)
    return found


def test_no_handler_imports_the_whole_settings_but_the_one_that_narrows_them() -> None:
    assert whole_settings_importers(ROOT) == {BUILDER}


def test_the_check_catches_a_handler_that_takes_the_whole_settings(tmp_path: Path) -> None:
    jobs = tmp_path / "handlers" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "sweep.py").write_text("from config.settings import Deadline, Settings\n")
    (tmp_path / "handlers" / "late.py").write_text("def f():\n    import config.settings\n")
    (tmp_path / "handlers" / "fine.py").write_text("from config.settings import VisitSettings\n")
    assert whole_settings_importers(tmp_path) == {"handlers/jobs/sweep.py", "handlers/late.py"}


def _strings(value: object) -> Iterator[str]:
    """Every string inside a value: dataclass fields, mappings and sequences, all the way down."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _strings(getattr(value, field.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)
    else:
        yield str(value)


def test_handlers_never_see_the_secrets() -> None:
    settings = load_settings(environ=SECRETS)
    assert settings.wechat.secret and settings.open311.clients and settings.wecom.enabled  # all were read
    domain = DomainSettings.of(settings)
    seen = "\n".join([*_strings(domain), repr(domain)])
    for secret in (
        *("db-pass-0001", "db.internal", "wechat-secret-0002", "aeskey0003", "wx0123456789abcdef"),
        *("ww00000000corp0004", "wecom-secret-0005", "open311-key-0006", "city12345", "console-key-0007"),
    ):
        assert secret not in seen
    for gone in ("database_url", "wechat", "wecom", "open311", "spool", "delivery", "templates"):
        assert not hasattr(domain, gone)
    assert not hasattr(domain.console, "secret_key")


def test_the_domain_reads_what_handlers_read_under_the_same_names() -> None:
    settings = load_settings(
        environ={"GRIDDESK_CONSOLE_BASE_URL": "https://grid.example.org", "GRIDDESK_CONSOLE_LINK_HOURS": "12"}
    )
    domain = DomainSettings.of(settings)
    for field in dataclasses.fields(domain):
        if field.name not in ("console", "customer_service_window_hours", "customer_service_messages"):
            assert getattr(domain, field.name) == getattr(settings, field.name), field.name
    assert (domain.console.base_url, domain.console.link_hours) == ("https://grid.example.org", 12)
    # The window a check-in ping may use, without the rest of [delivery] (addresses and paths).
    assert domain.customer_service_window_hours == settings.delivery.customer_service_window_hours
    assert domain.customer_service_messages is True
    declared_off = load_settings(environ={"GRIDDESK_DELIVERY_CUSTOMER_SERVICE_MESSAGES": "off"})
    assert DomainSettings.of(declared_off).customer_service_messages is False
    assert domain.deadline("repair_utility") == settings.deadline("repair_utility")
    assert domain.deadline("no-such-kind") == settings.deadlines["other"]
