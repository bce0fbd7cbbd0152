"""The ledger's staff accounts and their server-side sessions (only a SHA-256 of each session id is kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..clock import utc_iso
from . import Ledger

# What a guarded change came to: done, no such account, or refused because no admin would be left.
Outcome = Literal["done", "unknown", "last admin"]


@dataclass(frozen=True, slots=True)
class StaffRow:
    email: str
    role: str
    password_hash: str = field(repr=False)  # never printed, even by accident in a traceback
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    actor: str
    created_at: str
    seen_at: str


_COLUMNS = "email, role, password_hash, created_at, updated_at"


# --- accounts --------------------------------------------------------------------------------------


def get(ledger: Ledger, email: str) -> StaffRow | None:
    """The account of `email`, whatever its case."""
    row = ledger.db.execute(f"SELECT {_COLUMNS} FROM staff WHERE email = ?", (email,)).fetchone()
    return StaffRow(*row) if row else None


def listing(ledger: Ledger) -> list[StaffRow]:
    return [StaffRow(*r) for r in ledger.db.execute(f"SELECT {_COLUMNS} FROM staff ORDER BY email")]


def count(ledger: Ledger) -> int:
    return int(ledger.db.execute("SELECT COUNT(*) FROM staff").fetchone()[0])


def insert(ledger: Ledger, email: str, role: str, password_hash: str, now: datetime) -> bool:
    """Add an account; False when one with that email exists already."""
    with ledger.transaction():
        added = ledger.db.execute("INSERT INTO staff (email, role, password_hash, created_at, updated_at) "
                                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING",
                                  (email, role, password_hash, utc_iso(now), utc_iso(now))).rowcount
    return bool(added)


def delete(ledger: Ledger, email: str) -> Outcome:
    """Remove an account and end all its sessions in one transaction; never the last admin."""
    with ledger.transaction():
        outcome = _guard(ledger, email, None)
        if outcome == "done":
            ledger.db.execute("DELETE FROM staff WHERE email = ?", (email,))
            ledger.db.execute("DELETE FROM sessions WHERE actor = ?", (email,))
            # A new generation, kept: the address they had stays dead even if the same email is added again.
            ledger.db.execute("UPDATE calendar_feeds SET generation = generation + 1 WHERE actor = ?", (email,))
    return outcome


def set_role(ledger: Ledger, email: str, role: str, now: datetime) -> Outcome:
    """Change a role (read again by every request, so it holds from the next one); never demote the last admin."""
    with ledger.transaction():
        outcome = _guard(ledger, email, role)
        if outcome == "done":
            ledger.db.execute("UPDATE staff SET role = ?, updated_at = ? WHERE email = ?", (role, utc_iso(now), email))
    return outcome


def _guard(ledger: Ledger, email: str, new_role: str | None) -> Outcome:
    """Checked inside the writing transaction, so two admins demoting each other cannot leave none."""
    row = ledger.db.execute("SELECT role FROM staff WHERE email = ?", (email,)).fetchone()
    if row is None:
        return "unknown"
    if row[0] == "admin" and new_role != "admin":
        admins = ledger.db.execute("SELECT COUNT(*) FROM staff WHERE role = 'admin'").fetchone()[0]
        if admins <= 1:
            return "last admin"
    return "done"


def set_password(ledger: Ledger, email: str, password_hash: str, now: datetime) -> bool:
    """Replace a password hash and end every session of that person; False when there is no such account."""
    with ledger.transaction():
        changed = ledger.db.execute("UPDATE staff SET password_hash = ?, updated_at = ? WHERE email = ?",
                                    (password_hash, utc_iso(now), email)).rowcount
        if changed:
            ledger.db.execute("DELETE FROM sessions WHERE actor = ?", (email,))
    return bool(changed)


def replace_hash(ledger: Ledger, email: str, old_hash: str, new_hash: str) -> bool:
    """Store a stronger hash of the same password, unless the password changed meanwhile; sessions stay."""
    with ledger.transaction():
        changed = ledger.db.execute("UPDATE staff SET password_hash = ? WHERE email = ? AND password_hash = ?",
                                    (new_hash, email, old_hash)).rowcount
    return bool(changed)


# --- sessions ------------------------------------------------------------------------------------


def add_session(ledger: Ledger, id_hash: str, actor: str, now: datetime, forget_before: datetime) -> None:
    """Record a new session, and forget the sessions (anyone's) that were created before `forget_before`."""
    with ledger.transaction():
        ledger.db.execute("DELETE FROM sessions WHERE created_at < ?", (utc_iso(forget_before),))
        ledger.db.execute("INSERT INTO sessions (id_hash, actor, created_at, seen_at) VALUES (?, ?, ?, ?)",
                          (id_hash, actor, utc_iso(now), utc_iso(now)))


def find_session(ledger: Ledger, id_hash: str) -> SessionRow | None:
    row = ledger.db.execute("SELECT actor, created_at, seen_at FROM sessions WHERE id_hash = ?",
                            (id_hash,)).fetchone()
    return SessionRow(*row) if row else None


def touch_session(ledger: Ledger, id_hash: str, now: datetime) -> None:
    with ledger.transaction():
        ledger.db.execute("UPDATE sessions SET seen_at = ? WHERE id_hash = ?", (utc_iso(now), id_hash))


def end_session(ledger: Ledger, id_hash: str) -> None:
    with ledger.transaction():
        ledger.db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


def end_sessions(ledger: Ledger, actor: str) -> int:
    """End every session of one person; how many there were."""
    with ledger.transaction():
        return int(ledger.db.execute("DELETE FROM sessions WHERE actor = ?", (actor,)).rowcount)


def sessions_of(ledger: Ledger, actor: str) -> int:
    return int(ledger.db.execute("SELECT COUNT(*) FROM sessions WHERE actor = ?", (actor,)).fetchone()[0])
