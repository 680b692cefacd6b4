"""The community's clock for check-ins: local days and minutes, the [checkins] timing, quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, false

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from storage.demo import minutes_after_midnight
from storage.models import Resident

# Staff and family pushes written during quiet hours start with this.
NIGHT = "(夜间提醒)"


@dataclass(frozen=True)
class LocalMoment:
    """A moment as the community's clock shows it: the calendar day and minutes after midnight."""

    day: date
    minute: int


def local_moment(now: datetime, timezone: str) -> LocalMoment:
    """The local day and minute of an aware datetime."""
    local = now.astimezone(ZoneInfo(timezone))
    return LocalMoment(local.date(), local.hour * 60 + local.minute)


@dataclass(frozen=True)
class Timing:
    """The [checkins] settings in minutes, and what they say about a local minute."""

    reminder: int
    knock: int
    catch_up: int
    quiet_start: int
    quiet_end: int
    list_minute: int

    @classmethod
    def of(cls, settings: DomainSettings) -> Timing:
        """Read the check-in settings."""
        checkins = settings.checkins
        return cls(
            reminder=checkins.reminder_after_minutes,
            knock=checkins.knock_after_minutes,
            catch_up=checkins.catch_up_hours * 60,
            quiet_start=minutes_after_midnight(checkins.quiet_start),
            quiet_end=minutes_after_midnight(checkins.quiet_end),
            list_minute=minutes_after_midnight(checkins.default_time),
        )

    @property
    def wraps(self) -> bool:
        """True when quiet hours run past midnight (21:00-07:00)."""
        return self.quiet_start > self.quiet_end

    def quiet(self, minute: int) -> bool:
        """True inside quiet hours; equal start and end mean there are none."""
        if self.wraps:
            return minute >= self.quiet_start or minute < self.quiet_end
        return self.quiet_start <= minute < self.quiet_end

    def quiet_until_tomorrow(self, minute: int) -> bool:
        """Inside the quiet stretch that ends after midnight: what is due now cannot go out today."""
        return self.wraps and minute >= self.quiet_start

    def night_minute(self) -> ColumnElement[bool]:
        """SQL: the resident's ping time falls in the quiet stretch that ends after midnight."""
        return Resident.checkin_minute >= self.quiet_start if self.wraps else false()


def is_night(services: Services) -> bool:
    """True during quiet hours: alerts to staff and family then say so."""
    minute = local_moment(services.now, services.settings.timezone).minute
    return Timing.of(services.settings).quiet(minute)


def clock(services: Services, moment: datetime | None) -> str:
    """'09:00' in local time."""
    if moment is None:
        return "--:--"
    return f"{moment.astimezone(ZoneInfo(services.settings.timezone)):%H:%M}"


def day_label(services: Services, day: date) -> str:
    """'今天', '昨天' or '11月21日', as seen from now."""
    today = local_moment(services.now, services.settings.timezone).day
    if day == today:
        return "今天"
    if day == today - timedelta(days=1):
        return "昨天"
    return f"{day.month}月{day.day}日"
