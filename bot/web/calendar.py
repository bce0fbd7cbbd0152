"""Staff pages for the plan (/admin/calendar, a week or a month) and each staff member's iCalendar feed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import calendar as plan_of
from ..calendar_ics import channel_name, owner, to_ics
from ..errors import ConfigError
from ..ledger import feeds
from ..ledger import review as book
from . import ledger, rate_limited, settings
from .auth import require, staff_member

blueprint = Blueprint("calendar", __name__)
FEED_PAST = timedelta(days=31)
FEED_AHEAD = timedelta(days=92)
STATE_WORDS = {"draft": "draft", "waiting": "waits for approval", "held": "held", "scheduled": "scheduled",
               "sent": "sent", "failed": "failed", "missed": "missed", "dismissed": "dismissed"}


def _now() -> datetime:
    return datetime.now(UTC)


@blueprint.get("/admin/calendar")
@require("editor")
def page() -> str:
    cfg = settings()
    now = _now()
    try:
        if request.args.get("month"):
            span = plan_of.month(request.args["month"])
        elif request.args.get("week"):
            span = plan_of.week(request.args["week"])
        else:
            span = plan_of.week_of(now.astimezone(cfg.timezone).date())
    except ConfigError:
        abort(404)
    start, end = span.bounds(cfg)
    entries = plan_of.plan(cfg, start, end, now)
    by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in span.dates}
    for entry in entries:
        by_day.setdefault(entry.when.date(), []).append({
            "time": f"{entry.when:%H:%M}", "kind": entry.kind, "channel": channel_name(entry),
            "platform": entry.platform or "newsletter", "state": entry.state, "state_words": STATE_WORDS[entry.state],
            "title": entry.title, "item": entry.item, "item_ids": list(entry.items), "detail": entry.detail})
    today = now.astimezone(cfg.timezone).date()
    days = [{"date": d, "label": f"{d:%a} {d.day} {d:%b}", "long": f"{d:%A} {d.day} {d:%B %Y}",
             "entries": by_day[d], "today": d == today} for d in span.dates]
    this = plan_of.week_of(today).key if span.kind == "week" else f"{today:%Y-%m}"
    return render_template("admin_calendar.html.j2", span=span, days=days, zone=cfg.timezone.key,
                           lead=span.first.isoweekday(), this=this, week_of_month=plan_of.week_of(span.first).key,
                           month_of_week=f"{span.first:%Y-%m}", count=len(entries))


@blueprint.post("/admin/account/calendar-feed")
@require("editor")
def renew_feed() -> Response:
    who = staff_member().email
    feeds.renew(ledger(), who, _now())
    book.record(ledger(), who, "feed-renew", _now())
    session["notice"] = "Your calendar feed has a new address; the old one no longer works."
    return redirect("/admin/account", code=303)


@blueprint.get("/calendar/<token>.ics")
def feed(token: str) -> tuple[bytes, int, dict[str, str]]:
    """The plan from a month ago to three months ahead, for a calendar app; the secret address is the key."""
    cfg = settings()
    if owner(cfg, ledger(), token) is None:
        abort(404)
    now = _now()
    entries = plan_of.plan(cfg, now - FEED_PAST, now + FEED_AHEAD, now)
    return to_ics(entries, cfg, now), 200, {"Content-Type": "text/calendar; charset=utf-8",
                                            "Cache-Control": "private, no-cache"}


rate_limited("calendar.feed", "120 per hour")
