"""The plan as iCalendar (with the icalendar library), and the secret feed addresses that staff subscribe to.

A feed's secret is an HMAC of the staff member and the feed's generation under a key derived from
BOT_SECRET: nothing secret is stored, and renewing (a new generation) kills the old address at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event

from . import keys, staff
from .calendar import Entry
from .ledger import Ledger, feeds
from .settings import Settings

EVENT_LENGTH = timedelta(minutes=15)  # a post is an instant; a calendar app needs an end to draw it


def channel_name(entry: Entry) -> str:
    return "Newsletter" if entry.kind == "edition" else entry.platform.capitalize()


def summary(entry: Entry) -> str:
    return f"{channel_name(entry)}: {entry.title} ({entry.state})"


def to_ics(entries: Sequence[Entry], settings: Settings, now: datetime) -> bytes:
    """One event per post or slot, at its instant in BOT_TIMEZONE (with the zone's rules, so daylight saving
    changes land right in any calendar app)."""
    cal = Calendar()
    cal.add("prodid", "-//Herald//publishing calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"{settings.title}: what goes out")
    cal.add("x-wr-timezone", settings.timezone.key)
    host = urlsplit(settings.effective_public_url).hostname or "herald.invalid"
    public = settings.effective_public_url
    for entry in entries:
        event = Event()
        key = f"{entry.item}.{entry.platform}" if entry.kind == "post" else \
            f"edition.{entry.when.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        event.add("uid", f"{key}@{host}")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", entry.when.astimezone(settings.timezone))
        event.add("dtend", (entry.when + EVENT_LENGTH).astimezone(settings.timezone))
        event.add("summary", summary(entry))
        lines = [f"State: {entry.state}"]
        if entry.kind == "post":
            lines.append(f"Item: {entry.item}")
            event.add("url", f"{public}/admin/items/{entry.item}")
        else:
            lines.append("Items: " + ", ".join(entry.items))
        if entry.detail:
            lines.append(entry.detail)
        event.add("description", "\n".join(lines))
        event.add("categories", [entry.state])
        cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


# --- feed addresses ------------------------------------------------------------------------------------------


def _key(settings: Settings) -> bytes:
    return keys.derive(settings, "calendar")


def token(settings: Settings, actor: str, generation: int) -> str:
    mac = hmac.new(_key(settings), f"{actor.lower()}\0{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def feed_url(settings: Settings, ledger: Ledger, actor: str, now: datetime) -> str:
    return f"{settings.effective_public_url}/calendar/{token(settings, actor, feeds.ensure(ledger, actor, now))}.ics"


def owner(settings: Settings, ledger: Ledger, given: str) -> str | None:
    """The staff member whose current feed `given` is, if they are still staff; None otherwise."""
    for actor, generation in feeds.listing(ledger):
        if hmac.compare_digest(token(settings, actor, generation), given):
            return actor if staff.role_of(ledger, settings, actor) is not None else None
    return None

