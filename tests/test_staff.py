"""Staff accounts: `bot staff ...` on a real state file, argon2 hashes, sign-in checks and server-side sessions."""

from __future__ import annotations

import getpass
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from werkzeug.security import generate_password_hash

from bot import staff
from bot.cli import cli
from bot.clock import from_utc_iso
from bot.ledger import Ledger
from bot.ledger import staff as store
from bot.ledger.review import activity
from bot.settings import Settings

from .conftest import BASE, ROOT

PASSWORD = "correct horse battery staple"
NOW = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # already 2 March in Zurich


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "var"


def bot(state: Path, *args: str, stdin: str | None = None, **env: str):
    merged = {**BASE, "BOT_STATE_DIR": str(state), **env}
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=merged, input=stdin)


def add(state: Path, email: str, role: str, password: str = PASSWORD):
    return bot(state, "staff", "add", email, "--role", role, "--password-stdin", stdin=password + "\n")


def row(state: Path, email: str) -> store.StaffRow | None:
    with Ledger.open(state) as ledger:
        return store.get(ledger, email)


def local_day(state: Path, email: str) -> str:
    return f"{from_utc_iso(row(state, email).created_at).astimezone(ZoneInfo('Europe/Zurich')):%Y-%m-%d}"


def cli_actor() -> str:
    return "cli:" + getpass.getuser()


def test_add_then_list_shows_email_role_and_local_date_and_no_secret(state: Path) -> None:
    added = add(state, "Amina.Okafor@Example.ORG", "admin")
    assert added.exit_code == 0, added.output
    assert added.stdout == "Amina.Okafor@example.org: added as admin\n"
    add(state, "jonas@example.ch", "editor")
    listed = bot(state, "staff", "list")
    assert listed.exit_code == 0
    amina, jonas = local_day(state, "amina.okafor@example.org"), local_day(state, "jonas@example.ch")
    assert listed.stdout.splitlines() == [f"Amina.Okafor@example.org\tadmin\t{amina}",
                                          f"jonas@example.ch\teditor\t{jonas}"]
    everything = added.output + listed.output
    assert "$argon2" not in everything and PASSWORD not in everything


def test_list_dates_are_in_bot_timezone(settings: Settings) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "late@example.org", "editor", PASSWORD, "test", NOW)
    result = bot(settings.state_dir, "staff", "list")
    assert result.stdout == "late@example.org\teditor\t2024-03-02\n"  # 23:30 UTC is the next day in Zurich


def test_list_with_nobody_says_how_to_add_the_first(state: Path) -> None:
    result = bot(state, "staff", "list")
    assert result.exit_code == 0 and result.stdout == ""
    assert "bot staff add EMAIL --role admin" in result.stderr


def test_passwords_are_argon2_hashes_that_verify(settings: Settings) -> None:
    state = settings.state_dir
    add(state, "amina@example.org", "approver")
    stored = row(state, "AMINA@example.org")  # matched whatever the case
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert PasswordHasher().verify(stored.password_hash, PASSWORD)
    assert "argon2" not in repr(stored)  # the hash stays out of tracebacks and logs
    with Ledger.open(state) as ledger:
        assert staff.authenticate(ledger, settings, "Amina@Example.org", PASSWORD) == "amina@example.org"
        assert staff.authenticate(ledger, settings, "amina@example.org", PASSWORD + "!") is None
        assert staff.authenticate(ledger, settings, "nobody@example.org", PASSWORD) is None
        assert staff.authenticate(ledger, settings, "not an address", PASSWORD) is None
        assert staff.authenticate(ledger, settings, "admin", PASSWORD) is None  # no BOT_ADMIN_PASSWORD here


def test_a_weaker_hash_is_replaced_at_the_next_sign_in(settings: Settings) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    with Ledger.open(settings.state_dir) as ledger:
        store.insert(ledger, "old@example.org", "editor", weak.hash(PASSWORD), NOW)
        assert staff.authenticate(ledger, settings, "old@example.org", PASSWORD) == "old@example.org"
        renewed = store.get(ledger, "old@example.org").password_hash
    assert renewed != weak.hash(PASSWORD) and not PasswordHasher().check_needs_rehash(renewed)
    assert PasswordHasher().verify(renewed, PASSWORD)


