"""`bot subscribers ...`: thin commands over the subscriber list (import, export, add, set-lang, remove, list,
count)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import subscriber_files, subscriber_langs, subscribers
from .errors import ContentError, quoted
from .ledger import Ledger, langs

if TYPE_CHECKING:
    from .cli import App


def _now() -> datetime:
    return datetime.now(UTC)


def _address(raw: str) -> str:
    try:
        return subscribers.normalize_address(raw)
    except ValueError as exc:
        raise ContentError("command line", "email", f"{quoted(raw)} is not a valid address: {exc}") from None


def _language(app: App, raw: str, hint: str) -> str:
    try:
        return subscriber_langs.check(raw, app.settings.languages)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


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
    never subscribed again by an import. A language (a lang or Language column, listmonk's attributes.lang) that
    BOT_LANGUAGES does not list is reported, and the row imported with the default language."""
    with Ledger.open(app.settings.state_dir) as ledger:
        report = subscribers.import_csv(ledger, csv_file, _now(), email_column, name_column, app.settings.languages)
    for problem in sorted(report.problems + report.warnings, key=lambda p: p.order):
        click.echo(str(problem))
    counts = [(report.added, "added"), (report.existing, "already subscribed"),
              (report.unsubscribed, "unsubscribed as the file says"), (report.bounced, "bounced as the file says"),
              (report.pending, "awaiting confirmation as the file says"),
              (report.kept_out, "unsubscribed earlier and left out"), (report.repeated, "repeated in the file"),
              (len(report.problems), "invalid"),
              (len(report.warnings), "with a language not in BOT_LANGUAGES, given the default "
                                     f"({app.settings.language})")]
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


@subscribers_group.command(short_help="Subscribe one address.")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--lang", metavar="CODE", help="Their language, one of BOT_LANGUAGES [default: the first of them, "
              "whichever it is].")
@click.pass_obj
def add(app: App, email: str, name: str, lang: str | None) -> None:
    """Subscribe one address (and set the language of one already subscribed, with --lang)."""
    address = _address(email)
    code = _language(app, lang, "--lang") if lang is not None else None
    with Ledger.open(app.settings.state_dir) as ledger:
        outcome = subscribers.add(ledger, address, subscribers.clean_name(name), _now(), lang=code)
    if outcome in ("unsubscribed", "bounced"):
        why = "unsubscribed earlier" if outcome == "unsubscribed" else "bounced (the mailbox refuses mail)"
        click.echo(f"{address} {why}; only they can subscribe again, on the /subscribe page of bot serve", err=True)
        sys.exit(1)
    said = f" (language: {code})" if code else ""
    click.echo(f"{address}: {'added' if outcome == 'added' else 'already subscribed'}{said}")


@subscribers_group.command("set-lang", short_help="Set the language of one subscriber.")
@click.argument("email")
@click.argument("lang", metavar="CODE")
@click.pass_obj
def set_lang(app: App, email: str, lang: str) -> None:
    """Set the language in which one subscriber is to read the newsletter: CODE is one of BOT_LANGUAGES, or
    `default` for the first of them, whichever it is (as for those who never chose)."""
    address = _address(email)
    code = None if lang.strip().lower() == subscriber_langs.DEFAULT else _language(app, lang, "CODE")
    with Ledger.open(app.settings.state_dir) as ledger:
        if not langs.choose(ledger, address, code, _now()):
            click.echo(f"{address} is not on the list", err=True)
            sys.exit(1)
    click.echo(f"{address}: language {subscriber_langs.label(code, app.settings.languages)}")


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


@subscribers_group.command("list", short_help="One line per subscriber (tab-separated).")
@click.option("--status", type=click.Choice(["active", "pending", "unsubscribed", "bounced"]), default=None,
              help="Only the subscribers with this status [default: all of them].")
@click.pass_obj
def list_(app: App, status: str | None) -> None:
    """One line per subscriber: address, status, name, language (tab-separated)."""
    with Ledger.open(app.settings.state_dir) as ledger:
        for entry in subscribers.listing(ledger, status):
            lang = subscriber_langs.label(entry.lang, app.settings.languages)
            click.echo(f"{entry.email}\t{entry.status}\t{entry.name}\t{lang}")


@subscribers_group.command(short_help="How many subscribers, by status and by language.")
@click.pass_obj
def count(app: App) -> None:
    """How many subscribers, by status; and how many active ones read each language."""
    with Ledger.open(app.settings.state_dir) as ledger:
        counts = subscribers.counts(ledger)
        by_lang = langs.counts(ledger, "active")
    click.echo("  ".join(f"{status}: {n}" for status, n in counts.items()))
    click.echo(f"active by language: {subscriber_langs.summary(by_lang, app.settings.languages)}")
