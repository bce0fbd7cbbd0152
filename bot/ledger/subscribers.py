"""The ledger's record of subscribers: who is on the list and in which state, the confirmation links mailed, the
bounces and complaints providers report; bot.subscribers (addresses, tokens, imports) and the web side call these.

An address is matched without regard to case. Someone who unsubscribed stays unsubscribed: no import or staff
command brings them back; only their own confirmed request can.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..clock import utc_iso
from . import Ledger, langs


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str
    created_at: str
    unsubscribed_at: str | None
    lang: str | None = None  # one of BOT_LANGUAGES; None: the default language, whichever it is


def get(ledger: Ledger, *, email: str | None = None, subscriber_id: int | None = None) -> Subscriber | None:
    if email is not None:
        row = ledger.db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone()
    else:
        row = ledger.db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return _subscriber(row) if row else None


def add(ledger: Ledger, email: str, name: str, now: datetime, source: str = "staff", lang: str | None = None) -> str:
    """'added', 'exists' (name and language updated when given), or 'unsubscribed' / 'bounced' (left alone: they
    left, or their mailbox refuses mail). Someone who asked to subscribe but has not confirmed yet is added."""
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is not None and row["status"] in ("unsubscribed", "bounced"):
            return str(row["status"])
        if row is None:
            ledger.db.execute("INSERT INTO subscribers (email, name, source, created_at, updated_at) "
                              "VALUES (?, ?, ?, ?, ?)", (email, name, source, stamp, stamp))
        else:
            ledger.db.execute("UPDATE subscribers SET status = 'active', name = CASE WHEN ? != '' THEN ? ELSE name "
                              "END, updated_at = ? WHERE id = ?", (name, name, stamp, row["id"]))
        if lang is not None:
            langs.write(ledger, email, lang, now)
        return "added" if row is None or row["status"] == "pending" else "exists"


def request(ledger: Ledger, email: str, name: str, now: datetime, lang: str | None = None) -> bool:
    """Someone asked to subscribe (double opt-in): True when a confirmation link should be mailed to them.

    A new address is kept as `pending`; someone who left stays unsubscribed until they confirm. An active
    subscriber is sent nothing (and the page they see says the same as to anyone else). `lang`, the language the
    form offered and they chose, is recorded with a new address; for one already known it travels in the
    confirmation link (make_confirm_token) and is recorded when they confirm, so that nobody else can change it."""
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is None:
            ledger.db.execute("INSERT INTO subscribers (email, name, status, source, created_at, updated_at, lang) "
                              "VALUES (?, ?, 'pending', 'web', ?, ?, ?)", (email, name, stamp, stamp, lang))
            return True
        return bool(row["status"] != "active")


# Each confirmation link mailed is recorded (a digest, never the link) with its subscriber and the status they had
# when it was sent, in the table of one-time event ids. A link confirms only while it is recorded and its subscriber
# still has that status, and confirming spends every link of theirs. So a link works once, and one sent before
# someone left (or bounced, or was subscribed some other way) never brings them back: only a link asked for since.


def _link_id(subscriber_id: int, status: str, token: str) -> str:
    return f"confirm:{subscriber_id}:{status}:{hashlib.sha256(token.encode()).hexdigest()}"


def _links_of(subscriber_id: int) -> tuple[str, str]:
    """The range of the ids of one subscriber's links (';' sorts right after ':')."""
    return f"confirm:{subscriber_id}:", f"confirm:{subscriber_id};"


def link_sent(ledger: Ledger, email: str, token: str, now: datetime, keep: timedelta) -> None:
    """Record the confirmation link mailed to `email` after `request`; forget links older than `keep`, which open
    nothing any more."""
    with ledger.transaction():
        row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is not None:
            ledger.db.execute("INSERT INTO webhook_events (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                              (_link_id(row["id"], row["status"], token), utc_iso(now)))
        ledger.db.execute("DELETE FROM webhook_events WHERE id >= 'confirm:' AND id < 'confirm;' AND at < ?",
                          (utc_iso(now - keep),))


def link_waiting(ledger: Ledger, email: str, token: str) -> bool:
    """True while the confirmation link `token` (signed for `email`) would still confirm."""
    row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
    return row is not None and bool(ledger.db.execute("SELECT 1 FROM webhook_events WHERE id = ?", (
        _link_id(row["id"], row["status"], token),)).fetchone())


def confirm(ledger: Ledger, email: str, name: str, token: str, now: datetime, lang: str | None = None) -> bool:
    """A confirmed request: active from now, whatever they were before (they asked, and proved the address), in
    the language `lang` they chose with it (None: as recorded), if the link `token` is still waiting; every link of
    theirs is spent. False when that link no longer works."""
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is None or ledger.db.execute("SELECT 1 FROM webhook_events WHERE id = ?", (
                _link_id(row["id"], row["status"], token),)).fetchone() is None:
            return False
        ledger.db.execute("DELETE FROM webhook_events WHERE id >= ? AND id < ?", _links_of(row["id"]))
        ledger.db.execute("UPDATE subscribers SET status = 'active', unsubscribed_at = NULL, updated_at = ?, "
                          "name = CASE WHEN ? != '' THEN ? ELSE name END WHERE id = ?",
                          (stamp, name, name, row["id"]))
        if lang is not None:
            langs.write(ledger, email, lang, now)
    return True


def unsubscribe(ledger: Ledger, subscriber_id: int, now: datetime) -> bool:
    """Mark unsubscribed at once; True if they were subscribed. Idempotent."""
    stamp = utc_iso(now)
    with ledger.transaction():
        changed = ledger.db.execute(
            "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?, updated_at = ? "
            "WHERE id = ? AND status != 'unsubscribed'", (stamp, stamp, subscriber_id)).rowcount
    return bool(changed)


def erase(ledger: Ledger, subscriber_id: int) -> None:
    """Forget someone entirely (their right to erasure): their row, deliveries and bounces go."""
    with ledger.transaction():
        ledger.db.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (subscriber_id,))
        ledger.db.execute("DELETE FROM bounces WHERE subscriber_id = ?", (subscriber_id,))
        ledger.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


