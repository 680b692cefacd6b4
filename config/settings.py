"""GridDesk settings: documented defaults < a config file < GRIDDESK_* environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).resolve().parent / "griddesk.toml"
ENV_PREFIX = "GRIDDESK_"


class SettingsError(ValueError):
    """A setting is missing, malformed or of the wrong type."""


@dataclass(frozen=True)
class Deadline:
    """Time allowed to sign for and to resolve one kind of ticket."""

    ack_minutes: int
    resolve_hours: int


@dataclass(frozen=True)
class WeChatSettings:
    """Official Account credentials; an empty secret means sandbox mode."""

    token: str
    appid: str
    secret: str
    aes_key: str

    @property
    def safe_mode(self) -> bool:
        """True when an EncodingAESKey is configured."""
        return bool(self.aes_key)


@dataclass(frozen=True)
class WebhookSettings:
    """Which /wechat requests are fresh enough to act on (docs/webhook-security.md)."""

    # A request signed further than this from our clock, either way, is refused; its nonce is kept as long.
    timestamp_window_seconds: int
    # 兼容模式: with an EncodingAESKey set, still accept plaintext (unencrypted) messages.
    allow_plaintext_in_safe_mode: bool


@dataclass(frozen=True)
class DispatcherSettings:
    """How the outbox dispatcher paces and retries pushes."""

    interval_seconds: float
    batch_size: int
    max_attempts: int
    backoff_seconds: float
    lease_seconds: float = 60.0


@dataclass(frozen=True)
class DeliverySettings:
    """Where the WeChat APIs live and how pushes reach them."""

    api_base_url: str
    wecom_api_base_url: str
    token_endpoint: str
    request_timeout_seconds: float
    customer_service_window_hours: float
    quota_pause_seconds: float
    console_url: str
    media_dir: Path


@dataclass(frozen=True)
class WeComSettings:
    """The WeCom (企业微信) app that pushes to staff; unset means no WeCom channel."""

    corp_id: str
    secret: str
    agent_id: int

    @property
    def enabled(self) -> bool:
        """True when corp id, secret and agent id are all configured."""
        return bool(self.corp_id and self.secret and self.agent_id)


@dataclass(frozen=True)
class Template:
    """One template message: its id, the push kinds it carries, and its field names in order."""

    name: str
    id: str
    kinds: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class TemplateSettings:
    """The Official Account's template messages, by push kind."""

    max_value_chars: int
    templates: Mapping[str, Template]

    def for_kind(self, kind: str) -> Template | None:
        """The set-up template that carries a push kind, else the default one, else None."""
        for template in self.templates.values():
            if kind in template.kinds and template.id:
                return template
        default = self.templates.get("default")
        return default if default is not None and default.id else None


@dataclass(frozen=True)
class EscalationSettings:
    """Deadline warnings, the escalation ladder, emergency paging and rating time-outs."""

    sweep_interval_seconds: float
    warn_at_fraction: float
    top_repeats: int
    emergency_repage_minutes: int
    emergency_overdue_repage_minutes: int
    rating_timeout_hours: int
    max_extension_hours: int
    invite_hours: int


@dataclass(frozen=True)
class CheckInSettings:
    """The daily check-in of elders living alone."""

    default_time: str
    reminder_after_minutes: int
    knock_after_minutes: int
    quiet_start: str
    quiet_end: str
    catch_up_hours: int


@dataclass(frozen=True)
class VisitSettings:
    """Home visit cadence (三访) in days, by household category."""

    hardship_days: int
    key_days: int
    ordinary_days: int
    remind_days_before: int
    digest_hour: int

    def cadence_days(self, household_category: str) -> int:
        """Days between visits for a household category (ordinary when unknown)."""
        return {"hardship": self.hardship_days, "key": self.key_days}.get(
            household_category, self.ordinary_days
        )


@dataclass(frozen=True)
class BindingSettings:
    """Proof before a WeChat user takes over a register entry: codes workers hand out, and their limits."""

    code_hours: int
    max_wrong_codes: int


@dataclass(frozen=True)
class ThrottleSettings:
    """Per-sender flood throttling of inbound messages."""

    messages_per_minute: int


