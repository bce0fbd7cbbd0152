"""Subscriber ids are never given twice, an erased subscriber's link stays dead, and a token tells nothing of the
list's size; an older state folder upgrades with every subscriber, and the links already sent keep working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
import requests

from bot import subscribers
from bot.ledger import MIGRATIONS, Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import SAMPLE_QUEUE
from .web_server import running

NOW = datetime(2019, 7, 1, tzinfo=UTC)
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZoneInfo("Europe/Zurich"))  # the sample's Friday edition
STRONG = "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V"
MakeSettings = Callable[..., Settings]


@pytest.fixture
def site(make_settings: MakeSettings) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="")


def one(ledger: Ledger, email: str) -> subscribers.Subscriber:
    found = subscribers.get(ledger, email=email)
    assert found is not None, email
    return found


def token_in_mail(settings: Settings, subscriber_id: int) -> str:
    """The unsubscribe token of the edition mailed to this subscriber, as it sits in the outbox."""
    [path] = (settings.outbox_dir / "email").glob(f"edition-*-subscriber-{subscriber_id}.eml")
    header = message_from_bytes(path.read_bytes(), policy=policy.default)["List-Unsubscribe"]
    found = re.fullmatch(r"<http://localhost:8080/unsubscribe/([A-Za-z0-9_-]{32})>", str(header))
    assert found is not None, header
    return found.group(1)


def erased_then_newcomer(site: Settings) -> tuple[str, subscribers.Subscriber]:
    """An edition mailed to two readers, one of them then erased and someone new subscribed: the erased reader's
    unsubscribe link, as it sits in their mail, and the newcomer."""
    with Ledger.open(site.state_dir) as ledger:
        subscribers.add(ledger, "amina@example.org", "", NOW)
        subscribers.add(ledger, "leaving@example.org", "", NOW)
        leaving = one(ledger, "leaving@example.org")
    run_once(site, SLOT)
    old_token = token_in_mail(site, leaving.id)
    with Ledger.open(site.state_dir) as ledger:
        subscribers.erase(ledger, leaving.id)  # their right to erasure; SQLite would give their id again
        subscribers.add(ledger, "newcomer@example.org", "", NOW)
        newcomer = one(ledger, "newcomer@example.org")
    assert newcomer.id != leaving.id
    return old_token, newcomer


def test_an_erased_subscribers_link_never_reaches_the_next_subscriber(site: Settings) -> None:
    old_token, _newcomer = erased_then_newcomer(site)
    with running(site) as base:
        shown = requests.get(f"{base}/unsubscribe/{old_token}")
        requests.post(f"{base}/unsubscribe/{old_token}", data={"List-Unsubscribe": "One-Click"})
    assert "newcomer@example.org" not in shown.text
    with Ledger.open(site.state_dir) as ledger:
        assert one(ledger, "newcomer@example.org").status == "active"


def test_an_erased_subscribers_link_gets_the_plain_404_of_any_bad_token(site: Settings) -> None:
    old_token, _ = erased_then_newcomer(site)
    with running(site) as base:
        shown = requests.get(f"{base}/unsubscribe/{old_token}")
        clicked = requests.post(f"{base}/unsubscribe/{old_token}", data={"List-Unsubscribe": "One-Click"})
        bad = requests.get(f"{base}/unsubscribe/{'A' * 32}")
    assert (shown.status_code, clicked.status_code) == (404, 404)
    assert shown.text == bad.text


def test_a_token_does_not_tell_how_many_subscribers_there_are(make_settings: MakeSettings) -> None:
    key = subscribers.secret_key(make_settings(BOT_SECRET=STRONG))
    tokens = [subscribers.make_token(key, n) for n in range(1, 51)]
    heads = [base64.urlsafe_b64decode(t + "==")[:8] for t in tokens]
    assert all(len(t) == 32 for t in tokens)
    assert all(struct.pack(">Q", n) not in base64.urlsafe_b64decode(t + "==") for n, t in enumerate(tokens, 1))
    assert heads != sorted(heads) and len({t[:4] for t in tokens}) > 40  # no order, no shared prefix
    assert [subscribers.read_token(key, t) for t in tokens] == list(range(1, 51))


def legacy_token(key: bytes, subscriber_id: int) -> str:
    """A token as Herald wrote it up to schema 6: the id in the clear, then an HMAC under BOT_SECRET itself."""
    ident = struct.pack(">Q", subscriber_id)
    mac = hmac.new(key, b"unsubscribe\x00" + ident, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(ident + mac).decode().rstrip("=")


def test_an_upgraded_state_keeps_everyone_and_the_links_already_sent(make_settings: MakeSettings) -> None:
    settings = make_settings(BOT_SECRET=STRONG)
    settings.state_dir.mkdir(parents=True)
    path = settings.state_dir / "herald.sqlite3"
    older = sqlite3.connect(path, isolation_level=None)  # the state folder as Herald up to schema 6 left it
    for script in MIGRATIONS[:6]:
        older.executescript(script)
    older.execute("INSERT INTO meta VALUES ('instance', 'a1b2c3d4e5f6')")
    stamp = "2019-07-01T00:00:00Z"
    older.executemany("INSERT INTO subscribers (id, email, name, status, created_at, updated_at) VALUES "
                      "(?, ?, ?, 'active', ?, ?)", [(n, f"reader{n}@example.org", f"Reader {n}", stamp, stamp)
                                                    for n in (1, 2, 3)])
    older.execute("INSERT INTO editions (id, slot, subject, html, text, created_at) VALUES (1, NULL, 'S', '', '', ?)",
                  (stamp,))
    older.execute("INSERT INTO deliveries (channel, edition_id, subscriber_id, status, due_at, created_at, "
                  "updated_at) VALUES ('email', 1, 2, 'sent', ?, ?, ?)", (stamp, stamp, stamp))
    older.execute("INSERT INTO bounces (subscriber_id, kind, source, at) VALUES (2, 'soft', 'mailgun', ?)", (stamp,))
    older.execute("DELETE FROM subscribers WHERE id = 3")  # erased before the upgrade: 3 was the highest id
    older.execute("PRAGMA user_version = 6")
    older.close()
    key = subscribers.secret_key(settings)
    sent_to_two, sent_to_three = legacy_token(key, 2), legacy_token(key, 3)

    with Ledger.open(settings.state_dir) as ledger:
        kept = [(s.id, s.email, s.name) for s in subscribers.listing(ledger)]
        assert kept == [(1, "reader1@example.org", "Reader 1"), (2, "reader2@example.org", "Reader 2")]
        assert ledger.edition_counts(1) == {"sent": 1}
        assert ledger.db.execute("SELECT COUNT(*) FROM bounces WHERE subscriber_id = 2").fetchone()[0] == 1
        subscribers.add(ledger, "newcomer@example.org", "", NOW)
        newcomer = one(ledger, "newcomer@example.org")
        # The link in mail already sent still names its reader; the erased reader's names nobody, ever.
        assert subscribers.read_token(key, sent_to_two) == 2
        assert subscribers.get(ledger, subscriber_id=subscribers.read_token(key, sent_to_three)) is None
        assert newcomer.id not in (1, 2, 3)
        assert subscribers.read_token(key, subscribers.make_token(key, newcomer.id)) == newcomer.id
        assert ledger.db.execute("PRAGMA foreign_key_check").fetchall() == []
