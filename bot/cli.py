"""The `bot` command: thin click commands over the library; errors become one line and an exit code."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
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
            return datetime.now(timezone.utc).astimezone(self.settings.timezone)
        value = raw.strip()
        if len(value) == 10:  # a bare date means its midnight
            value += " 00:00"
        try:
            return parse_instant(value, self.settings.timezone)
        except ValueError as exc:
            raise ConfigError(f"--now: {exc}") from None


def redact(text: str, settings: Settings | None) -> str:
    for secret in settings.secret_values() if settings else ():
        text = text.replace(secret, "***")
    return text


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

    result = queue.load(app.settings)
    plan = preview_mod.plan(result, app.settings, app.now(now_raw))
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


def main() -> None:
    cli(prog_name="bot")
