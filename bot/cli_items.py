"""`bot new`, `approve`, `hold`, `release`, `dismiss`: the command line's side of the staff pages' decisions.

Same queue files and ledger as the browser; each one an activity row with the operating-system user as actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from . import approval, itemfile, queue
from .errors import HeraldError
from .ledger import Ledger
from .ledger import review as book
from .platforms import CHANNELS

if TYPE_CHECKING:
    from .cli import App


def _now() -> datetime:
    return datetime.now(UTC)


@click.command("new", short_help="Write a new item file as a draft; print its path.")
@click.option("--title", default="", help="The item's title [default: a placeholder to replace].")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The news date [default: today].")
@click.pass_obj
def new(app: App, title: str, day: str | None) -> None:
    """Write a new item file as a draft (the same file the staff pages write) and print its path."""
    settings = app.settings
    today = _now().astimezone(settings.timezone).date().isoformat()
    fields = itemfile.Fields(
        title=title.strip() or "Title of the news, in one line",
        date=day or today,
        summary="One to three sentences: the newsletter's blurb and the default text of the posts.",
        draft=True,
        body="Optional body in Markdown, shown in the newsletter under the summary. Remove `draft: true` above "
             "(or run `bot approve`) when the item is ready.",
    )
    folder = queue.require_folder(settings)
    item_id = itemfile.free_id(folder, itemfile.suggest_id(fields.date, title))
    path = folder / f"{item_id}.md"
    text = itemfile.to_text(fields)
    loaded = queue.Queue()
    ok = queue.load_campaigns(folder / queue.CAMPAIGNS_FILE, loaded, settings.languages)
    _, problems = queue.read_item(path, settings, loaded.campaigns, ok, data=text.encode())
    if problems:
        option = {"title": "--title", "date": "--date"}
        raise HeraldError("; ".join(f"{option.get(p.field, p.field)}: {p.message}" for p in problems))
    itemfile.save(path, text, None, settings.state_dir)
    actor = approval.cli_actor()
    with Ledger.open(settings.state_dir) as ledger:
        book.record(ledger, actor, "create", _now(), item_id)
    click.echo(str(path))


@click.command("approve", short_help="Approve an item as it is now.")
@click.argument("item")
@click.pass_obj
def approve(app: App, item: str) -> None:
    """Approve ITEM as it is now: a draft stops being one; any later change to its file withdraws the approval."""
    settings = app.settings
    with Ledger.open(settings.state_dir) as ledger:
        approved = approval.approve(settings, ledger, item, approval.cli_actor(), _now())
    when = approved.publish_at.astimezone(settings.timezone)
    click.echo(f"{item}: approved; it goes out from {when:%Y-%m-%d %H:%M %Z}")


def _channel_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--platform", "channel", type=click.Choice(CHANNELS),
                        help="Only this channel [default: the whole item].")


@click.command("hold", short_help="Keep an item, or one channel of it, from going out.")
@click.argument("item")
@_channel_option()
@click.pass_obj
def hold(app: App, item: str, channel: str | None) -> None:
    """Keep ITEM (or one channel of it) from going out until `bot release`."""
    settings = app.settings
    with Ledger.open(settings.state_dir) as ledger:
        done = approval.hold(settings, ledger, item, channel, approval.cli_actor(), _now())
    where = f" on {channel}" if channel else ""
    click.echo(f"{item}{where}: held" if done else f"{item}{where} was held already")


@click.command("release", short_help="Lift a hold.")
@click.argument("item")
@_channel_option()
@click.pass_obj
def release(app: App, item: str, channel: str | None) -> None:
    """Lift a hold: ITEM goes out at its time (or at the next run, if that has passed and it is not too late)."""
    settings = app.settings
    queue.require_folder(settings)
    with Ledger.open(settings.state_dir) as ledger:
        done = approval.release(settings, ledger, item, channel, approval.cli_actor(), _now())
    where = f" on {channel}" if channel else ""
    if not done:
        raise HeraldError(f"nothing to release: {item}{where} is not held")
    click.echo(f"{item}{where}: released")


@click.command("dismiss", short_help="Stop a missed or failed post from asking for a person.")
@click.argument("item")
@_channel_option()
@click.pass_obj
def dismiss(app: App, item: str, channel: str | None) -> None:
    """Let a missed or failed post be: it stops asking for a person (`bot requeue` still puts it back)."""
    settings = app.settings
    queue.require_folder(settings)
    with Ledger.open(settings.state_dir) as ledger:
        done = approval.dismiss(ledger, item, channel, approval.cli_actor(), _now())
    if not done:
        raise HeraldError(f"nothing to dismiss: {item} has no missed or failed post"
                          + (f" on {channel}" if channel else ""))
    click.echo(f"{item}: dismissed on {', '.join(done)}")


COMMANDS = (new, approve, hold, release, dismiss)
