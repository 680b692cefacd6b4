"""GridDesk settings: documented defaults < a config file < GRIDDESK_* environment variables."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from config.checks import RULES, check_values, client_parts, names_in
from config.communities import HOME_SLUG, CommunityEntry, overlay_community
from config.sections import (
    BindingSettings,
    CheckInSettings,
    ConsoleSettings,
    Deadline,
    DeliverySettings,
    DispatcherSettings,
    EscalationSettings,
    InboxSettings,
    Open311Client,
    Open311Settings,
    RegisterSettings,
    ReportSettings,
    RetentionSettings,
    SpeechSettings,
    SpoolSettings,
    StreetSettings,
    SubscriptionSettings,
    Template,
    TemplateSettings,
    ThrottleSettings,
    VisitSettings,
    WebhookSettings,
    WeChatSettings,
    WeComSettings,
)
from config.sources import (
    ENV_PREFIX,
    NON_SETTING_VARIABLES,
    Origin,
    SettingsError,
    apply_environment,
    config_file_from_env,
    leaves,
    merge_file,
    read_toml,
)

# The sections live in config/sections.py; importers keep naming them from here.
__all__ = [
    "ENV_PREFIX",
    "NON_SETTING_VARIABLES",
    "RULES",
    "BindingSettings",
    "CheckInSettings",
    "ConsoleSettings",
    "Deadline",
    "DeliverySettings",
    "DispatcherSettings",
    "EscalationSettings",
    "InboxSettings",
    "Open311Client",
    "Open311Settings",
    "RegisterSettings",
    "ReportSettings",
    "RetentionSettings",
    "SettingsError",
    "SpeechSettings",
    "SpoolSettings",
    "StreetSettings",
    "SubscriptionSettings",
    "Template",
    "TemplateSettings",
    "ThrottleSettings",
    "VisitSettings",
    "WeChatSettings",
    "WeComSettings",
    "WebhookSettings",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).resolve().parent / "griddesk.toml"


@dataclass(frozen=True)
class Settings:
    """Everything GridDesk is configured with."""

    database_url: str
    host: str
    port: int
    max_body_bytes: int
    proxy_hops: int
    wechat: WeChatSettings
    webhook: WebhookSettings
    community_name: str
    duty_phone: str
    dispatcher: DispatcherSettings
    delivery: DeliverySettings
    wecom: WeComSettings
    templates: TemplateSettings
    subscriptions: SubscriptionSettings
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
    # The demo community loaded in the sandbox; None for a community that names none of its own.
    demo_path: Path | None
    intents_path: Path
    menu_path: Path
    # The emergency second opinion (handlers/language/emergency_model.py); None: the rules alone.
    emergency_model_path: Path | None
    timezone: str
    deadlines: Mapping[str, Deadline]
    spool: SpoolSettings
    inbox: InboxSettings
    speech: SpeechSettings
    street: StreetSettings
    # Where `serve` records the address it listens on, so `say` finds it.
    address_file: Path
    # Which community of the deployment these settings are (config/communities.py), and the path its
    # console and Open311 are served under ('' for the first community).
    community_slug: str = HOME_SLUG
    mount: str = ""

    @property
    def sandbox(self) -> bool:
        """No app secret: nothing can be sent to WeChat."""
        return not self.wechat.secret

    def deadline(self, key: str) -> Deadline:
        """The deadline for a ticket kind, falling back to 'other'."""
        return deadline_of(self.deadlines, key)


def deadline_of(deadlines: Mapping[str, Deadline], key: str) -> Deadline:
    """The deadline for a ticket kind among these, falling back to 'other'."""
    return deadlines.get(key) or deadlines["other"]


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    root: Path = PROJECT_ROOT,
    community: CommunityEntry | None = None,
) -> Settings:
    """Build Settings from the defaults, an optional config file and the environment, checking every value.

    For a community other than the first, its own file and variables go over those (config/communities.py).
    """
    environ = os.environ if environ is None else environ
    values = copy.deepcopy(_shipped_defaults())  # merged into and changed below
    defaults = dict(leaves(values))
    origins = {key: Origin(str(DEFAULTS_FILE)) for key in defaults}
    config_file = config_file or config_file_from_env(environ)
    if config_file is not None:
        merge_file(values, read_toml(config_file), origins, str(config_file))
    apply_environment(values, environ, origins)
    if community is None or community.home:
        check_values(values, origins, defaults)
        return _build(values, root)
    own_demo = overlay_community(values, origins, community, environ)
    check_values(values, origins, defaults)
    settings = _build(values, root)
    return replace(
        settings,
        community_slug=community.slug,
        mount=community.mount,
        demo_path=settings.demo_path if own_demo else None,
    )


@cache
def _shipped_defaults() -> dict[str, Any]:
    """The defaults file, parsed once a process: it ships with the code (tests load settings per test)."""
    return read_toml(DEFAULTS_FILE)


def _build(values: Mapping[str, Any], root: Path) -> Settings:
    """Settings from values already checked and put into shape."""
    return Settings(
        database_url=values["database"]["url"] or f"sqlite:///{root / 'var' / 'griddesk.db'}",
        host=values["server"]["host"],
        port=values["server"]["port"],
        max_body_bytes=values["server"]["max_body_bytes"],
        proxy_hops=values["server"]["proxy_hops"],
        wechat=WeChatSettings(**values["wechat"]),
        webhook=WebhookSettings(**values["webhook"]),
        community_name=values["community"]["name"],
        duty_phone=values["community"]["duty_phone"],
        dispatcher=DispatcherSettings(**values["dispatcher"]),
        delivery=DeliverySettings(
            **{**values["delivery"], "media_dir": _resolve(root, values["delivery"]["media_dir"])}
        ),
        wecom=WeComSettings(**values["wecom"]),
        templates=_templates(values["templates"]),
        subscriptions=_subscriptions(values["subscriptions"]),
        escalation=EscalationSettings(**values["escalation"]),
        checkins=CheckInSettings(**values["checkins"]),
        visits=VisitSettings(**values["visits"]),
        throttle=ThrottleSettings(**values["throttle"]),
        binding=BindingSettings(**values["binding"]),
        console=ConsoleSettings(**values["console"]),
        reports=ReportSettings(**values["reports"]),
        open311=_open311(values["open311"]),
        retention=RetentionSettings(**values["retention"]),
        register=RegisterSettings(**values["register"]),
        demo_path=_resolve(root, values["paths"]["demo"]),
        intents_path=_resolve(root, values["paths"]["intents"]),
        menu_path=_resolve(root, values["paths"]["menu"]),
        emergency_model_path=_resolve(root, values["paths"]["emergency_model"])
        if values["paths"]["emergency_model"]
        else None,
        timezone=values["timezone"]["name"],
        deadlines={key: Deadline(**value) for key, value in values["deadlines"].items()},
        spool=SpoolSettings(
            _resolve(root, values["spool"]["dir"]), values["spool"]["replay_interval_seconds"]
        ),
        inbox=InboxSettings(**values["inbox"]),
        speech=SpeechSettings(**values["speech"]),
        street=StreetSettings(**values["street"]),
        address_file=_resolve(root, values["server"]["address_file"]),
    )


def _open311(values: Mapping[str, Any]) -> Open311Settings:
    return Open311Settings(
        enabled=values["enabled"],
        clients=tuple(_open311_client(entry) for entry in names_in(values["api_keys"])),
        public_categories=names_in(values["public_categories"]),
        jurisdiction_id=values["jurisdiction_id"],
        window_days=values["window_days"],
        max_requests=values["max_requests"],
        public_base_url=values["public_base_url"],
        posts_per_minute=values["posts_per_minute"],
    )


def _open311_client(entry: str) -> Open311Client:
    parts = client_parts(entry)
    if parts is None:  # refused by _ApiKeys already
        raise SettingsError("open311.api_keys: expected 'client:key' entries")
    return Open311Client(*parts)


def _templates(values: Mapping[str, Any]) -> TemplateSettings:
    templates = {
        name: Template(name, entry["id"], names_in(entry["kinds"]), names_in(entry["fields"]))
        for name, entry in values.items()
        if isinstance(entry, Mapping)
    }
    return TemplateSettings(values["max_value_chars"], templates)


def _subscriptions(values: Mapping[str, Any]) -> SubscriptionSettings:
    return SubscriptionSettings(values["checkin_template_id"], names_in(values["checkin_fields"]))


def _resolve(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate
