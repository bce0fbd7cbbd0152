"""Subscribers: their addresses checked, their unsubscribe and confirmation tokens, the list imported and exported;
what the ledger records of them is bot.ledger.subscribers, whose functions are used from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from . import keys, subscriber_files, subscriber_langs
from .clock import from_utc_iso
from .content import Problem
from .errors import quoted
from .ledger import FIRST_UNLISTED_ID, Ledger
from .ledger import subscribers as book

# What the ledger records of subscribers, used from here by every caller (the CLI, the web side, the imports).
from .ledger.subscribers import (
    Subscriber,
    add,
    confirm,
    counts,
    erase,
    get,
    import_row,
    link_sent,
    link_waiting,
    listing,
    record_bounce,
    record_reports,
    request,
    unsubscribe,
)
from .mail import TOKEN_LENGTH
from .settings import Settings

__all__ = ["ImportReport", "Subscriber", "add", "clean_name", "confirm", "counts", "erase", "export", "get",
           "import_csv", "import_row", "link_sent", "link_waiting", "listing", "make_confirm_token", "make_token",
           "normalize_address", "read_confirm_token", "read_token", "record_bounce", "record_reports", "request",
           "secret_key", "unsubscribe"]

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


def export(ledger: Ledger, zone: ZoneInfo) -> Iterator[dict[str, str | None]]:
    """Every subscriber, in the order they came, with status, dates (ISO 8601 in `zone`) and language (None: the
    default): no id, no token."""
    for row in book.export_rows(ledger):
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


