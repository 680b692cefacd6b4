"""Migration 0022: a database serving one community becomes a street's first tenant, losing nothing."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select, text

from bot.street import open_street
from storage.db import MIGRATIONS, make_engine, make_session_factory, transaction, upgrade
from storage.demo import load_community
from storage.models import CommunityRecord, Grid, Resident, Worker

COUNTED = (Grid, Worker, Resident)


def migrate_to(engine, revision: str) -> None:
    """Run the migrations up to `revision`, as an older GridDesk left its database."""
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def counts(factory) -> dict[str, int]:
    with transaction(factory) as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def test_a_database_with_a_community_is_registered_as_the_first_and_keeps_every_row(settings, clock) -> None:
    engine = make_engine(settings.database_url)
    migrate_to(engine, "0021")
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        load_community(session, settings.demo_path, clock())
        session.execute(text("UPDATE workers SET phone = '13900009999' WHERE name = '王芳'"))
    before = counts(factory)

    upgrade(engine)

    with transaction(factory) as session:
        registered = [(r.slug, r.name, r.database_url) for r in session.scalars(select(CommunityRecord))]
        phone = session.scalar(select(Worker.phone).where(Worker.name == "王芳"))
    assert registered == [("main", None, None)]
    assert counts(factory) == before and before["Resident"] > 0 and phone == "13900009999"
    engine.dispose()


def test_a_new_database_gets_its_first_community_when_the_deployment_starts(settings, clock) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        assert session.scalars(select(CommunityRecord)).all() == []
    engine.dispose()

    street = open_street(settings, environ={}, clock=clock)
    try:
        assert list(street.runtimes) == ["main"]
        with transaction(street.home.factory) as session:
            assert session.scalars(select(CommunityRecord.slug)).all() == ["main"]
    finally:
        street.close()
