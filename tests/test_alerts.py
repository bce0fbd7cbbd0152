"""When things go wrong someone is told: one alert per problem, and `bot requeue` to put a post back."""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bot.cli import cli
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE

ZURICH = ZoneInfo("Europe/Zurich")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH)


def alerts(settings: Settings) -> list[Path]:
    return sorted((settings.outbox_dir / "email").glob("alert-*.eml"))


def test_a_run_with_missed_posts_sends_one_alert_with_the_fixing_command(make_settings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_ALERT_EMAIL="comms@example.org")
    report = run_once(settings, at("2019-07-09T09:00"))
    assert report.missed
    [path] = alerts(settings)
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "comms@example.org"
    assert message["Subject"] == f"[Herald] {len({item for item, _, _ in report.missed})} items missed"
    assert message["List-Unsubscribe"] is None  # staff mail, not list mail
    body = message.get_content()
    # One entry per item, its platforms together, with the command that puts them all back.
    assert body.count("* 2019-07-05-iesogi-vote-next-week was not posted to x, mastodon and bluesky:") == 1
    assert "  To post it anyway: bot requeue 2019-07-05-iesogi-vote-next-week\r\n" in body
    # Nothing new: no new alert, and the same problems are never alerted twice.
    run_once(settings, at("2019-07-09T09:30"))
    assert len(alerts(settings)) == 1


def test_no_alert_without_an_address_or_without_a_problem(make_settings) -> None:
    quiet = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    run_once(quiet, at("2019-07-09T09:00"))
    assert alerts(quiet) == []
    fine = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_ALERT_EMAIL="comms@example.org",
                         BOT_STATE_DIR=str(quiet.state_dir.parent / "other"))
    run_once(fine, at("2019-03-14T09:00"))  # nothing due, nothing wrong
    assert alerts(fine) == []


def test_requeue_puts_a_missed_post_back_and_it_goes_out(tmp_path: Path) -> None:
    env = dict(BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(SAMPLE_QUEUE))

    def bot(*args: str):
        return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)

    bot("run", "--once", "--now", "2019-07-09T09:00")
    item = "2019-07-05-iesogi-vote-next-week"
    result = bot("requeue", item, "--platform", "mastodon", "--at", "2019-07-09T12:00")
    assert result.exit_code == 0 and "requeued on mastodon" in result.stdout
    assert bot("run", "--once", "--now", "2019-07-09T11:59").stdout.strip() == "nothing was due"
    assert f"posted {item} to mastodon" in bot("run", "--once", "--now", "2019-07-09T12:00").stdout
    with Ledger.open(tmp_path / "var") as ledger:
        assert ledger.post(item, "mastodon").status == "sent"
        assert ledger.post(item, "x").status == "missed"
    again = bot("requeue", item, "--platform", "mastodon")
    assert again.exit_code == 1 and "nothing to requeue" in again.stderr and "mastodon sent" in again.stderr
    status = bot("status", "--now", "2019-07-09T12:00").stdout
    assert f"{item} was missed on x, bluesky" in status and f"bot requeue {item}" in status


def test_a_requeued_post_is_missed_again_if_its_new_time_passes_unnoticed(make_settings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    run_once(settings, at("2019-07-09T09:00"))
    with Ledger.open(settings.state_dir) as ledger:
        assert ledger.requeue_posts("2019-07-05-iesogi-vote-next-week", ["x"], at("2019-07-09T10:00"),
                                    at("2019-07-09T09:00")) == ["x"]
    report = run_once(settings, at("2019-07-09T10:00") + timedelta(hours=25))
    assert ("2019-07-05-iesogi-vote-next-week", "x") in {(i, p) for i, p, _ in report.missed}


def test_a_paused_channel_is_alerted_once_not_at_every_run(make_settings, monkeypatch) -> None:
    from .x_server import XServer

    keys = {"X_API_KEY": "k", "X_API_SECRET": "s", "X_ACCESS_TOKEN": "1-t", "X_ACCESS_TOKEN_SECRET": "ts"}
    with XServer(*keys.values()) as x:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_ALERT_EMAIL="comms@example.org",
                                 BOT_X_BACKEND="api", X_API_BASE_URL=x.url, BOT_RETRY_BUDGET="0s",
                                 **{**keys, "X_ACCESS_TOKEN_SECRET": "the wrong secret"})
        run_once(settings, at("2019-07-08T09:00"))  # missed March posts, and X refuses the credentials
        first = alerts(settings)
        body = message_from_bytes(first[-1].read_bytes(), policy=policy.default).get_content()
        assert "x is paused: its credentials were refused" in body and "bot doctor" in body
        assert "the wrong secret" not in body
        for minutes in (1, 2, 3):  # the same refusal, run after run: no new mail
            report = run_once(settings, at("2019-07-08T09:00") + timedelta(minutes=minutes))
            assert report.paused
        assert alerts(settings) == first
