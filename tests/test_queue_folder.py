"""The queue folder itself: one that is not there is a setting to fix, said in one line by every command and every
staff page; files in it that are not items are named once, as a warning."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from bot import queue, staff
from bot.cli import cli
from bot.errors import ConfigError
from bot.ledger import Ledger
from bot.settings import Settings
from bot.web import create_app

from .conftest import BASE

PASSWORD = "correct horse battery staple"
ITEM = "---\ntitle: A vote\ndate: 2019-07-12\nsummary: The Council voted.\n---\n"


def test_a_missing_queue_folder_is_a_configuration_error(make_settings: Callable[..., Settings],
                                                         tmp_path: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "content_queue"))
    with pytest.raises(ConfigError) as raised:
        queue.load(settings)
    assert str(raised.value) == (f"the queue folder {tmp_path / 'content_queue'} does not exist: create it, or set "
                                 "BOT_QUEUE_DIR to the folder that holds the items")


def test_a_relative_queue_folder_says_where_it_was_looked_for(make_settings: Callable[..., Settings], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings(BOT_QUEUE_DIR="content_queue")
    with pytest.raises(ConfigError) as raised:
        queue.load(settings)
    assert str(raised.value) == (f"the queue folder content_queue does not exist in {tmp_path}: run bot from the "
                                 "folder that holds it, or set BOT_QUEUE_DIR to where it is")


COMMANDS = [["validate"], ["preview"], ["status"], ["calendar"], ["demo"], ["run", "--once"], ["newsletter", "send"],
            ["run"], ["new", "--title", "A vote"], ["approve", "2019-07-12-vote"], ["hold", "2019-07-12-vote"],
            ["media", "add", __file__], ["release", "2019-07-12-vote"], ["dismiss", "2019-07-12-vote"]]


def test_doctor_lists_the_missing_queue_folder_first_and_asks_for_a_fix(tmp_path: Path) -> None:
    missing = tmp_path / "content_queue"
    env = dict(BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(missing))
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0].split()[:3] == ["FIX", "queue", "(folder)"]
    assert f"the queue folder {missing} does not exist" in result.stdout.splitlines()[0]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_gives_one_line_and_the_configuration_exit_code(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "content_queue"
    env = dict(BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(missing))
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", *command], env=env)
    assert result.exit_code == ConfigError.exit_code, result.output
    assert result.output.splitlines() == [f"error: the queue folder {missing} does not exist: create it, or set "
                                          "BOT_QUEUE_DIR to the folder that holds the items"]


@pytest.fixture
def client(make_settings: Callable[..., Settings], tmp_path: Path) -> FlaskClient:
    """A staff member signed in, on a Herald whose queue folder is not there."""
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "content_queue"), BOT_PUBLIC_URL="")
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ana@example.org", "approver", PASSWORD, "test", datetime(2019, 7, 1, tzinfo=UTC))
    browser = create_app(settings).test_client()
    page = browser.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed_in = browser.post("/admin/login", data={"email": "ana@example.org", "password": PASSWORD,
                                                   "csrf_token": token.group(1)})
    assert signed_in.status_code == 303
    return browser


@pytest.mark.parametrize("page", ["/admin", "/admin/items", "/admin/items/new", "/admin/items/2019-07-12-vote",
                                  "/admin/calendar"])
def test_staff_pages_say_what_to_fix_instead_of_failing(client: FlaskClient, tmp_path: Path, page: str) -> None:
    answer = client.get(page)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 503
    assert "Herald is not set up completely" in text
    assert (f"the queue folder {tmp_path / 'content_queue'} does not exist: create it, or set BOT_QUEUE_DIR to the "
            "folder that holds the items") in text


def test_a_save_in_the_composer_says_what_to_fix_and_writes_nothing(client: FlaskClient, tmp_path: Path) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/account").get_data(as_text=True))
    assert token
    answer = client.post("/admin/items", data={"csrf_token": token.group(1), "title": "A vote",
                                               "date": "2019-07-12", "summary": "The Council voted.",
                                               "channels": ["email"], "action": "save"})
    assert answer.status_code == 503
    assert "Herald is not set up completely" in answer.get_data(as_text=True)
    assert not (tmp_path / "content_queue").exists()


def test_public_pages_do_not_need_the_queue(client: FlaskClient) -> None:
    assert client.get("/subscribe").status_code == 200


def test_files_that_are_not_items_are_named_once_as_a_warning(settings: Settings, queue_dir: Path) -> None:
    (queue_dir / "vote.md").write_text(ITEM, encoding="utf-8")
    (queue_dir / "notes.txt").write_text("ideas for next week\n", encoding="utf-8")
    (queue_dir / "2019").mkdir()
    (queue_dir / "2019" / "draft.markdown").write_text(ITEM, encoding="utf-8")
    # Herald's own and hidden files are not a person's mistake: campaigns.yaml, the pictures, git, editors' backups.
    (queue_dir / "campaigns.yaml").write_text("", encoding="utf-8")
    (queue_dir / "media").mkdir()
    (queue_dir / "media" / "3f2a9c0d1e8b7a65.jpg").write_bytes(b"\xff\xd8\xff")
    (queue_dir / ".git").mkdir()
    (queue_dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (queue_dir / ".vote.md.swp").write_bytes(b"\x00")

    result = queue.load(settings)

    assert [i.id for i in result.items] == ["vote"]
    assert result.problems == []
    assert [str(w) for w in result.warnings] == [
        f"{queue_dir}: files: warning: not items, so skipped: 2019/draft.markdown, notes.txt (an item is a file "
        "whose name ends in .md)"]


def test_many_files_that_are_not_items_make_one_short_line(settings: Settings, queue_dir: Path) -> None:
    for n in range(25):
        (queue_dir / f"note-{n:02}.txt").write_text("-", encoding="utf-8")
    [warning] = queue.load(settings).warnings
    assert warning.message == ("not items, so skipped: " + ", ".join(f"note-{n:02}.txt" for n in range(10))
                               + " and 15 more (an item is a file whose name ends in .md)")
