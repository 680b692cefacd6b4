"""The deployment's register of the communities it serves (kept in the deployment's own database)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class CommunityRecord(Base):
    """One community of the deployment: its slug, and where its database and own settings are."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    # None: the first community, named by the settings' [community] name.
    name: Mapped[str | None] = mapped_column(String(40))
    # None: the deployment's own database (the first community's); a URL may hold a password, so the
    # register lives in the deployment's database, never in an export.
    database_url: Mapped[str | None] = mapped_column(String(500))
    config_file: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
