"""One community of a street deployment: who it is, and its settings over the deployment's own.

A deployment serves one community (the first, `main`, on the deployment's own database) or many, each
with its own Official Account, database, media folder and any settings of its own: a TOML file in the
same layout, then GRIDDESK_COMMUNITIES_<SLUG>_<SECTION>_<KEY> variables (docs/tenancy.md). The database
and the server are the deployment's; a community's settings cannot name them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.sources import (
    COMMUNITY_ENV_PREFIX,
    Origin,
    SettingsError,
    apply_environment,
    merge_file,
    read_toml,
)

HOME_SLUG = "main"
# Letters and digits only: the slug is in URLs (/wechat/<slug>) and in variable names, where '_' is the
# separator and a '-' cannot be written.
SLUG = re.compile(r"[a-z][a-z0-9]{1,31}")
DEPLOYMENT_SECTIONS = ("database", "server", "street")
# Where a community's console is, under its mount.
CONSOLE_PATH = "/console"


@dataclass(frozen=True)
class CommunityEntry:
    """A community as the deployment's register of communities lists it."""

    slug: str
    # None: the first community, named by [community] name, on the deployment's own database.
    name: str | None = None
    database_url: str | None = None
    config_file: Path | None = None

    @property
    def home(self) -> bool:
        """The first community: the deployment's own database and settings, served at / as before."""
        return self.database_url is None

    @property
    def mount(self) -> str:
        """Where its console and Open311 are served: '' for the first community, else /c/<slug>."""
        return "" if self.home else f"/c/{self.slug}"


def check_slug(slug: str) -> str:
    """The slug, or SettingsError saying what a slug may be."""
    if not SLUG.fullmatch(slug):
        raise SettingsError(
            f"community slug {slug!r}: expected 2 to 32 lower-case letters and digits, starting with a letter"
        )
    return slug


def community_prefix(slug: str) -> str:
    """'GRIDDESK_COMMUNITIES_XINGFU_' for the community xingfu."""
    return f"{COMMUNITY_ENV_PREFIX}{slug.upper()}_"


def overlay_community(
    values: dict[str, Any], origins: dict[str, Origin], entry: CommunityEntry, environ: Mapping[str, str]
) -> bool:
    """Put one (not the first) community's settings over the deployment's; True when it names a demo."""
    base_media = values["delivery"]["media_dir"]
    base_console, base_open311 = values["console"]["base_url"], values["open311"]["public_base_url"]
    # The other addresses pushes link to: reports' (a site) and WeCom cards' and templates' (the console).
    base_reports, base_cards = values["reports"]["console_base_url"], values["delivery"]["console_url"]
    if entry.name:
        values["community"]["name"] = entry.name
    merged = dict(origins)
    if entry.config_file is not None:
        override = read_toml(entry.config_file)
        for section in DEPLOYMENT_SECTIONS:
            if section in override:
                raise SettingsError(
                    f"{entry.config_file}: [{section}] is the deployment's, the same for every community"
                )
        merge_file(values, override, merged, str(entry.config_file))
    apply_environment(values, environ, merged, community_prefix(entry.slug), DEPLOYMENT_SECTIONS)
    own = {key for key, origin in merged.items() if origins.get(key) is not origin}
    origins.update(merged)
    values["database"]["url"] = entry.database_url
    _unless_own(values, own, "delivery.media_dir", f"{base_media.rstrip('/')}/{entry.slug}")
    if base_console:
        _unless_own(values, own, "console.base_url", f"{base_console.rstrip('/')}{entry.mount}")
    if base_open311:
        _unless_own(values, own, "open311.public_base_url", f"{base_open311.rstrip('/')}{entry.mount}")
    if base_reports:
        _unless_own(values, own, "reports.console_base_url", f"{base_reports.rstrip('/')}{entry.mount}")
    if base_cards:
        _unless_own(values, own, "delivery.console_url", mounted_console(base_cards, entry.mount))
    return "paths.demo" in own


def mounted_console(console_url: str, mount: str) -> str:
    """The first community's console address moved under a community's mount; '' if it is not at /console.

    https://desk.example.org/console becomes https://desk.example.org/c/<slug>/console. An address that
    does not end in /console cannot be moved, and a link to another community's console is worse than none.
    """
    site, console_path, rest = console_url.rstrip("/").rpartition(CONSOLE_PATH)
    return f"{site}{mount}{CONSOLE_PATH}" if console_path and not rest else ""


def unknown_community_variables(environ: Mapping[str, str], slugs: set[str]) -> str | None:
    """A GRIDDESK_COMMUNITIES_* variable naming no community, if any (a typo would be ignored silently)."""
    prefixes = {community_prefix(slug) for slug in slugs}
    for name in sorted(environ):
        if name.startswith(COMMUNITY_ENV_PREFIX) and not any(name.startswith(p) for p in prefixes):
            return name
    return None


def _unless_own(values: dict[str, Any], own: set[str], key: str, value: str) -> None:
    section, name = key.split(".")
    if key not in own:
        values[section][name] = value
