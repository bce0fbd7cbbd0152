"""`bot media add`: the command line's door to the media library (bot.media), whose pictures items name as media/NAME.

Standard output carries only the path to put in an item, so that scripts can take it; what a person reads (the
size it was stored at, what changed, the lines to paste with --alt) goes to standard error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import media

if TYPE_CHECKING:
    from .cli import App

ALT_MAX = 1000  # the queue's limit for image_alt


@click.group("media", short_help="Add pictures to the media library.")
def media_group() -> None:
    """Pictures for items: stored upright, without metadata, within every platform's limits."""


@media_group.command("add", short_help="Store a picture in the media library; print its path.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--alt", default="", help="The picture's alt text: also prints the two lines to paste into an item.")
@click.pass_obj
def add(app: App, file: Path, alt: str) -> None:
    """Store a JPEG, PNG, WebP or GIF (at most 20 MB) in the media library and print its path (media/NAME)."""
    alt = " ".join(alt.split())
    if len(alt) > ALT_MAX:
        raise click.BadParameter(f"is {len(alt)} characters long; at most {ALT_MAX}", param_hint="--alt")
    stored = media.store(app.settings, media.read_file(file), str(file))
    click.echo(stored.image)
    click.echo(f"stored {stored.path}: {stored.width} x {stored.height} px, {stored.size:,} bytes, "
               "without metadata", err=True)
    for note in stored.notes:
        click.echo(f"note: {note}", err=True)
    if alt:
        click.echo("In the item's front matter:\n" + media.hint(stored.image, alt), err=True)
