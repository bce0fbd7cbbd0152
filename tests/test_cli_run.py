"""`bot run`, `bot newsletter`, `bot subscribers`, `bot status` and `bot demo` from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.ledger import Ledger

from .conftest import BASE, FIXTURES, ROOT, SAMPLE_QUEUE


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str]):
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent/.env", *args], env=env)


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
    assert listed == "New@example.org\tunsubscribed\tNew\n"  # matched in any case, stored as typed
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
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/nonexistent", "run"], env=env,
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
        second = subprocess.run([sys.executable, "-m", "bot", "--env-file", "/nonexistent", "run", "--once"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "is already dispatching from" in second.stderr and "Traceback" not in second.stderr
        loop.send_signal(signal.SIGTERM)
        _out, err = loop.communicate(timeout=60)
        assert loop.returncode == 0, err
        assert "stopping after the message in flight" in err
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
