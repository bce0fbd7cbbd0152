"""Subscribers' pages: subscribe with double opt-in, confirm, unsubscribe in one click (RFC 8058), the archive."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from functools import partial

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup, escape

from .. import mail, subscribers
from ..channels import Channels
from ..dispatch import send_notice
from ..ledger import Ledger
from ..render import day_label
from ..settings import Settings
from . import ARCHIVE_CSP, ledger, notices, rate_limited, settings

log = logging.getLogger("herald")
blueprint = Blueprint("public", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _address_key() -> str:
    """Rate-limit key for one address, whoever asks and however it is spelt (normalised as it is stored, so that
    full-width letters or another case are the same mailbox; hashed: the limiter keeps no addresses)."""
    raw = request.form.get("email", "")
    try:
        address = subscribers.normalize_address(raw)
    except ValueError:  # refused with a 400 anyway; still counted, under what was typed
        address = raw.strip()
    return "address:" + hashlib.sha256(address.lower().encode()).hexdigest()


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
    # The same answer whoever asks, at once: the request is recorded and any link mailed in the background, so
    # neither the page nor the time it takes tells whether an address is on the list.
    notices.of().submit(partial(_ask, config, current_app.config["HERALD_KEY"], email, name))
    return render_template("message.html.j2", heading="Check your inbox", lines=[
        f"If {email} can receive {config.title}, a message with a confirmation link is on its way.",
        "Open it and follow the link to start receiving the newsletter. Nothing happens until you do.",
    ])


def _ask(config: Settings, key: bytes, email: str, name: str) -> None:
    """In the background: record the request and, unless they are subscribed already, mail them a link."""
    now = _now()
    with Ledger.open(config.state_dir) as store:
        if not subscribers.request(store, email, name, now):
            return
        token = subscribers.make_confirm_token(key, email, name)
        subscribers.link_sent(store, email, token, now, config.confirm_max_age)
    _send_confirmation(config, email, f"{config.effective_public_url}/confirm/{token}")


def _send_confirmation(config: Settings, email: str, link: str) -> None:
    days = int(config.confirm_max_age.total_seconds() // 86400)
    text = (f"Someone, probably you, asked to receive {config.title} at this address.\n\n"
            f"To confirm, open this link{f' within {days} days' if days else ''} and press Confirm:\n\n{link}\n\n"
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


def _confirmation(token: str) -> tuple[str, str]:
    """(email, name) of a well-signed, unexpired confirmation link; the plain 404 otherwise."""
    found = subscribers.read_confirm_token(current_app.config["HERALD_KEY"], token,
                                           int(settings().confirm_max_age.total_seconds()))
    if found is None:
        abort(404)
    return found


def _spent() -> tuple[str, int]:
    return render_template("message.html.j2", heading="This link no longer works", lines=[
        "It was used already, or it was sent before the address left the list.",
        Markup('To receive the newsletter, <a href="/subscribe">ask again</a>: a new link will be mailed.'),
    ]), 410


@blueprint.get("/confirm/<token>")
def confirm_page(token: str) -> str | tuple[str, int]:
    """A page with one button: opening the link (as mail scanners do, with GET or HEAD) changes nothing."""
    email, _ = _confirmation(token)
    if not subscribers.link_waiting(ledger(), email, token):
        return _spent()
    return render_template("confirm.html.j2", token=token, email=email)


@blueprint.post("/confirm/<token>")
def confirm(token: str) -> str | tuple[str, int]:
    """The button: the link works once, and never for someone who left after it was sent."""
    email, name = _confirmation(token)
    if not subscribers.confirm(ledger(), email, name, token, _now()):
        return _spent()
    return render_template("message.html.j2", heading="You are subscribed", lines=[
        f"{email} will receive {settings().title}.",
        "Every newsletter carries a link to leave it in one click.",
    ])


def _subscriber_for(token: str) -> subscribers.Subscriber:
    """The subscriber a token names, or the plain 404 of any bad token: an erased person's old link names nobody."""
    subscriber_id = subscribers.read_token(current_app.config["HERALD_KEY"], token)
    found = subscribers.get(ledger(), subscriber_id=subscriber_id) if subscriber_id is not None else None
    if found is None:
        abort(404)
    return found


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> str:
    found = _subscriber_for(token)
    return render_template("unsubscribe.html.j2", token=token, done=found.status == "unsubscribed",
                           email=found.email)


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> str:
    """One click, whether from the page's button or from a mail client's RFC 8058 POST
    (`List-Unsubscribe=One-Click`): no cookie, no CSRF token, no redirect; 200, and idempotent."""
    found = _subscriber_for(token)
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
    rows = [{"id": e.id, "subject": e.subject, "date": (e.slot or e.created_at)[:10], "count": len(e.item_ids)}
            for e in editions if e.recipients or e.slot]
    return render_template("archive.html.j2", editions=rows)


@blueprint.get(f"/archive/<int(max={2**63 - 1}):edition_id>")  # larger than SQLite's integers: the plain 404
def archived(edition_id: int) -> tuple[str, int, dict[str, str]]:
    try:
        edition = ledger().edition(edition_id)
    except KeyError:
        abort(404)
    config = settings()
    # No subscriber's token in the public copy: its unsubscribe link explains where the real one is.
    html = edition.html.replace(mail.unsubscribe_url(config.effective_public_url, mail.TOKEN_PLACEHOLDER),
                                f"{config.effective_public_url}/unsubscribe")
    day = datetime.fromisoformat(edition.slot or edition.created_at).astimezone(config.timezone).date()
    page = as_web_page(html, f"{config.effective_public_url}/archive/{edition_id}", f"{config.title}, {day_label(day)}")
    return page, 200, {"Content-Security-Policy": ARCHIVE_CSP}


# The masthead's text (the built-in template's herald-masthead), whose box becomes the page's <h1>.
_MASTHEAD = re.compile(r'(<td\b[^>]*\bclass="[^"]*\bherald-masthead\b[^"]*"[^>]*>\s*)<div style="([^"]*)">(.*?)</div>',
                       re.DOTALL)
_BODY = re.compile(r"<body\b[^>]*>")
# For an edition whose template has no masthead: a heading of its own, in colours that read on any page.
_HEADING = ('<h1 style="margin:0 auto;max-width:552px;padding:16px 24px;background:#ffffff;color:#1f2933;'
            "font:700 20px/28px -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif\">{}</h1>")


def as_web_page(email_html: str, address: str, heading: str) -> str:
    """The email as sent, made the web page at `address`: its link to that very page gone, all of it inside <main>,
    and an <h1> (the masthead's title and date, looking as in the email). What subscribers received is untouched."""
    self_link = rf'<a\b[^>]*\bhref="{re.escape(str(escape(address)))}"[^>]*>.*?</a>'
    page = re.sub(self_link, "", email_html, flags=re.DOTALL)
    page, found = _MASTHEAD.subn(r'\1<h1 style="margin:0;\2">\3</h1>', page, count=1)
    opening = "<main>" + ("" if found or "<h1" in page else _HEADING.format(escape(heading)))
    body = _BODY.search(page)
    start = body.end() if body else 0
    end = page.rfind("</body>")
    end = end if end >= start else len(page)
    return page[:start] + opening + page[start:end] + "</main>" + page[end:]

