"""Time for every stage: parsing the instants staff write, and laying newsletter slots on local wall time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import quoted
from .setting_values import Slot

_LOCAL = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)(?:\s+([A-Za-z][\w+\-/]*))?")


def parse_instant(raw: str, zone: ZoneInfo) -> datetime:
    """`YYYY-MM-DD HH:MM` local to `zone` (or to an IANA zone named after it), or ISO 8601 with an offset.

    Raises ValueError with a message fit for a writer: nonexistent local times (the spring-forward gap)
    are refused rather than silently shifted by an hour.
    """
    value = raw.strip()
    m = _LOCAL.fullmatch(value)
    if m:
        day, clock, zone_name = m.groups()
        if zone_name:
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{quoted(zone_name)} is not an IANA time zone name (such as Europe/Zurich)") from None
        try:
            hour, rest = clock.split(":", 1)
            naive = datetime.fromisoformat(f"{day}T{hour.zfill(2)}:{rest}")
        except ValueError as exc:
            raise ValueError(f"{quoted(value)} is not a real date and time ({exc})") from None
        return localize(naive, zone)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{quoted(value)} is not 'YYYY-MM-DD HH:MM' or ISO 8601 with an offset (2019-07-12T09:00+02:00)"
        ) from None
    if parsed.tzinfo is None:
        return localize(parsed, zone)
    return parsed


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach `zone` to a wall time; refuse a time that the clocks skip."""
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:
        raise ValueError(f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it (daylight saving)")
    return aware


def parse_day(raw: str) -> date:
    value = raw.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{quoted(value)} is not a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{quoted(value)} is not a real date ({exc})") from None


def at_local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`day` at `clock` in `zone`; a wall time skipped by daylight saving moves forward past the gap."""
    naive = datetime.combine(day, clock)
    try:
        return localize(naive, zone)
    except ValueError:
        return (naive.replace(tzinfo=zone).astimezone(UTC)).astimezone(zone)


def slots_between(schedule: tuple[Slot, ...], zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """Every slot instant in (after, until], in order, laid on local wall time so DST never shifts them."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for slot in sorted(schedule, key=lambda s: s.at):
            if slot.weekday is None or slot.weekday == day.weekday():
                instant = at_local(day, slot.at, zone)
                if after < instant <= until:
                    yield instant
        day += timedelta(days=1)


def previous_slot(schedule: tuple[Slot, ...], zone: ZoneInfo, now: datetime) -> datetime:
    """The latest slot at or before `now` (every schedule has one within a week)."""
    found = list(slots_between(schedule, zone, now - timedelta(days=8), now))
    return found[-1]


def next_slot(schedule: tuple[Slot, ...], zone: ZoneInfo, now: datetime) -> datetime:
    """The first slot strictly after `now`."""
    return next(slots_between(schedule, zone, now, now + timedelta(days=8)))


def utc_iso(instant: datetime) -> str:
    """The form instants are stored in: UTC, seconds, a trailing Z (sorts as text)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_utc_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def human_duration(delta: timedelta, words: Callable[[int, str], str] | None = None) -> str:
    """A duration as people say it: 3 days, 24 hours, 5 hours 20 minutes, 12 minutes. `words` says a number of a
    unit (day, hour, minute, second) in another language (the public pages': bot.web.lang)."""
    seconds = int(delta.total_seconds())
    words = words or _english

    if seconds >= 2 * 86400:
        return words(seconds // 86400, "day")
    if seconds >= 3600:
        minutes = seconds % 3600 // 60
        return words(seconds // 3600, "hour") + (f" {words(minutes, 'minute')}" if minutes else "")
    if seconds >= 60:
        return words(seconds // 60, "minute")
    return words(seconds, "second")


def _english(n: int, unit: str) -> str:
    return f"{n:,} {unit}{'' if n == 1 else 's'}"