@dataclass(frozen=True)
class ReportSettings:
    """Scheduled report pushes (日报, 周报, 月报): when they go out and where the full reports are read."""

    push_time: str
    console_base_url: str

    @property
    def push_minute(self) -> int:
        """push_time as minutes after local midnight."""
        hours, minutes = self.push_time.split(":")
        return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class ConsoleSettings:
    """The staff web console under /console: its public address, session key and sign-in rules."""

    base_url: str
    secret_key: str
    session_hours: int
    link_hours: int
    signin_max_failures: int
    signin_max_failures_per_address: int
    signin_lockout_minutes: int

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the console is served over HTTPS."""
        return self.base_url.lower().startswith("https://")


@dataclass(frozen=True)
class Open311Client:
    """One Open311 client allowed to file requests: its name (in the audit trail) and its api_key."""

    name: str
    # Kept out of repr so a logged Settings never shows a key.
    api_key: str = field(repr=False)


@dataclass(frozen=True)
class Open311Settings:
    """The Open311 GeoReport v2 API under /open311/v2: who may file, and what is public."""

    enabled: bool
    clients: tuple[Open311Client, ...]
    public_categories: tuple[str, ...]
    jurisdiction_id: str
    window_days: int
    max_requests: int
    # Where clients reach the API, for the discovery file; never taken from a request's Host header.
    public_base_url: str = ""
    # POSTs one client may make in a minute (0: no limit).
    posts_per_minute: int = 30


@dataclass(frozen=True)
class RegisterSettings:
    """What a household register file (台账) may hold before `residents import` refuses it unread."""

    max_rows: int
    max_columns: int
    max_expanded_mb: int
    max_compression_ratio: int


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data is kept (China's PIPL): days, 0 meaning for ever (docs/privacy.md)."""

    closed_ticket_days: int
    inbound_text_days: int
    sweep_interval_minutes: int


@dataclass(frozen=True)
class SpoolSettings:
    """Where the webhook keeps messages the database could not take, and how often they are replayed."""

    dir: Path
    replay_interval_seconds: float


@dataclass(frozen=True)
class Settings:
    """Everything GridDesk is configured with."""

    database_url: str
    host: str
    port: int
    max_body_bytes: int
    proxy_hops: int
    # Where `serve` writes the address it listens on, for `say` to find it.
    address_file: Path
    wechat: WeChatSettings
    webhook: WebhookSettings
    community_name: str
    duty_phone: str
    dispatcher: DispatcherSettings
    delivery: DeliverySettings
    wecom: WeComSettings
    templates: TemplateSettings
    escalation: EscalationSettings
    checkins: CheckInSettings
    visits: VisitSettings
    throttle: ThrottleSettings
    binding: BindingSettings
    console: ConsoleSettings
    reports: ReportSettings
    open311: Open311Settings
    retention: RetentionSettings
    register: RegisterSettings
    demo_path: Path
    intents_path: Path
    menu_path: Path
    # The emergency second opinion (bot/emergency_model.py); None: the rules alone.
    emergency_model_path: Path | None
    timezone: str
    deadlines: Mapping[str, Deadline]
    spool: SpoolSettings

    @property
    def sandbox(self) -> bool:
        """No app secret: nothing can be sent to WeChat."""
        return not self.wechat.secret

    def deadline(self, key: str) -> Deadline:
        """The deadline for a ticket kind, falling back to 'other'."""
        return self.deadlines.get(key) or self.deadlines["other"]


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    root: Path = PROJECT_ROOT,
) -> Settings:
    """Build Settings from the defaults, an optional config file and the environment."""
    environ = os.environ if environ is None else environ
    values = _read_toml(DEFAULTS_FILE)
    config_file = config_file or _path_from_env(environ)
    if config_file is not None:
        _merge(values, _read_toml(config_file), source=str(config_file))
    _apply_environment(values, environ)
    return _build(values, root)


