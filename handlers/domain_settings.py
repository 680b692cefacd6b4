"""What the domain may know of the settings: rules and wording, never credentials, addresses or paths.

`DomainSettings.of(settings)` is made once by whoever wires the parts (bot/bootstrap.py, bot/app.py,
bot/scheduler.py, the commands); handlers, and the sweeps they share rules with, read only this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.sections import (
    BindingSettings,
    CheckInSettings,
    Deadline,
    DispatcherSettings,
    EscalationSettings,
    ReportSettings,
    SubscriptionSettings,
    ThrottleSettings,
    VisitSettings,
)
from config.settings import Settings, deadline_of


@dataclass(frozen=True)
class ConsoleLinkSettings:
    """Where a push's console link points and how long it works; the console's key stays in bot/."""

    base_url: str
    link_hours: int


@dataclass(frozen=True)
class DomainSettings:
    """The settings handlers and sweeps read, under the same names as in `Settings`."""

    community_name: str
    duty_phone: str
    timezone: str
    deadlines: Mapping[str, Deadline]
    escalation: EscalationSettings
    checkins: CheckInSettings
    visits: VisitSettings
    binding: BindingSettings
    throttle: ThrottleSettings
    dispatcher: DispatcherSettings
    console: ConsoleLinkSettings
    reports: ReportSettings
    # How the daily ping reaches an elder: a subscription message, else the customer-service window.
    subscriptions: SubscriptionSettings
    customer_service_window_hours: float
    # False when settings declare the account has no customer-service messages (a personal-subject account).
    customer_service_messages: bool = True

    @classmethod
    def of(cls, settings: Settings) -> DomainSettings:
        """The domain's part of `settings`."""
        return cls(
            community_name=settings.community_name,
            duty_phone=settings.duty_phone,
            timezone=settings.timezone,
            deadlines=settings.deadlines,
            escalation=settings.escalation,
            checkins=settings.checkins,
            visits=settings.visits,
            binding=settings.binding,
            throttle=settings.throttle,
            dispatcher=settings.dispatcher,
            console=ConsoleLinkSettings(settings.console.base_url, settings.console.link_hours),
            reports=settings.reports,
            subscriptions=settings.subscriptions,
            customer_service_window_hours=settings.delivery.customer_service_window_hours,
            customer_service_messages=settings.delivery.customer_service_messages != "off",
        )

    def deadline(self, key: str) -> Deadline:
        """The deadline for a ticket kind, falling back to 'other'."""
        return deadline_of(self.deadlines, key)
