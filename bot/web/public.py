"""Subscribers' pages: subscribe with double opt-in, confirm, unsubscribe in one click (RFC 8058), the archive."""

from __future__ import annotations

import hashlib
import re
import sys
from datetime import UTC, date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from .. import mail, subscribers
from ..clock import human_duration
from ..ledger import Edition, Ledger
from ..render import day_label
from ..settings import Settings
from . import ARCHIVE_CSP, embed, ledger, notices, rate_limited, settings

blueprint = Blueprint("public", __name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _address_key() -> str:
    """Rate-limit key for one address, whoever asks and however it is spelt (normalised as it is stored, so that
    full-width letters or another case are the same mailbox; hashed: the limiter keeps no addresses)."""
    raw = embed.field("email")
    try:
        address = subscribers.normalize_address(raw)
    except ValueError:  # refused with a 400 anyway; still counted, under what was typed
        address = raw.strip()
    return "address:" + hashlib.sha256(address.lower().encode()).hexdigest()


@blueprint.get("/")
def home() -> str:
    return render_template("subscribe.html.j2", error=None, email="", name="")


# OPTIONS /subscribe is the CORS preflight of embedding sites (embed.preflight), not Flask's automatic answer.
@blueprint.get("/subscribe", provide_automatic_options=False)
def subscribe_form() -> str:
    return render_template("subscribe.html.j2", error=None, email="", name="")


@blueprint.post("/subscribe", provide_automatic_options=False)
def subscribe() -> ResponseReturnValue:
    """Herald's own form (its CSRF token), an embedding site's form or script (its Origin: embed._guard)."""
    raw_email = embed.field("email")
    name = subscribers.clean_name(embed.field("name"))
    try:
        email = subscribers.normalize_address(raw_email)
    except ValueError as exc:
        if embed.wants_json():
            return embed.bad_address(str(exc))
        # Also for an embedding site's form: Herald cannot show the error on that site's page, so on its own.
        return render_template("subscribe.html.j2", error=f"That address does not look right: {exc}",
                               email=raw_email, name=name), 400
    config = settings()
    # The same answer whoever asks, at once: the request is recorded and any link mailed in the background, so
    # neither the page nor the time it takes tells whether an address is on the list. The honeypot filled, the
    # answer is the same too, so that a program learns nothing from it.
    if not embed.field(embed.HONEYPOT):
        notices.of().submit(partial(_ask, config, current_app.config["HERALD_KEY"], email, name))
    if embed.wants_json() or embed.origin():
        return embed.answer()
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
    notices.send_confirmation(config, email, f"{config.effective_public_url}/confirm/{token}", now)


rate_limited("public.subscribe", "10 per hour")  # per client
rate_limited("public.subscribe", "3 per day", _address_key)  # per address, from anywhere


def _confirmation(token: str) -> tuple[str, str]:
    """(email, name) of a well-signed, unexpired confirmation link; 410 for one only too old (its signature says
    Herald made it: nothing secret to hide), the plain 404 for anything else."""
    key, max_age = current_app.config["HERALD_KEY"], settings().confirm_max_age
    found = subscribers.read_confirm_token(key, token, int(max_age.total_seconds()))
    if found is not None:
        return found
    if subscribers.read_confirm_token(key, token, sys.maxsize) is None:  # the signature alone, whatever its age
        abort(404)
    abort(make_response(render_template("message.html.j2", heading="This link has expired", lines=[
        f"Confirmation links work for {human_duration(max_age)} after they are mailed, and this one is older. "
        "Nothing was changed.",
        Markup('To receive the newsletter, <a href="/subscribe">ask again</a>: a new link will be mailed.'),
    ]), 410))


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


def _day(edition: Edition, zone: ZoneInfo) -> date:
    """The edition's day where the newsletter is made, as its masthead says it."""
    return datetime.fromisoformat(edition.slot or edition.created_at).astimezone(zone).date()


@blueprint.get("/archive")
def archive() -> str:
    store, zone = ledger(), settings().timezone
    editions = [store.edition(edition_id) for edition_id in reversed(store.editions())]
    rows = [{"id": e.id, "subject": e.subject, "day": day_label(_day(e, zone)), "iso": _day(e, zone).isoformat(),
             "count": len(e.item_ids)} for e in editions if e.recipients or e.slot]
    return render_template("archive.html.j2", editions=rows)


@blueprint.get(f"/archive/<int(max={2**63 - 1}):edition_id>")  # larger than SQLite's integers: the plain 404
def archived(edition_id: int) -> tuple[str, int, dict[str, str]]:
    try:
        edition = ledger().edition(edition_id)
    except KeyError:
        abort(404)
    config = settings()
    # No subscriber's token in the public copy: an unsubscribe link the note below does not replace (a template of
    # one's own) leads to the page that explains where the real one is.
    help_url = f"{config.effective_public_url}/unsubscribe"
    html = edition.html.replace(mail.unsubscribe_url(config.effective_public_url, mail.TOKEN_PLACEHOLDER), help_url)
    page = as_web_page(html, f"{config.effective_public_url}/archive/{edition_id}",
                       f"{config.title}, {day_label(_day(edition, config.timezone))}", help_url)
    return page, 200, {"Content-Security-Policy": ARCHIVE_CSP}


# The masthead's text (the built-in template's herald-masthead), whose box becomes the page's <h1>.
_MASTHEAD = re.compile(r'(<td\b[^>]*\bclass="[^"]*\bherald-masthead\b[^"]*"[^>]*>\s*)<div style="([^"]*)">(.*?)</div>',
                       re.DOTALL)
_BODY = re.compile(r"<body\b[^>]*>")
# For an edition whose template has no masthead: a heading of its own, in colours that read on any page.
_HEADING = ('<h1 style="margin:0 auto;max-width:552px;padding:16px 24px;background:#ffffff;color:#1f2933;'
            "font:700 20px/28px -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif\">{}</h1>")
# The template's "view in browser" band, gone from the page it leads to (with the Outlook-only table around it),
# and its sentence to subscribers, which a visitor reads instead as where to subscribe and the other editions.
VIEW_ONLINE, SUBSCRIBER_NOTE = "herald-view-online", "herald-subscriber-note"
_OUTLOOK_END = "<!--[if mso | IE]></td></tr></table><![endif]-->"
_LINK = 'style="color:#0b5cad;text-decoration:underline"'  # underlined: told apart from the words without colour
VISITOR_NOTE = (f'<a href="/subscribe" {_LINK}>Subscribe</a> to receive the next editions by email, or read '
                f'<a href="/archive" {_LINK}>all past editions</a>.')
_ONE_DIV = re.compile(r"\s*(<div\b[^>]*>)((?:(?!</?div\b).)*)(</div>)\s*", re.DOTALL)


def as_web_page(email_html: str, address: str, heading: str, unsubscribe_help: str = "") -> str:
    """The email as sent, made the web page at `address`: its "view in browser" band gone (or at least its link to
    that very page), its note to subscribers (or, in a template without the class, the box holding the link to
    `unsubscribe_help`) telling a visitor how to subscribe, all of it inside <main>, and an <h1> (the masthead's
    title and date, looking as in the email). What subscribers received is untouched."""
    page = _without(email_html, VIEW_ONLINE)
    self_link = rf'<a\b[^>]*\bhref="{re.escape(str(escape(address)))}"[^>]*>.*?</a>'
    page = re.sub(self_link, "", page, flags=re.DOTALL)
    page = _for_visitors(page, unsubscribe_help)
    page, found = _MASTHEAD.subn(r'\1<h1 style="margin:0;\2">\3</h1>', page, count=1)
    opening = "<main>" + ("" if found or "<h1" in page else _HEADING.format(escape(heading)))
    body = _BODY.search(page)
    start = body.end() if body else 0
    end = page.rfind("</body>")
    end = end if end >= start else len(page)
    return page[:start] + opening + page[start:end] + "</main>" + page[end:]


def _element(page: str, css_class: str) -> tuple[int, int, int, int] | None:
    """(start, content start, content end, end) of the first element with `css_class`, or None."""
    opening = re.search(rf'<([a-zA-Z][a-zA-Z0-9]*)\b[^>]*\bclass="(?:[^"]*\s)?{css_class}(?:\s[^"]*)?"[^>]*>', page)
    if opening is None:
        return None
    depth = 0
    # Comments are skipped: Outlook's conditional ones hold tags of their own.
    for tag in re.finditer(rf"<!--.*?-->|<(/?){opening.group(1)}\b[^>]*>", page[opening.start():],
                           re.DOTALL | re.IGNORECASE):
        if tag.group(1) is not None:
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                return opening.start(), opening.end(), opening.start() + tag.start(), opening.start() + tag.end()
    return None


def _without(page: str, css_class: str) -> str:
    """`page` without the first element of `css_class`, and mjml's Outlook-only table around it if there is one."""
    found = _element(page, css_class)
    if found is None:
        return page
    start, _, _, end = found
    outlook = page.rfind("<!--[if mso", 0, start)
    if (outlook >= 0 and f'class="{css_class}-outlook"' in page[outlook:start]
            and page.endswith("<![endif]-->", 0, start) and page.startswith(_OUTLOOK_END, end)):
        start, end = outlook, end + len(_OUTLOOK_END)
    return page[:start] + page[end:]


def _for_visitors(page: str, unsubscribe_help: str) -> str:
    """The note to subscribers replaced by VISITOR_NOTE, in the same box and type."""
    found = _element(page, SUBSCRIBER_NOTE)
    if found is not None:
        start, end = found[1], found[2]
    else:  # a template of one's own without the class: the innermost <div> around the unsubscribe link
        link = page.find(f'href="{escape(unsubscribe_help)}"') if unsubscribe_help else -1
        opening = page.rfind("<div", 0, link) if link >= 0 else -1
        start, end = page.find(">", opening) + 1, page.find("</div>", link)
        if opening < 0 or end < 0 or re.search(r"</?div\b", page[start:end]):
            return page
    box = _ONE_DIV.fullmatch(page, start, end)
    if box is not None:  # mj-text's <td><div style>: its type kept
        start, end = box.end(1), box.start(3)
    return page[:start] + VISITOR_NOTE + page[end:]
