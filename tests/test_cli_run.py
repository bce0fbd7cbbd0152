"""`bot run`, `bot newsletter`, `bot subscribers`, `bot status` and `bot demo` from the command line."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.cli_run import LocalStamp
from bot.ledger import Ledger

from .conftest import BASE, FIXTURES, ROOT, SAMPLE_QUEUE


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)


def test_run_once_exit_status_says_whether_everything_went_out(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    first = run(["run", "--once", "--now", "2019-07-08T09:00"], env)
    assert first.exit_code == 1  # the March posts are missed, and it says so
    assert "MISSED 2019-03-15-csw63-pierce-quote on x" in first.stdout
    assert "posted 2019-07-08-709-crackdown-anniversary to x, mastodon, bluesky" in first.stdout
    second = run(["run", "--once", "--now", "2019-07-09T09:00"], env)
    assert second.exit_code == 0 and "posted 2019-07-09-1300-ngos-call-for-renewal" in second.stdout
    again = run(["run", "--once", "--now", "2019-07-09T09:00"], env)
    assert again.exit_code == 0 and again.stdout.strip() == "nothing was due"


def test_subscribers_commands(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    imported = run(["subscribers", "import", str(FIXTURES / "subscribers" / "bad_rows.csv")], env)
    assert imported.exit_code == 1
    assert imported.stdout.splitlines()[0].endswith("bad_rows.csv:3: email: 'not-an-address' is not a valid "
                                                    "address: An email address must have an @-sign.")
    assert "3 added" in imported.stderr and "4 invalid" in imported.stderr
    assert run(["subscribers", "add", "New@Example.org", "--name", "New"], env).exit_code == 0
    assert run(["subscribers", "count"], env).stdout.strip().startswith("active: 4")
    assert run(["subscribers", "remove", "new@example.org"], env).stdout.strip() == "new@example.org: unsubscribed"
    refused = run(["subscribers", "add", "new@example.org"], env)
    assert refused.exit_code == 1 and "unsubscribed earlier" in refused.stderr
    listed = run(["subscribers", "list", "--status", "unsubscribed"], env).stdout
    assert listed == "New@example.org\tunsubscribed\tNew\ten (default)\n"  # matched in any case, stored as typed
    bad = run(["subscribers", "add", "not an address"], env)
    assert bad.exit_code == 4 and bad.stderr.startswith("error: command line: email: ")
    assert run(["subscribers", "remove", "new@example.org", "--erase"], env).exit_code == 0
    assert run(["subscribers", "list", "--status", "unsubscribed"], env).stdout == ""


def test_status_json_after_a_run(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    run(["subscribers", "add", "a@example.org"], env)
    run(["run", "--once", "--now", "2019-07-11T09:00"], env)
    run(["run", "--once", "--now", "2019-07-12T10:00"], env)
    result = run(["status", "--json", "--now", "2019-07-12T10:00"], env)
    data = json.loads(result.stdout)
    assert data["posts"]["x"]["sent"] == 1 and data["posts"]["x"]["missed"] == 9
    assert [p["item"] for p in data["next"]["posts"]][:1] == ["2019-07-12-iesogi-mandate-renewed"]
    assert data["editions"][0]["sent"] == 1 and data["editions"][0]["recipients"] == 1
    assert {m["item"] for m in data["missed"]} >= {"2019-07-05-iesogi-vote-next-week"}
    assert data["next"]["edition"]["slot"].startswith("2019-07-19T10:00")
    text = run(["status", "--now", "2019-07-12T10:00"], env).stdout
    assert "Scheduled next" in text and "2019-07-12 15:30  x" in text and "Missed posts" in text


def test_demo_plays_the_sample_into_the_outbox(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    result = run(["demo", "--subscribers", str(ROOT / "demo-subscribers.csv")], env)
    assert result.exit_code == 0, result.output
    assert "edition 1:" in result.stdout and "posted 2019-07-12-iesogi-mandate-renewed" in result.stdout
    outbox = tmp_path / "var" / "outbox"
    assert len(list((outbox / "x").glob("*.json"))) == 11
    assert len(list((outbox / "email").glob("*.eml"))) == 5 * 5  # five editions, five subscribers
    again = run(["demo", "--subscribers", str(ROOT / "demo-subscribers.csv")], env)
    assert "posted" not in again.stdout and len(list((outbox / "email").glob("*.eml"))) == 25


def _start_loop(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_run_loop_holds_the_lock_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = dict(os.environ, **env_for(tmp_path))
    loop = _start_loop(env)
    lock = tmp_path / "var" / "herald.lock"
    try:
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().startswith("pid")):
            assert loop.poll() is None, loop.communicate()
            assert time.monotonic() < deadline, "bot run never took its lock"
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "is already dispatching from" in second.stderr and "Traceback" not in second.stderr
        loop.send_signal(signal.SIGTERM)
        _out, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
        assert "stopping after the message in flight" in err
        # Stamped in BOT_TIMEZONE with its offset, whatever the machine's own zone (UTC here).
        stamps = re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([+-]\d{4}) INFO ", err, re.MULTILINE)
        assert stamps and set(stamps) <= {"+0100", "+0200"}, err
    finally:
        if loop.poll() is None:
            loop.kill()


def test_a_long_send_shows_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    with Ledger.open(tmp_path / "var") as ledger, ledger.transaction():
        ledger.db.executemany("INSERT INTO subscribers (email, created_at, updated_at) VALUES (?, 'x', 'x')",
                              [(f"r{n}@example.org",) for n in range(50)])
    result = run(["newsletter", "send", "--now", "2019-07-12T10:00"], env)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "handed over" in line]
    assert 2 <= len(lines) <= 11 and lines[-1].endswith("edition 1: 50 of 50 handed over")
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0[12]00 edition", line) for line in lines), lines


def test_log_lines_are_stamped_in_bot_timezone_with_the_offset() -> None:
    import logging
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    stamp = LocalStamp(ZoneInfo("Europe/Zurich"))
    for at, shown in ((datetime(2026, 11, 30, 8, 15, 2, tzinfo=UTC), "2026-11-30 09:15:02 +0100"),
                      (datetime(2026, 7, 1, 7, 0, 0, tzinfo=UTC), "2026-07-01 09:00:00 +0200")):
        record = logging.LogRecord("herald", logging.INFO, __file__, 1, "serving on %s", ("http://x",), None)
        record.created = at.timestamp()
        assert stamp.format(record) == f"{shown} INFO serving on http://x"


def test_serve_on_a_port_in_use_says_so_with_the_configuration_code(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["serve", "--port", str(port)], env_for(tmp_path))
    assert result.exit_code == 3, result.output
    assert result.stderr == (f"error: cannot listen on 127.0.0.1:{port}: that port is already in use, perhaps by "
                             "another `bot serve`; stop it, or choose another port with --port\n")


STRONG = "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V"
# A real X backend that could never reach anything: nothing listens on port 9 of the loopback, and the queue is empty.
REAL_X = {"BOT_X_BACKEND": "api", "X_API_KEY": "key-1234", "X_API_SECRET": "secret-1234", "X_ACCESS_TOKEN": "t-1234",
          "X_ACCESS_TOKEN_SECRET": "ts-1234", "X_API_BASE_URL": "http://127.0.0.1:9", "BOT_SECRET": STRONG}
SMTP = {"BOT_EMAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9", "BOT_SECRET": STRONG}


def test_a_future_now_with_a_real_backend_needs_force(tmp_path: Path) -> None:
    (tmp_path / "queue").mkdir()
    env = env_for(tmp_path, BOT_QUEUE_DIR=str(tmp_path / "queue"), **REAL_X)
    refused = run(["run", "--once", "--now", "2999-01-01 09:00"], env)
    assert refused.exit_code == 3
    assert refused.stderr == ("error: --now 2999-01-01 09:00 CET is in the future and BOT_X_BACKEND=api really "
                              "delivers: what goes out now would be recorded as sent then. Leave out --now, or add "
                              "--force if that is what you want\n")
    forced = run(["run", "--once", "--now", "2999-01-01 09:00", "--force"], env)
    assert forced.exit_code == 0 and forced.stdout == "nothing was due\n"
    past = run(["run", "--once", "--now", "2019-07-12 09:00"], env)  # catching up stays allowed
    assert past.exit_code == 0, past.output
    # The newsletter is sent by email alone: an X backend does not stop it, an SMTP one does.
    assert run(["newsletter", "send", "--now", "2999-01-01 09:00"], env).exit_code == 0
    smtp = run(["newsletter", "send", "--now", "2999-01-01 09:00"], dict(env, **SMTP))
    assert smtp.exit_code == 3 and "BOT_EMAIL_BACKEND=smtp really delivers" in smtp.stderr


def test_the_outbox_takes_any_now(tmp_path: Path) -> None:
    result = run(["run", "--once", "--now", "2999-01-01 09:00"], env_for(tmp_path))
    assert result.exit_code in (0, 1) and "--force" not in result.stderr, result.output


def test_status_lists_the_next_edition_in_time_order_and_each_missed_post_once(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    run(["run", "--once", "--now", "2019-07-11T09:00"], env)  # the March posts and two of July's are missed
    requeued = run(["requeue", "2019-07-05-iesogi-vote-next-week", "--at", "2019-07-20 09:00"], env)
    assert requeued.exit_code == 0, requeued.output
    text = run(["status", "--now", "2019-07-12T10:00"], env).stdout
    nxt = text.split("\nScheduled next\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line[2:18] for line in nxt] == ["2019-07-12 15:30"] * 3 + ["2019-07-19 10:00"] + ["2019-07-20 09:00"] * 3
    assert "newsletter: 5 items" in nxt[3]
    assert nxt[4].endswith("2019-07-05-iesogi-vote-next-week  to retry")  # requeued: no error to show
    assert "None" not in text
    # One line for the item, under Missed posts only, with its platforms and what to do.
    assert len([line for line in text.splitlines() if "2019-03-15-csw63-pierce-quote" in line]) == 1
    assert "  2019-03-15 16:00  2019-03-15-csw63-pierce-quote was missed on x, mastodon, bluesky: 117 days late" in text
    assert "(to post it anyway: bot requeue 2019-03-15-csw63-pierce-quote; to let it be: bot dismiss " \
           "2019-03-15-csw63-pierce-quote)" in text
    assert "  8 items have missed posts (listed under Missed posts)\n" in text


def test_a_test_copy_names_its_subject_as_it_reads(tmp_path: Path) -> None:
    result = run(["newsletter", "send", "--test-to", "ana@example.org", "--now", "2019-07-12T10:00"], env_for(tmp_path))
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"sent a test copy of “[^“”']+” to ana@example\.org through .+\n", result.stdout), result.stdout


def test_a_test_copy_in_another_language(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    result = run(["newsletter", "send", "--test-to", "ana@example.org", "--lang", "fr", "--now", "2019-07-12T10:00"],
                 env)
    assert result.exit_code == 0, result.output
    assert "sent a test copy of “[TEST] Actualités de " in result.stdout
    [copy] = (tmp_path / "var" / "outbox" / "email").glob("*.eml")
    message = email.message_from_bytes(copy.read_bytes(), policy=email.policy.default)
    assert "12 juillet 2019" in message.get_body(("plain",)).get_content()
    wrong = run(["newsletter", "send", "--test-to", "ana@example.org", "--lang", "de"], env)
    assert wrong.exit_code == 2 and "'de' is not one of BOT_LANGUAGES (en, fr, es)" in wrong.stderr, wrong.output
    alone = run(["newsletter", "send", "--lang", "fr"], env)
    assert alone.exit_code == 2 and "--lang goes with --test-to" in alone.stderr, alone.output


def test_force_without_now_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["run", "--once", "--force"], env_for(tmp_path))
    assert result.exit_code == 2 and "--force goes with --now" in result.stderr, result.output
