"""An item edited after it went out: the ledger keeps the digest of the item's file as each post was handed over and
as each edition was made, and `queue.changed_since_sent` (what `bot validate` calls) warns that the change will not
be sent again."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import queue
from bot.ledger import MIGRATIONS, Ledger, Version
from bot.scheduler import run_once
from bot.settings import Settings

ZURICH = ZoneInfo("Europe/Zurich")
AT = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)
ITEM = ("---\ntitle: The Council renews the mandate\ndate: 2019-07-12\nsummary: {summary}\n"
        "publish_at: 2019-07-12 10:00\nchannels: [{channels}]\n---\n")
AGAIN = "the change will not be sent again (to send the news again, write it as a new item)"


def _write(path: Path, summary: str, channels: str = "x, mastodon") -> None:
    path.write_text(ITEM.format(summary=summary, channels=channels), encoding="utf-8")


def test_an_item_changed_after_its_posts_went_out_is_warned_about(settings: Settings, queue_dir: Path) -> None:
    path = queue_dir / "renewed.md"
    _write(path, "The vote passed.")
    report = run_once(settings, AT)
    assert sorted(platform for _, platform, _ in report.posted) == ["mastodon", "x"]

    with Ledger.open(settings.state_dir) as ledger:
        assert queue.changed_since_sent(queue.load(settings), ledger) == []
        _write(path, "The vote passed, 27 to 14.")
        warnings = queue.changed_since_sent(queue.load(settings), ledger)

    assert [str(w) for w in warnings] == [f"{path}: file: warning: changed since it went out on x, mastodon on "
                                          f"12 July 2019 10:00: {AGAIN}"]
    assert all(w.warning for w in warnings)


def test_an_item_changed_after_an_edition_took_it_is_warned_about(settings: Settings, queue_dir: Path) -> None:
    path = queue_dir / "renewed.md"
    _write(path, "The vote passed.", channels="email")
    [item] = queue.load(settings).items
    with Ledger.open(settings.state_dir) as ledger:
        ledger.create_edition(AT, [item.id], AT, lambda n: {"en": Version("News", "<p>News</p>", "News", (item.id,))},
                              digests={item.id: item.digest})
        assert queue.changed_since_sent(queue.load(settings), ledger) == []
        _write(path, "The vote passed, 27 to 14.", channels="email")
        [warning] = queue.changed_since_sent(queue.load(settings), ledger)
    assert str(warning) == f"{path}: file: warning: changed since it went out in the newsletter of 12 July 2019 " \
                           f"10:00: {AGAIN}"


def test_what_went_out_before_digests_were_kept_gives_no_warning(settings: Settings, queue_dir: Path) -> None:
    _write(queue_dir / "renewed.md", "The vote passed, as edited since.")
    settings.state_dir.mkdir(parents=True)
    older = sqlite3.connect(settings.state_dir / "herald.sqlite3", isolation_level=None)  # as schema 7 left it
    for script in MIGRATIONS[:7]:
        older.executescript(script)
    older.execute("INSERT INTO meta VALUES ('instance', 'a1b2c3d4e5f6')")
    stamp = "2019-07-12T08:00:00Z"
    older.execute("INSERT INTO deliveries (channel, item_id, status, due_at, created_at, updated_at, sent_at) "
                  "VALUES ('x', 'renewed', 'sent', ?, ?, ?, ?)", (stamp, stamp, stamp, stamp))
    older.execute("INSERT INTO editions (id, slot, subject, html, text, created_at) VALUES (1, ?, 'S', '', '', ?)",
                  (stamp, stamp))
    older.execute("INSERT INTO edition_items (edition_id, item_id, position) VALUES (1, 'renewed', 0)")
    older.execute("PRAGMA user_version = 7")
    older.close()

    with Ledger.open(settings.state_dir) as ledger:
        assert ledger.post("renewed", "x") is not None
        assert queue.changed_since_sent(queue.load(settings), ledger) == []


def test_bot_validate_warns_of_an_edit_after_the_newsletter_and_posts_took_it(settings: Settings,
                                                                              queue_dir: Path) -> None:
    """The whole way: a real run makes the edition (at the Friday 10:00 slot) and the posts; then an edit."""
    from click.testing import CliRunner

    from bot.cli import cli

    path = queue_dir / "renewed.md"
    _write(path, "The vote passed.", channels="email, x")
    report = run_once(settings, AT)
    assert report.editions and report.posted
    _write(path, "The vote passed, 27 to 14.", channels="email, x")
    env = {"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(settings.state_dir), "BOT_TIMEZONE": "Europe/Zurich"}

    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "validate"], env=env)

    assert result.exit_code == 0, result.output  # a warning, not a problem
    assert f"{path}: file: warning: changed since it went out on x on 12 July 2019 10:00 and in the newsletter of " \
           f"12 July 2019 10:00: {AGAIN}" in result.stdout
    # bot status and bot preview count it as bot validate does
    status = CliRunner().invoke(cli, ["--env-file", "/dev/null", "status", "--now", "2019-07-12 11:00"], env=env)
    assert "1 warning about the queue" in status.stdout, status.output
    preview = CliRunner().invoke(cli, ["--env-file", "/dev/null", "preview", "--now", "2019-07-12 11:00"], env=env)
    assert "0 problems, 1 warning in the queue (see bot validate)." in preview.stderr, preview.output


def test_bot_validate_makes_no_state_folder(queue_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    _write(queue_dir / "renewed.md", "The vote passed.")
    state = tmp_path / "never-made"
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "validate"],
                                env={"BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(state)})
    assert result.exit_code == 0, result.output
    assert not state.exists()
