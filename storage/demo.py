"""The sandbox community (config/demo.toml), loaded into an empty database at start-up."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.community import load_community, minutes_after_midnight
from storage.models import Grid

# load_community and minutes_after_midnight live in storage/community.py; still importable from here.
__all__ = ["load_community", "minutes_after_midnight", "seed_community"]


def seed_community(session: Session, path: Path, now: datetime) -> bool:
    """Load the community into an empty register; later starts keep what people changed since."""
    if session.scalar(select(Grid.id).limit(1)) is not None:
        return False
    load_community(session, path, now)
    return True
