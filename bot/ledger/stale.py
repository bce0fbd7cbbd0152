"""The ledger's record of email items kept out of the newsletter as too old (BOT_MAX_ITEM_AGE), so each is told once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..clock import utc_iso
from . import Ledger


@dataclass(frozen=True, slots=True)
class StaleItem:
    item_id: str
    reason: str  # as a person reads it: when it was published, how long before the edition
    at: str  # when it was kept out, UTC as stored


def record(ledger: Ledger, found: Sequence[tuple[str, str]], now: datetime) -> list[str]:
    """Record items kept out as too old, as (item, reason); the ids recorded now for the first time. Nothing is
    written when every one was recorded before: a run every 30 seconds must not rewrite them each time."""
    known = recorded(ledger)
    new = [(item_id, reason) for item_id, reason in found if item_id not in known]
    if not new:
        return []
    with ledger.transaction():
        return [item_id for item_id, reason in new if ledger.db.execute(
            "INSERT INTO stale_items (item_id, reason, at) VALUES (?, ?, ?) ON CONFLICT (item_id) DO NOTHING",
            (item_id, reason, utc_iso(now))).rowcount]


def recorded(ledger: Ledger) -> set[str]:
    return {row[0] for row in ledger.db.execute("SELECT item_id FROM stale_items")}


def listing(ledger: Ledger) -> list[StaleItem]:
    """Every item kept out, oldest record first."""
    rows = ledger.db.execute("SELECT item_id, reason, at FROM stale_items ORDER BY at, item_id")
    return [StaleItem(row[0], row[1], row[2]) for row in rows]