def listing(ledger: Ledger, status: str | None = None) -> Iterator[Subscriber]:
    query = "SELECT * FROM subscribers" + (" WHERE status = ?" if status else "") + " ORDER BY id"
    for row in ledger.db.execute(query, (status,) if status else ()):
        yield _subscriber(row)


def counts(ledger: Ledger) -> dict[str, int]:
    found = {status: n for status, n in ledger.db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status")}
    return {s: found.get(s, 0) for s in ("active", "pending", "unsubscribed", "bounced")}


def _subscriber(row: sqlite3.Row) -> Subscriber:
    return Subscriber(row["id"], row["email"], row["name"], row["status"], row["created_at"], row["unsubscribed_at"],
                      row["lang"])


def import_row(ledger: Ledger, email: str, name: str, status: str, now: datetime, source: str,
               lang: str | None = None) -> str:
    """One address as an imported list says, returned as the ImportReport count it adds to. An import only ever
    moves someone away from being mailed: a row saying they left (or bounced) makes an active subscriber
    unsubscribed (or bounced), since the list they came from says they left; no row brings anyone back. A
    language (None: none given) is kept for someone new, and for someone the row keeps subscribed, as `add` does."""
    if status == "active":
        outcome = add(ledger, email, name, now, source=source, lang=lang)
        return {"added": "added", "exists": "existing"}.get(outcome, "kept_out")
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is None:
            ledger.db.execute("INSERT INTO subscribers (email, name, status, source, created_at, updated_at, "
                              "unsubscribed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (email, name, status, source, stamp, stamp, stamp if status == "unsubscribed" else None))
            if lang is not None:
                langs.write(ledger, email, lang, now)
            return status
        if status == "pending":  # not confirmed there: changes nothing here
            return "kept_out" if row["status"] in ("unsubscribed", "bounced") else "existing"
        if row["status"] in ("active", "pending"):
            ledger.db.execute("UPDATE subscribers SET status = ?, updated_at = ?, unsubscribed_at = CASE WHEN ? = "
                              "'unsubscribed' THEN ? ELSE unsubscribed_at END WHERE id = ?",
                              (status, stamp, status, stamp, row["id"]))
        return status

def export_rows(ledger: Ledger) -> Iterator[sqlite3.Row]:
    """Every subscriber's row as an export shows it, in the order they came: no id."""
    yield from ledger.db.execute("SELECT email, name, status, created_at, updated_at, unsubscribed_at, source, lang "
                                 "FROM subscribers ORDER BY id")


# --- what mail providers report back -------------------------------------------------------------------


Report = tuple[str, str, str, str]  # (address, kind: hard, soft or complaint, source, detail)


def record_reports(ledger: Ledger, event_id: str, reports: Sequence[Report], now: datetime,
                   soft_limit: int) -> list[str] | None:
    """One call of a provider's webhook, whole: its event id marked as seen and each of its bounces and complaints
    recorded, in one transaction, so that a call is never marked without its effect (a failure leaves neither, and
    the provider's retry does it all). None when the event id was seen already: a replayed call changes nothing.
    Else what was done for each report: 'suppressed', 'counted' or 'unknown' (see record_bounce)."""
    with ledger.transaction():
        if not ledger.db.execute("INSERT INTO webhook_events (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                                 (event_id, utc_iso(now))).rowcount:
            return None
        return [_bounce(ledger, email, kind, source, detail, now, soft_limit)
                for email, kind, source, detail in reports]


def record_bounce(ledger: Ledger, email: str, kind: str, source: str, detail: str, now: datetime,
                  soft_limit: int) -> str:
    """Record a bounce or a complaint and suppress the address when it must be: a hard bounce or a complaint at
    once, soft bounces after `soft_limit` of them. Returns what was done: 'suppressed', 'counted' or 'unknown'."""
    with ledger.transaction():
        return _bounce(ledger, email, kind, source, detail, now, soft_limit)


def _bounce(ledger: Ledger, email: str, kind: str, source: str, detail: str, now: datetime, soft_limit: int) -> str:
    """record_bounce, inside the caller's transaction."""
    stamp = utc_iso(now)
    row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
    if row is None:
        return "unknown"
    ledger.db.execute("INSERT INTO bounces (subscriber_id, kind, source, detail, at) VALUES (?, ?, ?, ?, ?)",
                      (row["id"], kind, source, detail[:500], stamp))
    if kind == "complaint":  # they called it spam: never mail them again
        new_status = "unsubscribed"
    elif kind == "hard":
        new_status = "bounced"
    else:
        softs = ledger.db.execute("SELECT COUNT(*) FROM bounces WHERE subscriber_id = ? AND kind = 'soft'",
                                  (row["id"],)).fetchone()[0]
        new_status = "bounced" if softs >= soft_limit else ""
    if not new_status or row["status"] in ("unsubscribed", "bounced"):
        return "counted" if not new_status else "suppressed"
    ledger.db.execute("UPDATE subscribers SET status = ?, updated_at = ?, unsubscribed_at = CASE WHEN ? = "
                      "'unsubscribed' THEN ? ELSE unsubscribed_at END WHERE id = ?",
                      (new_status, stamp, new_status, stamp, row["id"]))
    return "suppressed"
