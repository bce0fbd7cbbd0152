"""Staff pages (/admin): sign in with BOT_ADMIN_PASSWORD, the agenda of coming posts and editions, and requeue."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from .. import report
from ..settings import PLATFORMS
from . import ledger, rate_limited, settings

blueprint = Blueprint("admin", __name__, url_prefix="/admin")


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not session.get("staff"):
            return render_template("admin_login.html.j2", error=None), 401
        return view(*args, **kwargs)

    return guarded


@blueprint.post("/login")
def login() -> Any:
    password = request.form.get("password", "")
    if not check_password_hash(settings().admin_password.reveal(), password):
        return render_template("admin_login.html.j2", error="That password is not right."), 401
    session.clear()
    session["staff"] = True
    session.permanent = True
    return redirect("/admin", code=303)  # a fixed place: nothing the visitor sends chooses where it goes


rate_limited("admin.login", "10 per 15 minutes")


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect("/admin", code=303)


@blueprint.get("")
@signed_in
def agenda() -> str:
    data = report.status(settings(), datetime.now(timezone.utc))
    return render_template("admin.html.j2", data=data, notice=session.pop("notice", None))


@blueprint.post("/requeue")
@signed_in
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
