"""A platform is one module: nothing else in bot/ names it, and everything that lists platforms asks the registry."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from bot import platforms
from bot.channels import backends, kinds
from bot.settings import load_settings, specs

BOT = Path(__file__).resolve().parent.parent / "bot"
# Where a platform's name may stand outside its module, and why.
ALLOWED = {
    ("ledger/schema.py", "'x'"): "migration 1 as applied to every existing state file; migration 9 drops its CHECK",
    ("ledger/schema.py", "'mastodon'"): "migration 1 (see above)",
    ("ledger/schema.py", "'bluesky'"): "migration 1 (see above)",
    ("mail.py", '"x"'): "a run of x in the unsubscribe token's placeholder, not the platform",
}


def _code_strings(source: str) -> list[str]:
    """The string literals of Python code, docstrings and comments left out (prose may give a network as an
    example; code may not name one)."""
    found: list[str] = []
    previous = tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and previous not in (tokenize.NEWLINE, tokenize.INDENT, tokenize.NL,
                                                              tokenize.DEDENT):
            found.append(token.string)
        elif token.type == tokenize.STRING and not token.line.strip().startswith(token.string[:3]):
            found.append(token.string)  # a string that starts a statement but is not alone on it (a call, ...)
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return found


def _identifiers(source: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME]


def _names_in_python(path: Path, name: str) -> list[str]:
    source = path.read_text(encoding="utf-8")
    env = {o.env for o in platforms.options_of(name)} | {f"BOT_{name.upper()}_BACKEND"}
    quoted = re.compile(rf"""^[rbuf]*(['"])({re.escape(name)})\1$""", re.IGNORECASE)
    hits = [s for s in _code_strings(source) if quoted.match(s) or any(e in s for e in env)]
    # identifiers such as mastodon_visibility or x_backend: a settings attribute or a branch of another module
    part = re.compile(rf"(?:^|_){re.escape(name)}(?:_|$)", re.IGNORECASE)
    hits += [i for i in _identifiers(source) if part.search(i) and i != name and "_" in i]
    return hits


def _names_in_markup(path: Path, name: str) -> list[str]:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"""\.{re.escape(name)}(?![\w-])|(?<![\w-])(['"]){re.escape(name)}\1""", re.IGNORECASE)
    return [m.group(0) for m in pattern.finditer(text)]


@pytest.mark.parametrize("name", platforms.PLATFORMS)
def test_no_module_outside_a_platforms_own_names_it(name: str) -> None:
    own = BOT / "platforms" / f"{name}.py"
    found = []
    for path in sorted(BOT.rglob("*")):
        if path == own or "__pycache__" in path.parts or not path.is_file():
            continue
        where = path.relative_to(BOT).as_posix()
        if path.suffix == ".py":
            hits = _names_in_python(path, name)
        elif path.suffix in (".j2", ".css", ".js"):
            hits = _names_in_markup(path, name)
        else:
            continue
        found += [f"{where}: {hit}" for hit in hits if (where, hit) not in ALLOWED]
    assert found == [], "\n".join(found)


def test_the_guard_itself_finds_a_platform_named_in_code(tmp_path: Path) -> None:
    """The check above can fail: a branch on a platform's name, a settings attribute, a CSS class."""
    module = tmp_path / "other.py"
    module.write_text('"""A docstring may say mastodon."""\n\nif post.platform == "mastodon":\n    pass\n'
                      'visibility = settings.mastodon_visibility\nname = settings.option("x", "key")\n', "utf-8")
    assert _names_in_python(module, "mastodon") == ['"mastodon"', "mastodon_visibility"]
    assert _names_in_python(module, "x") == ['"x"']
    sheet = tmp_path / "a.css"
    sheet.write_text(".badge.bluesky { color: red } .maxi { }", "utf-8")
    assert _names_in_markup(sheet, "bluesky") == [".bluesky"] and _names_in_markup(sheet, "x") == []


def test_everything_that_lists_platforms_asks_the_registry() -> None:
    names = platforms.PLATFORMS
    assert names == tuple(platforms.REGISTRY) and len(names) >= 3
    assert kinds() == ("email", *names)
    settings = load_settings(environ={}, env_file=None)
    assert list(settings.backends) == ["email", *names]
    every = specs()
    for name in names:
        assert f"BOT_{name.upper()}_BACKEND" in every
        assert all(option.env in every for option in platforms.options_of(name))
        assert "outbox" in backends(name) and "api" in backends(name)


def test_env_example_documents_every_platform_setting() -> None:
    documented = (BOT / "env.example").read_text(encoding="utf-8")
    for name in platforms.PLATFORMS:
        for env in [f"BOT_{name.upper()}_BACKEND", *(o.env for o in platforms.options_of(name))]:
            assert re.search(rf"^#?\s*{env}=", documented, re.MULTILINE), env


def test_a_state_file_from_before_the_registry_keeps_its_posts_and_takes_any_platform(tmp_path: Path) -> None:
    """Schema 9 drops the list of platforms from the deliveries table: every row survives the rebuild, and a
    platform added later can be recorded; one post per item, platform and part, as before."""
    import sqlite3
    from datetime import UTC, datetime

    from bot.ledger import MIGRATIONS, Ledger

    older = sqlite3.connect(tmp_path / "herald.sqlite3", isolation_level=None)  # as schema 8 left it
    for script in MIGRATIONS[:8]:
        older.executescript(script)
    older.execute("INSERT INTO meta VALUES ('instance', 'a1b2c3d4e5f6')")
    stamp = "2019-07-12T08:00:00Z"
    for platform, status in (("x", "sent"), ("mastodon", "failed"), ("bluesky", "pending")):
        older.execute("INSERT INTO deliveries (channel, item_id, status, due_at, created_at, updated_at, remote_id, "
                      "digest) VALUES (?, 'renewed', ?, ?, ?, ?, 'r-1', 'd-1')",
                      (platform, status, stamp, stamp, stamp))
    older.execute("PRAGMA user_version = 8")
    older.close()

    now = datetime(2019, 7, 12, 9, tzinfo=UTC)
    with Ledger.open(tmp_path) as ledger:
        kept = {(d.channel, d.status, d.remote_id) for d in ledger.posts()}
        assert kept == {("x", "sent", "r-1"), ("mastodon", "failed", "r-1"), ("bluesky", "pending", "r-1")}
        added = ledger.add_post("renewed", "linkedin", now, now)  # a platform the old schema's CHECK refused
        assert added.channel == "linkedin" and ledger.add_post("renewed", "linkedin", now, now).id == added.id


def test_a_step_recorded_during_a_hand_over_is_in_the_ledger_for_the_next_try(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime

    from bot.channels import OutgoingPost
    from bot.ledger import Ledger

    now = datetime(2019, 7, 12, 9, tzinfo=UTC)
    with Ledger.open(tmp_path) as ledger:
        delivery = ledger.add_post("renewed", "mastodon", now, now)
        message = OutgoingPost("renewed-mastodon", "mastodon", "renewed", {},
                               record_step=lambda name, value: ledger.record_step(delivery.id, name, value))
        message.remember("container", "17890")
        message.remember("checked", "yes")
        assert message.steps == {"container": "17890", "checked": "yes"}
        stored = ledger.post("renewed", "mastodon")
    assert stored is not None and json.loads(stored.steps or "{}") == {"container": "17890", "checked": "yes"}


def test_status_counts_every_part_and_leaves_out_a_platform_that_is_off_and_never_posted(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot import report
    from bot.ledger import Ledger

    (tmp_path / "queue").mkdir()
    settings = load_settings(environ={"BOT_STATE_DIR": str(tmp_path / "var"), "BOT_QUEUE_DIR": str(tmp_path / "queue"),
                                      "BOT_LINKEDIN_BACKEND": "off", "BOT_THREADS_BACKEND": "off"}, env_file=None)
    now = datetime(2019, 7, 12, 9, tzinfo=UTC)
    with Ledger.open(settings.state_dir) as ledger:
        for part in (1, 2, 3):
            ledger.add_post("renewed", "mastodon", now, now, part=part)
        ledger.add_post("older", "threads", now, now, status="missed", error="turned off since")
    data = report.status(settings, now)
    assert "linkedin" not in data["posts"]  # off, and never posted: nothing to say
    assert data["posts"]["threads"]["missed"] == 1  # off now, but it has a history
    assert data["posts"]["mastodon"]["pending"] == 3  # a thread's parts are posts each
