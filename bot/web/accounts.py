"""Staff pages for accounts: your own account and password (/admin/account), and the staff list for admins."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import staff as accounts
from ..calendar_ics import feed_url
from ..staff import ENV_ADMIN, ROLES, AccountError
from . import ledger, rate_limited, settings
from .auth import require, sign_in_again, staff_member

blueprint = Blueprint("accounts", __name__, url_prefix="/admin")
Page = tuple[str, int]


def _now() -> datetime:
    return datetime.now(UTC)


def _said(exc: AccountError) -> str:
    return str(exc).rstrip(".")


def _done(notice: str, where: str) -> Response:
    session["notice"] = notice
    return redirect(where, code=303)


# --- your own account ------------------------------------------------------------------------------


def _account_page(error: str | None = None) -> str:
    me = staff_member()
    return render_template("admin_account.html.j2", env_admin=me.email == ENV_ADMIN, error=error,
                           min_length=accounts.MIN_LENGTH, notice=session.pop("notice", None),
                           feed_url=feed_url(settings(), ledger(), me.email, _now()))


@blueprint.get("/account")
@require("editor")
def account() -> str:
    return _account_page()


@blueprint.post("/account/password")
@require("editor")
def change_password() -> Response | Page:
    me = staff_member()
    if me.email == ENV_ADMIN:
        return _account_page("This account's password is BOT_ADMIN_PASSWORD, in the settings: change it there."), 400
    form = request.form
    if not accounts.check_password(ledger(), me.email, form.get("current", "")):
        return _account_page("Your current password is not right."), 403
    if form.get("new", "") != form.get("repeat", ""):
        return _account_page("The new password and its repetition differ."), 400
    try:
        accounts.change_password(ledger(), me.email, form.get("new", ""), me.email, _now())
    except AccountError as exc:
        return _account_page(f"That new password cannot be used: {_said(exc)}."), 400
    sign_in_again(me.email)  # every session ended with the old password; this browser carries on
    return _done("Your password is changed. Every other browser where you were signed in is signed out.",
                 "/admin/account")


# A stolen session must not become a way to guess the password itself.
rate_limited("accounts.change_password", "10 per 15 minutes", deduct_when=lambda r: r.status_code == 403)


# --- the staff list (admins) ---------------------------------------------------------------------


def _staff_page(error: str | None = None, email: str = "", role: str = "editor") -> str:
    zone = settings().timezone
    people = [(a, a.created_at.astimezone(zone).strftime("%Y-%m-%d")) for a in accounts.listing(ledger())]
    return render_template("admin_staff.html.j2", people=people, roles=ROLES, error=error, email=email,
                           role=role, min_length=accounts.MIN_LENGTH, env_admin=bool(settings().admin_password),
                           notice=session.pop("notice", None))


@blueprint.get("/staff")
@require("admin")
def team() -> str:
    return _staff_page()


@blueprint.post("/staff")
@require("admin")
def add_member() -> Response | Page:
    email, role = request.form.get("email", "").strip()[:320], request.form.get("role", "")
    try:
        address = accounts.add(ledger(), email, role, request.form.get("password", ""), staff_member().email,
                               _now())
    except AccountError as exc:
        return _staff_page(f"Not added: {_said(exc)}.", email, role if role in ROLES else "editor"), 400
    return _done(f"{address} can now sign in as {role}.", "/admin/staff")


@blueprint.post("/staff/remove")
@require("admin")
def remove_member() -> Response | Page:
    try:
        address = accounts.remove(ledger(), request.form.get("email", ""), staff_member().email, _now())
    except AccountError as exc:
        return _staff_page(f"Not removed: {_said(exc)}."), 400
    return _done(f"{address} is removed and signed out everywhere.", "/admin/staff")


@blueprint.post("/staff/role")
@require("admin")
def change_role() -> Response | Page:
    role = request.form.get("role", "")
    try:
        address, before = accounts.set_role(ledger(), request.form.get("email", ""), role, staff_member().email,
                                            _now())
    except AccountError as exc:
        return _staff_page(f"Role not changed: {_said(exc)}."), 400
    said = f"{address} is now {role}." if before != role else f"{address} was {role} already."
    demoted_self = address.lower() == staff_member().email.lower() and role != "admin"
    return _done(said, "/admin" if demoted_self else "/admin/staff")  # the staff page is no longer theirs
