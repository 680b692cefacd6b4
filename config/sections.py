"""The typed sections of the settings: WeChat, the dispatcher, deadlines, check-ins, the console, ..."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


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
    # Per staff member, under WeCom's 30 a minute and 1,000 an hour (past them WeCom drops pushes silently).
    staff_per_minute: int = 20
    staff_per_hour: int = 600
    # More routine pushes than this waiting for one staff member go out folded into one digest push.
    digest_after: int = 5


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
    # What the Official Account may send: "auto" learns it from WeChat's first 48001 answer (kept in the
    # database); "off" declares it up front (a personal-subject account has no customer-service messages,
    # an unverified one no template messages).
    customer_service_messages: str = "auto"
    template_messages: str = "auto"


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
        """The set-up template that carries a push kind, else the default one, else None (pings: None)."""
        if kind in DAILY_PING_KINDS:
            return None
        for template in self.templates.values():
            if kind in template.kinds and template.id:
                return template
        default = self.templates.get("default")
        return default if default is not None and default.id else None


# The daily check-in's pushes to the elder: the same words every day, which WeChat counts as abuse in a
# template message. They go as a long-term subscription message, a customer-service message, or not at
# all (the worker's call list); never as a template.
DAILY_PING_KINDS = ("checkin_ping", "checkin_reminder")
# Field types of a subscription template GridDesk knows how to fill (thing1, time2, phrase3 ...).
SUBSCRIPTION_FIELD_TYPES = ("thing", "time", "date", "phrase")


@dataclass(frozen=True)
class SubscriptionSettings:
    """The long-term subscription message (长期订阅通知) that carries the daily check-in ping."""

    checkin_template_id: str
    checkin_fields: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        """True when the account has a subscription template for the ping."""
        return bool(self.checkin_template_id)


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
    sweep_slice_size: int


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
class InboxSettings:
    """When the webhook stores a message to finish later rather than keep its sender waiting."""

    # A message is queued when this process's oldest message in hand has waited this long; 0: never queue.
    queue_after_seconds: float
    # Inbox worker threads in each web process.
    workers: int
    # How often an idle inbox worker looks for queued messages other processes stored.
    poll_seconds: float
    # How long a claimed message stays an inbox worker's; a worker that died leaves it to run out.
    lease_seconds: float


@dataclass(frozen=True)
class SpeechSettings:
    """The speech-to-text server that turns residents' voice messages into words (docs/delivery.md)."""

    # "openai" (POST /v1/audio/transcriptions), "funasr" (FunASR's runtime server), "" for none.
    backend: str
    # The address voice is sent to; for "openai" the transcriptions endpoint itself; for "funasr" ws(s)://
    # for its WebSocket server, http(s):// for its HTTP server.
    url: str
    # The model the "openai" server is asked for, and the language said (ISO 639-1, "" to let it guess).
    model: str
    language: str
    api_key: str
    timeout_seconds: float

    @property
    def enabled(self) -> bool:
        """True when a backend and its address are configured."""
        return bool(self.backend and self.url)


@dataclass(frozen=True)
class StreetSettings:
    """How a street deployment's serving processes notice communities added while they run."""

    register_poll_seconds: float


@dataclass(frozen=True)
class SpoolSettings:
    """Where the webhook keeps messages the database could not take, and how often they are replayed."""

    dir: Path
    replay_interval_seconds: float
