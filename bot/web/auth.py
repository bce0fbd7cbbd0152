"""Staff sign-in for the web side: who is asking (a server-side session), and what their role lets them do."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from . import rate_limited, settings

ROLES = ("editor", "approver", "admin")  # each may do everything the ones before it may
blueprint = Blueprint("auth", __name__, url_prefix="/admin")


@dataclass(frozen=True, slots=True)
class Staff:
    email: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def current() -> Staff | None:
    """The signed-in staff member of this request, checked against the server's sessions; None if nobody."""
    # INTERFACE STUB: replaced by server-side sessions.
    return Staff("admin", "admin") if session.get("staff") else None


def require(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view for staff of at least `role`: the sign-in page (401) for nobody, 403 for too low a role."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            me = current()
            if me is None:
                return render_template("admin_login.html.j2", error=None), 401
            if not me.can(role):
                return render_template("message.html.j2", heading="Not allowed",
                                       lines=[f"This needs the role {role}; you are signed in as {me.role}."]), 403
            return view(*args, **kwargs)

        return guarded

    return wrap


@blueprint.app_context_processor
def signed_in_staff() -> dict[str, Any]:
    return {"me": current()}


@blueprint.post("/login")
def login() -> Any:
    password = request.form.get("password", "")
    if not check_password_hash(settings().admin_password.reveal(), password):
        return render_template("admin_login.html.j2", error="That password is not right."), 401
    session.clear()
    session["staff"] = True
    session.permanent = True
    return redirect("/admin", code=303)  # a fixed place: nothing the visitor sends chooses where it goes


rate_limited("auth.login", "10 per 15 minutes")


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect("/admin", code=303)
