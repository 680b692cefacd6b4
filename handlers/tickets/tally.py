"""Counts that a sweep or dispatcher run reports: a total, and a one-line summary for the log."""

from __future__ import annotations

from dataclasses import fields


class Tally:
    """Mixin for dataclasses whose fields are all counts."""

    @property
    def total(self) -> int:
        """Everything counted; zero when the run found nothing to do."""
        return sum(getattr(self, field.name) for field in fields(self))  # type: ignore[arg-type]

    def summary(self) -> str:
        """The non-zero counts, e.g. 'escalated=2 warned=1'."""
        counts = ((field.name, getattr(self, field.name)) for field in fields(self))  # type: ignore[arg-type]
        return " ".join(f"{name}={count}" for name, count in counts if count)
