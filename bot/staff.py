"""Staff accounts: roles, argon2 password hashes, sign-in and server-side sessions, each change in the activity log."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

from .clock import from_utc_iso
from .errors import HeraldError, quoted
from .ledger import Ledger, feeds
from .ledger import staff as store
from .ledger.review import record
from .settings import Settings
from .subscribers import normalize_address

ROLES = ("editor", "approver", "admin")  # each may do everything the ones before it may
ENV_ADMIN = "admin"  # the one-person account whose password hash is BOT_ADMIN_PASSWORD
MIN_LENGTH = 12
SESSION_LIFETIME = timedelta(hours=12)  # from sign-in, however busy the session is
SEEN_EVERY = timedelta(minutes=1)  # a busy session writes its last-seen time no more often than this
_ENV_FINGERPRINT = "admin-password-fingerprint"  # meta key: which BOT_ADMIN_PASSWORD the "admin" sessions know

_hasher = PasswordHasher()


class AccountError(HeraldError):
    """A staff account cannot be made or changed as asked; the message says why, without any secret."""


@dataclass(frozen=True, slots=True)
class Account:
    """A staff member as shown to people: no hash."""

    email: str
    role: str
    created_at: datetime


def normalize_email(raw: str) -> str:
    try:
        return normalize_address(raw)
    except ValueError as exc:
        raise AccountError(f"{quoted(raw.strip())} is not a valid email address: {exc}") from None


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise AccountError(f"a password needs at least {MIN_LENGTH} characters")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """A hash no password matches, verified when the email is unknown so that it takes as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _known(ledger: Ledger, email: str) -> store.StaffRow:
    row = store.get(ledger, email)
    if row is None:
        raise AccountError(f"no staff account {email}")
    return row


# --- accounts --------------------------------------------------------------------------------------


def listing(ledger: Ledger) -> list[Account]:
    return [Account(r.email, r.role, from_utc_iso(r.created_at)) for r in store.listing(ledger)]


def find(ledger: Ledger, email: str) -> Account | None:
    row = store.get(ledger, email)
    return Account(row.email, row.role, from_utc_iso(row.created_at)) if row else None


def any_account(ledger: Ledger, settings: Settings) -> bool:
    """Whether anyone at all can sign in (a staff account, or BOT_ADMIN_PASSWORD)."""
    return bool(settings.admin_password) or store.count(ledger) > 0


def add(ledger: Ledger, email: str, role: str, password: str, actor: str, now: datetime) -> str:
    """Make an account; the address as stored."""
    address = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"{quoted(role)} is not a role: use one of {', '.join(ROLES)}")
    if not store.insert(ledger, address, role, hash_password(password), now):
        raise AccountError(f"{address} already has a staff account")
    record(ledger, actor, "staff-add", now, detail=f"{address} as {role}")
    return address


def remove(ledger: Ledger, email: str, actor: str, now: datetime) -> str:
    """Remove an account and end all its sessions at once; the address removed. Nobody removes themself."""
    row = _known(ledger, normalize_email(email))
    if row.email.lower() == actor.lower():
        raise AccountError("you cannot remove your own account: another admin can")
    outcome = store.delete(ledger, row.email)
    if outcome == "last admin":
        raise AccountError(f"{row.email} is the last admin: make someone else admin first")
    if outcome == "unknown":
        raise AccountError(f"no staff account {row.email}")
    record(ledger, actor, "staff-remove", now, detail=row.email)
    return row.email


def set_role(ledger: Ledger, email: str, role: str, actor: str, now: datetime) -> tuple[str, str]:
    """Change a role, effective from the next request; the address and its previous role."""
    if role not in ROLES:
        raise AccountError(f"{quoted(role)} is not a role: use one of {', '.join(ROLES)}")
    row = _known(ledger, normalize_email(email))
    outcome = store.set_role(ledger, row.email, role, now)
    if outcome == "last admin":
        raise AccountError(f"{row.email} is the last admin: make someone else admin first")
    if outcome == "unknown":
        raise AccountError(f"no staff account {row.email}")
    if row.role != role:
        record(ledger, actor, "staff-role", now, detail=f"{row.email}: {row.role} -> {role}")
    return row.email, row.role


