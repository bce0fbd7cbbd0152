"""`bot staff ...`: thin commands over the staff accounts of the web side (add, remove, list, passwd, role)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from . import staff
from .approval import cli_actor
from .ledger import Ledger

if TYPE_CHECKING:
    from .cli import App

ROLE = click.Choice(staff.ROLES)
STDIN_HELP = "Read the password from the first line of standard input instead of asking on the terminal."


def _now() -> datetime:
    return datetime.now(UTC)


def _address(raw: str) -> str:
    try:
        return staff.normalize_email(raw)
    except staff.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None


def _checked(password: str) -> str:
    try:
        staff.check_new_password(password)
    except staff.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint="password") from None
    return password


def _password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or asked twice on the terminal (never echoed)."""
    if from_stdin:
        return _checked(sys.stdin.readline().rstrip("\r\n"))
    # A password that is too short is asked again rather than ending the command.
    entered: str = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password",
                                value_proc=_checked)
    return entered


@click.group("staff")
def staff_group() -> None:
    """Manage who can sign in to the staff pages of `bot serve`."""


@staff_group.command()
@click.argument("email")
@click.option("--role", type=ROLE, required=True, help="editor < approver < admin (admins manage the staff).")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
@click.pass_obj
def add(app: App, email: str, role: str, password_stdin: bool) -> None:
    """Make a staff account (password at least 12 characters)."""
    address = _address(email)
    password = _password(password_stdin)
    with Ledger.open(app.settings.state_dir) as ledger:
        staff.add(ledger, address, role, password, cli_actor(), _now())
    click.echo(f"{address}: added as {role}")


@staff_group.command()
@click.argument("email")
@click.pass_obj
def remove(app: App, email: str) -> None:
    """Remove a staff account; it is signed out everywhere at once."""
    address = _address(email)
    with Ledger.open(app.settings.state_dir) as ledger:
        removed = staff.remove(ledger, address, cli_actor(), _now())
    click.echo(f"{removed}: removed and signed out")


@staff_group.command("list", short_help="One line per staff account.")
@click.pass_obj
def list_(app: App) -> None:
    """One line per staff account: email, role, date added (in BOT_TIMEZONE), tab-separated."""
    zone = app.settings.timezone
    with Ledger.open(app.settings.state_dir) as ledger:
        people = staff.listing(ledger)
    for person in people:
        click.echo(f"{person.email}\t{person.role}\t{person.created_at.astimezone(zone):%Y-%m-%d}")
    if app.settings.admin_password:
        click.echo("also: admin, with the password in BOT_ADMIN_PASSWORD", err=True)
    elif not people:
        click.echo("no staff account yet: add the first with `bot staff add EMAIL --role admin`", err=True)


@staff_group.command()
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
@click.pass_obj
def passwd(app: App, email: str, password_stdin: bool) -> None:
    """Set a new password; every session of that person ends."""
    address = _address(email)
    with Ledger.open(app.settings.state_dir) as ledger:
        if staff.find(ledger, address) is None:  # before asking for a password for nobody
            raise staff.AccountError(f"no staff account {address}")
        changed = staff.change_password(ledger, address, _password(password_stdin), cli_actor(), _now())
    click.echo(f"{changed}: password changed; signed out everywhere")


@staff_group.command()
@click.argument("email")
@click.argument("role", type=ROLE)
@click.pass_obj
def role(app: App, email: str, role: str) -> None:
    """Change a role; it holds from the person's next request."""
    address = _address(email)
    with Ledger.open(app.settings.state_dir) as ledger:
        changed, before = staff.set_role(ledger, address, role, cli_actor(), _now())
    click.echo(f"{changed}: {before} -> {role}" if before != role else f"{changed}: {role} already")
