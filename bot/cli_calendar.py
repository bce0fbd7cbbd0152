"""`bot calendar`: the plan of a week or a month on standard output, as text, JSON or iCalendar."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from . import calendar as plan_of
from .calendar_ics import channel_name, to_ics

if TYPE_CHECKING:
    from .cli import App


@click.command("calendar", short_help="Every post and newsletter slot of a week or a month.")
@click.option("--week", "week_key", metavar="YYYY-Www", help="An ISO week, such as 2019-W28 [default: this week].")
@click.option("--month", "month_key", metavar="YYYY-MM", help="A month, such as 2019-07.")
@click.option("--now", "now_raw", metavar="T", help="States as of T [default: now].")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per post or newsletter slot.")
@click.option("--ics", "as_ics", is_flag=True, help="An iCalendar file, one event per post or newsletter slot.")
@click.pass_obj
def calendar(app: App, week_key: str | None, month_key: str | None, now_raw: str | None, as_json: bool,
             as_ics: bool) -> None:
    """Every post and newsletter slot of a week or a month, in BOT_TIMEZONE, each with its state."""
    if week_key and month_key:
        raise click.UsageError("give --week or --month, not both")
    if as_json and as_ics:
        raise click.UsageError("give --json or --ics, not both")
    settings = app.settings
    now = app.now(now_raw)
    span = plan_of.month(month_key) if month_key else plan_of.week(week_key) if week_key else \
        plan_of.week_of(now.astimezone(settings.timezone).date())
    start, end = span.bounds(settings)
    entries = plan_of.plan(settings, start, end, now)
    if as_ics:
        sys.stdout.buffer.write(to_ics(entries, settings, now))
        return
    if as_json:
        click.echo(json.dumps([e.as_json() for e in entries], indent=2, ensure_ascii=False))
        return
    click.echo(f"{span.label} ({settings.timezone.key}); states as of "
               f"{now.astimezone(settings.timezone):%Y-%m-%d %H:%M}")
    if not entries:
        click.echo("\nNothing goes out in this span.")
    day = None
    for entry in entries:
        if entry.when.date() != day:
            day = entry.when.date()
            click.echo(f"\n{day:%a} {day.day} {day:%B %Y}")
        what = entry.item if entry.kind == "post" else \
            f"{len(entry.items)} item{'' if len(entry.items) == 1 else 's'}: {', '.join(entry.items)}"
        click.echo(f"  {entry.when:%H:%M}  {channel_name(entry):<10}  {entry.state:<9}  {what}")
