"""`bot run`, `bot newsletter send`, `bot serve` and `bot demo`: the commands that deliver (the demo into the outbox),
with their logs and the --now guard."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from .errors import ConfigError, quoted
from .settings import Settings

if TYPE_CHECKING:
    from .cli import App

NOW_HELP = ("Act as if it were T (YYYY-MM-DD HH:MM in BOT_TIMEZONE, or ISO 8601). What goes out really goes out, "
            "recorded as sent at T; a T in the future needs --force when a real backend delivers.")
FORCE_HELP = "With --now: accept a T in the future even though a real backend delivers."


class _Redact(logging.Filter):
    """Scrub every secret's value from log lines, whatever a library put in them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.settings.redact(record.getMessage())
        record.args = ()
        return True


class LocalStamp(logging.Formatter):
    """Log lines stamped in BOT_TIMEZONE, like every other time Herald shows, with the UTC offset so that a line
    stays unambiguous in the hour the clocks go back: `2026-11-30 09:15:02 +0100 INFO ...`."""

    def __init__(self, zone: tzinfo) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return stamp(datetime.fromtimestamp(record.created, self.zone))


def stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S %z}"


def _logging(app: App, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LocalStamp(app.settings.timezone))
    handler.addFilter(_Redact(app.settings))
    root = logging.getLogger("herald")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if app.debug else level)
    root.propagate = False


def _progress(app: App) -> Any:
    """A progress bar on a terminal, plain log lines every tenth otherwise."""
    from .progress import progress_reporter

    return progress_reporter(sys.stderr.isatty(), app.settings.timezone)


def refuse_future_now(app: App, now_raw: str | None, now: datetime, kinds: tuple[str, ...], force: bool) -> None:
    """A real delivery made under a `--now` still to come would be recorded as made then: its retries, lateness and
    editions would all be reckoned from a time that has not come. The outbox may use any clock (`bot demo` does),
    and a `--now` in the past only catches up."""
    real = {kind: app.settings.backends[kind] for kind in kinds
            if app.settings.backends[kind] not in ("outbox", "off")}
    if force and now_raw is None:
        raise click.UsageError("--force goes with --now (it accepts a --now in the future)")
    if now_raw is None or force or not real or now <= datetime.now(UTC):
        return
    backends = ", ".join(f"BOT_{kind.upper()}_BACKEND={name}" for kind, name in real.items())
    raise ConfigError(f"--now {now.astimezone(app.settings.timezone):%Y-%m-%d %H:%M %Z} is in the future and "
                      f"{backends} really delivers: what goes out now would be recorded as sent then. Leave out "
                      "--now, or add --force if that is what you want")


@click.command(short_help="Post each item and send each edition at its time.")
@click.option("--once", is_flag=True, help="Do everything due, then exit (0: all went out, 1: anything failed "
              "or was skipped).")
@click.option("--now", "now_raw", metavar="T", help=f"With --once: {NOW_HELP[0].lower()}{NOW_HELP[1:]}")
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.pass_obj
def run(app: App, once: bool, now_raw: str | None, force: bool) -> None:
    """Post each item at its time and send each edition at its slot; keep running unless --once."""
    from . import report as report_mod
    from .platforms import CHANNELS
    from .scheduler import run_forever, run_once, state_lock

    if now_raw and not once:
        raise click.UsageError("--now goes with --once (the simulated clock is `bot demo`)")
    now = app.now(now_raw)
    refuse_future_now(app, now_raw, now, CHANNELS, force)
    # A single run prints what it did; the long-running one logs it, for journald and the like.
    _logging(app, logging.WARNING if once else logging.INFO)
    with state_lock(app.settings):
        if once:
            live = None if now_raw else (lambda: datetime.now(UTC))
            with _progress(app) as progress:
                result = run_once(app.settings, now, progress=progress, clock=live)
            report_mod.print_run(result, app.settings)
            sys.exit(0 if result.ok else 1)
        run_forever(app.settings, lambda r: report_mod.print_run(r, app.settings, quiet=True, stamp=True))


@click.group()
def newsletter() -> None:
    """Send an edition now, or a test copy."""


@newsletter.command("send")
@click.option("--now", "now_raw", metavar="T", help=NOW_HELP)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--test-to", metavar="ADDR", help="Send ADDR one copy of the next edition, marked [TEST]; "
              "record nothing.")
@click.option("--lang", metavar="LANG", help="With --test-to: the edition in LANG, one of BOT_LANGUAGES (default: "
              "the first).")
