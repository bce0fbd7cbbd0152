"""The plan at a glance, beside the scheduler: every post and newsletter slot in a span, each with its state.

`bot calendar`, `/admin/calendar` and each staff member's iCalendar feed all read this one plan. It asks the
same queue, ledger and approval gate the scheduler asks, so what it shows is what a run would do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from . import queue
from .approval import Gate
from .channels import Channels
from .clock import at_local, from_utc_iso, previous_slot, slots_between
from .content import Item
from .errors import ConfigError
from .ledger import Delivery, Edition, Ledger
from .platforms import PLATFORMS
from .render import order, subject_for
from .scheduler import fresh_for_edition
from .settings import Settings

STATES = ("draft", "waiting", "held", "scheduled", "sent", "failed", "missed", "dismissed")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Span:
    """A week or a month of local days: [start, end) as instants, and how to name it."""

    kind: str  # "week" or "month"
    first: date
    days: int
    label: str
    key: str  # 2019-W28 or 2019-07
    previous: str
    following: str

    def bounds(self, settings: Settings) -> tuple[datetime, datetime]:
        start = at_local(self.first, time(0, 0), settings.timezone)
        return start, at_local(self.first + timedelta(days=self.days), time(0, 0), settings.timezone)

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def week(key: str) -> Span:
    m = _WEEK.fullmatch(key.strip())
    try:
        first = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1) if m else None
        # The span and the weeks beside it must be real dates too (not before year 1 or after 9999).
        last, before, after = (first + timedelta(days=6), first - timedelta(days=7),
                               first + timedelta(days=7)) if first else (None, None, None)
    except (ValueError, OverflowError):
        first = last = before = after = None
    if first is None or last is None or before is None or after is None:
        raise ConfigError(f"{key.strip()} is not a week as YYYY-Www (such as 2019-W28)")
    label = f"{first.day} {first:%B}" if first.month != last.month else f"{first.day}"
    label = f"{label}{' ' + str(first.year) if first.year != last.year else ''} to {last.day} {last:%B %Y}"
    return Span("week", first, 7, f"Week {first.isocalendar().week}: {label}", key.strip(), _week_key(before),
                _week_key(after))


def month(key: str) -> Span:
    m = _MONTH.fullmatch(key.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1 < int(m.group(1)) < 9999:
        raise ConfigError(f"{key.strip()} is not a month as YYYY-MM (such as 2019-07)")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    before = (first - timedelta(days=1)).replace(day=1)
    return Span("month", first, (following - first).days, f"{first:%B %Y}", f"{first:%Y-%m}", f"{before:%Y-%m}",
                f"{following:%Y-%m}")


def week_of(day: date) -> Span:
    return week(_week_key(day))


def _week_key(day: date) -> str:
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One post on one platform, or one newsletter slot with its items."""

    when: datetime  # aware, in BOT_TIMEZONE
    kind: str  # "post" or "edition"
    state: str
    title: str
    platform: str = ""
    item: str = ""
    items: tuple[str, ...] = ()
    detail: str = ""  # why it failed, was missed or waits

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"when": self.when.isoformat(), "kind": self.kind, "state": self.state,
                               "title": self.title}
        if self.kind == "post":
            out.update(platform=self.platform, item=self.item)
        else:
            out["items"] = list(self.items)
        if self.detail:
            out["detail"] = self.detail
        return out


def plan(settings: Settings, start: datetime, end: datetime, now: datetime) -> list[Entry]:
    """Every post and newsletter slot in [start, end), with its state as of `now`, in time order."""
    loaded = queue.load(settings)
    channels = Channels(settings)
    with Ledger.open(settings.state_dir) as ledger:
        gate = Gate.read(ledger, settings)
        recorded = {(d.item_id, d.channel): d for d in ledger.posts()}
        entries = _posts(loaded.items, recorded, channels, gate, settings, now)
        if channels.enabled("email"):
            editions = [ledger.edition(e) for e in ledger.editions()]
            entries += _past_editions(ledger, editions, gate, settings, start, end)
            entries += _coming_editions(ledger, editions, loaded.items, gate, settings, start, end, now)
    return sorted((e for e in entries if start <= e.when < end), key=lambda e: (e.when, e.kind != "edition",
                                                                              e.platform, e.item))


