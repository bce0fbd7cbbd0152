"""Subscribers' pages: subscribe with double opt-in, confirm, unsubscribe in one click (RFC 8058), the archive."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup

from .. import mail, subscribers
from ..channels import Channels
from ..dispatch import send_notice
from . import ARCHIVE_CSP, ledger, rate_limited, settings

log = logging.getLogger("herald")
blueprint = Blueprint("public", __name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _address_key() -> str:
    """Rate-limit key for one address, whoever asks (hashed: the limiter keeps no addresses)."""
    raw = request.form.get("email", "").strip().lower()
    return "address:" + hashlib.sha256(raw.encode()).hexdigest()


@blueprint.get("/")
def home() -> str:
    return render_template("subscribe.html.j2", error=None, email="", name="")


@blueprint.get("/subscribe")
def subscribe_form() -> str:
    return render_template("subscribe.html.j2", error=None, email="", name="")


@blueprint.post("/subscribe")
def subscribe() -> tuple[str, int] | str:
    raw_email = request.form.get("email", "")
    name = subscribers.clean_name(request.form.get("name", ""))
    try:
        email = subscribers.normalize_address(raw_email)
    except ValueError as exc:
        return render_template("subscribe.html.j2", error=f"That address does not look right: {exc}",
                               email=raw_email, name=name), 400
    config = settings()
    if subscribers.request(ledger(), email, name, _now()):
        token = subscribers.make_confirm_token(current_app.config["HERALD_KEY"], email, name)
        _send_confirmation(email, f"{config.effective_public_url}/confirm/{token}")
    # The same answer whoever asks: it never tells whether an address is on the list.
    return render_template("message.html.j2", heading="Check your inbox", lines=[
        f"If {email} can receive {config.title}, a message with a confirmation link is on its way.",
        "Open it and follow the link to start receiving the newsletter. Nothing happens until you do.",
    ])


def _send_confirmation(email: str, link: str) -> None:
    config = settings()
    days = int(config.confirm_max_age.total_seconds() // 86400)
    text = (f"Someone, probably you, asked to receive {config.title} at this address.\n\n"
            f"To confirm, open this link{f' within {days} days' if days else ''}:\n\n{link}\n\n"
            "If you did not ask for it, ignore this message: you will not be subscribed.\n\n"
            f"-- {config.org_name}\n{config.org_address}\n")
    channels = Channels(config)
    try:
        why_not = send_notice(config, channels.get("email"), "confirm", email,
                              f"Confirm your subscription to {config.title}", text, _now())
    except Exception as exc:  # opening the channel failed: the visitor sees the same page either way
        why_not = config.redact(str(exc))
    finally:
        channels.close()
    if why_not:
        log.error("confirmation link not sent: %s", why_not)


rate_limited("public.subscribe", "10 per hour")  # per client
rate_limited("public.subscribe", "3 per day", _address_key)  # per address, from anywhere


@blueprint.get("/confirm/<token>")
def confirm(token: str) -> str:
    config = settings()
    found = subscribers.read_confirm_token(current_app.config["HERALD_KEY"], token,
                                           int(config.confirm_max_age.total_seconds()))
    if found is None:
        abort(404)
    email, name = found
    subscribers.confirm(ledger(), email, name, _now())
    return render_template("message.html.j2", heading="You are subscribed", lines=[
        f"{email} will receive {config.title}.",
        "Every newsletter carries a link to leave it in one click.",
    ])


def _subscriber_for(token: str) -> subscribers.Subscriber | None:
    subscriber_id = subscribers.read_token(current_app.config["HERALD_KEY"], token)
    if subscriber_id is None:
        abort(404)
    return subscribers.get(ledger(), subscriber_id=subscriber_id)


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> str:
    found = _subscriber_for(token)
    done = found is None or found.status == "unsubscribed"
    return render_template("unsubscribe.html.j2", token=token, done=done,
                           email=found.email if found else "")


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> str:
    """One click, whether from the page's button or from a mail client's RFC 8058 POST
    (`List-Unsubscribe=One-Click`): no cookie, no CSRF token, no redirect; 200, and idempotent."""
    found = _subscriber_for(token)
    if found is not None:
        subscribers.unsubscribe(ledger(), found.id, _now())
    return render_template("message.html.j2", heading="You are unsubscribed", lines=[
        f"You will receive no more {settings().title}.",
        Markup('Changed your mind? <a href="/subscribe">Subscribe again</a>.'),
    ])


@blueprint.get("/unsubscribe")
def unsubscribe_help() -> str:
    return render_template("message.html.j2", heading="Unsubscribe", lines=[
        "To leave the newsletter, use the unsubscribe link at the bottom of any newsletter you received: it "
        "works in one click, without a password.",
    ])


@blueprint.get("/archive")
def archive() -> str:
    store = ledger()
    editions = [store.edition(edition_id) for edition_id in reversed(store.editions())]
    rows = [{"id": e.id, "subject": e.subject, "date": (e.slot or e.created_at)[:10], "items": len(e.item_ids)}
            for e in editions if e.recipients or e.slot]
    return render_template("archive.html.j2", editions=rows)


@blueprint.get("/archive/<int:edition_id>")
def archived(edition_id: int) -> tuple[str, int, dict[str, str]]:
    try:
        edition = ledger().edition(edition_id)
    except KeyError:
        abort(404)
    config = settings()
    # No subscriber's token in the public copy: its unsubscribe link explains where the real one is.
    html = edition.html.replace(mail.unsubscribe_url(config.effective_public_url, mail.TOKEN_PLACEHOLDER),
                                f"{config.effective_public_url}/unsubscribe")
    return html, 200, {"Content-Security-Policy": ARCHIVE_CSP}

