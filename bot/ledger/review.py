"""The ledger's record of what people decided about items: approvals bound to content, holds, dismissals, activity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..clock import utc_iso
from . import Ledger

ALL = ""  # the channel of a hold on a whole item


@dataclass(frozen=True, slots=True)
class Approval:
    item_id: str
    digest: str  # the SHA-256 of the file approved: any other content is not approved
    actor: str
    at: str


@dataclass(frozen=True, slots=True)
class Hold:
    item_id: str
    channel: str  # ALL for the whole item
    actor: str
    at: str


@dataclass(frozen=True, slots=True)
class Activity:
    id: int
    at: str
    actor: str
    action: str
    item_id: str | None
    detail: str


def approve(ledger: Ledger, item_id: str, digest: str, actor: str, now: datetime) -> None:
    with ledger.transaction():
        ledger.db.execute("INSERT INTO approvals VALUES (?, ?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET "
                          "digest = excluded.digest, actor = excluded.actor, at = excluded.at",
                          (item_id, digest, actor, utc_iso(now)))


def approvals(ledger: Ledger) -> dict[str, Approval]:
    return {r[0]: Approval(*r) for r in ledger.db.execute("SELECT item_id, digest, actor, at FROM approvals")}


def hold(ledger: Ledger, item_id: str, channel: str, actor: str, now: datetime) -> bool:
    """Hold an item (channel ALL) or one channel of it; False when it was held already."""
    with ledger.transaction():
        added = ledger.db.execute("INSERT INTO holds VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                  (item_id, channel, actor, utc_iso(now))).rowcount
    return bool(added)


def release(ledger: Ledger, item_id: str, channel: str) -> bool:
    """Lift a hold; False when there was none."""
    with ledger.transaction():
        removed = ledger.db.execute("DELETE FROM holds WHERE item_id = ? AND channel = ?", (item_id, channel)).rowcount
    return bool(removed)


def holds(ledger: Ledger) -> dict[tuple[str, str], Hold]:
    rows = ledger.db.execute("SELECT item_id, channel, actor, at FROM holds ORDER BY at")
    return {(r[0], r[1]): Hold(*r) for r in rows}


def dismiss(ledger: Ledger, item_id: str, channels: Sequence[str], actor: str, now: datetime) -> list[str]:
    """Mark missed or failed posts as dealt with, so they stop asking for a person; the channels dismissed."""
    marks = ",".join("?" * len(channels))
    with ledger.transaction():
        rows = ledger.db.execute(f"SELECT id, channel FROM deliveries WHERE item_id = ? AND channel IN ({marks}) "
                                 "AND status IN ('missed', 'failed') AND dismissed_at IS NULL",
                                 (item_id, *channels)).fetchall()
        ledger.db.executemany("UPDATE deliveries SET dismissed_at = ?, dismissed_by = ?, updated_at = ? WHERE id = ?",
                              [(utc_iso(now), actor, utc_iso(now), row[0]) for row in rows])
    return [row[1] for row in rows]


def record(ledger: Ledger, actor: str, action: str, now: datetime, item_id: str | None = None,
           detail: str = "") -> None:
    """One row of the activity log: who did what, when."""
    with ledger.transaction():
        ledger.db.execute("INSERT INTO activity (at, actor, action, item_id, detail) VALUES (?, ?, ?, ?, ?)",
                          (utc_iso(now), actor, action, item_id, detail))


def activity(ledger: Ledger, limit: int = 200, item_id: str | None = None) -> list[Activity]:
    """The newest rows first."""
    if item_id is None:
        rows = ledger.db.execute("SELECT * FROM activity ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = ledger.db.execute("SELECT * FROM activity WHERE item_id = ? ORDER BY id DESC LIMIT ?",
                                 (item_id, limit))
    return [Activity(*r) for r in rows]
