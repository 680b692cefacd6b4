"""Alembic environment: runs on the connection GridDesk hands it, or on GRIDDESK's database URL."""

from alembic import context
from sqlalchemy import Connection

from storage.models import Base


def run(connection: Connection) -> None:
    """Run migrations on one connection; batch mode lets SQLite alter tables."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_settings() -> None:
    """Used by the alembic command line: migrate the configured database."""
    from config.settings import load_settings
    from storage.db import make_engine

    engine = make_engine(load_settings().database_url)
    with engine.begin() as connection:
        run(connection)
    engine.dispose()


connection = context.config.attributes.get("connection")
if connection is None:
    run_from_settings()
else:
    run(connection)
