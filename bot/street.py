"""A street deployment: every community in the register, each a Runtime of its own (docs/tenancy.md).

The first community is the deployment's own settings and database, served at / as before; each other
community has its own Official Account, database and media folder, its webhook at /wechat/<slug> and its
console and Open311 under /c/<slug>. Nothing of one community's is reachable through another's runtime:
their rows are in different databases.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy.exc import SQLAlchemyError

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
log = logging.getLogger("griddesk")


class NotServed(NamedTuple):
    """A registered community this process does not serve: its name, and why (one line, for operators)."""

    name: str
    reason: str


class Street:
    """The runtimes of a deployment's communities, the first one first; `close()` lets go of them all.

    A community registered while the street runs is served once `add_registered()` (called every
    [street] register_poll_seconds by `start_watching()`) has checked it as start-up checks every one.
    """

    def __init__(
        self,
        home: Runtime,
        others: Mapping[str, Runtime],
        *,
        settings_of: SettingsOf | None = None,
        migrate: bool = False,
    ) -> None:
        self.home = home
        # Replaced, never changed in place: request and worker threads read it while a community is added.
        self.runtimes: dict[str, Runtime] = {home.settings.community_slug: home, **others}
        self._settings_of = settings_of or (lambda entry: load_settings(community=entry))
        self._migrate = migrate
        # Each registered community not served, by slug, and why (logged once per reason).
        self.not_served: dict[str, NotServed] = {}
        self._adding = threading.Lock()
        self._web_workers = self._schedulers = False
        self._watch: RegisterWatch | None = None

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
        self._give_street_views()
        return StreetApp(
            self.home.settings.community_slug, {slug: r.app for slug, r in self.runtimes.items()}
        )

    def _give_street_views(self) -> None:
        """The street office's pages in the first community's console read every community (read-only)."""
        from bot.console.views.street import Community, register_street_views

        communities = {
            slug: Community(slug, r.settings.community_name, r.settings, r.factory, r.domain)
            for slug, r in self.runtimes.items()
        }
        register_street_views(self.home.app, communities, self.not_served)

    def start_web_workers(self) -> None:
        """Start each community's spool replayer and inbox workers (in this process)."""
        with self._adding:
            self._web_workers = True
            for runtime in self:
                _start_web_workers(runtime)

    def stop_web_workers(self) -> None:
        """Stop what start_web_workers started."""
        from bot.app import inbox_workers, spool_replayer

        with self._adding:
            self._web_workers = False
            for runtime in self:
                inbox_workers(runtime.app).stop()
                spool_replayer(runtime.app).stop()

    def start_schedulers(self) -> None:
        """Start each community's scheduler (its jobs run under leases: other processes may run them too)."""
        with self._adding:
            self._schedulers = True
            for runtime in self:
                runtime.scheduler.start()

    def stop_schedulers(self, wait: bool) -> None:
        """Shut down what start_schedulers started; with `wait`, running jobs finish and hand back leases."""
        with self._adding:
            self._schedulers = False
            for runtime in self:
                if "scheduler" in runtime.__dict__:
                    runtime.scheduler.shutdown(wait=wait)

    def add_registered(self) -> list[str]:
        """Serve each community registered since the street opened and checked as at start; their slugs.

        One that fails its checks is not served, the others carry on: its reason is logged once (until it
        changes) and kept in `not_served`; it is checked again at the next call.
        """
        with self._adding:
            added = []
            for entry in register_of(self.home, write=False):
                if entry.slug in self.runtimes:
                    continue
                try:
                    runtime = self._checked(entry)
                except (SettingsError, SQLAlchemyError, OSError) as exc:
                    self._refuse(entry, _first_line(exc))
                    continue
                self._serve(entry, runtime)
                added.append(entry.slug)
            return added

    def _checked(self, entry: CommunityEntry) -> Runtime:
        """A newly registered community's runtime; SettingsError where start-up would refuse it."""
        runtime = _runtime_of(entry, self._settings_of, self.home, None)
        try:
            settings = {slug: r.settings for slug, r in self.runtimes.items()}
            shared = shared_account(settings | {entry.slug: runtime.settings})
            if shared is not None:
                raise SettingsError(shared)
            if self._migrate:
                runtime.prepare()
            if "app" in self.__dict__:
                runtime.app  # noqa: B018 (built here, so a failure leaves the community out, whole)
        except BaseException:
            runtime.close()
            raise
        return runtime

    def _serve(self, entry: CommunityEntry, runtime: Runtime) -> None:
        """Add the community to whatever this process serves: web app, web workers, scheduler."""
        self.not_served = {s: r for s, r in self.not_served.items() if s != entry.slug}
        self.runtimes = {**self.runtimes, entry.slug: runtime}
        if "app" in self.__dict__:
            self.app.add(entry.slug, runtime.app)
            self._give_street_views()
        if self._web_workers:
            _start_web_workers(runtime)
        if self._schedulers:
            runtime.scheduler.start()
        log.info("community %s (%s) added to the register: now served", entry.slug, entry.name)

    def _refuse(self, entry: CommunityEntry, reason: str) -> None:
        """Keep and log why a registered community is not served; a reason already logged is not repeated."""
        refusal = NotServed(entry.name or entry.slug, reason.removeprefix(f"community {entry.slug}: "))
        if self.not_served.get(entry.slug) == refusal:
            return
        self.not_served = {**self.not_served, entry.slug: refusal}
        if "app" in self.__dict__:
            self._give_street_views()
        log.error(
            "community %s (%s) is registered but not served: %s (checked again every %g s; a variable set "
            "after this process started is read only when it restarts)",
            entry.slug,
            entry.name,
            refusal.reason,
            self.home.settings.street.register_poll_seconds,
        )

    def start_watching(self) -> None:
        """Look at the register every [street] register_poll_seconds in a thread of this process."""
        self._watch = RegisterWatch(self, self.home.settings.street.register_poll_seconds)
        self._watch.start()

    def stop_watching(self) -> None:
        """Stop looking at the register (before the runtimes are stopped and closed)."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    def close(self) -> None:
        """Stop watching the register, and close every community's database connections."""
        self.stop_watching()
        for runtime in self:
            runtime.close()


class RegisterWatch:
    """A daemon thread calling `street.add_registered()` every so often; a failed look is logged once."""

    def __init__(self, street: Street, seconds: float) -> None:
        self.street, self.seconds = street, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="griddesk-register-watch", daemon=True)
        self._failed = ""

    def start(self) -> None:
        """Start looking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop looking, after the look under way if any."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.street.add_registered()
            except SQLAlchemyError as exc:
                # The first community's database is away: the webhooks spool; look again next time.
                self._failure(_first_line(exc), log.warning)
            except Exception as exc:
                # A bug: said with its traceback, and the thread keeps looking rather than dying silently.
                self._failure(f"{type(exc).__name__}: {_first_line(exc)}", log.exception)
            else:
                self._failed = ""

    def _failure(self, reason: str, say: Callable[..., None]) -> None:
        """Log a failed look, unless the last look failed the same way."""
        if reason != self._failed:
            say("cannot look at the register of communities: %s", reason)
        self._failed = reason


def _start_web_workers(runtime: Runtime) -> None:
    """Start one community's spool replayer and inbox workers."""
    from bot.app import inbox_workers, spool_replayer

    spool_replayer(runtime.app).start(runtime.settings.spool.replay_interval_seconds)
    inbox_workers(runtime.app).start()


def _first_line(exc: BaseException) -> str:
    """An error's message on one line, as the log and the console show it."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


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
    return Street(home, others, settings_of=settings_of, migrate=migrate)


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
