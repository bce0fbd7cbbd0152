"""Staff pages (/admin): sign in with BOT_ADMIN_PASSWORD, the agenda of coming posts and editions, and requeue."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import report
from ..settings import PLATFORMS
from . import ledger, settings
from .auth import require

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.get("")
@require("editor")
def agenda() -> str:
    data = report.status(settings(), datetime.now(timezone.utc))
    return render_template("admin.html.j2", data=data, notice=session.pop("notice", None))


@blueprint.post("/requeue")
@require("approver")
def requeue() -> Response:
    item = request.form.get("item", "")
    platform = request.form.get("platform", "")
    if platform not in PLATFORMS or not item:
        session["notice"] = "Nothing to requeue."
    else:
        now = datetime.now(timezone.utc)
        done = ledger().requeue_posts(item, [platform], now, now)
        session["notice"] = (f"{item} is back in the schedule on {platform}: it goes out at the next run."
                             if done else f"{item} on {platform} was not missed or failed: nothing to requeue.")
    return redirect("/admin", code=303)
