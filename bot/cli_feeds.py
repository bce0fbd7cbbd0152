"""`bot feed import`: the command line's side of feeds in (bot.feeds), the same import `bot run` makes of BOT_FEEDS."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from . import campaigns as campaign_file
from . import queue
from .errors import quoted
from .platforms import CHANNELS
from .settings import Settings

if TYPE_CHECKING:
    from .cli import App


@click.group("feed", short_help="Import news from RSS and Atom feeds.")
def feed_group() -> None:
    """Import news from RSS and Atom feeds into the queue."""


@feed_group.command("import", short_help="Write one queue file per new entry of a feed.")
@click.argument("source", metavar="URL|FILE")
@click.option("--campaign", metavar="C", help="A campaign of campaigns.yaml for every item written.")
@click.option("--channels", "channel_list", metavar="LIST", help="The items' channels, such as email,mastodon "
              "[default: every channel].")
@click.option("--draft", is_flag=True, help="Write every item as a draft (bot approve sends it).")
@click.pass_obj
def import_command(app: App, source: str, campaign: str | None, channel_list: str | None, draft: bool) -> None:
    """Write one queue file per entry of the RSS, Atom or RDF feed at URL (or in FILE) that was never imported
    before, and print its path; entries imported before are skipped, even when their file was deleted since."""
    from . import approval
    from . import feeds as feeds_in

    options = feeds_in.Options(draft=draft, actor=approval.cli_actor())
    if channel_list is not None:  # both options are checked before anything is fetched or written
        try:
            options = replace(options, channels=parse_channels(channel_list))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--channels") from None
    if campaign is not None:
        why = campaign_problem(app.settings, campaign) if campaign.strip() else "names no campaign"
        if why:
            raise click.BadParameter(f"{quoted(campaign)}: {why}", param_hint="--campaign")
        options = replace(options, campaign=campaign)
    result = feeds_in.import_feed(app.settings, source.strip(), datetime.now(UTC), options)
    for line in result.lines():
        click.echo(line)


def parse_channels(raw: str) -> tuple[str, ...]:
    """`email,mastodon` (commas or spaces), as the queue's `channels`; ValueError names what is not a channel."""
    chosen = [c for c in re.split(r"[\s,]+", raw) if c]
    for name in chosen:
        if name not in CHANNELS:
            raise ValueError(f"{quoted(name)} is not a channel: choose from {', '.join(CHANNELS)}")
    if not chosen:
        raise ValueError(f"names no channel: choose from {', '.join(CHANNELS)}")
    return tuple(c for c in CHANNELS if c in chosen)


def campaign_problem(settings: Settings, key: str) -> str | None:
    """Why items cannot name campaign `key` (not in campaigns.yaml, or broken there), or None when they can."""
    found, _ = campaign_file.read(queue.require_folder(settings) / queue.CAMPAIGNS_FILE, settings.languages)
    if found.missing:
        return f"there is no {found.path}: add the campaign there first"
    if found.unreadable is not None:
        return f"{found.path} cannot be read ({found.unreadable.message}): see bot validate"
    if key in found.broken:
        return f"the campaign {key} has a problem in {found.path} ({found.broken[key].message}): see bot validate"
    if key not in found.good:
        return f"{found.path} has no campaign {key}" + (f": choose from {', '.join(found.good)}" if found.good else "")
    return None


COMMANDS = (feed_group,)
