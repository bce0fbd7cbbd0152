"""The state folder is its owner's alone: 0700, and every file Herald writes in it 0600 (the ledger with its
addresses, the outbox's messages and confirmation copies with live tokens, the key, the locks), whatever the umask;
a folder left 0755 by an older Herald is tightened at the next start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.channels import Channels
from bot.cli import cli
from bot.dispatch import send_notice
from bot.settings import load_settings

from .conftest import BASE, SAMPLE_QUEUE


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask of most systems (022), so that what the code asks for, not the test runner's umask, decides."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def bot(state: Path, *args: str, queue: Path = SAMPLE_QUEUE) -> str:
    env = {**BASE, "BOT_STATE_DIR": str(state), "BOT_QUEUE_DIR": str(queue), "BOT_PUBLIC_URL": ""}
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)
    assert result.exit_code in (0, 1) and "rror" not in result.output, result.output
    return result.output


def modes(folder: Path) -> dict[str, str]:
    """Every folder and file under `folder` (itself included) with its permission bits."""
    found = {".": oct(stat.S_IMODE(folder.stat().st_mode))}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_every_folder_is_0700_and_every_file_0600(tmp_path: Path) -> None:
    state = tmp_path / "var"
    bot(state, "subscribers", "add", "amina@example.org")
    bot(state, "preview", "--now", "2019-07-12 09:00")  # BOT_STATE_DIR/preview: a fake token, private all the same
    bot(state, "run", "--once", "--now", "2019-07-12 15:31")  # the Friday edition and a post, to the outbox
    (tmp_path / "queue").mkdir()
    bot(state, "new", "--title", "A new item", queue=tmp_path / "queue")  # its write lock is in the state folder
    settings = load_settings(environ={**BASE, "BOT_STATE_DIR": str(state)}, env_file=None)
    channels = Channels(settings)
    assert send_notice(settings, channels.get("email"), "confirm", "lucia@example.net", "Confirm",
                       "https://news.example.org/confirm/a-live-token", datetime.now(UTC)) is None
    channels.close()

    found = modes(state)
    expected = {"herald.sqlite3", "herald.lock", "secret.key", "queue-write.lock", "outbox", "outbox/email",
                "outbox/x", "preview", "preview/index.html", "preview/newsletter.eml"}
    assert expected <= set(found), sorted(found)
    assert any(name.startswith("outbox/email/confirm-") for name in found)
    assert any(name.startswith("outbox/email/edition-1-subscriber-") for name in found)
    loose = {name: mode for name, mode in found.items()
             if mode != ("0o700" if (state / name).is_dir() else "0o600")}
    assert loose == {}


def test_a_folder_an_older_herald_left_open_is_tightened_at_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "var"
    bot(state, "subscribers", "add", "amina@example.org")
    state.chmod(0o755)  # as Herald up to now created them, under umask 022
    for name in ("herald.sqlite3", "secret.key"):
        if (state / name).exists():
            (state / name).chmod(0o644)

    bot(state, "subscribers", "count")

    found = modes(state)
    assert found["."] == "0o700"
    assert {found[name] for name in found if name != "." and (state / name).is_file()} <= {"0o600"}
