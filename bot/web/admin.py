"""Staff pages (/admin): the agenda, approvers' decisions on items, and the activity log.

Every action is checked on the server against the signed-in person's role."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import approval, report
from ..clock import from_utc_iso
from ..errors import HeraldError
from ..ledger import review as book
from . import embed, ledger, settings
from .auth import require, staff_member

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


def _now() -> datetime:
    return datetime.now(UTC)


@blueprint.get("")
@require("editor")
def agenda() -> str:
    config = settings()
    data = report.status(config, _now())
    return render_template("admin.html.j2", data=data, notice=session.pop("notice", None),
                           snippet=embed.snippet(config), embed_origins=config.embed_origins)


def _back(item_id: str) -> Response:
    """Back to the page the form was on: the agenda or the item; a fixed choice, never a visitor-given address."""
    if request.form.get("back") == "agenda":
        return redirect("/admin", code=303)
    return redirect(f"/admin/items/{item_id}", code=303)


def _note(act: Callable[[str | None], str]) -> None:
    """Take the decision for the form's `platform` (none: the whole item) and say on the next page how it went."""
    try:
        session["notice"] = act(request.form.get("platform") or None)
    except HeraldError as exc:
        session["notice"] = str(exc)


def _decide(item_id: str, act: Callable[[str | None], str]) -> Response:
    _note(act)
    return _back(item_id)


@blueprint.post("/items/<item_id>/approve")
@require("approver")
def approve(item_id: str) -> Response:
    def act(_: str | None) -> str:
        item = approval.approve(settings(), ledger(), item_id, staff_member().email, _now(),
                                seen=request.form.get("version"))
        when = item.publish_at.astimezone(settings().timezone)
        return f"Approved: it goes out from {when:%Y-%m-%d %H:%M}."

    return _decide(item_id, act)


@blueprint.post("/items/<item_id>/hold")
@require("approver")
def hold(item_id: str) -> Response:
    def act(channel: str | None) -> str:
        done = approval.hold(settings(), ledger(), item_id, channel, staff_member().email, _now())
        where = f" on {channel}" if channel else ""
        return f"Held{where} until someone releases it." if done else f"It was held{where} already."

    return _decide(item_id, act)


@blueprint.post("/items/<item_id>/release")
@require("approver")
def release(item_id: str) -> Response:
    def act(channel: str | None) -> str:
        done = approval.release(settings(), ledger(), item_id, channel, staff_member().email, _now())
        where = f" on {channel}" if channel else ""
        return f"Released{where}: it goes out at its time." if done else f"It was not held{where}."

    return _decide(item_id, act)


@blueprint.post("/items/<item_id>/dismiss")
@require("approver")
def dismiss(item_id: str) -> Response:
    def act(channel: str | None) -> str:
        done = approval.dismiss(ledger(), item_id, channel, staff_member().email, _now())
        return f"Dismissed on {', '.join(done)}: it no longer asks for a person." if done else \
            "Nothing to dismiss: no missed or failed post."

    return _decide(item_id, act)


@blueprint.post("/requeue")
@require("approver")
def requeue() -> Response:
    item = request.form.get("item", "")
    platform = request.form.get("platform", "")

    def act(channel: str | None) -> str:
        now = _now()
        done = approval.requeue(ledger(), item, channel, now, staff_member().email, now)
        return (f"{item} is back in the schedule on {', '.join(done)}: it goes out at the next run." if done
                else f"{item} on {platform} was not missed or failed: nothing to requeue.")

    if item and platform:
        _note(act)
    else:
        session["notice"] = "Nothing to requeue."
    return redirect("/admin", code=303)


@blueprint.get("/activity")
@require("approver")
def activity() -> str:
    tz = settings().timezone
    rows = [{"when": f"{from_utc_iso(a.at).astimezone(tz):%Y-%m-%d %H:%M}", "actor": a.actor, "action": a.action,
             "item": a.item_id or "", "detail": a.detail} for a in book.activity(ledger(), 500)]
    return render_template("admin_activity.html.j2", rows=rows, zone=tz.key)
