"""The failures a command reports in one line, with its exit status, instead of a traceback."""

from __future__ import annotations

from config.settings import Settings, SettingsError


def explain(exc: Exception, settings: Settings | None) -> tuple[str, int] | None:
    """One line and an exit status for a failure people can act on; None for a bug (its traceback shows)."""
    # Imported here, on the way out: a command that never loaded these cannot have raised them.
    from bot.routing_corpus import CorpusError
    from handlers.language.rule_tables import IntentRulesError

    if isinstance(exc, SettingsError | IntentRulesError | CorpusError):
        return f"configuration error: {exc}", 2
    from bot.bootstrap import SchemaBehind

    if isinstance(exc, SchemaBehind):
        return str(exc), 1
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError) and settings is not None:
        return f"cannot use the database {_where(settings.database_url)}: {_reason(exc)}", 1
    return None


def _where(url: str) -> str:
    """The database's host (or file) and its URL with the password masked."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.host is None:
        return shown
    return f"on {parsed.host}{f':{parsed.port}' if parsed.port else ''} ({shown})"


def _reason(exc: Exception) -> str:
    """The driver's own words, first line only (psycopg adds a hint line)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__
