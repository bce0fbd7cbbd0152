"""The command line: exit codes, one-line errors, and the files each command writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

from .conftest import BASE, SAMPLE_QUEUE, copy_fixture


def run(args: list[str], env: dict[str, str] | None = None):
    merged = dict(BASE)
    merged.update(env or {})
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=merged)


def test_validate_passes_on_the_sample_queue(tmp_path: Path) -> None:
    result = run(["validate"], {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"12 item files in {SAMPLE_QUEUE}, 12 valid, 7 translations, 0 problems, 0 warnings.\n"
    assert result.stderr == ""  # `bot validate > report.txt` keeps it all


def test_validate_lists_each_problem_on_one_line_and_exits_1(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    for case in ("broken_yaml", "not_utf8", "comment_cut_value", "unknown_field"):
        copy_fixture(f"invalid/{case}.md", queue_dir)
    (queue_dir / "good.md").write_text("---\ntitle: Fine\ndate: 2019-07-12\nsummary: Fine.\n---\n")
    result = run(["validate"], {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1
    *lines, summary = result.stdout.splitlines()
    assert len(lines) == 4
    assert all(line.startswith(str(queue_dir)) for line in lines)
    assert any(line.endswith("summary: YAML cut the value before '#RenewIESOGI', reading the rest as a comment: "
                             "put the whole value in quotes") for line in lines)
    assert "Traceback" not in result.output
    assert summary == f"5 item files in {queue_dir}, 1 valid, 4 invalid, 4 problems, 0 warnings."


LONG_SUMMARY = "The Council met again. " * 30  # 690 characters: a long blurb, said but not refused


def _queue_with_warnings(queue_dir: Path, broken: bool) -> None:
    queue_dir.mkdir()
    (queue_dir / "notes.txt").write_text("ideas for next week\n")  # not an item: skipped, with a warning
    (queue_dir / "a.md").write_text(f"---\ntitle: Fine\ndate: 2019-07-12\nsummary: {LONG_SUMMARY}\n---\n")
    if broken:
        (queue_dir / "b.md").write_text(f"---\ntitle: Bad\ndate: 2019-07-12\nsummary: {LONG_SUMMARY}\n"
                                        "colour: red\n---\n")


def test_validate_reports_problems_and_warnings_on_stdout_by_file_and_line(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    _queue_with_warnings(queue_dir, broken=True)
    result = run(["validate"], {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 1 and result.stderr == ""
    *lines, summary = result.stdout.splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [str(queue_dir), "files"], [f"{queue_dir}/a.md:4", "summary"], [f"{queue_dir}/b.md:4", "summary"],
        [f"{queue_dir}/b.md:5", "colour"]]
    assert [": warning: " in line for line in lines] == [True, True, True, False]
    assert summary == f"2 item files in {queue_dir}, 1 valid, 1 invalid, 1 problem, 3 warnings."


def test_validate_exits_0_when_there_are_only_warnings(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    _queue_with_warnings(queue_dir, broken=False)
    result = run(["validate"], {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"1 item file in {queue_dir}, 1 valid, 0 problems, 2 warnings."


def test_preview_counts_problems_and_warnings_as_validate_does(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    _queue_with_warnings(queue_dir, broken=True)
    result = run(["preview", "--out", str(tmp_path / "preview"), "--now", "2019-07-12 08:00"],
                 {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "1 problem, 3 warnings in the queue; the items with problems are left out (see bot validate).\n" \
        in result.stderr


def test_an_env_file_named_on_the_command_line_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "prod.env"
    result = CliRunner().invoke(cli, ["--env-file", str(missing), "config"], env=BASE)
    assert result.exit_code == 3
    assert result.stderr == f"error: --env-file {missing}: there is no such file (without --env-file, Herald " \
                            "reads .env when there is one)\n"
    monkeypatch.chdir(tmp_path)  # no .env here: the defaults, as before
    plain = CliRunner().invoke(cli, ["config"], env=BASE)
    assert plain.exit_code == 0 and "BOT_TIMEZONE=Europe/Zurich  # environment" in plain.stdout
    for given, said in ((str(tmp_path), f"--env-file {tmp_path}: is a folder, not a settings file"),
                        ("", "--env-file names no file: give the path of a settings file, or leave the option out")):
        refused = CliRunner().invoke(cli, ["--env-file", given, "config"], env=BASE)
        assert (refused.exit_code, refused.stderr) == (3, f"error: {said}\n")


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
    assert set(record) == {"platform", "item", "part", "payload", "payload_is", "attachments", "added_when_sent"}
    assert record["payload"]["$type"] == "app.bsky.feed.post" and record["attachments"] == []
    for name in ("newsletter.html", "newsletter.txt", "newsletter.eml", "index.html"):
        assert (out / name).stat().st_size > 0


def test_python_dash_m_bot_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "validate" in done.stdout and "preview" in done.stdout


def test_a_command_that_composes_posts_prints_no_library_warning(tmp_path: Path) -> None:
    """twitter-text-parser imports pkg_resources, which setuptools announces on stderr; nobody running bot needs it."""
    env = {**os.environ, **BASE, "BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-m", "bot", "--env-file", "/dev/null", "preview", "--out",
                           str(tmp_path / "preview"), "--now", "2019-07-12T09:00"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "pkg_resources" not in done.stderr, done.stderr


def test_preview_leaves_out_what_was_already_sent(tmp_path: Path) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)}
    run(["run", "--once", "--now", "2019-07-09T09:00"], env)
    out = tmp_path / "preview"
    assert run(["preview", "--out", str(out), "--now", "2019-07-09T09:00"], env).exit_code == 0
    posts = {p.relative_to(out).as_posix() for p in out.glob("*/*.json")}
    assert "x/2019-07-09-1300-ngos-call-for-renewal.json" not in posts  # posted by the run
    assert "x/2019-07-11-xinjiang-joint-letter.json" in posts  # still to come


def test_requeue_of_an_unknown_item_says_there_is_no_such_item(tmp_path: Path) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)}
    typo = run(["requeue", "2019-07-12-iesogi-mandate-renewd"], env)
    assert typo.exit_code == 1
    assert typo.stderr == (f"error: no such item: 2019-07-12-iesogi-mandate-renewd is not in {SAMPLE_QUEUE}, and no "
                           "post of it was ever recorded (did you mean 2019-07-12-iesogi-mandate-renewed?)\n")
    unknown = run(["requeue", "no-such-item"], env)
    assert unknown.stderr == (f"error: no such item: no-such-item is not in {SAMPLE_QUEUE}, and no post of it was "
                              "ever recorded\n")
    waiting = run(["requeue", "2019-07-12-iesogi-mandate-renewed"], env)
    assert waiting.stderr == "error: nothing to requeue: 2019-07-12-iesogi-mandate-renewed has no post recorded yet\n"
    short = run(["requeue", "2019-07-12-iesogi"], env)  # the date and a first word, as people remember an id
    assert short.stderr.endswith("(did you mean 2019-07-12-iesogi-mandate-renewed?)\n")


def test_preview_says_what_the_approval_gate_holds_back(tmp_path: Path) -> None:
    """A queue of drafts previews empty: that is said, rather than left to look like a broken preview."""
    queue_dir = tmp_path / "queue"
    queue_dir.mkdir()
    (queue_dir / "vote.md").write_text("---\ntitle: A vote\ndate: 2019-07-12\nsummary: It passed.\n"
                                       "publish_at: 2019-07-12 09:00\ndraft: true\n---\n")
    env = {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path / "var")}
    result = run(["preview", "--now", "2019-07-11 12:00"], env)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "0 posts; newsletter: 0 items for the slot of 2019-07-12 10:00 CEST.",
        "Held back, so not in the preview: 3 posts and 1 newsletter item of drafts, items awaiting approval or "
        "items on hold (see bot status)."]


def test_status_counts_problems_and_warnings_as_validate_does(tmp_path: Path) -> None:
    queue_dir = tmp_path / "queue"
    _queue_with_warnings(queue_dir, broken=True)
    env = {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path)}
    text = run(["status", "--now", "2019-07-12 08:00"], env).stdout
    assert "\n  1 problem in the queue: the items concerned will not go out until fixed (see bot validate)\n" in text
    assert "\n1 problem in the queue: those items are never sent until fixed (see bot validate)\n" in text
    assert "\n3 warnings about the queue: worth a look, though they hold nothing back (see bot validate)\n" in text
    data = json.loads(run(["status", "--json", "--now", "2019-07-12 08:00"], env).stdout)
    assert len(data["invalid"]) == 1 and len(data["warnings"]) == 3
    assert data["warnings"][0].startswith(f"{queue_dir}: files: warning: not items, so skipped: notes.txt")


def test_demo_refuses_a_missing_subscribers_file_and_an_end_before_its_start(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path / "var")}
    named = run(["demo", "--subscribers", str(tmp_path / "nope.csv")], env)
    assert (named.exit_code, named.stderr) == (3, f"error: --subscribers {tmp_path / 'nope.csv'}: there is no such "
                                                  "file\n")
    backwards = run(["demo", "--from", "2030-01-01"], env)
    assert backwards.exit_code == 2 and "--until 2019-07-29 09:00 is not after the start" in backwards.stderr
    assert not (tmp_path / "var" / "outbox").exists()
    monkeypatch.chdir(tmp_path)  # the default file is not here: said, not silently sent to nobody
    elsewhere = run(["demo", "--until", "2019-03-16"], env)
    assert elsewhere.exit_code == 0, elsewhere.output
    assert elsewhere.stdout.startswith("no demo-subscribers.csv here: the editions go to the subscribers already")


def test_a_bad_time_names_the_option_it_came_from(tmp_path: Path) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_STATE_DIR": str(tmp_path)}
    for args, option in ((["requeue", "2019-07-12-iesogi-mandate-renewed", "--at", "yesterday"], "--at"),
                         (["demo", "--from", "soon"], "--from"), (["demo", "--until", "later"], "--until"),
                         (["status", "--now", "noon"], "--now")):
        result = run(args, env)
        assert result.exit_code == 3 and result.stderr.startswith(f"error: {option}: '"), (args, result.stderr)