def test_a_password_needs_twelve_characters(state: Path) -> None:
    short = add(state, "amina@example.org", "admin", "elevenchars")
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    assert "Traceback" not in short.output and row(state, "amina@example.org") is None
    add(state, "amina@example.org", "admin")
    again = bot(state, "staff", "passwd", "amina@example.org", "--password-stdin", stdin="short\n")
    assert again.exit_code == 2 and "at least 12 characters" in again.output


def test_the_terminal_asks_twice_and_again_when_too_short(state: Path) -> None:
    typed = "short\nlong enough password\nnot the same thing\nlong enough password\nlong enough password\n"
    result = bot(state, "staff", "add", "amina@example.org", "--role", "editor", stdin=typed)
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output and "long enough password" not in result.output
    assert PasswordHasher().verify(row(state, "amina@example.org").password_hash, "long enough password")


@pytest.mark.parametrize("command", [["remove", "ghost@example.org"], ["role", "ghost@example.org", "admin"],
                                     ["passwd", "ghost@example.org", "--password-stdin"]])
def test_an_unknown_email_is_one_line_and_exit_1(state: Path, command: list[str]) -> None:
    add(state, "amina@example.org", "admin")
    result = bot(state, "staff", *command, stdin=PASSWORD + "\n")
    assert result.exit_code == 1
    assert result.stderr == "error: no staff account ghost@example.org\n"


def test_bad_input_is_refused_without_a_traceback(state: Path) -> None:
    not_an_address = add(state, "amina at example", "admin")
    assert not_an_address.exit_code == 2 and "not a valid email address" in not_an_address.output
    no_such_role = bot(state, "staff", "add", "amina@example.org", "--role", "boss", "--password-stdin",
                       stdin=PASSWORD + "\n")
    assert no_such_role.exit_code == 2
    add(state, "amina@example.org", "admin")
    twice = add(state, "AMINA@example.org", "editor")
    assert twice.exit_code == 1 and twice.stderr == "error: AMINA@example.org already has a staff account\n"
    for result in (not_an_address, no_such_role, twice):
        assert "Traceback" not in result.output


def test_role_passwd_remove_end_sessions_and_leave_activity(settings: Settings) -> None:
    state = settings.state_dir
    add(state, "amina@example.org", "admin")
    add(state, "jonas@example.ch", "editor")
    with Ledger.open(state) as ledger:
        staff.open_session(ledger, settings, "jonas@example.ch", NOW)
        staff.open_session(ledger, settings, "amina@example.org", NOW)
    promoted = bot(state, "staff", "role", "jonas@example.ch", "approver")
    assert promoted.stdout == "jonas@example.ch: editor -> approver\n"
    assert row(state, "jonas@example.ch").role == "approver"
    with Ledger.open(state) as ledger:
        assert store.sessions_of(ledger, "jonas@example.ch") == 1  # a role change ends nothing: read per request
    changed = bot(state, "staff", "passwd", "jonas@example.ch", "--password-stdin", stdin="a new long password\n")
    assert changed.exit_code == 0 and "a new long password" not in changed.output
    with Ledger.open(state) as ledger:
        assert store.sessions_of(ledger, "jonas@example.ch") == 0
        assert staff.authenticate(ledger, settings, "jonas@example.ch", "a new long password") == "jonas@example.ch"
        staff.open_session(ledger, settings, "jonas@example.ch", NOW)
    assert bot(state, "staff", "remove", "jonas@example.ch").exit_code == 0
    with Ledger.open(state) as ledger:
        assert store.sessions_of(ledger, "jonas@example.ch") == 0 and store.get(ledger, "jonas@example.ch") is None
        assert store.sessions_of(ledger, "amina@example.org") == 1  # nobody else's
        log = [(a.actor, a.action, a.detail) for a in reversed(activity(ledger))]
    assert log == [(cli_actor(), "staff-add", "amina@example.org as admin"),
                   (cli_actor(), "staff-add", "jonas@example.ch as editor"),
                   (cli_actor(), "staff-role", "jonas@example.ch: editor -> approver"),
                   (cli_actor(), "password", "jonas@example.ch"),
                   (cli_actor(), "staff-remove", "jonas@example.ch")]


