"""Where settings come from: the documented defaults, a config file and GRIDDESK_* variables, each value
remembered with its origin so an error line can name it."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "GRIDDESK_"
# One community's own settings in a street deployment: GRIDDESK_COMMUNITIES_<SLUG>_<SECTION>_<KEY>.
COMMUNITY_ENV_PREFIX = ENV_PREFIX + "COMMUNITIES_"
# GRIDDESK_* variables that are not settings; any other GRIDDESK_* name not matching a setting is refused,
# since a misspelt variable would otherwise be ignored without a word.
NON_SETTING_VARIABLES = frozenset(
    {
        "GRIDDESK_CONFIG",  # the config file to read (below)
        "GRIDDESK_TEST_DATABASE_URL",  # the tests' PostgreSQL server (tests/conftest.py, .ci/run)
    }
)


class SettingsError(ValueError):
    """A setting is missing, malformed or of the wrong type."""


class Origin:
    """Where one setting's value came from: a config file, or an environment variable."""

    __slots__ = ("from_env", "label")

    def __init__(self, label: str, from_env: bool = False) -> None:
        self.label, self.from_env = label, from_env

    def where(self, key: str) -> str:
        """'GRIDDESK_SERVER_PORT (server.port)' or '/srv/griddesk.toml: server.port'."""
        return f"{self.label} ({key})" if self.from_env else f"{self.label}: {key}"


def config_file_from_env(environ: Mapping[str, str]) -> Path | None:
    name = environ.get(ENV_PREFIX + "CONFIG")
    return Path(name) if name else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def merge_file(
    base: dict[str, Any],
    override: Mapping[str, Any],
    origins: dict[str, Origin],
    source: str,
    prefix: str = "",
) -> None:
    """Overlay override onto base, refusing keys the defaults do not know (typos would be silent)."""
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            hint = _did_you_mean(key, base, prefix)
            raise SettingsError(f"{source}: unknown setting '{dotted}'{hint}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise SettingsError(f"{source}: {dotted}: expected a table [{dotted}], got {value!r}")
            merge_file(base[key], value, origins, source, dotted + ".")
        elif isinstance(value, Mapping):
            raise SettingsError(f"{source}: {dotted}: expected one value, got a table [{dotted}]")
        else:
            base[key] = value
            origins[dotted] = Origin(source)


def apply_environment(
    values: dict[str, Any],
    environ: Mapping[str, str],
    origins: dict[str, Origin],
    prefix: str = ENV_PREFIX,
    refused: tuple[str, ...] = (),
) -> None:
    """Take <prefix><SECTION>_<KEY> variables, refusing names under the prefix that are no setting.

    The deployment's own variables are GRIDDESK_*; one community's are GRIDDESK_COMMUNITIES_<SLUG>_*
    (config/communities.py), skipped here and taken by that community's settings, which refuse the
    sections in `refused`.
    """
    keys = {_variable(key, prefix): key for key in origins}
    for name in sorted(environ):
        if not name.startswith(prefix) or name in NON_SETTING_VARIABLES:
            continue
        if prefix == ENV_PREFIX and name.startswith(COMMUNITY_ENV_PREFIX):
            continue
        if keys.get(name, "").split(".")[0] in refused:
            raise SettingsError(f"{name}: {keys[name]} is the deployment's, the same for every community")
        key = keys.get(name)
        if key is None:
            hint = _did_you_mean(name, keys, "")
            raise SettingsError(
                f"{name}: not a GridDesk setting{hint}; settings are {prefix}<SECTION>_<KEY> "
                "after config/griddesk.toml"
            )
        set_value(values, key, environ[name])
        origins[key] = Origin(name, from_env=True)


def _variable(key: str, prefix: str = ENV_PREFIX) -> str:
    """'checkins.default_time' -> 'GRIDDESK_CHECKINS_DEFAULT_TIME'."""
    return prefix + key.replace(".", "_").upper()


def _did_you_mean(name: str, known: Mapping[str, Any], prefix: str) -> str:
    """' (did you mean ...?)' for a close known name, else ''."""
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def leaves(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every setting as (dotted key, value)."""
    found: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            found.extend(leaves(value, f"{prefix}{key}."))
        else:
            found.append((f"{prefix}{key}", value))
    return found


def get_value(values: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        values = values[part]
    return values


def set_value(values: dict[str, Any], key: str, value: Any) -> None:
    *sections, last = key.split(".")
    for part in sections:
        values = values[part]
    values[last] = value
