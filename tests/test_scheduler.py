"""The scheduler on a fixed clock: a scripted week of the sample queue, daylight saving, lateness, re-runs."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import subscribers
from bot.errors import HeraldError
from bot.ledger import Ledger, Version
from bot.scheduler import play, run_once, send_newsletter_now, send_test_copy, state_lock
from bot.settings import Settings

from .conftest import FIXTURES, SAMPLE_QUEUE

ZURICH = ZoneInfo("Europe/Zurich")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH)


def outbox(settings: Settings) -> list[str]:
    return sorted(p.relative_to(settings.outbox_dir).as_posix() for p in settings.outbox_dir.rglob("*")
                  if p.is_file())


def subscribe(settings: Settings, *emails: str) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        for email in emails:
            subscribers.add(ledger, email, "", datetime(2019, 1, 1, tzinfo=UTC))


@pytest.fixture
def week(make_settings, tmp_path: Path) -> Settings:
    """The sample queue, with three subscribers, in Geneva's zone."""
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    subscribe(settings, "a@example.org", "b@example.org", "c@example.org")
    return settings


def test_a_scripted_week_posts_at_the_right_times_and_sends_one_edition(week: Settings) -> None:
    # Monday 8 July 2019, step by step: nothing before its time, everything at it. The first run finds the
    # March posts and Friday's days too late: they are missed, not posted.
    first = run_once(week, at("2019-07-08T08:59"))
    assert not first.posted and {i for i, _, _ in first.missed} == {
        "2019-03-15-csw63-no-peace-without-whrds", "2019-03-15-csw63-pierce-quote", "2019-03-18-forst-report-conflict",
        "2019-03-19-hrc40-guatemala-cicig", "2019-03-20-bachelet-reconciliation-law", "2019-03-21-whrd-peace-paper",
        "2019-07-05-iesogi-vote-next-week"}
    assert outbox(week) == []

    report = run_once(week, at("2019-07-08T09:00"))
    assert report.ok and {(i, p) for i, p, _ in report.posted} == {
        ("2019-07-08-709-crackdown-anniversary", p) for p in ("x", "mastodon", "bluesky")}
    assert "x/2019-07-08-709-crackdown-anniversary.json" in outbox(week)

    run_once(week, at("2019-07-09T09:00"))
    run_once(week, at("2019-07-11T09:00"))
    assert not any(name.startswith("email/") for name in outbox(week))  # no edition before Friday's slot

    report = run_once(week, at("2019-07-12T10:00"))  # the Friday slot
    assert len(report.editions) == 1 and report.emails_sent == 3
    emails = [n for n in outbox(week) if n.startswith("email/")]
    assert len(emails) == 3
    message = message_from_bytes((week.outbox_dir / emails[0]).read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    # The edition holds every email item due by the slot and not yet sent, including the week before.
    for title in ("22 States urge China", "Four years after the '709 crackdown'", "More than 1,300 NGOs"):
        assert title in text
    assert "Human Rights Council renews the mandate" not in text  # published 15:30, after the slot

    run_once(week, at("2019-07-12T15:30"))
    before = outbox(week)
    with Ledger.open(week.state_dir) as ledger:
        counts = ledger.db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
    for later in ("2019-07-12T15:30", "2019-07-12T16:00", "2019-07-13T09:00"):  # a re-run adds nothing
        report = run_once(week, at(later))
        assert not report.posted and not report.editions and report.emails_sent == 0
    assert outbox(week) == before
    with Ledger.open(week.state_dir) as ledger:
        assert ledger.db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall() == counts


def test_each_post_is_written_once_with_the_api_body(week: Settings) -> None:
    run_once(week, at("2019-07-12T15:30"))
    record = json.loads((week.outbox_dir / "bluesky" / "2019-07-12-iesogi-mandate-renewed.json").read_text())
    assert record["platform"] == "bluesky" and record["item"] == "2019-07-12-iesogi-mandate-renewed"
    assert record["payload"]["createdAt"] == "2019-07-12T13:30:00.000Z"
    assert any(f["features"][0].get("tag") == "RenewIESOGI" for f in record["payload"]["facets"])


def test_a_post_more_than_the_lateness_window_late_is_missed_not_posted(week: Settings) -> None:
    report = run_once(week, at("2019-07-12T09:00"))  # 2019-07-08 09:00 is four days late
    missed = {(i, p) for i, p, _ in report.missed}
    assert ("2019-07-08-709-crackdown-anniversary", "x") in missed
    assert ("2019-07-11-xinjiang-joint-letter", "x") not in missed  # 24 h exactly: still in time
    assert not report.ok
    assert not any("709" in name for name in outbox(week))
    with Ledger.open(week.state_dir) as ledger:
        post = ledger.post("2019-07-08-709-crackdown-anniversary", "mastodon")
        assert post.status == "missed" and "BOT_MAX_LATENESS" in post.last_error
    assert not run_once(week, at("2019-07-12T09:01")).missed  # reported once, not at every run


def test_a_stale_slot_is_skipped_and_its_items_wait_for_the_next(week: Settings) -> None:
    report = run_once(week, at("2019-07-14T09:00"))  # Friday 10:00 is 47 h ago
    assert not report.editions
    report = run_once(week, at("2019-07-19T10:00"))
    assert len(report.editions) == 1
    with Ledger.open(week.state_dir) as ledger:
        # every email item due by the slot and in no edition: July up to the 12th; the March ones, four months
        # old, are kept out as stale news (BOT_MAX_ITEM_AGE) and reported instead
        assert len(ledger.edition(report.editions[0]).item_ids) == 5
    assert len(report.stale) == 5 and all(item.startswith("2019-03-") for item, _ in report.stale)


def test_invalid_items_are_never_dispatched_and_the_valid_ones_go_on(make_settings, tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    shutil.copytree(SAMPLE_QUEUE, queue_dir)
    shutil.copy(FIXTURES / "invalid" / "comment_cut_value.md", queue_dir / "2019-07-12-broken.md")
    settings = make_settings(BOT_QUEUE_DIR=str(queue_dir))
    subscribe(settings, "a@example.org")
    run_once(settings, at("2019-07-11T09:00"))
    report = run_once(settings, at("2019-07-12T10:00"))
    assert [p.field for p in report.invalid] == ["summary"]
    assert not report.ok  # something was skipped
    assert "x/2019-07-12-broken.json" not in outbox(settings)
    assert "x/2019-07-11-xinjiang-joint-letter.json" in outbox(settings)
    with Ledger.open(settings.state_dir) as ledger:
        assert "2019-07-12-broken" not in ledger.items_in_editions()


def test_a_week_across_daylight_saving_keeps_local_times(make_settings, tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    queue_dir.mkdir()
    for day in ("2019-03-29", "2019-03-30", "2019-04-01"):  # the clocks go forward on Sunday 31 March
        (queue_dir / f"{day}-note.md").write_text(f"---\ntitle: Note of {day}\ndate: {day}\nsummary: News.\n---\n")
    settings = make_settings(BOT_QUEUE_DIR=str(queue_dir))
    subscribe(settings, "a@example.org")
    reports = play(settings, at("2019-03-28T00:00"), at("2019-04-06T00:00"), lambda r: None)
    posted = {i: r.now for r in reports for i, p, _ in r.posted if p == "x"}
    assert {i: t.astimezone(ZURICH).strftime("%H:%M") for i, t in posted.items()} == {
        "2019-03-29-note": "09:00", "2019-03-30-note": "09:00", "2019-04-01-note": "09:00"}
    assert [posted[i].astimezone(UTC).hour for i in sorted(posted)] == [8, 8, 7]
    editions = [r.now for r in reports if r.editions]
    assert [(e.astimezone(ZURICH).strftime("%a %H:%M"), e.astimezone(UTC).hour) for e in editions] == [
        ("Fri 10:00", 9), ("Fri 10:00", 8)]


def test_an_unsubscribe_before_the_send_is_honoured(week: Settings) -> None:
    with Ledger.open(week.state_dir) as ledger:
        ledger.create_edition(None, ["2019-07-11-xinjiang-joint-letter"], at("2019-07-12T10:00"),
                              lambda edition_id: {"en": Version("s", "<p>HERALD-TOKEN-xxxxxxxxxxxxxxxxxxx</p>" * 2,
                                                                "HERALD-TOKEN-xxxxxxxxxxxxxxxxxxx\n" * 3, ())},
                              languages=week.languages)
        b = subscribers.get(ledger, email="b@example.org")
        subscribers.unsubscribe(ledger, b.id, at("2019-07-12T10:00"))
    report = run_once(week, at("2019-07-12T10:00"))
    assert report.emails_dropped == 1
    assert not any("subscriber-2" in name for name in outbox(week))


def test_a_run_that_died_mid_edition_resumes_with_exactly_the_rest(week: Settings) -> None:
    run_once(week, at("2019-07-12T10:00"))
    with Ledger.open(week.state_dir) as ledger:  # as if the process died: one in flight, one never started
        ledger.db.execute("UPDATE deliveries SET status = 'sending' WHERE subscriber_id = 1")
        ledger.db.execute("UPDATE deliveries SET status = 'pending' WHERE subscriber_id = 2")
        ledger.db.execute("UPDATE editions SET finished_at = NULL")  # it died before it could say it was done
    for name in outbox(week):
        if name.startswith("email/"):
            (week.outbox_dir / name).unlink()
    report = run_once(week, at("2019-07-12T10:05"))
    assert report.emails_sent == 2
    assert sorted(n.split("-subscriber-")[1] for n in outbox(week) if n.startswith("email/")) == ["1.eml", "2.eml"]


def test_newsletter_send_now_and_a_test_copy(week: Settings) -> None:
    subject, where = send_test_copy(week, at("2019-07-10T12:00"), "staff@example.org")
    assert subject.startswith("[TEST] ") and where.startswith("outbox")
    test_files = [n for n in outbox(week) if n.startswith("email/test-")]
    assert len(test_files) == 1
    message = message_from_bytes((week.outbox_dir / test_files[0]).read_bytes(), policy=policy.default)
    assert message["To"] == "staff@example.org" and message["Subject"] == subject
    with Ledger.open(week.state_dir) as ledger:  # a test copy records nothing
        assert ledger.editions() == [] and list(ledger.deliveries("channel = 'email'")) == []

    report = send_newsletter_now(week, at("2019-07-10T12:00"))
    assert len(report.editions) == 1 and report.emails_sent == 3
    again = send_newsletter_now(week, at("2019-07-10T12:01"))
    assert not again.editions and again.emails_sent == 0  # nothing new
    subject, _ = send_test_copy(week, at("2019-07-10T12:02"), "staff@example.org")  # the last edition
    assert subject.startswith("[TEST] Geneva Rights Desk news: ")


def test_a_second_runner_on_the_same_state_is_refused(week: Settings) -> None:
    with state_lock(week), pytest.raises(HeraldError, match="already dispatching"), state_lock(week):
        pass
    with state_lock(week):  # released at the end
        pass


def test_the_simulated_clock_refuses_real_backends(make_settings) -> None:
    from bot.errors import ConfigError

    settings = make_settings(BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off")
    settings.queue_dir.mkdir(parents=True)  # so that the only configuration error left is the backend
    assert settings.outbox_only
    play(settings, at("2019-07-01T00:00"), at("2019-07-01T00:00") + timedelta(minutes=1), lambda r: None)
    with pytest.raises(ConfigError):
        object.__setattr__(settings, "email_backend", "smtp")
        play(settings, at("2019-07-01T00:00"), at("2019-07-02T00:00"), lambda r: None)