def _path_from_env(environ: Mapping[str, str]) -> Path | None:
    name = environ.get(ENV_PREFIX + "CONFIG")
    return Path(name) if name else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def _merge(base: dict[str, Any], override: Mapping[str, Any], source: str, prefix: str = "") -> None:
    """Overlay override onto base, refusing keys the defaults do not know (typos would be silent)."""
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise SettingsError(f"{source}: unknown setting '{dotted}'")
        if isinstance(value, Mapping) and isinstance(base[key], dict):
            _merge(base[key], value, source, dotted + ".")
        else:
            base[key] = _coerce(base[key], value, dotted)


def _apply_environment(values: dict[str, Any], environ: Mapping[str, str]) -> None:
    for path, default in _leaves(values):
        name = ENV_PREFIX + "_".join(path).upper()
        if name in environ:
            _set(values, path, _coerce(default, environ[name], name))


def _leaves(values: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            found.extend(_leaves(value, (*path, key)))
        else:
            found.append(((*path, key), value))
    return found


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        values = values[key]
    values[path[-1]] = value


def _coerce(default: Any, value: Any, name: str) -> Any:
    """Convert value to the type of the default it replaces."""
    try:
        if isinstance(default, bool):
            return (
                value if isinstance(value, bool) else str(value).strip().lower() in {"1", "true", "yes", "on"}
            )
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: expected a number, got {value!r}") from exc
    return str(value) if isinstance(default, str) else value


def _build(values: Mapping[str, Any], root: Path) -> Settings:
    database_url = values["database"]["url"] or f"sqlite:///{root / 'var' / 'griddesk.db'}"
    aes_key = values["wechat"]["aes_key"]
    if aes_key and len(aes_key) != 43:
        raise SettingsError("wechat.aes_key (EncodingAESKey) must be 43 characters long")
    return Settings(
        database_url=database_url,
        host=values["server"]["host"],
        port=values["server"]["port"],
        max_body_bytes=values["server"]["max_body_bytes"],
        proxy_hops=values["server"]["proxy_hops"],
        address_file=_resolve(root, values["server"]["address_file"]),
        wechat=WeChatSettings(**values["wechat"]),
        webhook=_webhook(values["webhook"]),
        community_name=values["community"]["name"],
        duty_phone=values["community"]["duty_phone"],
        dispatcher=DispatcherSettings(**values["dispatcher"]),
        delivery=_delivery(values["delivery"], root),
        wecom=WeComSettings(**values["wecom"]),
        templates=_templates(values["templates"]),
        escalation=EscalationSettings(**values["escalation"]),
        checkins=CheckInSettings(**values["checkins"]),
        visits=VisitSettings(**values["visits"]),
        throttle=ThrottleSettings(**values["throttle"]),
        binding=_binding(values["binding"]),
        console=ConsoleSettings(**values["console"]),
        reports=_reports(values["reports"]),
        open311=_open311(values["open311"]),
        retention=_retention(values["retention"]),
        register=_register(values["register"]),
        demo_path=_resolve(root, values["paths"]["demo"]),
        intents_path=_resolve(root, values["paths"]["intents"]),
        menu_path=_resolve(root, values["paths"]["menu"]),
        emergency_model_path=_resolve(root, values["paths"]["emergency_model"])
        if values["paths"]["emergency_model"]
        else None,
        timezone=values["timezone"]["name"],
        deadlines={key: Deadline(**value) for key, value in values["deadlines"].items()},
        spool=_spool(values["spool"], root),
    )


# WeChat retries for about 15 s: a shorter window would refuse its retries; a longer one helps replays.
WEBHOOK_WINDOW_RANGE = (30, 3600)


def _webhook(values: Mapping[str, Any]) -> WebhookSettings:
    low, high = WEBHOOK_WINDOW_RANGE
    if not low <= values["timestamp_window_seconds"] <= high:
        raise SettingsError(
            f"webhook.timestamp_window_seconds must be between {low} and {high} seconds, "
            f"not {values['timestamp_window_seconds']}"
        )
    return WebhookSettings(**values)


def _delivery(values: Mapping[str, Any], root: Path) -> DeliverySettings:
    if values["token_endpoint"] not in ("stable", "classic"):
        raise SettingsError("delivery.token_endpoint must be 'stable' or 'classic'")
    return DeliverySettings(**{**values, "media_dir": _resolve(root, values["media_dir"])})


def _binding(values: Mapping[str, Any]) -> BindingSettings:
    if not 1 <= values["code_hours"] <= 24 * 30:
        raise SettingsError(f"binding.code_hours must be 1 to 720 hours, not {values['code_hours']!r}")
    if not 1 <= values["max_wrong_codes"] <= 10:
        raise SettingsError(f"binding.max_wrong_codes must be 1 to 10, not {values['max_wrong_codes']!r}")
    return BindingSettings(**values)


def _spool(values: Mapping[str, Any], root: Path) -> SpoolSettings:
    if not str(values["dir"]).strip():
        raise SettingsError("spool.dir must name a folder")
    if not values["replay_interval_seconds"] > 0:
        raise SettingsError("spool.replay_interval_seconds must be more than 0")
    return SpoolSettings(_resolve(root, values["dir"]), values["replay_interval_seconds"])


def _reports(values: Mapping[str, Any]) -> ReportSettings:
    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", values["push_time"]):
        raise SettingsError(f"reports.push_time must be a local time like 08:00, not {values['push_time']!r}")
    return ReportSettings(**values)


def _open311(values: Mapping[str, Any]) -> Open311Settings:
    if values["window_days"] < 1 or values["max_requests"] < 1:
        raise SettingsError("open311.window_days and open311.max_requests must be at least 1")
    if values["posts_per_minute"] < 0:
        raise SettingsError("open311.posts_per_minute must be 0 (no limit) or more")
    return Open311Settings(
        enabled=values["enabled"],
        clients=tuple(_open311_client(entry) for entry in _names(values["api_keys"])),
        public_categories=_names(values["public_categories"]),
        jurisdiction_id=values["jurisdiction_id"],
        window_days=values["window_days"],
        max_requests=values["max_requests"],
        public_base_url=_base_url(values["public_base_url"], "open311.public_base_url"),
        posts_per_minute=values["posts_per_minute"],
    )


# Below a week, data still in use would go: a backlog's unprocessed messages, a rating just asked for.
MIN_RETENTION_DAYS = 7


def _retention(values: Mapping[str, Any]) -> RetentionSettings:
    for key in ("closed_ticket_days", "inbound_text_days"):
        days = values[key]
        if days != 0 and days < MIN_RETENTION_DAYS:
            raise SettingsError(
                f"retention.{key} must be 0 (keep for ever) or at least {MIN_RETENTION_DAYS} days, not {days}"
            )
    if values["sweep_interval_minutes"] < 1:
        raise SettingsError("retention.sweep_interval_minutes must be at least 1")
    return RetentionSettings(**values)


def _base_url(value: str, name: str) -> str:
    """'https://griddesk.example.org' (a path is fine, a query or fragment is not); '' stays unset."""
    url = value.strip().rstrip("/")
    if url and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~%/\-]*)?", url):
        raise SettingsError(f"{name} must be an http(s) address like https://griddesk.example.org: {value!r}")
    return url


def _register(values: Mapping[str, Any]) -> RegisterSettings:
    for key, value in values.items():
        if value < 1:
            raise SettingsError(f"register.{key} must be at least 1, not {value}")
    return RegisterSettings(**values)


def _open311_client(entry: str) -> Open311Client:
    """'name:key' names the client in the audit trail; a bare key belongs to a client called 'client'."""
    name, colon, key = entry.partition(":")
    name, key = (name.strip(), key.strip()) if colon else ("client", name.strip())
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,30}", name) or len(key) < 8:
        raise SettingsError("open311.api_keys: comma-separated 'client:key' entries, keys of 8+ characters")
    return Open311Client(name, key)


def _templates(values: Mapping[str, Any]) -> TemplateSettings:
    templates = {
        name: Template(name, entry["id"], _names(entry["kinds"]), _names(entry["fields"]))
        for name, entry in values.items()
        if isinstance(entry, Mapping)
    }
    for template in templates.values():
        if not template.fields:
            raise SettingsError(f"templates.{template.name}.fields must name at least one field")
    return TemplateSettings(values["max_value_chars"], templates)


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list from a config file or the environment."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _resolve(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate
