"""The calendar: every post and newsletter slot of a week or a month with its state, as text, JSON and iCalendar
(parsed back), across the daylight-saving weeks of Europe/Zurich; the staff page and each person's secret feed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from click.testing import CliRunner
from icalendar import Calendar

from bot import approval, staff
from bot.cli import cli
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE
from .web_server import running, staff_session

ZURICH = ZoneInfo("Europe/Zurich")
PASSWORD = "correct horse battery staple"


def item(write_item: Callable[..., Path], name: str, publish_at: str, extra: str = "") -> None:
    write_item(name, f"title: {name.replace('-', ' ').capitalize()}\ndate: {publish_at[:10]}\n"
                     f"publish_at: {publish_at}\nsummary: Something happened.\n{extra}")


def calendar(settings: Settings, *args: str) -> Any:
    env = dict(BASE, BOT_STATE_DIR=str(settings.state_dir), BOT_QUEUE_DIR=str(settings.queue_dir),
               BOT_APPROVAL=settings.approval,
               BOT_NEWSLETTER_SCHEDULE=", ".join(str(slot) for slot in settings.newsletter_schedule))
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", "calendar", *args], env=env)


@pytest.mark.parametrize("week, before, after, offsets", [
    ("2019-W13", "2019-03-30 09:00", "2019-03-31 09:00", ("+01:00", "+02:00")),  # spring forward, 31 March
    ("2019-W43", "2019-10-26 09:00", "2019-10-27 09:00", ("+02:00", "+01:00")),  # fall back, 27 October
])
def test_a_daylight_saving_week_keeps_every_local_time(make_settings: Callable[..., Settings],
                                                       write_item: Callable[..., Path], week: str, before: str,
                                                       after: str, offsets: tuple[str, str]) -> None:
    settings = make_settings(BOT_NEWSLETTER_SCHEDULE="sun 10:00")  # a slot after the change
    item(write_item, "before-the-change", before)
    item(write_item, "after-the-change", after)
    now = "2019-03-01 00:00"
    text = calendar(settings, "--week", week, "--now", now)
    assert text.exit_code == 0, text.output
    assert re.search(r"\n  09:00  X  +scheduled  before-the-change\n", text.stdout)
    assert re.search(r"\n  09:00  X  +scheduled  after-the-change\n", text.stdout)
    listed = json.loads(calendar(settings, "--week", week, "--now", now, "--json").stdout)
    posts = {(e["item"], e["platform"]): e["when"] for e in listed if e["kind"] == "post"}
    assert posts[("before-the-change", "x")] == before.replace(" ", "T") + ":00" + offsets[0]
    assert posts[("after-the-change", "x")] == after.replace(" ", "T") + ":00" + offsets[1]
    editions = [e for e in listed if e["kind"] == "edition"]
    assert [e["when"] for e in editions] == [after[:10] + "T10:00:00" + offsets[1]]  # 10:00 local, new offset
    assert set(editions[0]) >= {"when", "kind", "items", "state"}
    parsed = Calendar.from_ical(calendar(settings, "--week", week, "--now", now, "--ics").stdout_bytes)
    starts = {str(e["UID"]): e.decoded("DTSTART") for e in parsed.walk("VEVENT")}
    assert len(starts) == len(listed)
    expected_before = datetime.fromisoformat(posts[("before-the-change", "x")])
    expected_after = datetime.fromisoformat(posts[("after-the-change", "x")])
    assert starts["before-the-change.x@news.example.org"] == expected_before  # the same instant, zone and all
    assert starts["after-the-change.x@news.example.org"] == expected_after
    assert starts["after-the-change.x@news.example.org"].astimezone(UTC).hour == \
        (8 if offsets[1] == "+01:00" else 7)
    assert [z["TZID"] for z in parsed.walk("VTIMEZONE")] == ["Europe/Zurich"]


def test_every_state_shows_as_of_now(make_settings: Callable[..., Settings], write_item: Callable[..., Path]) -> None:
    settings = make_settings(BOT_APPROVAL="required")
    item(write_item, "sent-one", "2019-07-08 09:00")
    item(write_item, "a-draft", "2019-07-10 09:00", "draft: true")
    item(write_item, "not-approved", "2019-07-10 10:00")
    item(write_item, "held-one", "2019-07-11 09:00")
    item(write_item, "coming", "2019-07-11 10:00")
    item(write_item, "too-late", "2019-07-01 09:00")
    now = datetime(2019, 7, 8, 12, 0, tzinfo=ZURICH)
    with Ledger.open(settings.state_dir) as ledger:
        for name in ("sent-one", "held-one", "coming", "too-late"):
            approval.approve(settings, ledger, name, "ana", now)
        approval.hold(settings, ledger, "held-one", "x", "ana", now)
    run_once(settings, datetime(2019, 7, 8, 9, 0, tzinfo=ZURICH))
    with Ledger.open(settings.state_dir) as ledger:
        failed = ledger.post("sent-one", "mastodon")
        ledger.finish([(failed.id, "failed", None, "422: the text was refused", None)], now)
        dismissed = ledger.post("sent-one", "bluesky")
        ledger.finish([(dismissed.id, "failed", None, "422: refused", None)], now)
        approval.dismiss(ledger, "sent-one", "bluesky", "ana", now)
    listed = json.loads(calendar(settings, "--month", "2019-07", "--now", "2019-07-08 12:00", "--json").stdout)
    states = {(e.get("item"), e.get("platform")): e["state"] for e in listed if e["kind"] == "post"}
    assert states[("sent-one", "x")] == "sent"
    assert states[("sent-one", "mastodon")] == "failed"
    assert states[("sent-one", "bluesky")] == "dismissed"
    assert states[("a-draft", "x")] == "draft"
    assert states[("not-approved", "x")] == "waiting"
    assert states[("held-one", "x")] == "held" and states[("held-one", "mastodon")] == "scheduled"
    assert states[("coming", "bluesky")] == "scheduled"
    assert states[("too-late", "x")] == "missed"
    edition = next(e for e in listed if e["kind"] == "edition")
    assert edition["when"] == "2019-07-12T10:00:00+02:00" and edition["state"] == "scheduled"
    assert set(edition["items"]) == {"sent-one", "held-one", "coming", "too-late"}  # no draft, nothing unapproved


def test_a_span_that_is_not_a_week_or_month_is_one_line(settings: Settings, queue_dir: Path) -> None:
    for args in (["--week", "2019-W60"], ["--month", "2019-13"], ["--week", "28"], ["--month", "0000-01"],
                 ["--month", "9999-12"], ["--week", "9999-W52"], ["--week", "0001-W01"]):
        result = calendar(settings, *args)
        assert result.exit_code == 3 and result.output.count("\n") == 1, result.output
    both = calendar(settings, "--week", "2019-W28", "--month", "2019-07")
    assert both.exit_code == 2


def sign_in(base: str, email: str) -> requests.Session:
    return staff_session(base, email, PASSWORD)


def test_the_page_and_each_persons_secret_feed(make_settings: Callable[..., Settings],
                                               write_item: Callable[..., Path]) -> None:
    settings = make_settings(BOT_PUBLIC_URL="")
    soon = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZURICH)
    item(write_item, "coming-soon", f"{soon:%Y-%m-%d} 09:00")
    now = datetime.now(UTC)
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", now)
        staff.add(ledger, "ana@example.org", "admin", PASSWORD, "test", now)
    with running(settings) as base:
        editor = sign_in(base, "ed@example.org")
        week = editor.get(f"{base}/admin/calendar?week={soon:%G-W%V}")
        assert week.status_code == 200 and 'href="/admin/items/coming-soon"' in week.text
        assert "waits for approval" not in week.text and ">scheduled<" in week.text
        assert editor.get(f"{base}/admin/calendar?month={soon:%Y-%m}").status_code == 200
        assert editor.get(f"{base}/admin/calendar?week=nonsense").status_code == 404
        assert requests.get(f"{base}/admin/calendar").status_code == 401
        account = editor.get(base + "/admin/account").text
        url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', account).group(1)
        path = url.removeprefix("http://localhost:8080")
        feed = requests.get(base + path)  # a calendar app: no cookie, the address is the key
        assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        assert {str(e["SUMMARY"]) for e in events} >= {"X: Coming soon (scheduled)"}
        assert requests.get(base + path.replace(path[-10:-4], "AAAAAA")).status_code == 404
        token = re.search(r'name="csrf_token" value="([^"]+)"', account).group(1)
        editor.post(base + "/admin/account/calendar-feed", data={"csrf_token": token})
        renewed = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"',
                            editor.get(base + "/admin/account").text).group(1)
        assert renewed != url and requests.get(base + path).status_code == 404
        new_path = renewed.removeprefix("http://localhost:8080")
        assert requests.get(base + new_path).status_code == 200
        with Ledger.open(settings.state_dir) as ledger:
            staff.remove(ledger, "ed@example.org", "test", now)
        assert requests.get(base + new_path).status_code == 404  # no longer staff: no longer a feed
        with Ledger.open(settings.state_dir) as ledger:
            staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", now)
        assert requests.get(base + new_path).status_code == 404  # added again: the old address stays dead



@pytest.mark.parametrize("schedule, now", [
    ("fri 10:00, fri 16:00", datetime(2019, 7, 12, 17, 0, tzinfo=ZURICH)),  # two slots passed: a run fills the last
    ("fri 10:00", datetime(2019, 7, 13, 10, 0, tzinfo=ZURICH)),  # the slot exactly BOT_MAX_LATENESS old
])
def test_the_calendar_shows_the_edition_a_run_then_makes(make_settings: Callable[..., Settings],
                                                          write_item: Callable[..., Path], schedule: str,
                                                          now: datetime) -> None:
    settings = make_settings(BOT_NEWSLETTER_SCHEDULE=schedule)
    item(write_item, "morning-news", "2019-07-12 08:00")
    item(write_item, "noon-news", "2019-07-12 12:00")
    listed = json.loads(calendar(settings, "--week", "2019-W28", "--now", f"{now:%Y-%m-%d %H:%M}", "--json").stdout)
    shown = [(e["when"], sorted(e["items"])) for e in listed if e["kind"] == "edition"]
    report = run_once(settings, now)
    with Ledger.open(settings.state_dir) as ledger:
        made = [ledger.edition(e) for e in report.editions]
    assert shown == [(datetime.fromisoformat(e.slot.replace("Z", "+00:00")).astimezone(ZURICH).isoformat(),
                      sorted(e.item_ids)) for e in made if e.slot]
    assert len(shown) == 1
