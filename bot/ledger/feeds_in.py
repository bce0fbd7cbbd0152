"""The ledger's record of feeds in: every entry imported, ever, and each feed's validators and last poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import from_utc_iso, utc_iso
from . import Ledger


@dataclass(frozen=True, slots=True)
class FeedState:
    etag: str | None  # sent back as If-None-Match
    last_modified: str | None  # sent back as If-Modified-Since, as the server wrote it
    polled_at: datetime | None  # aware, UTC; None: never polled


def state(ledger: Ledger, feed: str) -> FeedState:
    row = ledger.db.execute("SELECT etag, last_modified, polled_at FROM feed_polls WHERE feed = ?", (feed,)).fetchone()
    return FeedState(row[0], row[1], from_utc_iso(row[2])) if row else FeedState(None, None, None)


def due(ledger: Ledger, feed: str, now: datetime, interval: timedelta) -> bool:
    """Whether `feed` is to be polled at `now`: never polled, or not within `interval` after its last poll. A last
    poll later than `now` (a run with --now in the past) does not hold a feed back until that time comes again."""
    last = state(ledger, feed).polled_at
    return last is None or not last <= now < last + interval


def polled(ledger: Ledger, feed: str, now: datetime, validators: tuple[str | None, str | None] | None = None) -> None:
    """Record a poll at `now`; with `validators` (ETag, Last-Modified), the ones the feed's last full answer gave.
    Without, those kept stay: a 304 or a failure changes nothing the next conditional request sends."""
    with ledger.transaction():
        ledger.db.execute("INSERT INTO feed_polls (feed, polled_at) VALUES (?, ?) "
                          "ON CONFLICT (feed) DO UPDATE SET polled_at = excluded.polled_at", (feed, utc_iso(now)))
        if validators is not None:
            ledger.db.execute("UPDATE feed_polls SET etag = ?, last_modified = ? WHERE feed = ?", (*validators, feed))


def seen(ledger: Ledger, entry: str) -> bool:
    return ledger.db.execute("SELECT 1 FROM feed_entries WHERE entry = ?", (entry,)).fetchone() is not None


def claim(ledger: Ledger, entry: str, feed: str, now: datetime) -> bool:
    """Take `entry` for import before its file is written; False when it was taken already (by an earlier import, or
    by a `bot run` importing the same feed at this moment), so that no entry is ever written twice."""
    with ledger.transaction():
        return bool(ledger.db.execute("INSERT INTO feed_entries (entry, feed, at) VALUES (?, ?, ?) "
                                      "ON CONFLICT (entry) DO NOTHING", (entry, feed, utc_iso(now))).rowcount)


def imported(ledger: Ledger, entry: str, item_id: str) -> None:
    with ledger.transaction():
        ledger.db.execute("UPDATE feed_entries SET item_id = ? WHERE entry = ?", (item_id, entry))


def release(ledger: Ledger, entry: str) -> None:
    """Give back a claim whose file could not be written: the next import tries the entry again."""
    with ledger.transaction():
        ledger.db.execute("DELETE FROM feed_entries WHERE entry = ? AND item_id IS NULL", (entry,))
