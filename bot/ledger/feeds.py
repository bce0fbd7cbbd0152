"""The ledger's calendar feeds: one per staff member, a generation number that renewing bumps (no secret stored)."""

from __future__ import annotations

from datetime import datetime

from ..clock import utc_iso
from . import Ledger


def generation(ledger: Ledger, actor: str) -> int | None:
    row = ledger.db.execute("SELECT generation FROM calendar_feeds WHERE actor = ?", (actor,)).fetchone()
    return int(row[0]) if row else None


def ensure(ledger: Ledger, actor: str, now: datetime) -> int:
    """The feed's generation, made on first use."""
    with ledger.transaction():
        ledger.db.execute("INSERT INTO calendar_feeds (actor, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                          (actor, utc_iso(now)))
    found = generation(ledger, actor)
    return found if found is not None else 1


def renew(ledger: Ledger, actor: str, now: datetime) -> int:
    """A new generation: the old feed address stops working."""
    ensure(ledger, actor, now)
    with ledger.transaction():
        ledger.db.execute("UPDATE calendar_feeds SET generation = generation + 1, created_at = ? WHERE actor = ?",
                          (utc_iso(now), actor))
    return generation(ledger, actor) or 1


def listing(ledger: Ledger) -> list[tuple[str, int]]:
    return [(r[0], int(r[1])) for r in ledger.db.execute("SELECT actor, generation FROM calendar_feeds")]
