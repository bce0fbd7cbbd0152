"""Subscribers: who receives the newsletter, how staff import and remove them, and the tokens in their unsubscribe links.

An address is matched without regard to case. Someone who unsubscribed stays unsubscribed: no import
or staff command brings them back; only their own confirmed request can.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from email_validator import EmailNotValidError, validate_email

from .clock import utc_iso
from .content import Problem
from .errors import ContentError
from .ledger import Ledger
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


def secret_key(settings: Settings) -> bytes:
    """BOT_SECRET, or for the outbox a random key kept in the state folder (never a fixed default)."""
    if settings.secret:
        return settings.secret.reveal().encode()
    path = settings.state_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return path.read_text().strip().encode()


def _mac(key: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(key, purpose + b"\x00" + payload, hashlib.sha256).digest()[:16]


def make_token(key: bytes, subscriber_id: int) -> str:
    """32 URL-safe characters naming one subscriber, unforgeable without the key."""
    ident = struct.pack(">Q", subscriber_id)
    token = base64.urlsafe_b64encode(ident + _mac(key, b"unsubscribe", ident)).decode().rstrip("=")
    assert len(token) == TOKEN_LENGTH
    return token


def read_token(key: bytes, token: str) -> int | None:
    """The subscriber a token names, or None; compared in constant time."""
    if len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != 24:
        return None
    ident, mac = raw[:8], raw[8:]
    if not hmac.compare_digest(mac, _mac(key, b"unsubscribe", ident)):
        return None
    return int(struct.unpack(">Q", ident)[0])


def make_confirm_token(key: bytes, email: str, name: str) -> str:
    """A signed, dated link token for double opt-in (itsdangerous): proves the reader holds the mailbox."""
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(key, salt="herald-confirm").dumps([email, name])


def read_confirm_token(key: bytes, token: str, max_age: int) -> tuple[str, str] | None:
    """(email, name) from a confirmation token no older than `max_age` seconds, or None."""
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    try:
        email, name = URLSafeTimedSerializer(key, salt="herald-confirm").loads(token, max_age=max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    return (email, name) if isinstance(email, str) and isinstance(name, str) else None


# --- the list -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str
    created_at: str
    unsubscribed_at: str | None


def get(ledger: Ledger, *, email: str | None = None, subscriber_id: int | None = None) -> Subscriber | None:
    if email is not None:
        row = ledger.db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone()
    else:
        row = ledger.db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return _subscriber(row) if row else None


def add(ledger: Ledger, email: str, name: str, now: datetime, source: str = "staff") -> str:
    """'added', 'exists' (name updated when given), or 'unsubscribed' / 'bounced' (left alone: they left, or
    their mailbox refuses mail). Someone who asked to subscribe but has not confirmed yet is added."""
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT id, status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is None:
            ledger.db.execute("INSERT INTO subscribers (email, name, source, created_at, updated_at) "
                              "VALUES (?, ?, ?, ?, ?)", (email, name, source, stamp, stamp))
            return "added"
        if row["status"] in ("unsubscribed", "bounced"):
            return str(row["status"])
        ledger.db.execute("UPDATE subscribers SET status = 'active', name = CASE WHEN ? != '' THEN ? ELSE name END, "
                          "updated_at = ? WHERE id = ?", (name, name, stamp, row["id"]))
        return "added" if row["status"] == "pending" else "exists"


def request(ledger: Ledger, email: str, name: str, now: datetime) -> bool:
    """Someone asked to subscribe (double opt-in): True when a confirmation link should be mailed to them.

    A new address is kept as `pending`; someone who left stays unsubscribed until they confirm. An active
    subscriber is sent nothing (and the page they see says the same as to anyone else)."""
    stamp = utc_iso(now)
    with ledger.transaction():
        row = ledger.db.execute("SELECT status FROM subscribers WHERE email = ?", (email,)).fetchone()
        if row is None:
            ledger.db.execute("INSERT INTO subscribers (email, name, status, source, created_at, updated_at) "
                              "VALUES (?, ?, 'pending', 'web', ?, ?)", (email, name, stamp, stamp))
            return True
        return row["status"] != "active"


def confirm(ledger: Ledger, email: str, name: str, now: datetime) -> None:
    """A confirmed request: active from now, whatever they were before (they asked, and proved the address)."""
    stamp = utc_iso(now)
    with ledger.transaction():
        ledger.db.execute(
            "INSERT INTO subscribers (email, name, status, source, created_at, updated_at) "
            "VALUES (?, ?, 'active', 'web', ?, ?) ON CONFLICT (email) DO UPDATE SET status = 'active', "
            "unsubscribed_at = NULL, updated_at = excluded.updated_at, "
            "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END", (email, name, stamp, stamp))


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
                      row["unsubscribed_at"])  # type: ignore[index]


# --- CSV import ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    added: int = 0
    existing: int = 0
    kept_out: int = 0  # unsubscribed or bounced earlier: never re-subscribed by an import
    repeated: int = 0  # the same address twice in the file
    problems: list[Problem] = field(default_factory=list)


def import_csv(ledger: Ledger, path: Path, now: datetime) -> ImportReport:
    """Import a CSV with a header row naming `email` (and optionally `name`); bad rows are reported, the rest go in."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContentError(where, "file", f"cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(where, "file", "is not UTF-8 text: export it as CSV UTF-8",
                           data.count(b"\n", 0, exc.start) + 1) from None
    if "\x00" in text:
        raise ContentError(where, "file", "contains NUL bytes: is it really a CSV file?")
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in much of Europe export with semicolons.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ContentError(where, "header", "the file is empty; the first row must name the columns") from None
    except csv.Error as exc:
        raise ContentError(where, "header", f"not a CSV row: {exc}", 1) from None
    if "email" not in header:
        raise ContentError(where, "email", f"no 'email' column in the header row (found: {', '.join(header)})", 1)
    email_at, name_at = header.index("email"), header.index("name") if "name" in header else None

    report = ImportReport()
    seen: set[str] = set()
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.problems.append(Problem(where, "row", f"not a CSV row: {exc}", reader.line_num))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        raw = row[email_at] if email_at < len(row) else ""
        try:
            email = normalize_address(raw)
        except ValueError as exc:
            report.problems.append(Problem(where, "email", f"{raw.strip()!r} is not a valid address: {exc}", line))
            continue
        if email.lower() in seen:
            report.repeated += 1
            continue
        seen.add(email.lower())
        name = clean_name(row[name_at]) if name_at is not None and name_at < len(row) else ""
        outcome = add(ledger, email, name, now, source=f"import:{path.name}")
        if outcome == "added":
            report.added += 1
        elif outcome == "exists":
            report.existing += 1
        else:
            report.kept_out += 1  # unsubscribed or bounced
    return report


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
