"""Report periods: a local calendar day, week (Monday to Sunday) or month, and its bounds in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KINDS = ("day", "week", "month")
# The days reports are made for. Far outside them calendar arithmetic and time zones overflow
# (0001-01-01 has no day before it in UTC), and nothing GridDesk recorded lies there.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


class DayOutOfRange(ValueError):
    """A report asked for a day outside FIRST_DAY..LAST_DAY."""

    def __init__(self, day: date) -> None:
        super().__init__(f"date {day.isoformat()} is out of range: reports cover {FIRST_DAY} to {LAST_DAY}")
        self.day = day


@dataclass(frozen=True)
class Period:
    """A local calendar period in settings.timezone; `end` is the first day after it."""

    kind: str
    start: date
    end: date
    label: str

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """Local midnight at the start and at the end, as aware UTC datetimes (end exclusive)."""
        return local_midnight(self.start, timezone), local_midnight(self.end, timezone)


def period_for(kind: str, day: date) -> Period:
    """The day, week (from Monday) or month that contains `day`; DayOutOfRange far in the past or future."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DayOutOfRange(day)
    if kind == "day":
        return Period(kind, day, day + timedelta(days=1), _day_label(day))
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
        return Period(kind, start, end, _week_label(start, end))
    if kind == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=31)).replace(day=1)
        return Period(kind, start, end, f"{start.year}年{start.month}月")
    raise ValueError(f"period kind must be one of {', '.join(KINDS)}, not {kind!r}")


def previous_period(period: Period) -> Period:
    """The period of the same kind just before this one."""
    return period_for(period.kind, period.start - timedelta(days=1))


def neighbour(period: Period, step: int) -> Period | None:
    """The period before (-1) or after (+1) this one; None past FIRST_DAY or LAST_DAY."""
    day = period.start - timedelta(days=1) if step < 0 else period.end
    return period_for(period.kind, day) if FIRST_DAY <= day <= LAST_DAY else None


def latest_due(kind: str, now: datetime, timezone: str, push_minute: int) -> Period:
    """The last period of this kind whose push time (push_minute on the day after it ended) has come."""
    local = now.astimezone(ZoneInfo(timezone))
    period = previous_period(period_for(kind, local.date()))
    hour, minute = divmod(push_minute, 60)
    push_at = datetime.combine(period.end, time(hour, minute), ZoneInfo(timezone))
    return period if now >= push_at else previous_period(period)


def local_midnight(day: date, timezone: str) -> datetime:
    """The start of a local calendar day, in UTC."""
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)


def local_today(now: datetime, timezone: str) -> date:
    """The community's calendar date at `now`."""
    return now.astimezone(ZoneInfo(timezone)).date()


def _day_label(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _week_label(start: date, end: date) -> str:
    year, week, _ = start.isocalendar()
    last = end - timedelta(days=1)
    return f"{year}年第{week}周({start.month}月{start.day}日–{last.month}月{last.day}日)"
