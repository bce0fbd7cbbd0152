"""`bot subscribers ...`: thin commands over the subscriber list (import, export, add, remove, list, count)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import subscriber_files, subscribers
from .errors import ContentError, quoted
from .ledger import Ledger

if TYPE_CHECKING:
    from .cli import App


def _now() -> datetime:
    return datetime.now(UTC)


def _address(raw: str) -> str:
    try:
        return subscribers.normalize_address(raw)
    except ValueError as exc:
        raise ContentError("command line", "email", f"{quoted(raw)} is not a valid address: {exc}") from None


@click.group("subscribers")
def subscribers_group() -> None:
    """Manage who receives the newsletter."""


@subscribers_group.command("import", short_help="Import subscribers from a CSV export.")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--email-column", metavar="NAME", help="The column holding the address [default: email, or "
              "Mailchimp's Email Address].")
@click.option("--name-column", metavar="NAME", help="The column holding the name [default: name, or Mailchimp's "
              "First Name and Last Name].")
@click.pass_obj
def import_(app: App, csv_file: Path, email_column: str | None, name_column: str | None) -> None:
    """Import a CSV export as it is: Herald's, Mailchimp's or listmonk's, or any other with --email-column.

    Rows that say someone unsubscribed, was cleaned or blocklisted go in as unsubscribed or bounced, never as
    active. Bad rows are reported with their line numbers and the rest imported; someone who unsubscribed is
    never subscribed again by an import."""
    with Ledger.open(app.settings.state_dir) as ledger:
        report = subscribers.import_csv(ledger, csv_file, _now(), email_column, name_column)
    for problem in report.problems:
        click.echo(str(problem))
    counts = [(report.added, "added"), (report.existing, "already subscribed"),
              (report.unsubscribed, "unsubscribed as the file says"), (report.bounced, "bounced as the file says"),
              (report.pending, "awaiting confirmation as the file says"),
              (report.kept_out, "unsubscribed earlier and left out"), (report.repeated, "repeated in the file"),
              (len(report.problems), "invalid")]
    always = {"added", "already subscribed", "unsubscribed earlier and left out", "repeated in the file", "invalid"}
    click.echo(", ".join(f"{n} {what}" for n, what in counts if n or what in always), err=True)
    sys.exit(1 if report.problems else 0)


@subscribers_group.command("export", short_help="Write every subscriber to standard output.")
@click.option("--format", "form", type=click.Choice(["csv", "json"]), default="csv", show_default=True,
              help="csv (for spreadsheets, and to import back) or json.")
@click.pass_obj
def export(app: App, form: str) -> None:
    """Write every subscriber, with status and dates, to standard output (UTF-8); it imports back as it is."""
    out = sys.stdout.buffer  # bytes: UTF-8 whatever the locale
    with Ledger.open(app.settings.state_dir) as ledger:
        rows = subscribers.export(ledger, app.settings.timezone)
        if form == "csv":
            subscriber_files.write_csv(rows, out)
        else:
            subscriber_files.write_json(rows, out)
    out.flush()


@subscribers_group.command()
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.pass_obj
def add(app: App, email: str, name: str) -> None:
    """Subscribe one address."""
    address = _address(email)
    with Ledger.open(app.settings.state_dir) as ledger:
        outcome = subscribers.add(ledger, address, subscribers.clean_name(name), _now())
    if outcome in ("unsubscribed", "bounced"):
        why = "unsubscribed earlier" if outcome == "unsubscribed" else "bounced (the mailbox refuses mail)"
        click.echo(f"{address} {why}; only they can subscribe again, on the /subscribe page of bot serve", err=True)
        sys.exit(1)
    click.echo(f"{address}: {'added' if outcome == 'added' else 'already subscribed'}")


@subscribers_group.command(short_help="Unsubscribe one address (or forget it: --erase).")
@click.argument("email")
@click.option("--erase", is_flag=True, help="Forget them entirely (right to erasure); a later import could "
              "then add them again.")
@click.pass_obj
def remove(app: App, email: str, erase: bool) -> None:
    """Unsubscribe one address (kept as unsubscribed, so no import brings it back)."""
    address = _address(email)
    with Ledger.open(app.settings.state_dir) as ledger:
        found = subscribers.get(ledger, email=address)
        if found is None:
            click.echo(f"{address} is not on the list", err=True)
            sys.exit(1)
        if erase:
            subscribers.erase(ledger, found.id)
            click.echo(f"{address}: erased")
        else:
            changed = subscribers.unsubscribe(ledger, found.id, _now())
            click.echo(f"{address}: {'unsubscribed' if changed else 'was already unsubscribed'}")


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(["active", "pending", "unsubscribed", "bounced"]), default=None,
              help="Only the subscribers with this status [default: all of them].")
@click.pass_obj
def list_(app: App, status: str | None) -> None:
    """One line per subscriber: address, status, name (tab-separated)."""
    with Ledger.open(app.settings.state_dir) as ledger:
        for entry in subscribers.listing(ledger, status):
            click.echo(f"{entry.email}\t{entry.status}\t{entry.name}")


@subscribers_group.command()
@click.pass_obj
def count(app: App) -> None:
    """How many subscribers, by status."""
    with Ledger.open(app.settings.state_dir) as ledger:
        counts = subscribers.counts(ledger)
    click.echo("  ".join(f"{status}: {n}" for status, n in counts.items()))