def _posts(items: list[Item], recorded: dict[tuple[str | None, str], Delivery], channels: Channels, gate: Gate,
           settings: Settings, now: datetime) -> list[Entry]:
    tz = settings.timezone
    by_id = {i.id: i for i in items}
    entries = []
    for item in items:
        for platform in PLATFORMS:
            if platform not in item.channels or not channels.enabled(platform) or (item.id, platform) in recorded:
                continue
            state, why = _unrecorded_state(item, platform, gate, settings, now)
            entries.append(Entry(item.publish_at.astimezone(tz), "post", state, item.title, platform, item.id,
                                 detail=why))
    for (item_id, platform), delivery in recorded.items():
        known = by_id.get(item_id or "")
        state = _recorded_state(delivery, known, gate)
        when = from_utc_iso(delivery.due_at).astimezone(tz)
        entries.append(Entry(when, "post", state, known.title if known else (item_id or ""), platform, item_id or "",
                             detail=delivery.last_error or ""))
    return entries


def _unrecorded_state(item: Item, platform: str, gate: Gate, settings: Settings, now: datetime) -> tuple[str, str]:
    state = gate.channel_state(item, platform)
    if state != "ready":
        return state, ""
    if now - item.publish_at > settings.max_lateness:
        return "missed", "too late by the time a run could post it (BOT_MAX_LATENESS)"
    return "scheduled", ""


def _recorded_state(delivery: Delivery, item: Item | None, gate: Gate) -> str:
    if delivery.status in ("failed", "missed"):
        return "dismissed" if delivery.dismissed_at else delivery.status
    if delivery.status == "sent":
        return "sent"
    state = gate.channel_state(item, delivery.channel) if item is not None else "ready"
    return "scheduled" if state == "ready" else state  # a retry waits while its item is a draft, unapproved or held


def _past_editions(ledger: Ledger, editions: list[Edition], gate: Gate, settings: Settings, start: datetime,
                   end: datetime) -> list[Entry]:
    tz = settings.timezone
    entries = []
    for edition in editions:
        when = from_utc_iso(edition.slot or edition.created_at).astimezone(tz)
        if not start <= when < end:
            continue
        counts = ledger.edition_counts(edition.id)
        if counts.get("pending", 0) + counts.get("sending", 0):
            state = "held" if any(gate.holds_newsletter(i) for i in edition.item_ids) else "scheduled"
        else:
            state = "failed" if counts.get("failed", 0) and not counts.get("sent", 0) else "sent"
        entries.append(Entry(when, "edition", state, edition.subject, items=edition.item_ids,
                             detail=f"{edition.recipients} recipients"))
    return entries


def _coming_editions(ledger: Ledger, editions: list[Edition], items: list[Item], gate: Gate, settings: Settings,
                     start: datetime, end: datetime, now: datetime) -> list[Entry]:
    """The slots still to come, each with the items it will carry: every slot from the one a run would still fill
    (within BOT_MAX_LATENESS) takes what is due by it, in order, so a later slot never shows an earlier one's."""
    taken = ledger.items_in_editions()
    waiting = [i for i in items if "email" in i.channels and i.id not in taken and gate.may_go(i, "email")]
    filled = {from_utc_iso(e.slot) for e in editions if e.slot}
    # A run fills only the latest slot that has come, while it is not older than BOT_MAX_LATENESS; then the
    # slots to come, each taking what is due by it.
    latest = previous_slot(settings.newsletter_schedule, settings.timezone, now)
    slots = [latest] if now - latest <= settings.max_lateness else []
    slots += list(slots_between(settings.newsletter_schedule, settings.timezone, now, end))
    entries = []
    for slot in slots:
        if slot in filled:
            continue
        due = fresh_for_edition([i for i in waiting if i.publish_at <= slot], slot, settings)
        waiting = [i for i in waiting if i.publish_at > slot]
        if due and slot >= start:
            entries.append(Entry(slot.astimezone(settings.timezone), "edition", "scheduled",
                                 subject_for(order(due), settings), items=tuple(i.id for i in order(due))))
    return entries
