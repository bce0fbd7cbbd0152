"""The command line: exit codes, one-line errors, and the files each command writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

from .conftest import BASE, SAMPLE_QUEUE, copy_fixture


def run(args: list[str], env: dict[str, str] | None = None):
    merged = dict(BASE)
    merged.update(env or {})
    return CliRunner().invoke(cli, ["--env-file", "/nonexistent/.env", *args], env=merged)


def test_validate_passes_on_the_sample_queue(tmp_path: Path) -> None:
    result = run(["validate"], {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.stderr


def test_validate_lists_each_problem_on_one_line_and_exits_1(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    for case in ("broken_yaml", "not_utf8", "comment_cut_value", "unknown_field"):
        copy_fixture(f"invalid/{case}.md", queue_dir)
    (queue_dir / "good.md").write_text("---\ntitle: Fine\ndate: 2019-07-12\nsummary: Fine.\n---\n")
    result = run(["validate"], {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert all(line.startswith(str(queue_dir)) for line in lines)
    assert any(line.endswith("summary: YAML cut the value before '#RenewIESOGI', reading the rest as a comment: "
                             "put the whole value in quotes") for line in lines)
    assert "Traceback" not in result.output
    assert "5 item files" in result.stderr and "1 valid" in result.stderr


def test_a_bad_setting_is_one_line_and_exit_3(tmp_path: Path) -> None:
    result = run(["validate"], {"BOT_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code == 3
    assert result.stderr == "error: environment: BOT_TIMEZONE: 'Mars/Olympus' is not an IANA time zone name " \
                            "(such as Europe/Zurich or UTC)\n"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run(["--debug", "validate"], {"BOT_TIMEZONE": "Mars/Olympus"})
    assert result.exit_code != 0 and type(result.exception).__name__ == "ConfigError"


def test_a_bad_now_is_a_clear_error(tmp_path: Path) -> None:
    result = run(["preview", "--now", "next friday"], {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE),
                                                      "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 3 and result.stderr.startswith("error: --now: ")


def test_preview_writes_posts_newsletter_and_index(tmp_path: Path) -> None:
    out = tmp_path / "preview"
    result = run(["preview", "--out", str(out), "--now", "2019-07-08T08:00"],
                 {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str((out / "index.html").resolve())
    posts = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.json"))
    assert "x/2019-07-12-iesogi-mandate-renewed.json" in posts
    assert not any("niger" in p for p in posts)  # email-only
    assert not any("2019-03" in p for p in posts)  # months late: would be missed, not sent
    record = json.loads((out / "bluesky/2019-07-12-iesogi-mandate-renewed.json").read_text())
    assert set(record) == {"platform", "item", "payload", "attachments"}
    assert record["payload"]["$type"] == "app.bsky.feed.post" and record["attachments"] == []
    for name in ("newsletter.html", "newsletter.txt", "newsletter.eml", "index.html"):
        assert (out / name).stat().st_size > 0


def test_python_dash_m_bot_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "validate" in done.stdout and "preview" in done.stdout


def test_preview_leaves_out_what_was_already_sent(tmp_path: Path) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)}
    run(["run", "--once", "--now", "2019-07-09T09:00"], env)
    out = tmp_path / "preview"
    assert run(["preview", "--out", str(out), "--now", "2019-07-09T09:00"], env).exit_code == 0
    posts = {p.relative_to(out).as_posix() for p in out.glob("*/*.json")}
    assert "x/2019-07-09-1300-ngos-call-for-renewal.json" not in posts  # posted by the run
    assert "x/2019-07-11-xinjiang-joint-letter.json" in posts  # still to come
