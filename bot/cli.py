"""The `bot` command: thin click commands over the library; errors become one line and an exit code."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError, HeraldError
from .settings import Settings, describe, load_settings

EXIT_INTERNAL = 70


@dataclass
class App:
    settings: Settings
    debug: bool

    def now(self, raw: str | None) -> datetime:
        """`--now`: ISO 8601 or 'YYYY-MM-DD HH:MM' (naive means BOT_TIMEZONE); default the real clock."""
        from .clock import parse_instant

        if raw is None:
            return datetime.now(UTC).astimezone(self.settings.timezone)
        value = raw.strip()
        if len(value) == 10:  # a bare date means its midnight
            value += " 00:00"
        try:
            return parse_instant(value, self.settings.timezone)
        except ValueError as exc:
            raise ConfigError(f"--now: {exc}") from None


def redact(text: str, settings: Settings | None) -> str:
    return settings.redact(text) if settings else text


class HeraldGroup(click.Group):
    """Maps Herald's errors to one line and an exit code; a traceback only with --debug."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except HeraldError as exc:
            if debug:
                raise
            click.echo(f"error: {redact(str(exc), _settings(ctx))}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `bot calendar | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the exit's own flush finds nowhere to fail
            ctx.exit(0)
        except Exception as exc:  # a bug: say so briefly, keep the traceback for --debug
            if debug:
                raise
            message = redact(f"{type(exc).__name__}: {exc}", _settings(ctx))
            click.echo(f"internal error: {message} (run again with --debug for the traceback)", err=True)
            ctx.exit(EXIT_INTERNAL)


def _settings(ctx: click.Context) -> Settings | None:
    return ctx.obj.settings if isinstance(ctx.obj, App) else None


@click.group(cls=HeraldGroup)
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=Path(".env"),
              show_default=True, help="Settings file; the environment overrides it.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="herald-bot")
@click.pass_context
def cli(ctx: click.Context, env_file: Path, debug: bool) -> None:
    """Herald: queue dated news as Markdown; publish it as a newsletter and as posts on X, Mastodon and Bluesky."""
    ctx.obj = App(load_settings(env_file=env_file), debug)


@cli.command()
@click.pass_obj
def validate(app: App) -> None:
    """Check every queued item and campaigns.yaml; one line per problem, exit 1 if any."""
    from . import queue

    result = queue.load(app.settings)
    for problem in result.problems:
        click.echo(str(problem))
    count = len(result.problems)
    click.echo(f"{result.files} item file{'s' if result.files != 1 else ''} in {app.settings.queue_dir}, "
               f"{len(result.items)} valid, {count} problem{'s' if count != 1 else ''}.", err=True)
    sys.exit(1 if count else 0)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into  [default: BOT_STATE_DIR/preview]")
@click.option("--now", "now_raw", metavar="T", help="Preview as of T (ISO 8601; naive = BOT_TIMEZONE).")
@click.pass_obj
def preview(app: App, out: Path | None, now_raw: str | None) -> None:
    """Write what goes out next: each post's API body, the next edition, and index.html to open."""
    from . import preview as preview_mod
    from . import queue
    from .approval import Gate
    from .ledger import Ledger

    result = queue.load(app.settings)
    with Ledger.open(app.settings.state_dir) as ledger:  # what was posted or sent already is not previewed
        recorded = {(d.item_id, d.channel) for d in ledger.posts()}
        in_editions = ledger.items_in_editions()
        gate = Gate.read(ledger, app.settings)  # drafts, items awaiting approval and holds do not go out
    plan = preview_mod.plan(result, app.settings, app.now(now_raw), done=lambda i, p: (i, p) in recorded,
                            in_edition=in_editions.__contains__, may_go=gate.may_go)
    index = preview_mod.write(plan, app.settings, out or app.settings.state_dir / "preview")
    if result.problems:
        click.echo(f"{len(result.problems)} problem(s) in the queue; those items are left out (see bot validate).",
                   err=True)
    click.echo(f"{len(plan.posts)} post(s); newsletter: "
               f"{len(plan.edition_items)} item(s) for the slot of {plan.slot:%Y-%m-%d %H:%M %Z}." if plan.slot
               else f"{len(plan.posts)} post(s).", err=True)
    click.echo(str(index.resolve()))


@cli.command()
@click.pass_obj
def config(app: App) -> None:
    """Show every setting, its value and where it came from (secrets are never shown)."""
    for name, value, source in describe(app.settings):
        click.echo(f"{name}={value}  # {source}")


# --- running -------------------------------------------------------------------------------------------


class _Redact(logging.Filter):
    """Scrub every secret's value from log lines, whatever a library put in them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.settings)
        record.args = ()
        return True


def _logging(app: App, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_Redact(app.settings))
    root = logging.getLogger("herald")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if app.debug else level)
    root.propagate = False


def _progress() -> Any:
    """A progress bar on a terminal, plain log lines every tenth otherwise."""
    from .report import progress_reporter

    return progress_reporter(sys.stderr.isatty())


@cli.command()
@click.option("--once", is_flag=True, help="Do everything due, then exit (0: all went out, 1: anything failed "
              "or was skipped).")
@click.option("--now", "now_raw", metavar="T", help="With --once: act as if it were T.")
@click.pass_obj
def run(app: App, once: bool, now_raw: str | None) -> None:
    """Post each item at its time and send each edition at its slot; keep running unless --once."""
    from . import report as report_mod
    from .scheduler import run_forever, run_once, state_lock

    if now_raw and not once:
        raise click.UsageError("--now goes with --once (the simulated clock is `bot demo`)")
    # A single run prints what it did; the long-running one logs it, for journald and the like.
    _logging(app, logging.WARNING if once else logging.INFO)
    with state_lock(app.settings):
        if once:
            live = None if now_raw else (lambda: datetime.now(UTC))
            with _progress() as progress:
                result = run_once(app.settings, app.now(now_raw), progress=progress, clock=live)
            report_mod.print_run(result, app.settings)
            sys.exit(0 if result.ok else 1)
        run_forever(app.settings, lambda r: report_mod.print_run(r, app.settings, quiet=True))


@cli.group()
def newsletter() -> None:
    """Send an edition now, or a test copy."""


@newsletter.command("send")
@click.option("--now", "now_raw", metavar="T", help="Act as if it were T.")
@click.option("--test-to", metavar="ADDR", help="Send ADDR one copy of the next edition, marked [TEST]; "
              "record nothing.")
@click.pass_obj
def newsletter_send(app: App, now_raw: str | None, test_to: str | None) -> None:
    """Send one edition now with every email item due and not yet sent."""
    from . import report as report_mod
    from .scheduler import send_newsletter_now, send_test_copy, state_lock
    from .subscribers import normalize_address

    now = app.now(now_raw)
    if test_to:
        try:
            address = normalize_address(test_to)
        except ValueError as exc:
            raise click.BadParameter(f"{test_to!r}: {exc}", param_hint="--test-to") from None
        subject, where = send_test_copy(app.settings, now, address)
        click.echo(f"sent a test copy of {subject!r} to {address} through {where}")
        return
    _logging(app)
    with state_lock(app.settings), _progress() as progress:
        result = send_newsletter_now(app.settings, now, progress=progress)
    if not result.editions and not result.emails_sent:
        click.echo("nothing new since the last edition: no edition sent", err=True)
    report_mod.print_run(result, app.settings)
    sys.exit(0 if result.ok or not result.editions else 1)


@cli.command()
@click.option("--now", "now_raw", metavar="T", help="Report as of T.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(app: App, now_raw: str | None, as_json: bool) -> None:
    """What is scheduled next, what went out, what failed and why, what was missed."""
    import json

    from . import report as report_mod

    data = report_mod.status(app.settings, app.now(now_raw))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        report_mod.print_status(data)


@cli.command()
@click.option("--from", "start_raw", metavar="T", help="Start of the simulated clock [default: a day before the "
              "first item].")
@click.option("--until", "until_raw", metavar="T", help="End [default: a week after the last item].")
@click.option("--subscribers", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("demo-subscribers.csv"), show_default=True, help="Imported first, if it exists.")
@click.pass_obj
def demo(app: App, start_raw: str | None, until_raw: str | None, csv_path: Path) -> None:
    """Play the queue's weeks on a simulated clock, into the outbox only, then show `bot status`."""
    from datetime import timedelta

    from . import queue, subscribers
    from . import report as report_mod
    from .ledger import Ledger
    from .scheduler import play, state_lock

    items = queue.load(app.settings).items
    if not items:
        raise ConfigError(f"no valid item in {app.settings.queue_dir} to play")
    start = app.now(start_raw) if start_raw else min(i.publish_at for i in items) - timedelta(days=1)
    until = app.now(until_raw) if until_raw else max(i.publish_at for i in items) + timedelta(days=7)
    with state_lock(app.settings):
        if csv_path.exists():
            with Ledger.open(app.settings.state_dir) as ledger:
                imported = subscribers.import_csv(ledger, csv_path, start)
            click.echo(f"subscribers from {csv_path}: {imported.added} added, {imported.existing} already there")
        click.echo(f"playing {start.astimezone(app.settings.timezone):%Y-%m-%d %H:%M} to "
                   f"{until.astimezone(app.settings.timezone):%Y-%m-%d %H:%M} ({app.settings.timezone.key}) "
                   "on a simulated clock, into the outbox")
        play(app.settings, start, until, lambda r: report_mod.print_run(r, app.settings, quiet=True, stamp=True))
    click.echo(f"\noutbox: {app.settings.outbox_dir.resolve()}\n")
    report_mod.print_status(report_mod.status(app.settings, until))


@cli.command()
@click.argument("item")
@click.option("--platform", type=click.Choice(["x", "mastodon", "bluesky"]), help="Only this platform "
              "[default: every platform where it was missed or failed].")
@click.option("--at", "at_raw", metavar="T", help="When to post it [default: now].")
@click.pass_obj
def requeue(app: App, item: str, platform: str | None, at_raw: str | None) -> None:
    """Put a missed or failed post back in the schedule; `bot run` posts it at T."""
    from .approval import cli_actor
    from .approval import requeue as put_back
    from .ledger import Ledger

    when = app.now(at_raw)
    with Ledger.open(app.settings.state_dir) as ledger:
        done = put_back(ledger, item, platform, when, cli_actor(), app.now(None))
        states = {d.channel: d.status for d in ledger.deliveries("item_id = ?", (item,))}
    if not done:
        where = f" on {platform}" if platform else ""
        found = ", ".join(f"{p} {s}" for p, s in states.items()) or "no post recorded yet"
        raise HeraldError(f"nothing to requeue: {item}{where} is not missed or failed ({found})")
    click.echo(f"{item}: requeued on {', '.join(done)} for {when.astimezone(app.settings.timezone):%Y-%m-%d %H:%M %Z}")


@cli.command()
@click.pass_obj
def doctor(app: App) -> None:
    """Check every configured backend with a read-only call; never posts or sends. Exit 1 if anything needs fixing."""
    from .doctor import examine

    findings = examine(app.settings)
    width = max(len(f"{f.kind} ({f.backend})") for f in findings)
    for finding in findings:
        mark = "ok " if finding.ok else "FIX"
        click.echo(f"{mark} {f'{finding.kind} ({finding.backend})':<{width}}  {finding.detail}")
        if finding.fix:
            click.echo(f"    {'':<{width}}  -> {finding.fix}")
    sys.exit(0 if all(f.ok for f in findings) else 1)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (the staff pages "
              "too: put a reverse proxy in front rather than listening on all addresses).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--with-scheduler", is_flag=True, help="Also run the scheduler in this process (as `bot run`).")
@click.pass_obj
def serve(app: App, host: str, port: int, with_scheduler: bool) -> None:
    """Serve the unsubscribe, subscribe and archive pages, the provider webhooks and the staff agenda."""
    from .settings import check_secret
    from .web.server import serve as serve_web

    check_secret(app.settings)  # it signs staff sessions and checks every link: outbox or not, it must be strong
    _logging(app)
    serve_web(app.settings, host, port, with_scheduler)


@cli.command("hash-password")
@click.password_option("--password", prompt="Staff password", help="Read from the terminal when not given.")
def hash_password(password: str) -> None:
    """Print the hash of a staff password, for BOT_ADMIN_PASSWORD (the password itself is never stored)."""
    from werkzeug.security import generate_password_hash

    if len(password) < 12:
        raise click.BadParameter("use at least 12 characters", param_hint="--password")
    click.echo(generate_password_hash(password))


from .cli_subscribers import subscribers_group  # noqa: E402  (the subcommands live in their own module)

cli.add_command(subscribers_group)

from .cli_staff import staff_group  # noqa: E402

cli.add_command(staff_group)

from .cli_items import COMMANDS as ITEM_COMMANDS  # noqa: E402

for _command in ITEM_COMMANDS:
    cli.add_command(_command)

from .cli_calendar import calendar as calendar_command  # noqa: E402

cli.add_command(calendar_command)

from .cli_media import media_group  # noqa: E402

cli.add_command(media_group)



@cli.command("init")
@click.argument("folder", required=False, default=Path("."), type=click.Path(file_okay=False, path_type=Path))
@click.option("--timezone", "zone_name", metavar="ZONE", help="IANA time zone written to .env and dating the "
              "example  [default: BOT_TIMEZONE]")
@click.pass_obj
def init_command(app: App, folder: Path, zone_name: str | None) -> None:
    """Start an organisation in FOLDER (default: here): content_queue/ with campaigns.yaml and an example draft, and
    .env with a new BOT_SECRET. A file that exists is never overwritten."""
    from .init import init, next_steps
    from .settings import SPECS

    try:
        zone = app.settings.timezone if zone_name is None else SPECS["BOT_TIMEZONE"].parse(zone_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timezone") from None
    done = init(folder, zone, datetime.now(UTC).astimezone(zone).date())
    for path in done.created:
        click.echo(f"created: {path}" + ("  (mode 0600, with a new BOT_SECRET)" if path.name == ".env" else ""))
    for path, why in done.kept:
        click.echo(f"kept: {path}  ({why})")
    click.echo("\n".join(next_steps(folder)))


def main() -> None:
    cli(prog_name="bot")
