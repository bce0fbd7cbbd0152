"""Subscribers: CSV import with bad rows, case-insensitive matching, consent kept, and unsubscribe tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import subscribers
from bot.errors import ContentError
from bot.ledger import Ledger
from bot.settings import Settings

from .conftest import FIXTURES

NOW = datetime(2019, 7, 1, 12, 0, tzinfo=UTC)
CSV = FIXTURES / "subscribers"


@pytest.fixture
def ledger(settings: Settings):
    with Ledger.open(settings.state_dir) as opened:
        yield opened


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_imported(ledger: Ledger) -> None:
    report = subscribers.import_csv(ledger, CSV / "bad_rows.csv", NOW)
    assert [(p.line, p.field) for p in report.problems] == [(3, "email"), (5, "email"), (6, "email"), (9, "email")]
    assert all(p.path.endswith("bad_rows.csv") for p in report.problems)
    assert "'not-an-address' is not a valid address" in report.problems[0].message
    assert (report.added, report.repeated) == (3, 1)
    emails = [s.email for s in subscribers.listing(ledger)]
    assert emails == ["amina.diallo@example.org", "jonas.keller@example.ch", "wei.zhang@example.org"]
    assert subscribers.get(ledger, email="wei.zhang@example.org").name == "Zhang, Wei"


def test_addresses_match_without_regard_to_case(ledger: Ledger) -> None:
    assert subscribers.add(ledger, "Amina@Example.org", "", NOW) == "added"
    assert subscribers.add(ledger, "amina@example.org", "Amina", NOW) == "exists"
    assert subscribers.get(ledger, email="AMINA@EXAMPLE.ORG").name == "Amina"
    assert subscribers.counts(ledger)["active"] == 1


def test_reimport_never_resubscribes_someone_who_left(ledger: Ledger) -> None:
    subscribers.import_csv(ledger, CSV / "bad_rows.csv", NOW)
    amina = subscribers.get(ledger, email="amina.diallo@example.org")
    assert subscribers.unsubscribe(ledger, amina.id, NOW)
    report = subscribers.import_csv(ledger, CSV / "bad_rows.csv", NOW)
    assert (report.added, report.kept_out) == (0, 1)
    assert subscribers.get(ledger, email="amina.diallo@example.org").status == "unsubscribed"
    assert subscribers.add(ledger, "AMINA.DIALLO@example.org", "", NOW) == "unsubscribed"
    assert not subscribers.unsubscribe(ledger, amina.id, NOW)  # idempotent


def test_semicolons_bom_and_crlf_are_understood(ledger: Ledger) -> None:
    assert subscribers.import_csv(ledger, CSV / "semicolons.csv", NOW).added == 2
    assert subscribers.import_csv(ledger, CSV / "bom_crlf.csv", NOW).added == 1
    assert subscribers.get(ledger, email="lucia@example.net").name == "Lucía Fernández"
    assert subscribers.get(ledger, email="bom@example.org").name == "With BOM"


@pytest.mark.parametrize("case, field, words", [
    ("latin1", "file", "is not UTF-8 text"),
    ("no_email_column", "email", "no 'email' column in the header row (found: address, name)"),
])
def test_a_file_that_cannot_be_read_names_itself_and_the_field(ledger: Ledger, case: str, field: str,
                                                             words: str) -> None:
    with pytest.raises(ContentError) as caught:
        subscribers.import_csv(ledger, CSV / f"{case}.csv", NOW)
    assert caught.value.field == field and words in caught.value.message
    assert str(caught.value).startswith(str(CSV / f"{case}.csv"))


def test_a_name_cannot_carry_a_line_break(ledger: Ledger) -> None:
    subscribers.import_csv(ledger, CSV / "name_with_line_break.csv", NOW)
    name = subscribers.get(ledger, email="eve@example.org").name
    assert "\n" not in name and "\r" not in name


def test_tokens_name_one_subscriber_and_cannot_be_forged(settings: Settings) -> None:
    key = subscribers.secret_key(settings)
    token = subscribers.make_token(key, 42)
    assert len(token) == 32 and subscribers.read_token(key, token) == 42
    assert subscribers.read_token(key, subscribers.make_token(key, 43)) == 43
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert subscribers.read_token(key, forged) is None
    assert subscribers.read_token(b"another key", token) is None
    assert subscribers.read_token(key, token[:-1]) is None and subscribers.read_token(key, "!" * 32) is None
    # swapping the id while keeping the MAC of another subscriber fails
    other = subscribers.make_token(key, 43)
    assert subscribers.read_token(key, other[:11] + token[11:]) is None


def test_without_bot_secret_the_key_is_random_and_kept(make_settings, tmp_path: Path) -> None:
    first = make_settings(BOT_STATE_DIR=str(tmp_path / "a"))
    second = make_settings(BOT_STATE_DIR=str(tmp_path / "b"))
    assert subscribers.secret_key(first) == subscribers.secret_key(first)
    assert subscribers.secret_key(first) != subscribers.secret_key(second)
    assert (tmp_path / "a" / "secret.key").stat().st_mode & 0o777 == 0o600
    with_secret = make_settings(BOT_SECRET="s3cret-value")
    assert subscribers.secret_key(with_secret) == b"s3cret-value"


def test_a_webhook_call_is_marked_seen_only_with_its_effect(settings: Settings) -> None:
    """A provider's call that fails half-way leaves nothing, not even its mark: the provider's retry does it all."""
    import sqlite3

    now = datetime(2019, 7, 12, tzinfo=UTC)
    with Ledger.open(settings.state_dir) as ledger:
        for email in ("a@example.org", "b@example.org"):
            subscribers.add(ledger, email, "", now)
        broken = [("a@example.org", "hard", "ses", "550 no such user"), ("b@example.org", "no-such-kind", "ses", "")]
        with pytest.raises(sqlite3.IntegrityError):  # the second report breaks the bounces table's CHECK
            subscribers.record_reports(ledger, "ses:message-1", broken, now, 3)
        found = subscribers.get(ledger, email="a@example.org")
        assert found is not None and found.status == "active"  # the first report's effect went with the failure
        retried = [("a@example.org", "hard", "ses", "550 no such user"), ("b@example.org", "soft", "ses", "full")]
        assert subscribers.record_reports(ledger, "ses:message-1", retried, now, 3) == ["suppressed", "counted"]
        assert subscribers.record_reports(ledger, "ses:message-1", retried, now, 3) is None  # a replay: nothing
        statuses = [s.status for s in subscribers.listing(ledger)]
    assert statuses == ["bounced", "active"]
