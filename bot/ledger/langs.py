"""The ledger's record of each subscriber's language: NULL (the default language) until they or staff choose one."""

from __future__ import annotations

from datetime import datetime

from ..clock import utc_iso
from . import Ledger


def write(ledger: Ledger, email: str, lang: str | None, now: datetime) -> None:
    """Set a subscriber's language inside a transaction the caller holds (the one adding or updating them), so that
    nobody is ever recorded without the language given with them. Nothing is written when it is already so."""
    ledger.db.execute("UPDATE subscribers SET lang = ?, updated_at = ? WHERE email = ? AND lang IS NOT ?",
                      (lang, utc_iso(now), email, lang))


def choose(ledger: Ledger, email: str, lang: str | None, now: datetime) -> bool:
    """Set a subscriber's language (None: the default language, whatever it becomes); False if they are not on
    the list."""
    with ledger.transaction():
        if ledger.db.execute("SELECT 1 FROM subscribers WHERE email = ?", (email,)).fetchone() is None:
            return False
        write(ledger, email, lang, now)
    return True


def of(ledger: Ledger, email: str) -> str | None:
    """A subscriber's language as recorded: None for the default language (or nobody by that address)."""
    row = ledger.db.execute("SELECT lang FROM subscribers WHERE email = ?", (email,)).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def counts(ledger: Ledger, status: str = "active") -> dict[str | None, int]:
    """How many subscribers with `status` each recorded language has (None: the default language)."""
    rows = ledger.db.execute("SELECT lang, COUNT(*) FROM subscribers WHERE status = ? GROUP BY lang ORDER BY lang",
                             (status,))
    return {lang: n for lang, n in rows}


def readers(ledger: Ledger, edition_id: int) -> dict[str, int]:
    """How many of an edition's recipients get each language's version ('' for an edition made before languages),
    in the order the versions were made."""
    rows = ledger.db.execute("SELECT d.lang, COUNT(*) FROM deliveries d LEFT JOIN edition_languages v ON "
                             "v.edition_id = d.edition_id AND v.lang = d.lang WHERE d.edition_id = ? "
                             "GROUP BY d.lang ORDER BY MIN(v.rowid)", (edition_id,))
    return {lang: n for lang, n in rows}
