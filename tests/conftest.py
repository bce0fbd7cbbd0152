"""Shared fixtures: settings pointing at a temporary state folder, and helpers to build a queue."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_QUEUE = ROOT / "content_queue"

# Settings every rendering test shares, so golden files do not depend on the machine.
BASE = {
    "BOT_TIMEZONE": "Europe/Zurich",
    "BOT_ORG_NAME": "Geneva Rights Desk",
    "BOT_ORG_ADDRESS": "Rue de Varembé 1, 1202 Geneva, Switzerland",
    "BOT_PUBLIC_URL": "https://news.example.org",
    "MAIL_FROM": "Geneva Rights Desk <newsletter@example.org>",
    "BOT_LANGUAGES": "en,fr,es",  # the sample queue's translations
}


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        env = dict(BASE)
        env.setdefault("BOT_STATE_DIR", str(tmp_path / "var"))
        env.setdefault("BOT_QUEUE_DIR", str(tmp_path / "queue"))
        env.update(overrides)
        return load_settings(environ=env, env_file=None)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def sample_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))


@pytest.fixture
def queue_dir(settings: Settings) -> Path:
    settings.queue_dir.mkdir(parents=True, exist_ok=True)
    return settings.queue_dir


@pytest.fixture
def write_item(queue_dir: Path) -> Callable[..., Path]:
    """Write one queue file from front-matter lines (and an optional body)."""

    def write(name: str, front: str, body: str = "") -> Path:
        path = queue_dir / f"{name}.md"
        path.write_text(f"---\n{front.strip()}\n---\n{body}", encoding="utf-8")
        return path

    return write


def state_at_schema(state_dir: Path, version: int, rows: str) -> None:
    """A state file as an older Herald left it: the schema's first `version` steps, the instance id, then `rows`
    (SQL); opening it with the Ledger upgrades it."""
    from bot.ledger import MIGRATIONS, Ledger

    state_dir.mkdir(parents=True, exist_ok=True)
    older = sqlite3.connect(Ledger.file(state_dir))
    for step in MIGRATIONS[:version]:
        older.executescript(step)
    older.executescript(f"INSERT INTO meta VALUES ('instance', 'abcdef012345'); {rows}; "
                        f"PRAGMA user_version = {version};")
    older.close()


def copy_fixture(relative: str, into: Path) -> Path:
    source = FIXTURES / relative
    target = into / source.name
    into.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(relative: str, actual: str) -> None:
    """Compare with tests/golden/<relative>; HERALD_UPDATE_GOLDEN=1 rewrites it (then review the diff)."""
    import os

    path = GOLDEN / relative
    if os.environ.get("HERALD_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with HERALD_UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{relative} differs from its golden file"


@pytest.fixture(autouse=True)
def no_python_values_in_command_output(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every command a test runs speaks to a person: after the test, what each one wrote (`CliRunner.invoke`, and
    `python -m bot` in a child whose output the test read) must hold no Python value (tests/python_values.py).
    `--json` output is for programs and is not read. A test that feeds reprs on purpose would be marked
    python_values_ok (none does yet: register the marker in pyproject.toml with the first one)."""
    from .python_values import command_findings, watching_commands

    with watching_commands() as commands:
        yield
    found = command_findings(commands)
    if found and request.node.get_closest_marker("python_values_ok") is None:
        pytest.fail("a command showed a Python value:\n" + "\n".join(found), pytrace=False)
