"""Staff sign-in for the web side: who is asking (a server-side session), and what their role lets them do."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, session
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from .. import staff as accounts
from ..staff import ROLES
from . import ledger, rate_limited, settings

__all__ = ["ROLES", "Staff", "blueprint", "current", "require", "sign_in_again"]

blueprint = Blueprint("auth", __name__, url_prefix="/admin")
WRONG = "That email and password do not match a staff account."  # the same whichever of the two was wrong


@dataclass(frozen=True, slots=True)
class Staff:
    email: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _now() -> datetime:
    return datetime.now(UTC)


def current() -> Staff | None:
    """The signed-in staff member of this request, checked against the server's sessions; None if nobody."""
    if "staff" not in g:
        sid = session.get("sid")
        found = accounts.signed_in(ledger(), settings(), sid, _now()) if isinstance(sid, str) else None
        if found is None and sid is not None:
            session.pop("sid")  # ended on the server: the browser need not keep sending it
        g.staff = Staff(*found) if found else None
    me: Staff | None = g.staff
    return me


def staff_member() -> Staff:
    """The signed-in staff member, in a view behind @require (which answers the signed-out first)."""
    found = current()
    if found is None:  # keeps the type honest: @require never lets this happen
        abort(401)
    return found


def require(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view for staff of at least `role`: the sign-in page (401) for nobody, 403 for too low a role."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            me = current()
            if me is None:
                return login_page(), 401
            if not me.can(role):
                return render_template("message.html.j2", heading="Not allowed",
                                       lines=[f"This needs the role {role}; you are signed in as {me.role}."]), 403
            return view(*args, **kwargs)

        return guarded

    return wrap


def login_page(error: str | None = None, email: str = "") -> str:
    return render_template("admin_login.html.j2", error=error, email=email,
                           first_run=not accounts.any_account(ledger(), settings()))


def sign_in_again(actor: str) -> None:
    """Give this browser a fresh session of `actor` (after its password changed and every session ended)."""
    session.clear()
    session["sid"] = accounts.open_session(ledger(), settings(), actor, _now())
    session.permanent = True


@blueprint.record_once
def _prepare(state: BlueprintSetupState) -> None:
    accounts.dummy_hash()  # made now, so the first unknown email is not slower than the ones after it


@blueprint.app_context_processor
def signed_in_staff() -> dict[str, Any]:
    return {"me": current()}


@blueprint.get("/login")
def login_form() -> Response | str:
    return redirect("/admin", code=303) if current() else login_page()


@blueprint.post("/login")
def login() -> Any:
    email = request.form.get("email", "").strip()[:320]
    actor = accounts.authenticate(ledger(), settings(), email, request.form.get("password", ""))
    if actor is None:
        return login_page(WRONG, email), 401
    session.clear()  # nothing from before the sign-in survives it, the CSRF token included
    session["sid"] = accounts.sign_in(ledger(), settings(), actor, _now())
    session.permanent = True
    return redirect("/admin", code=303)  # a fixed place: nothing the visitor sends chooses where it goes


def _account_key() -> str:
    """Rate-limit key for one account, whoever asks (hashed: the limiter keeps no addresses)."""
    raw = request.form.get("email", "").strip()
    try:
        address = accounts.normalize_email(raw)
    except accounts.AccountError:
        address = raw
    return "staff:" + hashlib.sha256(address.lower().encode()).hexdigest()


def _failed(response: Response) -> bool:
    return response.status_code == 401


rate_limited("auth.login", "10 per 15 minutes", deduct_when=_failed)  # per client
rate_limited("auth.login", "10 per 15 minutes", key=_account_key, deduct_when=_failed)


@blueprint.post("/logout")
def logout() -> Response:
    me = current()
    if me is not None:
        accounts.sign_out(ledger(), me.email, _now())
    session.clear()
    return redirect("/admin", code=303)
