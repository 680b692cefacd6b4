"""`community add` and `community list`, and `--community SLUG` for every other command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from bot.bootstrap import SchemaBehind, bootstrap
from bot.commands.runtime import open_for_reading, shown_url
from bot.street import entry_of, register_of, shared_account
from config.communities import HOME_SLUG, CommunityEntry, check_slug, community_prefix
from config.settings import Settings, SettingsError, load_settings
from storage.db import snapshot, transaction
from storage.repositories import communities

NAME_CHARS = 40


def settings_for(settings: Settings, slug: str) -> Settings:
    """The settings of the community with this slug (the register is read, nothing written)."""
    if slug == HOME_SLUG:
        return settings
    runtime = open_for_reading(settings)
    try:
        with snapshot(runtime.factory) as session:
            record = communities.with_slug(session, slug)
            entry = entry_of(record) if record is not None else None
    finally:
        runtime.close()
    if entry is None or entry.home:
        raise SettingsError(f"--community {slug}: no such community (`uv run run.py community list`)")
    return load_settings(community=entry)


def every_community(settings: Settings) -> list[Settings]:
    """Each community's settings, the first community's first; only its own when the register cannot be read.

    The register is in the first community's database: unreachable, or at a schema without one, there is
    no other community to find (and whatever then uses that database says what is wrong with it).
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return [settings]  # no database there: connecting to read the register would make the file
    try:
        runtime = open_for_reading(settings)
    except (SchemaBehind, DBAPIError):
        return [settings]
    try:
        with snapshot(runtime.factory) as session:
            entries = [entry_of(record) for record in communities.registered(session)]
    except DBAPIError:
        return [settings]
    finally:
        runtime.close()
    return [settings, *(load_settings(community=entry) for entry in entries if not entry.home)]


def community_add(settings: Settings, args: argparse.Namespace) -> int:
    """Register a community with a database of its own, migrated, and say how to fill it."""
    if args.community is not None:
        return _deployment_wide("community add")
    slug, name = check_slug(args.slug), args.name.strip()
    if slug == HOME_SLUG:
        raise SettingsError(f"community {HOME_SLUG}: the first community, on the deployment's own database")
    if not 1 <= len(name) <= NAME_CHARS:
        raise SettingsError(f"--name: 1 to {NAME_CHARS} characters, got {len(name)}")
    config_file = args.config.resolve() if args.config else None
    database_url = args.database or database_beside(settings.database_url, slug)
    if make_url(database_url) == make_url(settings.database_url):
        raise SettingsError("--database: that is the first community's database; each has its own")
    entry = CommunityEntry(slug, name, database_url, config_file)
    own = load_settings(community=entry)  # a bad file or variable stops here, before anything is made
    shared = shared_account({HOME_SLUG: settings, slug: own})
    if shared is not None:
        raise SettingsError(shared)
    home = bootstrap(settings).prepare()
    try:
        with transaction(home.factory) as session:
            communities.register_first(session, HOME_SLUG, home.clock())
            if communities.with_slug(session, slug) is not None:
                raise SettingsError(f"community {slug}: already registered (`uv run run.py community list`)")
            taken = [r.slug for r in communities.registered(session) if r.database_url == database_url]
            if taken:
                shown = shown_url(database_url)
                raise SettingsError(f"--database: community {taken[0]} already uses {shown}")
            create_database(database_url)
            bootstrap(own).prepare().close()
            kept_file = str(config_file) if config_file else None
            communities.register(session, slug, name, database_url, kept_file, home.clock())
    finally:
        home.close()
    print(f"community {slug} ({name}) added, database {shown_url(database_url)}")
    print(f"  webhook: /wechat/{slug}   console: /c/{slug}/console   Open311: /c/{slug}/open311/v2")
    print(f"  next: uv run run.py --community {slug} community load FILE   (grids, buildings, staff)")
    seconds = settings.street.register_poll_seconds
    print(f"  running `serve` and `scheduler` processes start serving it within {seconds:g} seconds")
    own = sorted(name for name in os.environ if name.startswith(community_prefix(slug)))
    if own:
        # A process reads its environment once: these reach the running ones only when they restart.
        print(f"  they do not see {own[0]}{' ...' if len(own) > 1 else ''} until they restart")
    return 0


def community_list(settings: Settings, args: argparse.Namespace) -> int:
    """Every community of the deployment: slug, name, database, where its webhook is."""
    if args.community is not None:
        return _deployment_wide("community list")
    runtime = open_for_reading(settings)
    try:
        entries = register_of(runtime, write=False)
    finally:
        runtime.close()
    for entry in entries:
        database = shown_url(entry.database_url or settings.database_url)
        webhook = "/wechat" if entry.home else f"/wechat/{entry.slug}"
        print(f"{entry.slug}\t{entry.name or settings.community_name}\t{webhook}\t{database}")
    return 0


def _deployment_wide(command: str) -> int:
    """Refuse --community for a command on the register (it is the first community's database's): 2."""
    print(f"{command} works on the whole deployment's register: leave out --community", file=sys.stderr)
    return 2


def database_beside(home_url: str, slug: str) -> str:
    """Where a new community's database goes by default: a file beside SQLite's, a database on the server."""
    url = make_url(home_url)
    if url.get_backend_name() == "sqlite":
        folder = Path(url.database or "griddesk.db").parent / "communities"
        return url.set(database=str(folder / f"{slug}.db")).render_as_string(hide_password=False)
    return url.set(database=f"{url.database}_{slug}").render_as_string(hide_password=False)


def create_database(database_url: str) -> None:
    """Make the community's database if it is a server's and not there yet (SQLite makes its file)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = create_engine(_maintenance(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            found = text("SELECT 1 FROM pg_database WHERE datname = :name")
            exists = connection.scalar(found, {"name": url.database})
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        engine.dispose()


def _maintenance(url: URL) -> URL:
    return url.set(database="postgres")
