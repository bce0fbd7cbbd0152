"""Subscribers: who receives the newsletter, how staff import, export and remove them, and their unsubscribe tokens.

An address is matched without regard to case. Someone who unsubscribed stays unsubscribed: no import
or staff command brings them back; only their own confirmed request can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from . import keys, subscriber_files, subscriber_langs
from .clock import from_utc_iso, utc_iso
from .content import Problem
from .errors import quoted
from .ledger import FIRST_UNLISTED_ID, Ledger, langs
from .mail import TOKEN_LENGTH
from .settings import Settings

_HEADER_BREAK = ("\r", "\n", "\x00")


def normalize_address(raw: str) -> str:
    """The address as stored (domain lower-cased, IDN in ASCII), or ValueError saying what is wrong."""
    value = raw.strip()
    if any(c in value for c in _HEADER_BREAK):
        raise ValueError("contains a line break")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.ascii_email or checked.normalized


def clean_name(raw: str) -> str:
    """A display name with no line breaks or control characters (it ends up in a To: header)."""
    return " ".join("".join(c if c.isprintable() else " " for c in raw).split())[:200]


# --- tokens -----------------------------------------------------------------------------------------
# An unsubscribe token is 24 bytes in 32 URL-safe characters: the subscriber's id masked (8 bytes), then a 16-byte
# HMAC of the id, both under the "unsubscribe" key (keys.py), never BOT_SECRET itself. The mask is an HMAC of that
# tag (a synthetic IV, as in SIV): one subscriber always has the same token, as mail's bytes prepared once and a
# resend after a crash need, yet no token shows an id, so none tells how many subscribers there are. Ids are never
# given twice (schema 7), so the token of someone erased names nobody, ever.
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")


def secret_key(settings: Settings) -> bytes:
    """The root key that the token functions below take; each derives its own key from it (keys.expand)."""
    return keys.root(settings)


def _hmac(key: bytes, label: bytes, payload: bytes) -> bytes:
    return hmac.new(key, label + b"\x00" + payload, hashlib.sha256).digest()


def _mask(key: bytes, tag: bytes, ident: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(ident, _hmac(key, b"mask", tag)[:8], strict=True))


def make_token(root: bytes, subscriber_id: int) -> str:
    """32 URL-safe characters naming one subscriber, unforgeable without the key, that show nothing of the id."""
    key = keys.expand(root, "unsubscribe")
    ident = struct.pack(">Q", subscriber_id)
    tag = _hmac(key, b"id", ident)[:16]
    token = base64.urlsafe_b64encode(_mask(key, tag, ident) + tag).decode()
    if len(token) != TOKEN_LENGTH:  # mail.py splices tokens into prepared bytes: the length is fixed
        raise ValueError(f"a token of {len(token)} characters, not {TOKEN_LENGTH}")
    return token


def read_token(root: bytes, token: str) -> int | None:
    """The subscriber a token names, or None; compared in constant time."""
    if not _TOKEN.fullmatch(token):
        return None
    raw = base64.urlsafe_b64decode(token)
    key = keys.expand(root, "unsubscribe")
    masked, tag = raw[:8], raw[8:]
    ident = _mask(key, tag, masked)
    if hmac.compare_digest(tag, _hmac(key, b"id", ident)[:16]):
        return int(struct.unpack(">Q", ident)[0])
    # Mail sent before schema 7 carries the first format: the id in the clear and an HMAC under the root key. It
    # still unsubscribes its reader; ids from FIRST_UNLISTED_ID on (those given since) never had such a token.
    ident, mac = raw[:8], raw[8:]
    subscriber_id = int(struct.unpack(">Q", ident)[0])
    if subscriber_id < FIRST_UNLISTED_ID and hmac.compare_digest(mac, _hmac(root, b"unsubscribe", ident)[:16]):
        return subscriber_id
    return None


def make_confirm_token(key: bytes, email: str, name: str, lang: str | None = None) -> str:
    """A signed, dated link token for double opt-in (itsdangerous): proves the reader holds the mailbox. It carries
    what they asked for (their name, the language they chose), which is recorded only when they confirm: someone
    else typing their address cannot change it."""
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(keys.expand(key, "confirm"), salt="herald-confirm").dumps(
        [email, name] if lang is None else [email, name, lang])


def read_confirm_token(key: bytes, token: str, max_age: int) -> tuple[str, str, str | None] | None:
    """(email, name, language chosen or None) from a confirmation token no older than `max_age` seconds, or
    None. A link mailed before languages has no language."""
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    try:
        found = URLSafeTimedSerializer(keys.expand(key, "confirm"), salt="herald-confirm").loads(
            token, max_age=max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(found, list) or len(found) not in (2, 3) or not all(isinstance(v, str) for v in found):
        return None
    return found[0], found[1], found[2] if len(found) == 3 else None


# --- the list -----------------------------------------------------------------------------------------


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


def _subscriber(row: object) -> Subscriber:
    return Subscriber(row["id"], row["email"], row["name"], row["status"], row["created_at"],  # type: ignore[index]
                      row["unsubscribed_at"], row["lang"])  # type: ignore[index]


# --- importing and exporting the list -------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    existing: int = 0
    kept_out: int = 0  # unsubscribed or bounced earlier: never re-subscribed by an import
    unsubscribed: int = 0  # rows saying they left: recorded as unsubscribed, never mailed
    bounced: int = 0  # rows saying their mailbox refuses mail (Mailchimp's cleaned): recorded as bounced
    pending: int = 0  # rows saying they never confirmed: recorded as awaiting confirmation
    repeated: int = 0  # the same address twice in the file
    problems: list[Problem] = field(default_factory=list)  # rows left out
    warnings: list[Problem] = field(default_factory=list)  # rows imported all the same (a language not listed)


def import_csv(ledger: Ledger, path: Path, now: datetime, email_column: str | None = None,
               name_column: str | None = None, languages: tuple[str, ...] = ("en",)) -> ImportReport:
    """Import a CSV export as it is (Herald's, Mailchimp's, listmonk's, or any with `email_column`): bad rows are
    reported, the rest go in, each with the status and the language (one of `languages`, BOT_LANGUAGES) its file
    gives it."""
    report = ImportReport()
    seen: set[str] = set()
    for row in subscriber_files.read(path, email_column, name_column):
        if isinstance(row, Problem):
            report.problems.append(row)
            continue
        try:
            email = normalize_address(row.email)
        except ValueError as exc:
            report.problems.append(Problem(str(path), "email",
                                           f"{quoted(row.email.strip())} is not a valid address: {exc}", row.line))
            continue
        if email.lower() in seen:
            report.repeated += 1
            continue
        seen.add(email.lower())
        lang, warning = subscriber_langs.imported(row.lang, languages, str(path), row.line)
        report.warnings += [warning] if warning else []
        outcome = import_row(ledger, email, clean_name(row.name), row.status, now, f"import:{path.name}", lang)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


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


def export(ledger: Ledger, zone: ZoneInfo) -> Iterator[dict[str, str | None]]:
    """Every subscriber, in the order they came, with status, dates (ISO 8601 in `zone`) and language (None: the
    default): no id, no token."""
    query = "SELECT email, name, status, created_at, updated_at, unsubscribed_at, source, lang FROM subscribers " \
            "ORDER BY id"
    for row in ledger.db.execute(query):
        yield {"email": row["email"], "name": row["name"], "status": row["status"],
               "created_at": _local(row["created_at"], zone), "updated_at": _local(row["updated_at"], zone),
               "unsubscribed_at": _local(row["unsubscribed_at"], zone), "source": row["source"], "lang": row["lang"]}


def _local(stored: str | None, zone: ZoneInfo) -> str | None:
    if not stored:
        return None
    try:
        return from_utc_iso(stored).astimezone(zone).isoformat()
    except ValueError:  # written by hand or by an old version: handed on as it is
        return stored


# --- what mail providers report back -------------------------------------------------------------------


def record_bounce(ledger: Ledger, email: str, kind: str, source: str, detail: str, now: datetime,
                  soft_limit: int) -> str:
    """Record a bounce or a complaint and suppress the address when it must be: a hard bounce or a complaint at
    once, soft bounces after `soft_limit` of them. Returns what was done: 'suppressed', 'counted' or 'unknown'."""
    stamp = utc_iso(now)
    with ledger.transaction():
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


def first_time(ledger: Ledger, event_id: str, now: datetime) -> bool:
    """True the first time a provider's event id is seen: a replayed webhook call changes nothing."""
    with ledger.transaction():
        inserted = ledger.db.execute("INSERT INTO webhook_events (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                                     (event_id, utc_iso(now))).rowcount
    return bool(inserted)