def change_password(ledger: Ledger, email: str, password: str, actor: str, now: datetime) -> str:
    """Set a new password and end every session of that person; the address."""
    row = _known(ledger, normalize_email(email))
    if not store.set_password(ledger, row.email, hash_password(password), now):
        raise AccountError(f"no staff account {row.email}")
    record(ledger, actor, "password", now, detail=row.email)
    return row.email


def check_password(ledger: Ledger, email: str, password: str) -> bool:
    """Whether `password` is the current one of this account (to confirm a change)."""
    row = store.get(ledger, email)
    return _verify(row.password_hash if row else dummy_hash(), password) and row is not None


def authenticate(ledger: Ledger, settings: Settings, email: str, password: str) -> str | None:
    """The actor `email` and `password` sign in as, or None; a wrong email takes as long as a wrong password."""
    wanted = email.strip()
    if wanted.lower() == ENV_ADMIN and settings.admin_password:
        return ENV_ADMIN if check_password_hash(settings.admin_password.reveal(), password) else None
    try:
        row = store.get(ledger, normalize_email(wanted))
    except AccountError:
        row = None
    if row is None:
        _verify(dummy_hash(), password)
        return None
    if not _verify(row.password_hash, password):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        store.replace_hash(ledger, row.email, row.password_hash, _hasher.hash(password))
    return row.email


def role_of(ledger: Ledger, settings: Settings, actor: str) -> str | None:
    """The role `actor` has now, read afresh; None when the account is gone."""
    if actor == ENV_ADMIN:
        return "admin" if settings.admin_password and _env_fingerprint_holds(ledger, settings) else None
    row = store.get(ledger, actor)
    return row.role if row else None


def _env_fingerprint(settings: Settings) -> str:
    # Only a digest of the hash is kept, to notice when BOT_ADMIN_PASSWORD is changed.
    return hashlib.sha256(b"herald admin password\0" + settings.admin_password.reveal().encode()).hexdigest()


def _env_fingerprint_holds(ledger: Ledger, settings: Settings) -> bool:
    return hmac.compare_digest(ledger.meta(_ENV_FINGERPRINT) or "", _env_fingerprint(settings))


# --- sessions ------------------------------------------------------------------------------------


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(ledger: Ledger, settings: Settings, actor: str, now: datetime) -> str:
    """A new session of `actor`; its id, which only the browser keeps (the ledger keeps its SHA-256)."""
    if actor == ENV_ADMIN:
        if not _env_fingerprint_holds(ledger, settings):  # BOT_ADMIN_PASSWORD changed: its old sessions end,
            store.end_sessions(ledger, ENV_ADMIN)  # and its old calendar feed address with them
            if feeds.generation(ledger, ENV_ADMIN) is not None:
                feeds.renew(ledger, ENV_ADMIN, now)
        ledger.set_meta(_ENV_FINGERPRINT, _env_fingerprint(settings))
    session_id = secrets.token_urlsafe(32)
    store.add_session(ledger, _digest(session_id), actor, now, forget_before=now - SESSION_LIFETIME)
    return session_id


def sign_in(ledger: Ledger, settings: Settings, actor: str, now: datetime) -> str:
    """Open a session after a successful `authenticate`, and log it; the session id."""
    session_id = open_session(ledger, settings, actor, now)
    record(ledger, actor, "sign-in", now)
    return session_id


def sign_out(ledger: Ledger, actor: str, now: datetime) -> int:
    """End every session of `actor` (every browser, not only this one) and log it; how many ended."""
    ended = store.end_sessions(ledger, actor)
    record(ledger, actor, "sign-out", now)
    return ended


def signed_in(ledger: Ledger, settings: Settings, session_id: str, now: datetime) -> tuple[str, str] | None:
    """(actor, role) of a live session, or None: unknown, older than SESSION_LIFETIME, or its account gone."""
    digest = _digest(session_id)
    row = store.find_session(ledger, digest)
    if row is None:
        return None
    if now - from_utc_iso(row.created_at) >= SESSION_LIFETIME:
        store.end_session(ledger, digest)
        return None
    role = role_of(ledger, settings, row.actor)
    if role is None:
        store.end_sessions(ledger, row.actor)
        return None
    if now - from_utc_iso(row.seen_at) >= SEEN_EVERY:
        store.touch_session(ledger, digest, now)
    return row.actor, role