def test_the_last_admin_stays(state: Path) -> None:
    add(state, "amina@example.org", "admin")
    demoted = bot(state, "staff", "role", "amina@example.org", "editor")
    assert demoted.exit_code == 1 and "last admin" in demoted.stderr
    removed = bot(state, "staff", "remove", "amina@example.org")
    assert removed.exit_code == 1 and "last admin" in removed.stderr
    add(state, "jonas@example.ch", "admin")
    assert bot(state, "staff", "role", "amina@example.org", "editor").exit_code == 0
    assert bot(state, "staff", "remove", "jonas@example.ch").exit_code == 1  # now the last one
    assert row(state, "amina@example.org").role == "editor"


def test_sessions_keep_only_a_hash_and_die_after_twelve_hours(settings: Settings) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "amina@example.org", "approver", PASSWORD, "test", NOW)
        sid = staff.sign_in(ledger, settings, "amina@example.org", NOW)
        digest = hashlib.sha256(sid.encode()).hexdigest()
        assert len(sid) >= 43 and store.find_session(ledger, digest).actor == "amina@example.org"
        assert staff.signed_in(ledger, settings, sid, NOW + timedelta(seconds=30)) == ("amina@example.org", "approver")
        assert store.find_session(ledger, digest).seen_at == "2024-03-01T23:30:00Z"  # not yet a minute
        staff.signed_in(ledger, settings, sid, NOW + timedelta(seconds=61))
        assert store.find_session(ledger, digest).seen_at == "2024-03-01T23:31:01Z"
        busy = NOW + timedelta(hours=12) - timedelta(seconds=1)
        assert staff.signed_in(ledger, settings, sid, busy) is not None
        assert staff.signed_in(ledger, settings, sid, NOW + timedelta(hours=12)) is None  # however busy it was
        assert store.find_session(ledger, digest) is None
        assert staff.signed_in(ledger, settings, "made-up-session-id", NOW) is None
        assert [a.action for a in activity(ledger)] == ["sign-in", "staff-add"]
    assert sid.encode() not in (settings.state_dir / "herald.sqlite3").read_bytes()


def test_bot_admin_password_is_the_admin_account(make_settings) -> None:
    settings = make_settings(BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD))
    with Ledger.open(settings.state_dir) as ledger:
        assert staff.authenticate(ledger, settings, "admin", PASSWORD) == "admin"
        assert staff.authenticate(ledger, settings, "Admin", "wrong password!") is None
        sid = staff.sign_in(ledger, settings, "admin", NOW)
        assert staff.signed_in(ledger, settings, sid, NOW) == ("admin", "admin")
    rotated = make_settings(BOT_ADMIN_PASSWORD=generate_password_hash("another long password"))
    unset = make_settings()
    with Ledger.open(settings.state_dir) as ledger:
        assert staff.signed_in(ledger, unset, sid, NOW) is None  # BOT_ADMIN_PASSWORD gone: so is its session
        sid = staff.sign_in(ledger, settings, "admin", NOW)
        assert staff.signed_in(ledger, rotated, sid, NOW) is None  # a new password ends the old sessions
        assert staff.authenticate(ledger, unset, "admin", PASSWORD) is None


def test_signing_in_with_a_new_admin_password_ends_the_old_sessions_unused_since(make_settings) -> None:
    old = make_settings(BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD))
    new = make_settings(BOT_ADMIN_PASSWORD=generate_password_hash("another long password"))
    with Ledger.open(old.state_dir) as ledger:
        stale = staff.sign_in(ledger, old, "admin", NOW)
        fresh = staff.sign_in(ledger, new, "admin", NOW)  # no request came with the old session in between
        assert staff.signed_in(ledger, new, fresh, NOW) == ("admin", "admin")
        assert staff.signed_in(ledger, new, stale, NOW) is None


def test_the_real_command_reads_the_password_from_stdin(state: Path) -> None:
    env = {**os.environ, **BASE, "BOT_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-m", "bot", "--env-file", "/dev/null", "staff", "add",
                           "amina@example.org", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n",
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert PasswordHasher().verify(row(state, "amina@example.org").password_hash, PASSWORD)
