"""The ledger's record of the content that went out: an item file's digest with each post and edition taking it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..clock import from_utc_iso
from . import Ledger


@dataclass(frozen=True, slots=True)
class Taken:
    """An item's file as one channel took it: `email` for a newsletter edition (at its slot), else a post."""

    item_id: str
    channel: str
    digest: str  # the SHA-256 of the file as it was handed over (a post) or rendered (an edition)
    at: datetime  # aware, UTC


def record_post(ledger: Ledger, delivery_id: int, digest: str) -> None:
    """The content a post is handed over with; each hand-over (a retry after an edit too) records it again."""
    with ledger.transaction():
        ledger.db.execute("UPDATE deliveries SET digest = ? WHERE id = ?", (digest, delivery_id))


def went_out(ledger: Ledger) -> dict[str, list[Taken]]:
    """By item: each post that was sent, and each edition that holds it, with the digest recorded then; what went
    out before digests were kept is left out."""
    found: dict[str, list[Taken]] = {}
    posts = ledger.db.execute("SELECT item_id, channel, digest, sent_at FROM deliveries WHERE item_id IS NOT NULL "
                              "AND status = 'sent' AND digest IS NOT NULL AND sent_at IS NOT NULL ORDER BY sent_at, id")
    editions = ledger.db.execute("SELECT i.item_id, 'email', i.digest, COALESCE(e.slot, e.created_at) "
                                 "FROM edition_items i JOIN editions e ON e.id = i.edition_id "
                                 "WHERE i.digest IS NOT NULL ORDER BY e.id")
    for item_id, channel, digest, at in [*posts, *editions]:
        found.setdefault(item_id, []).append(Taken(item_id, channel, digest, from_utc_iso(at)))
    return found
