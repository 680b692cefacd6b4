"""A street deployment: every community in the register, each a Runtime of its own (docs/tenancy.md).

The first community is the deployment's own settings and database, served at / as before; each other
community has its own Official Account, database and media folder, its webhook at /wechat/<slug> and its
console and Open311 under /c/<slug>. Nothing of one community's is reachable through another's runtime:
their rows are in different databases.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.bootstrap import Runtime, bootstrap
from bot.street_app import StreetApp
from config.communities import HOME_SLUG, CommunityEntry, community_prefix, unknown_community_variables
from config.settings import Settings, SettingsError, load_settings
from handlers.clock import Clock, utc_now
from storage.db import snapshot, transaction
from storage.models import CommunityRecord
from storage.repositories import communities

if TYPE_CHECKING:
    from handlers.language.intents import IntentClassifier

SettingsOf = Callable[[CommunityEntry], Settings]


class Street:
    """The runtimes of a deployment's communities, the first one first; `close()` lets go of them all."""

    def __init__(self, home: Runtime, others: Mapping[str, Runtime]) -> None:
        self.home = home
        self.runtimes: dict[str, Runtime] = {home.settings.community_slug: home, **others}

    @property
    def names(self) -> dict[str, str]:
        """Each community's name, as its residents read it, by slug."""
        return {slug: runtime.settings.community_name for slug, runtime in self.runtimes.items()}

    def __iter__(self) -> Iterator[Runtime]:
        return iter(self.runtimes.values())

    def runtime(self, slug: str) -> Runtime:
        """The runtime of the community with this slug; SettingsError naming the known ones if none."""
        try:
            return self.runtimes[slug]
        except KeyError:
            known = ", ".join(self.runtimes)
            raise SettingsError(
                f"--community {slug}: no such community (the deployment has {known})"
            ) from None

    def prepare(self) -> Street:
        """Migrate every community's database (the first one's was, to read the register)."""
        for runtime in self:
            if runtime is not self.home:
                runtime.prepare()
        return self

    @cached_property
    def app(self) -> StreetApp:
        """One WSGI app for every community (bot/street_app.py); their spool replayers not started."""
        from bot.console.views.street import Community, register_street_views

        # The street office's pages in the first community's console read every community (read-only).
        communities = {
            slug: Community(slug, r.settings.community_name, r.settings, r.factory, r.domain)
            for slug, r in self.runtimes.items()
        }
        register_street_views(self.home.app, communities)
        return StreetApp(
            self.home.settings.community_slug, {slug: r.app for slug, r in self.runtimes.items()}
        )

    def start_web_workers(self) -> None:
        """Start each community's spool replayer and inbox workers (in this process)."""
        from bot.app import inbox_workers, spool_replayer

        for runtime in self:
            spool_replayer(runtime.app).start(runtime.settings.spool.replay_interval_seconds)
            inbox_workers(runtime.app).start()

    def stop_web_workers(self) -> None:
        """Stop what start_web_workers started."""
        from bot.app import inbox_workers, spool_replayer

        for runtime in self:
            inbox_workers(runtime.app).stop()
            spool_replayer(runtime.app).stop()

    def close(self) -> None:
        """Close every community's database connections."""
        for runtime in self:
            runtime.close()


def open_street(
    settings: Settings,
    *,
    settings_of: SettingsOf | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    classifier: IntentClassifier | None = None,
    migrate: bool = True,
) -> Street:
    """The deployment's communities, their register read from the first one's database.

    With `migrate`, the first community's database is migrated first (and the demo loaded in the
    sandbox), and the others' by `Street.prepare()`; a gunicorn worker, started after its master did
    that, only reads. `settings_of` builds a community's settings (by default from GRIDDESK_CONFIG and
    the environment, like the deployment's own).
    """
    environ = os.environ if environ is None else environ
    settings_of = settings_of or (lambda entry: load_settings(environ=environ, community=entry))
    home = bootstrap(settings, clock=clock or utc_now, classifier=classifier)
    try:
        if migrate:
            home.prepare()
        entries = register_of(home, write=migrate)
        others = {e.slug: _runtime_of(e, settings_of, home, clock) for e in entries if not e.home}
        shared = shared_account(
            {home.settings.community_slug: home.settings} | {s: r.settings for s, r in others.items()}
        )
        if shared is not None:
            raise SettingsError(shared)
        stray = unknown_community_variables(environ, {entry.slug for entry in entries})
        if stray is not None:
            raise SettingsError(f"{stray}: names no community of this deployment (`run.py community list`)")
    except BaseException:
        home.close()
        raise
    return Street(home, others)


def shared_account(settings_by_slug: Mapping[str, Settings]) -> str | None:
    """Why a live community is on another's Official Account, if one is: it would answer and push as that one.

    A community inherits the deployment's [wechat] settings until it has its own, so one whose variables
    were forgotten would otherwise serve its residents through the first community's account, and accept
    at its webhook what was signed for another's (the token proves which account sent a message).
    """
    owners: dict[tuple[str, str], str] = {}
    for slug, settings in settings_by_slug.items():
        if settings.sandbox:
            continue
        for key in ("appid", "token"):
            owner = owners.setdefault((key, getattr(settings.wechat, key)), slug)
            if owner != slug:
                variable = f"{community_prefix(slug)}WECHAT_{key.upper()}"
                return (
                    f"community {slug}: wechat.{key} is community {owner}'s; each community has an Official "
                    f"Account of its own (set {variable}, and its APPID, SECRET, TOKEN and AES_KEY)"
                )
    return None


def register_of(home: Runtime, write: bool = True) -> list[CommunityEntry]:
    """The register, the first community first; with `write` it is added to the database if not there yet.

    Without `write` only a snapshot is read (no write lock on SQLite): a first community not registered
    yet is listed all the same, as the deployment's own database.
    """
    if write:
        with transaction(home.factory) as session:
            communities.register_first(session, HOME_SLUG, home.clock())
    with snapshot(home.factory) as session:
        entries = [entry_of(record) for record in communities.registered(session)]
    return entries if any(entry.home for entry in entries) else [CommunityEntry(HOME_SLUG), *entries]


def entry_of(record: CommunityRecord) -> CommunityEntry:
    """A register row as the settings layer reads it."""
    config_file = Path(record.config_file) if record.config_file else None
    return CommunityEntry(record.slug, record.name, record.database_url, config_file)


def _runtime_of(
    entry: CommunityEntry, settings_of: SettingsOf, home: Runtime, clock: Clock | None
) -> Runtime:
    """A community's runtime; it shares the first community's intent rules when it names the same ones."""
    settings = settings_of(entry)
    runtime = bootstrap(settings, clock=clock or home.clock)
    same_rules = (settings.intents_path, settings.emergency_model_path) == (
        home.settings.intents_path,
        home.settings.emergency_model_path,
    )
    if same_rules:
        runtime.classifier = home.classifier
    return runtime
