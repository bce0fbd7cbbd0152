"""The ledger: one SQLite file recording subscribers, editions and every delivery, before and after it is handed over.

A delivery is `pending` until a run claims it (`sending`, committed before the channel sees it), then
`sent`, `failed` or `missed` (or `pending` again after a transient failure). A run that dies leaves `sending`
rows: the next run knows what was in flight, and asks the channel after each before handing it over again.
"""

from __future__ import annotations

import fcntl
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import private
from ..clock import from_utc_iso, utc_iso
from ..errors import ConfigError
from .schema import MIGRATIONS

STATUSES = ("pending", "sending", "sent", "failed", "missed")
# An outcome to record: (delivery id, status, remote id, error, next attempt).
Result = tuple[int, str, "str | None", "str | None", "datetime | None"]

# Ids from here on were never in a token of the first format (the id in the clear): see migration 7.
FIRST_UNLISTED_ID = 2**32


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: str
    status: str
    attempts: int
    due_at: str
    item_id: str | None = None
    edition_id: int | None = None
    subscriber_id: int | None = None
    last_error: str | None = None
    remote_id: str | None = None
    next_attempt_at: str | None = None
    first_attempt_at: str | None = None
    dismissed_at: str | None = None
    steps: str | None = None  # JSON: what a multi-step hand-over recorded before its last step
    part: int = 1  # its place in a reply thread
    lang: str = ""  # a post's language ('' as the item is written) or the language an edition goes in


