"""The `bot` command: thin click commands over the library; errors become one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .errors import ConfigError, HeraldError, counted, quoted
from .settings import Settings, load_settings
from .settings_view import describe

EXIT_INTERNAL = 70


@dataclass
class App:
    settings: Settings
    debug: bool

    def now(self, raw: str | None, option: str = "--now") -> datetime:
        """`--now` (or `option`): ISO 8601 or 'YYYY-MM-DD HH:MM' (naive means BOT_TIMEZONE); default the real
        clock."""
        from .clock import parse_instant

        if raw is None:
            return datetime.now(UTC).astimezone(self.settings.timezone)
        value = raw.strip()
        if len(value) == 10:  # a bare date means its midnight
            value += " 00:00"
        try:
            return parse_instant(value, self.settings.timezone)
        except ValueError as exc:
            raise ConfigError(f"{option}: {exc}") from None


def redact(text: str, settings: Settings | None) -> str:
    return settings.redact(text) if settings else text


_NO_BREAK = "\u2011"  # a non-breaking hyphen, which textwrap never breaks a line at


class HelpFormatter(click.HelpFormatter):
    """click's help, except that a line never breaks at a hyphen: `demo-subscribers.csv` or `--with-scheduler`
    split over two lines reads as two words, and a path copied from it is wrong."""

    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(text.replace("-", _NO_BREAK))
        self._restore(start)

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        start = len(self.buffer)
        super().write_dl([(term, text.replace("-", _NO_BREAK)) for term, text in rows], col_max, col_spacing)
        self._restore(start)

    def _restore(self, start: int) -> None:
        self.buffer[start:] = [part.replace(_NO_BREAK, "-") for part in self.buffer[start:]]


class HelpContext(click.Context):
    formatter_class = HelpFormatter


class HeraldGroup(click.Group):
    """Maps Herald's errors to one line and an exit code; a traceback only with --debug."""

    context_class = HelpContext

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
@click.option("--env-file", "env_name", default=".env", show_default=True, metavar="PATH",
              help="Settings file; the environment overrides it.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="herald-bot")
@click.pass_context
def cli(ctx: click.Context, env_name: str, debug: bool) -> None:
    """Herald: queue dated news as Markdown; publish it as a newsletter and as posts on social networks."""
    env_file = _env_file(env_name, ctx.get_parameter_source("env_name") is not ParameterSource.DEFAULT)
    ctx.obj = App(load_settings(env_file=env_file), debug)


def _env_file(name: str, named: bool) -> Path:
    """The settings file to read. Without a .env Herald runs on its defaults; a file asked for by name and not
    found (or no name at all, as an empty variable in a script gives) must not mean the same."""
    path = Path(name)
    if named and not name.strip():
        raise ConfigError("--env-file names no file: give the path of a settings file, or leave the option out")
    if path.is_dir():
        raise ConfigError(f"--env-file {name}: is a folder, not a settings file" if named else
                          f"{name} is a folder, not a settings file: Herald reads its settings from a file .env")
    if named and not path.exists():
        raise ConfigError(f"--env-file {name}: there is no such file (without --env-file, Herald reads .env when "
                          "there is one)")
    return path




def queue_counts(result: Any) -> str:
    """The queue's problems and warnings, counted as `bot validate` counts them: `0 problems, 2 warnings`."""
    return f"{counted(len(result.problems), 'problem')}, {counted(len(result.warnings), 'warning')}"


@cli.command(short_help="Check every queued item and campaigns.yaml.")
@click.pass_obj
def validate(app: App) -> None:
    """Check every queued item and campaigns.yaml: one line per problem or warning, by file and line, then a
    summary, all on standard output. Exit 1 if there is any problem; warnings alone do not change the exit status."""
    from . import queue
    from .ledger import Ledger

    result = queue.load(app.settings)
    if Ledger.file(app.settings.state_dir).exists():  # checking the queue never makes a state folder
        with Ledger.open(app.settings.state_dir) as ledger:
            result.warnings.extend(queue.changed_since_sent(result, ledger))
    for found in sorted([*result.problems, *result.warnings], key=lambda p: p.order):
        click.echo(str(found))
    invalid = result.files - len(result.items)  # a summary that adds up: files, valid, invalid, then the problems
    translated = sum(len(item.translations) for item in result.items)
    click.echo(f"{counted(result.files, 'item file')} in {app.settings.queue_dir}, {len(result.items):,} valid, "
               + (f"{invalid:,} invalid, " if invalid else "")
               + (f"{counted(translated, 'translation')}, " if translated else "") + f"{queue_counts(result)}.")
    sys.exit(1 if result.problems else 0)


@cli.command(short_help="Write what goes out next, to open in a browser.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into  [default: BOT_STATE_DIR/preview]")
@click.option("--now", "now_raw", metavar="T", help="Preview as of T (YYYY-MM-DD HH:MM in BOT_TIMEZONE, or ISO "
              "8601) [default: now].")
@click.pass_obj
def preview(app: App, out: Path | None, now_raw: str | None) -> None:
    """Write what goes out next: each post's API body, the next edition, and index.html to open."""
    from . import preview as preview_mod
    from . import queue
    from .approval import Gate
    from .ledger import Ledger

    result = queue.load(app.settings)
    with Ledger.open(app.settings.state_dir) as ledger:  # what was posted or sent already is not previewed
        result.warnings.extend(queue.changed_since_sent(result, ledger))  # counted as `bot validate` counts them
        recorded = {(d.item_id, d.channel, d.lang) for d in ledger.posts()}
        in_editions = ledger.items_in_editions()
        gate = Gate.read(ledger, app.settings)  # drafts, items awaiting approval and holds do not go out
    now = app.now(now_raw)
    plan = preview_mod.plan(result, app.settings, now, done=lambda i, p, lang: (i, p, lang) in recorded,
                            in_edition=in_editions.__contains__, may_go=gate.may_go)
    # What the gate keeps back is said, so that an empty preview of a queue of drafts does not look broken.
    everything = preview_mod.plan(result, app.settings, now, done=lambda i, p, lang: (i, p, lang) in recorded,
                                  in_edition=in_editions.__contains__)
    index = preview_mod.write(plan, app.settings, out or app.settings.state_dir / "preview")
    if result.problems or result.warnings:
        left_out = "; the items with problems are left out" if result.problems else ""
        click.echo(f"{queue_counts(result)} in the queue{left_out} (see bot validate).", err=True)
    slot = f" for the slot of {plan.slot:%Y-%m-%d %H:%M %Z}" if plan.slot else ""
    click.echo(f"{counted(len(plan.posts), 'post')}; newsletter: {counted(len(plan.edition_items), 'item')}{slot}.",
               err=True)
    held_posts, held_items = len(everything.posts) - len(plan.posts), len(everything.edition_items) - len(
        plan.edition_items)
    if held_posts or held_items:
        click.echo(f"Held back, so not in the preview: {counted(held_posts, 'post')} and "
                   f"{counted(held_items, 'newsletter item')} of drafts, items awaiting approval or items on hold "
                   "(see bot status).", err=True)
    click.echo(str(index.resolve()))


@cli.command(short_help="Show every setting, its value and where it came from.")
@click.pass_obj
def config(app: App) -> None:
    """Show every setting, its value and where it came from (secrets are never shown)."""
    for name, value, source in describe(app.settings):
        click.echo(f"{name}={value}  # {source}")


@cli.command(short_help="What is next, what went out, what failed or was missed.")
@click.option("--now", "now_raw", metavar="T", help="Report as of T [default: now].")
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


@cli.command(short_help="Put a missed or failed post back in the schedule.")
@click.argument("item")
@click.option("--platform", metavar="NAME", help="Only this platform (see bot config: BOT_<NAME>_BACKEND) "
              "[default: every platform where it was missed or failed].")
@click.option("--at", "at_raw", metavar="T", help="When to post it [default: now].")
@click.pass_obj
def requeue(app: App, item: str, platform: str | None, at_raw: str | None) -> None:
    """Put a missed or failed post back in the schedule; `bot run` posts it at T."""
    from .approval import cli_actor
    from .approval import requeue as put_back
    from .ledger import Ledger
    from .platforms import PLATFORMS

    if platform is not None and platform not in PLATFORMS:  # the registry is read here, not at every start
        raise click.BadParameter(f"{quoted(platform)} is not a platform: choose from {', '.join(PLATFORMS)}",
                                 param_hint="--platform")
    when = app.now(at_raw, "--at")
    with Ledger.open(app.settings.state_dir) as ledger:
        done = put_back(ledger, item, platform, when, cli_actor(), app.now(None))
        states = {d.channel: d.status for d in ledger.deliveries("item_id = ?", (item,))}
    if not done:
        if not states:
            _no_such_item(app, item)
        where = f" on {platform}" if platform else ""
        found = ", ".join(f"{p} {s}" for p, s in states.items())
        raise HeraldError(f"nothing to requeue: {item}{where} is not missed or failed ({found})")
    click.echo(f"{item}: requeued on {', '.join(done)} for {when.astimezone(app.settings.timezone):%Y-%m-%d %H:%M %Z}")


def _no_such_item(app: App, item: str) -> None:
    """Nothing recorded for `item`: if the queue has no such item either, it is a typo; the closest id says of what."""
    import difflib

    from . import queue
    from .ledger import Ledger

    loaded = queue.load(app.settings)
    known = {i.id for i in loaded.items} | loaded.invalid_ids
    if item in known:
        raise HeraldError(f"nothing to requeue: {item} has no post recorded yet")
    with Ledger.open(app.settings.state_dir) as ledger:
        known |= {d.item_id for d in ledger.posts() if d.item_id}
    # An id typed short (its date and first words) is a prefix of the real one; a typo is close to it.
    close = sorted(k for k in known if k.startswith(item))[:1] or difflib.get_close_matches(item, sorted(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise HeraldError(f"no such item: {item} is not in {app.settings.queue_dir}, and no post of it was ever "
                      f"recorded{hint}")


@cli.command(short_help="Check every configured backend; never posts or sends.")
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
        for line in finding.more:
            click.echo(f"    {'':<{width}}  {line}")
    sys.exit(0 if all(f.ok for f in findings) else 1)


@cli.command("hash-password", short_help="Print the hash of a staff password.")
@click.password_option("--password", prompt="Staff password", help="Read from the terminal when not given.")
def hash_password(password: str) -> None:
    """Print the hash of a staff password, for BOT_ADMIN_PASSWORD (the password itself is never stored)."""
    from werkzeug.security import generate_password_hash

    if len(password) < 12:
        raise click.BadParameter("use at least 12 characters", param_hint="--password")
    click.echo(generate_password_hash(password))


from .cli_run import COMMANDS as RUN_COMMANDS  # noqa: E402  (the commands live in modules of their own)

for _command in RUN_COMMANDS:
    cli.add_command(_command)

from .cli_subscribers import subscribers_group  # noqa: E402

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

from .cli_feeds import feed_group  # noqa: E402

cli.add_command(feed_group)


@cli.command("init", short_help="Start an organisation's folder: the queue and .env.")
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


def _help_everywhere(group: click.Group) -> None:
    """Each command makes its own context, and so its own help formatter: give every one of them Herald's."""
    for command in group.commands.values():
        command.context_class = HelpContext
        if isinstance(command, click.Group):
            _help_everywhere(command)


_help_everywhere(cli)


def main() -> None:
    cli(prog_name="bot")
