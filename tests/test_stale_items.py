"""Stale news: an email item older than BOT_MAX_ITEM_AGE at its edition is recorded, reported once, never sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import queue, subscribers
from bot.cli import cli
from bot.ledger import Ledger
from bot.ledger import stale as stale_book
from bot.scheduler import fresh_for_edition, run_once, send_newsletter_now, send_test_copy
from bot.settings import Settings

from .conftest import BASE

ZURICH = ZoneInfo("Europe/Zurich")
SLOT = "2026-05-08T10:00"  # a Friday
OLD = "2019-07-12-council-renews-mandate"
WHY = "published 2019-07-12, 2,492 days before the newsletter of 2026-05-08 (BOT_MAX_ITEM_AGE is 14 days)"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH)


@pytest.fixture
def site(make_settings: Callable[..., Settings], write_item: Callable[..., Path]) -> Settings:
    """A queue holding one item of 2019 beside one of this week, and one subscriber."""
    write_item(OLD, "title: Council renews the mandate\ndate: 2019-07-12\nsummary: Old news.\nchannels: [email]")
    write_item("2026-05-06-fresh", "title: This week's news\ndate: 2026-05-06\nsummary: New.\nchannels: [email]")
    settings = make_settings()
    with Ledger.open(settings.state_dir) as ledger:
        subscribers.add(ledger, "reader@example.org", "", datetime(2026, 1, 1, tzinfo=UTC))
    return settings


def emails(settings: Settings) -> list[str]:
    return [message_from_bytes(p.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
            for p in sorted((settings.outbox_dir / "email").glob("edition-*.eml"))]


def test_a_2019_item_is_kept_out_of_a_2026_edition_and_reported_once(site: Settings) -> None:
    report = run_once(site, at(SLOT))
    assert report.stale == [(OLD, WHY)]
    with Ledger.open(site.state_dir) as ledger:
        assert ledger.edition(report.editions[0]).item_ids == ("2026-05-06-fresh",)
        assert [(s.item_id, s.reason) for s in stale_book.listing(ledger)] == [(OLD, WHY)]
    later = run_once(site, at("2026-05-08T10:05"))
    assert later.stale == [] and later.editions == []
    next_week = run_once(site, at("2026-05-15T10:00"))  # nothing new: no edition, and nothing said again
    assert next_week.stale == [] and next_week.editions == []
    [text] = emails(site)
    assert "This week's news" in text and "Council renews the mandate" not in text


def test_the_run_prints_it_once_and_status_lists_it_under_what_was_missed(site: Settings) -> None:
    env = dict(BASE, BOT_STATE_DIR=str(site.state_dir), BOT_QUEUE_DIR=str(site.queue_dir))

    def bot(*args: str):
        return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)

    first = bot("run", "--once", "--now", SLOT)
    assert f"MISSED {OLD} in the newsletter: {WHY}\n" in first.stdout
    assert first.exit_code == 0  # the edition went out: an item too old for it was never due in it
    assert "MISSED" not in bot("run", "--once", "--now", "2026-05-08T10:01").stdout
    status = bot("status", "--now", "2026-05-08T10:01").stdout
    assert f"Missed in the newsletter (too old for it: BOT_MAX_ITEM_AGE)\n  2026-05-08 10:00  {OLD}: {WHY}" in status
    data = json.loads(bot("status", "--json", "--now", "2026-05-08T10:01").stdout)
    assert data["stale"] == [{"item": OLD, "why": WHY, "at": "2026-05-08T10:00:00+02:00"}]
    assert data["last_run"]["stale"] == 0  # the second run found nothing new


def test_exactly_the_maximum_age_still_goes_in(make_settings: Callable[..., Settings],
                                              write_item: Callable[..., Path]) -> None:
    write_item("on-the-edge", "title: Two weeks old\ndate: 2026-04-24\npublish_at: 2026-04-24 10:00\nsummary: S.")
    write_item("just-over", "title: A minute more\ndate: 2026-04-24\npublish_at: 2026-04-24 09:59\nsummary: S.")
    settings = make_settings()
    report = run_once(settings, at(SLOT))
    assert [item for item, _ in report.stale] == ["just-over"]
    assert "14 days before the newsletter of 2026-05-08" in report.stale[0][1]
    with Ledger.open(settings.state_dir) as ledger:
        assert ledger.edition(report.editions[0]).item_ids == ("on-the-edge",)


def test_newsletter_send_now_and_a_test_copy_leave_it_out_too(site: Settings) -> None:
    subject, _ = send_test_copy(site, at("2026-05-07T12:00"), "staff@example.org")
    assert "This week's news" in subject
    with Ledger.open(site.state_dir) as ledger:
        assert stale_book.listing(ledger) == []  # a test copy records nothing
    report = send_newsletter_now(site, at("2026-05-07T12:00"))
    assert [item for item, _ in report.stale] == [OLD]
    assert "before the newsletter of 2026-05-07" in report.stale[0][1]
    assert "Council renews the mandate" not in emails(site)[0]


def test_the_setting_decides_how_old_is_too_old(site: Settings, make_settings: Callable[..., Settings]) -> None:
    patient = make_settings(BOT_MAX_ITEM_AGE="3000d")
    assert patient.max_item_age.days == 3000 and site.max_item_age.days == 14
    report = run_once(patient, at(SLOT))
    assert report.stale == []
    with Ledger.open(patient.state_dir) as ledger:
        assert set(ledger.edition(report.editions[0]).item_ids) == {OLD, "2026-05-06-fresh"}


def test_a_new_publish_at_brings_it_back_into_the_next_edition(site: Settings) -> None:
    run_once(site, at(SLOT))
    path = site.queue_dir / f"{OLD}.md"
    path.write_text(path.read_text().replace("date: 2019-07-12", "date: 2019-07-12\npublish_at: 2026-05-14 09:00"))
    report = run_once(site, at("2026-05-15T10:00"))
    with Ledger.open(site.state_dir) as ledger:
        assert ledger.edition(report.editions[0]).item_ids == (OLD,)
    status = CliRunner().invoke(cli, ["--env-file", "/dev/null", "status", "--json", "--now",
                                      "2026-05-15T10:01"], env=dict(BASE, BOT_STATE_DIR=str(site.state_dir),
                                                                    BOT_QUEUE_DIR=str(site.queue_dir)))
    assert json.loads(status.stdout)["stale"] == []  # sent after all: no longer listed as missed


def test_the_alert_says_it_once(make_settings: Callable[..., Settings], write_item: Callable[..., Path]) -> None:
    write_item(OLD, "title: Council renews the mandate\ndate: 2019-07-12\nsummary: Old news.\nchannels: [email]")
    settings = make_settings(BOT_ALERT_EMAIL="comms@example.org")
    run_once(settings, at(SLOT))
    [alert] = sorted((settings.outbox_dir / "email").glob("alert-*.eml"))
    body = message_from_bytes(alert.read_bytes(), policy=policy.default).get_content()
    assert f"* {OLD} was kept out of the newsletter: {WHY}." in body and "new publish_at" in body
    run_once(settings, at("2026-05-15T10:00"))
    assert len(list((settings.outbox_dir / "email").glob("alert-*.eml"))) == 1


def test_the_filter_preview_can_apply(site: Settings) -> None:
    items = queue.load(site).items
    assert [i.id for i in fresh_for_edition(items, at(SLOT), site)] == ["2026-05-06-fresh"]
    # It judges age only: an item not yet due is not too old (whether it is due is the caller's part).
    assert len(fresh_for_edition(items, at("2019-07-19T10:00"), site)) == 2