@dataclass(frozen=True, slots=True)
class Recipient:
    """One edition delivery joined with its subscriber, as the sender needs it."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    subscriber_status: str
    status: str
    attempts: int
    lang: str  # the version of the edition it gets


@dataclass(frozen=True, slots=True)
class Version:
    """An edition as it reads in one language."""

    subject: str
    html: str
    text: str
    item_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Edition:
    id: int
    slot: str | None
    subject: str
    html: str
    text: str
    recipients: int
    created_at: str
    item_ids: tuple[str, ...]  # every item of the edition, in any of its versions
    lang: str = ""  # the language of subject, html and text ('' for an edition made before languages)
    languages: tuple[str, ...] = ()  # the languages it was made in, the default first


class Ledger:
    """The state database. Every write is its own short transaction, committed before the call returns."""

    def __init__(self, path: Path) -> None:
        # One connection shared by the threads of a fan-out: each transaction, and each read they share, holds this.
        self.lock = threading.RLock()
        # Addresses and names live here: the folder and the file are this user's alone (SQLite gives the -wal and
        # -shm files the database file's mode); an older Herald's 0755 and 0644 are tightened.
        try:
            private.folder(path.parent)
            for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                private.tighten(companion)
            private.file(path)
            # One opener at a time sets up the file: SQLite answers "database is locked" at once, without
            # waiting, to a second connection switching a new file to WAL (bot serve's threads and bot run race).
            with private.open_lock(path.with_name(path.name + ".setup-lock")) as setup:
                fcntl.flock(setup, fcntl.LOCK_EX)
                self.db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
                self.db.row_factory = sqlite3.Row
                self.db.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL survives a killed process; a power cut may lose the last commits, which
                # then rolls a delivery back to an earlier state: a possible duplicate, never a loss.
                self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("PRAGMA foreign_keys = OFF")  # until migrated: see _migrate
                self._migrate()
                self.db.execute("PRAGMA foreign_keys = ON")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot open the state database: {exc.strerror}") from None
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path}: cannot open the state database: {exc}") from None
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> Ledger:
        return cls(cls.file(state_dir))

    @staticmethod
    def file(state_dir: Path) -> Path:
        """Where the state folder keeps the ledger (which a command that only reads may find absent)."""
        return state_dir / "herald.sqlite3"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Bring the schema up to date; foreign keys are off meanwhile (the connection turns them on after), as
        SQLite requires for rebuilding a table that others refer to, and checked before each step commits."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise ConfigError(f"the state database is from a newer Herald (schema {version}); upgrade Herald")
        for number in range(version, len(MIGRATIONS)):
            with self.transaction():
                # Read again under the write lock: another process (bot serve beside bot run) may have
                # applied this step since.
                if self.db.execute("PRAGMA user_version").fetchone()[0] > number:
                    continue
                for statement in _statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                if number == 0:
                    self.db.execute("INSERT INTO meta VALUES ('instance', ?)", (secrets.token_hex(6),))
                if self.db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise sqlite3.DatabaseError(f"schema step {number + 1} would break a reference between tables")
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def transaction(self) -> _Transaction:
        return _Transaction(self.db, self.lock)

    @property
    def instance(self) -> str:
        """A random id of this state, so Message-IDs from two installs never collide."""
        return str(self.db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()[0])

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (key, value))

    # --- posts -------------------------------------------------------------------------------------

    def post(self, item_id: str, platform: str, part: int = 1, lang: str = "") -> Delivery | None:
        row = self.db.execute("SELECT * FROM deliveries WHERE item_id = ? AND channel = ? AND part = ? AND lang = ?",
                              (item_id, platform, part, lang)).fetchone()
        return _delivery(row) if row else None

    def thread(self, item_id: str, platform: str, lang: str = "") -> list[Delivery]:
        """Every part of an item's post on `platform` in `lang` ('': as written), in order (one for a post that is
        no reply thread)."""
        rows = self.db.execute("SELECT * FROM deliveries WHERE item_id = ? AND channel = ? AND lang = ? ORDER BY part",
                               (item_id, platform, lang))
        return [_delivery(r) for r in rows]

    def posts(self, statuses: Sequence[str] = STATUSES) -> list[Delivery]:
        marks = ",".join("?" * len(statuses))
        rows = self.db.execute(f"SELECT * FROM deliveries WHERE item_id IS NOT NULL AND status IN ({marks}) "
                               "ORDER BY due_at, id", tuple(statuses))
        return [_delivery(r) for r in rows]

    def record_step(self, delivery_id: int, name: str, value: str) -> None:
        """Keep what one step of a hand-over made (Threads' container id) before the next step, so that a retry
        after a crash goes on from it instead of making it again."""
        import json

        with self.transaction():
            row = self.db.execute("SELECT steps FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            steps = json.loads(row[0]) if row and row[0] else {}
            steps[name] = value
            self.db.execute("UPDATE deliveries SET steps = ? WHERE id = ?", (json.dumps(steps), delivery_id))

    def add_post(self, item_id: str, platform: str, due_at: datetime, now: datetime, status: str = "pending",
                 error: str | None = None, part: int = 1, lang: str = "") -> Delivery:
        """Record a post (or one part of a reply thread) once; a second call for the same item, platform, part and
        language returns the first record."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO deliveries (channel, item_id, status, last_error, due_at, created_at, updated_at, part, "
                "lang) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_id, channel, part, lang) DO NOTHING",
                (platform, item_id, status, error, utc_iso(due_at), utc_iso(now), utc_iso(now), part, lang))
        found = self.post(item_id, platform, part, lang)
        if found is None:  # inserted or already there, in the transaction just committed
            raise ConfigError(f"the state database lost the post of {item_id} on {platform}")
        return found

    # --- the two marks around every hand-over ------------------------------------------------------

    def claim(self, ids: Sequence[int], now: datetime) -> None:
        """Mark deliveries `sending` (attempts + 1) and commit, before the channel sees them."""
        self.step((), ids, now)

    def finish(self, results: Sequence[Result], now: datetime) -> None:
        """Record outcomes as (id, status, remote id, error, next attempt), in one commit."""
        self.step(results, (), now)

    def step(self, results: Sequence[Result], claim: Sequence[int], now: datetime) -> None:
        """Record the outcomes of one hand-over and claim the next, in one commit: a connection's previous
        message is marked after it was handed over and its next one before, at the cost of a single commit."""
        stamp = utc_iso(now)
        with self.transaction():
            if results:
                self.db.executemany(
                    "UPDATE deliveries SET status = ?, remote_id = COALESCE(?, remote_id), last_error = ?, "
                    "next_attempt_at = ?, updated_at = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END "
                    "WHERE id = ?",
                    [(status, remote, error, utc_iso(retry) if retry else None, stamp, status, stamp, i)
                     for i, status, remote, error, retry in results])
            if claim:
                self.db.executemany(
                    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?, "
                    "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE id = ? AND status IN ('pending', "
                    "'sending')", [(stamp, stamp, i) for i in claim])

    def requeue_posts(self, item_id: str, platforms: Sequence[str], due_at: datetime, now: datetime) -> list[str]:
        """Put missed or failed posts back in the schedule; the platforms that were requeued."""
        marks = ",".join("?" * len(platforms))
        with self.transaction():
            rows = self.db.execute(f"SELECT id, channel FROM deliveries WHERE item_id = ? AND channel IN ({marks}) "
                                   "AND status IN ('missed', 'failed')", (item_id, *platforms)).fetchall()
            self.db.executemany("UPDATE deliveries SET status = 'pending', due_at = ?, next_attempt_at = NULL, "
                                "last_error = NULL, dismissed_at = NULL, dismissed_by = NULL, updated_at = ? "
                                "WHERE id = ?",
                                [(utc_iso(due_at), utc_iso(now), row["id"]) for row in rows])
        return list(dict.fromkeys(row["channel"] for row in rows))  # a thread's parts come back once

    # --- editions ----------------------------------------------------------------------------------

    def edition_for_slot(self, slot: datetime) -> int | None:
        row = self.db.execute("SELECT id FROM editions WHERE slot = ?", (utc_iso(slot),)).fetchone()
        return row[0] if row else None

    def items_in_editions(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT item_id FROM edition_items")}

    def create_edition(self, slot: datetime | None, item_ids: Sequence[str], now: datetime,
                       render: Callable[[int], Mapping[str, Version]], digests: Mapping[str, str] | None = None,
                       languages: Sequence[str] = ("en",)) -> int:
        """One edition, its version in each language, and one pending delivery per active subscriber, in a single
        transaction.

        `render(edition_id)` gives each language's version, the default language's first; it runs inside the
        transaction, so an edition never exists without its content and its recipients. Each subscriber gets the
        version in their language (the default one's when theirs is not among `languages`, every language the
        organisation lists); one whose language has no version (nothing translated, and untranslated items left
        out) gets none. `digests` (item id -> the SHA-256 of its file as rendered) is kept with each item, so that
        a later change to the file can be told.
        """
        stamp = utc_iso(now)
        with self.transaction():
            cursor = self.db.execute("INSERT INTO editions (slot, subject, html, text, created_at) "
                                     "VALUES (?, '', '', '', ?)", (utc_iso(slot) if slot else None, stamp))
            edition_id = int(cursor.lastrowid or 0)
            versions = render(edition_id)
            self.db.executemany("INSERT INTO edition_items (edition_id, item_id, position, digest) VALUES (?, ?, ?, ?)",
                                [(edition_id, item, n, (digests or {}).get(item)) for n, item in enumerate(item_ids)])
            self.db.executemany("INSERT INTO edition_languages (edition_id, lang, subject, html, text, items) "
                                "VALUES (?, ?, ?, ?, ?, ?)", [(edition_id, lang, v.subject, v.html, v.text,
                                                               "\n".join(v.item_ids)) for lang, v in versions.items()])
            listed, rendered = ",".join("?" * len(languages)), ",".join("?" * len(versions))
            added = self.db.execute(
                "INSERT INTO deliveries (channel, edition_id, subscriber_id, status, due_at, created_at, updated_at, "
                "lang) SELECT 'email', ?, id, 'pending', ?, ?, ?, l FROM (SELECT id, CASE WHEN lang IN "
                f"({listed}) THEN lang ELSE ? END AS l FROM subscribers WHERE status = 'active') WHERE l IN "
                f"({rendered}) ORDER BY id", (edition_id, stamp, stamp, stamp, *languages, languages[0], *versions)
            ).rowcount
            default = versions.get(languages[0]) or next(iter(versions.values()))
            self.db.execute("UPDATE editions SET subject = ?, html = ?, text = ?, recipients = ? WHERE id = ?",
                            (default.subject, default.html, default.text, added, edition_id))
        return edition_id

    def edition(self, edition_id: int, lang: str | None = None) -> Edition:
        """An edition in `lang` (None, or a language it was not made in: the default language's version)."""
        row = self.db.execute("SELECT * FROM editions WHERE id = ?", (edition_id,)).fetchone()
        if row is None:
            raise KeyError(edition_id)
        items = tuple(r[0] for r in self.db.execute(
            "SELECT item_id FROM edition_items WHERE edition_id = ? ORDER BY position", (edition_id,)))
        versions = self.db.execute("SELECT lang, subject, html, text FROM edition_languages WHERE edition_id = ? "
                                   "ORDER BY rowid", (edition_id,)).fetchall()
        languages = tuple(v["lang"] for v in versions)
        chosen = next((v for v in versions if v["lang"] == lang), versions[0] if versions else row)
        return Edition(row["id"], row["slot"], chosen["subject"], chosen["html"], chosen["text"], row["recipients"],
                       row["created_at"], items, chosen["lang"] if versions else "", languages)

    def editions(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM editions ORDER BY id")]

    def unfinished_editions(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM editions WHERE finished_at IS NULL ORDER BY id")]

    def finish_edition(self, edition_id: int, now: datetime) -> bool:
        """Mark an edition finished if nothing of it is pending or in flight; True if it is."""
        with self.transaction():
            left = self.db.execute("SELECT 1 FROM deliveries WHERE edition_id = ? AND status IN ('pending', "
                                   "'sending') LIMIT 1", (edition_id,)).fetchone()
            if left is None:
                self.db.execute("UPDATE editions SET finished_at = ? WHERE id = ? AND finished_at IS NULL",
                                (utc_iso(now), edition_id))
        return left is None

    def recipients(self, edition_id: int, after: int, limit: int, ready_by: datetime) -> list[Recipient]:
        """The next batch of an edition's unfinished deliveries that may go now, in id order: never the whole
        list at once."""
        rows = self.db.execute(
            "SELECT d.id, d.subscriber_id, s.email, s.name, s.status AS sub_status, d.status, d.attempts, d.lang "
            "FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.edition_id = ? AND d.id > ? "
            "AND d.status IN ('pending', 'sending') AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?) "
            "ORDER BY d.id LIMIT ?", (edition_id, after, utc_iso(ready_by), limit))
        return [Recipient(*r) for r in rows]

    def next_retry(self, edition_id: int) -> datetime | None:
        """When the earliest deferred delivery of an edition may go again."""
        row = self.db.execute("SELECT MIN(next_attempt_at) FROM deliveries WHERE edition_id = ? "
                              "AND status = 'pending' AND next_attempt_at IS NOT NULL", (edition_id,)).fetchone()
        return from_utc_iso(row[0]) if row and row[0] else None

    def failure_reasons(self, edition_id: int) -> list[tuple[str, int]]:
        """Each reason an edition's deliveries failed for good, with how many, the commonest first."""
        rows = self.db.execute("SELECT last_error, COUNT(*) FROM deliveries WHERE edition_id = ? AND status = "
                               "'failed' GROUP BY last_error ORDER BY COUNT(*) DESC", (edition_id,))
        return [(error, n) for error, n in rows]

    def edition_counts(self, edition_id: int) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM deliveries WHERE edition_id = ? GROUP BY status",
                               (edition_id,))
        return {status: n for status, n in rows}

    def deliveries(self, where: str = "1", params: Sequence[object] = ()) -> Iterator[Delivery]:
        for row in self.db.execute(f"SELECT * FROM deliveries WHERE {where} ORDER BY id", tuple(params)):
            yield _delivery(row)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the ledger's lock, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self.db = db
        self.lock = lock

    def __enter__(self) -> None:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, kind: object, *rest: object) -> None:
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            self.lock.release()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(row["id"], row["channel"], row["status"], row["attempts"], row["due_at"], row["item_id"],
                    row["edition_id"], row["subscriber_id"], row["last_error"], row["remote_id"],
                    row["next_attempt_at"], row["first_attempt_at"], row["dismissed_at"], row["steps"], row["part"],
                    row["lang"])