@click.pass_obj
def newsletter_send(app: App, now_raw: str | None, force: bool, test_to: str | None, lang: str | None) -> None:
    """Send one edition now with every email item due and not yet sent."""
    from . import report as report_mod
    from . import subscriber_langs
    from .scheduler import send_newsletter_now, send_test_copy, state_lock
    from .subscribers import normalize_address

    now = app.now(now_raw)
    if lang is not None and not test_to:
        raise click.UsageError("--lang goes with --test-to: an edition goes to each subscriber in their language")
    if test_to:  # a test copy records nothing: any --now only picks the edition
        try:
            address = normalize_address(test_to)
        except ValueError as exc:
            raise click.BadParameter(f"{quoted(test_to)}: {exc}", param_hint="--test-to") from None
        lang = subscriber_langs.code(lang) if lang is not None else None  # FR or fr-CA, as everywhere
        if lang is not None and lang not in app.settings.languages:
            listed = ", ".join(app.settings.languages)
            raise click.BadParameter(f"{quoted(lang)} is not one of BOT_LANGUAGES ({listed})", param_hint="--lang")
        subject, where = send_test_copy(app.settings, now, address, lang)
        click.echo(f"sent a test copy of “{subject}” to {address} through {where}")  # the subject as it reads
        return
    refuse_future_now(app, now_raw, now, ("email",), force)
    _logging(app)
    with state_lock(app.settings), _progress(app) as progress:
        result = send_newsletter_now(app.settings, now, progress=progress)
    if not result.editions and not result.emails_sent:
        click.echo("nothing new since the last edition: no edition sent", err=True)
    report_mod.print_run(result, app.settings)
    sys.exit(0 if result.ok or not result.editions else 1)


def _port(_ctx: click.Context, _param: click.Parameter, value: int) -> int:
    if not 0 <= value <= 65535:
        raise click.BadParameter(f"{value} is not a port: use a number from 1 to 65535 (0: any free one)")
    return value


@click.command(short_help="Serve the web pages: public, webhooks and staff.")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS", help="Address to listen on "
              "(the staff pages too: put a reverse proxy in front rather than listening on all addresses).")
@click.option("--port", default=8080, show_default=True, type=int, callback=_port, metavar="PORT",
              help="Port to listen on (0: any free one, which the log names).")
@click.option("--with-scheduler", is_flag=True, help="Also run the scheduler in this process (as `bot run`).")
@click.pass_obj
def serve(app: App, host: str, port: int, with_scheduler: bool) -> None:
    """Serve the unsubscribe, subscribe and archive pages, the provider webhooks and the staff agenda."""
    from .settings import check_secret
    from .web.server import serve as serve_web

    check_secret(app.settings)  # it signs staff sessions and checks every link: outbox or not, it must be strong
    _logging(app)
    serve_web(app.settings, host, port, with_scheduler)


@click.command(short_help="Play the queue on a simulated clock, into the outbox.")
@click.option("--from", "start_raw", metavar="T", help="Start of the simulated clock [default: a day before the "
              "first item].")
@click.option("--until", "until_raw", metavar="T", help="End [default: a week after the last item].")
@click.option("--subscribers", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("demo-subscribers.csv"), show_default=True, help="Imported first, if it exists.")
@click.pass_context
def demo(ctx: click.Context, start_raw: str | None, until_raw: str | None, csv_path: Path) -> None:
    """Play the queue's weeks on a simulated clock, into the outbox only, then show `bot status`."""
    from datetime import timedelta

    from . import queue, subscribers
    from . import report as report_mod
    from .ledger import Ledger
    from .scheduler import play, state_lock

    app: App = ctx.obj
    if not csv_path.exists() and ctx.get_parameter_source("csv_path") is not ParameterSource.DEFAULT:
        raise ConfigError(f"--subscribers {csv_path}: there is no such file")
    items = queue.load(app.settings).items
    if not items:
        raise ConfigError(f"no valid item in {app.settings.queue_dir} to play")
    start = app.now(start_raw, "--from") if start_raw else min(i.publish_at for i in items) - timedelta(days=1)
    until = app.now(until_raw, "--until") if until_raw else max(i.publish_at for i in items) + timedelta(days=7)
    if until <= start:
        raise click.UsageError(f"--until {until.astimezone(app.settings.timezone):%Y-%m-%d %H:%M} is not after the "
                               f"start, {start.astimezone(app.settings.timezone):%Y-%m-%d %H:%M}")
    with state_lock(app.settings):
        if csv_path.exists():
            with Ledger.open(app.settings.state_dir) as ledger:
                imported = subscribers.import_csv(ledger, csv_path, start, languages=app.settings.languages)
            click.echo(f"subscribers from {csv_path}: {imported.added} added, {imported.existing} already there")
        else:  # the default file is not here (run from another folder): say so, rather than send to nobody unseen
            click.echo(f"no {csv_path} here: the editions go to the subscribers already recorded (see bot "
                       "subscribers count), none if there are none")
        click.echo(f"playing {start.astimezone(app.settings.timezone):%Y-%m-%d %H:%M} to "
                   f"{until.astimezone(app.settings.timezone):%Y-%m-%d %H:%M} ({app.settings.timezone.key}) "
                   "on a simulated clock, into the outbox")
        play(app.settings, start, until, lambda r: report_mod.print_run(r, app.settings, quiet=True, stamp=True))
    click.echo(f"\noutbox: {app.settings.outbox_dir.resolve()}\n")
    report_mod.print_status(report_mod.status(app.settings, until))


COMMANDS = (run, newsletter, serve, demo)
