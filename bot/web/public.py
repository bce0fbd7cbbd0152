"""Subscribers' pages: subscribe with double opt-in, confirm, unsubscribe in one click (RFC 8058), the language of
one's newsletter, the archive in each language; every fixed string in the page's language (lang)."""

from __future__ import annotations

import gettext
import hashlib
import re
import sys
from datetime import UTC, date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from .. import i18n, mail, subscriber_langs, subscribers
from ..ledger import Edition, Ledger, langs
from ..settings import Settings
from . import ARCHIVE_CSP, embed, lang, ledger, notices, rate_limited, settings
from .lang import _, ngettext

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
    return _form()


# OPTIONS /subscribe is the CORS preflight of embedding sites (embed.preflight), not Flask's automatic answer.
@blueprint.get("/subscribe", provide_automatic_options=False)
def subscribe_form() -> str:
    return _form()


def _form(error: str = "", field: str = "", email: str = "", name: str = "", chosen: str = "") -> str:
    """The subscribe page; after an error, with what was typed and the error beside its field."""
    code = subscriber_langs.code(chosen)
    return render_template("subscribe.html.j2", error=error, field=field, email=email, name=name,
                           languages=lang.choices(code if code in settings().languages else None))


@blueprint.post("/subscribe", provide_automatic_options=False)
def subscribe() -> ResponseReturnValue:
    """Herald's own form (its CSRF token), an embedding site's form or script (its Origin: embed._guard)."""
    raw_email, raw_lang = embed.field("email"), embed.field("lang")
    name = subscribers.clean_name(embed.field("name"))
    try:
        email = subscribers.normalize_address(raw_email)
    except ValueError as exc:
        if embed.wants_json():
            return embed.bad_address(str(exc))
        # Also for an embedding site's form: Herald cannot show the error on that site's page, so on its own.
        return _form(lang.address_problem(str(exc)), "email", raw_email, name, raw_lang), 400
    try:
        chosen = lang.from_form(raw_lang)
    except ValueError as exc:
        if embed.wants_json():
            return embed.bad_field("lang", str(exc))
        return _form(str(exc), "lang", raw_email, name, raw_lang), 400
    if chosen and lang.explicit() is None:
        # The answer in the language chosen for the newsletter, unless the visitor chose this page's (?lang, the menu).
        lang.use(chosen)
    config = settings()
    # The same answer whoever asks, at once: the request is recorded and any link mailed in the background, so
    # neither the page nor the time it takes tells whether an address is on the list. The honeypot filled, the
    # answer is the same too, so that a program learns nothing from it.
    if not embed.field(embed.HONEYPOT):
        notices.of().submit(partial(_ask, config, current_app.config["HERALD_KEY"], email, name, chosen))
    if embed.wants_json() or embed.origin():
        return embed.answer()
    return render_template("message.html.j2", heading=_("Check your inbox"), lines=[
        _("If %(email)s can receive %(newsletter)s, a message with a confirmation link is on its way.")
        % {"email": email, "newsletter": lang.title()},
        _("Open it and follow the link to start receiving the newsletter. Nothing happens until you do."),
    ])


def _ask(config: Settings, key: bytes, email: str, name: str, chosen: str | None) -> None:
    """In the background: record the request and, unless they are subscribed already, mail them a link in the
    language they chose."""
    now = _now()
    with Ledger.open(config.state_dir) as store:
        if not subscribers.request(store, email, name, now, chosen):
            return
        token = subscribers.make_confirm_token(key, email, name, chosen)
        subscribers.link_sent(store, email, token, now, config.confirm_max_age)
    notices.send_confirmation(config, email, f"{config.effective_public_url}/confirm/{token}", now,
                              chosen or config.language)


rate_limited("public.subscribe", "10 per hour")  # per client
rate_limited("public.subscribe", "3 per day", _address_key)  # per address, from anywhere


def _ask_again() -> Markup:  # a fixed link in a translated sentence
    return Markup(_('To receive the newsletter, <a href="/subscribe">ask again</a>: a new link will be mailed.'))


def _confirmation(token: str) -> tuple[str, str, str | None]:
    """(email, name, language chosen) of a well-signed, unexpired confirmation link; 410 for one only too old (its
    signature says Herald made it: nothing secret to hide), the plain 404 for anything else. Its pages are in the
    language chosen with the request (else the one recorded for that address)."""
    key, max_age = current_app.config["HERALD_KEY"], settings().confirm_max_age
    found = subscribers.read_confirm_token(key, token, int(max_age.total_seconds()))
    signed = found or subscribers.read_confirm_token(key, token, sys.maxsize)  # the signature alone, whatever its age
    if signed is None:
        abort(404)
    lang.prefer(_offered(signed[2]) or langs.of(ledger(), signed[0]))
    if found is not None:
        return found
    abort(make_response(render_template("message.html.j2", heading=_("This link has expired"), lines=[
        _("Confirmation links work for %(duration)s after they are mailed, and this one is older. Nothing was "
          "changed.") % {"duration": lang.duration(max_age, lang.current())},
        _ask_again(),
    ]), 410))


def _spent() -> tuple[str, int]:
    return render_template("message.html.j2", heading=_("This link no longer works"), lines=[
        _("It was used already, or it was sent before the address left the list."),
        _ask_again(),
    ]), 410


def _offered(chosen: str | None) -> str | None:
    """The language a confirmation link carries, if BOT_LANGUAGES still lists it."""
    return chosen if chosen in settings().languages else None


@blueprint.get("/confirm/<token>")
def confirm_page(token: str) -> str | tuple[str, int]:
    """A page with one button: opening the link (as mail scanners do, with GET or HEAD) changes nothing."""
    email, _name, chosen = _confirmation(token)
    if not subscribers.link_waiting(ledger(), email, token):
        return _spent()
    config = settings()
    recorded = _offered(chosen) or langs.of(ledger(), email) or config.language
    named = i18n.language_name(recorded, lang.current(), running=True) if len(config.languages) > 1 else ""
    return render_template("confirm.html.j2", token=token, email=email, language=named)


@blueprint.post("/confirm/<token>")
def confirm(token: str) -> str | tuple[str, int]:
    """The button: the link works once, and never for someone who left after it was sent."""
    email, name, chosen = _confirmation(token)
    if not subscribers.confirm(ledger(), email, name, token, _now(), _offered(chosen)):
        return _spent()
    return render_template("message.html.j2", heading=_("You are subscribed"), lines=[
        _("%(email)s will receive %(newsletter)s.") % {"email": email, "newsletter": lang.title()},
        _("Every newsletter carries a link to leave it in one click."),
    ])


def subscriber_for(token: str) -> subscribers.Subscriber:
    """The subscriber a token names, or the plain 404 of any bad token: an erased person's old link names nobody.
    The page is in their language."""
    subscriber_id = subscribers.read_token(current_app.config["HERALD_KEY"], token)
    found = subscribers.get(ledger(), subscriber_id=subscriber_id) if subscriber_id is not None else None
    if found is None:
        abort(404)
    lang.prefer(found.lang)
    return found


@blueprint.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> str:
    found = subscriber_for(token)
    return render_template("unsubscribe.html.j2", token=token, done=found.status == "unsubscribed",
                           email=found.email)


@blueprint.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> str:
    """One click, whether from the page's button or from a mail client's RFC 8058 POST
    (`List-Unsubscribe=One-Click`): no cookie, no CSRF token, no redirect; 200, and idempotent."""
    found = subscriber_for(token)
    subscribers.unsubscribe(ledger(), found.id, _now())
    return render_template("message.html.j2", heading=_("You are unsubscribed"), lines=[
        _("You will receive no more %(newsletter)s.") % {"newsletter": lang.title()},
        Markup(_('Changed your mind? <a href="/subscribe">Subscribe again</a>.')),
    ])


@blueprint.get("/unsubscribe")
def unsubscribe_help() -> str:
    return render_template("message.html.j2", heading=_("Unsubscribe"), lines=[
        _("To leave the newsletter, use the unsubscribe link at the bottom of any newsletter you received: it "
          "works in one click, without a password."),
    ])


def _day(edition: Edition, zone: ZoneInfo) -> date:
    """The edition's day where the newsletter is made, as its masthead says it."""
    return datetime.fromisoformat(edition.slot or edition.created_at).astimezone(zone).date()


@blueprint.get("/archive")
def archive() -> str:
    """Each edition in the reader's language where it was made in it, else in the default one (said in lang)."""
    store, page = ledger(), lang.current()
    editions = [store.edition(edition_id, page) for edition_id in reversed(store.editions())]
    return render_template("archive.html.j2", editions=[_row(e, page) for e in editions if e.recipients or e.slot])


def _row(edition: Edition, page: str) -> dict[str, object]:
    config, count = settings(), len(edition.item_ids)
    day = _day(edition, config.timezone)
    return {"id": edition.id, "subject": edition.subject, "lang": edition.lang or config.language, "iso":
            day.isoformat(), "day": i18n.day(day, page),
            "count": ngettext("%(num)s update", "%(num)s updates", count) % {"num": i18n.number(count, page)}}


_EDITION = f"<int(max={2**63 - 1}):edition_id>"  # larger than SQLite's integers: the plain 404


@blueprint.get(f"/archive/{_EDITION}")
def archived(edition_id: int) -> tuple[str, int, dict[str, str]]:
    """The edition in the reader's language when it was made in it, else in the default language."""
    return _archived(edition_id, None)


@blueprint.get(f"/archive/{_EDITION}/<code>")
def archived_in(edition_id: int, code: str) -> tuple[str, int, dict[str, str]]:
    """The edition in `code`, as its "view in browser" link says: 404 for a language it was not made in."""
    return _archived(edition_id, code)


def _archived(edition_id: int, wanted: str | None) -> tuple[str, int, dict[str, str]]:
    config = settings()
    try:
        edition = ledger().edition(edition_id, wanted or lang.current())
    except KeyError:
        abort(404)
    if wanted is not None and wanted not in (edition.languages or (config.language,)):
        abort(404)
    version = edition.lang or config.language  # an edition made before languages: the default's
    words = lang.translations(version)
    # No subscriber's token in the public copy: an unsubscribe link the note below does not replace (a template of
    # one's own) leads to the page that explains where the real one is; the same for the language link.
    public = config.effective_public_url
    help_url = f"{public}/unsubscribe"
    html = edition.html.replace(mail.unsubscribe_url(public, mail.TOKEN_PLACEHOLDER), help_url).replace(
        mail.language_url(public, mail.TOKEN_PLACEHOLDER), f"{public}/language")
    page = as_web_page(html, f"{public}/archive/{edition_id}",
                       f"{lang.title(version)}, {i18n.day(_day(edition, config.timezone), version)}", help_url,
                       visitor_note(words))
    page = _in_language(_at_end(page, _other_versions(edition, version, words)), version)
    return page, 200, {"Content-Security-Policy": ARCHIVE_CSP}


def _in_language(page: str, code: str) -> str:
    """<html lang> said as the version's language, whatever the template wrote (an old one: nothing)."""
    opening = re.search(r"<html\b[^>]*>", page, re.IGNORECASE)
    if opening is None:
        return page
    tag = re.sub(r'\slang="[^"]*"', "", opening.group(0))
    return page[:opening.start()] + tag[:5] + f' lang="{code}"' + tag[5:] + page[opening.end():]


def _other_versions(edition: Edition, version: str, words: gettext.NullTranslations) -> str:
    """Links to the edition in each of its other languages, each named in itself, at the end of the page."""
    others = [code for code in edition.languages if code != version]
    if not others:
        return ""
    links = Markup(" &middot; ").join(
        Markup('<a href="/archive/{}/{}" lang="{}" hreflang="{}" {}>{}</a>').format(
            edition.id, code, code, code, Markup(_LINK), i18n.language_name(code)) for code in others)
    label = escape(words.gettext("Other languages"))
    sentence = escape(words.gettext("This edition in other languages: %(languages)s")) % {"languages": links}
    return f'<nav aria-label="{label}" class="herald-muted" style="{_BAND}"><div>{sentence}</div></nav>'


def _at_end(page: str, block: str) -> str:
    """`block` at the end of the edition's page (the built-in template's herald-page: its background, and its
    colours in dark mode), else at the end of <main> on a white band."""
    found = _element(page, PAGE) if block else None
    if found is None:
        end = page.rfind("</main>")
        return page[:end] + block.replace(_MUTED, _WHITE) + page[end:]
    return page[:found[2]] + block + page[found[2]:]


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
# The links to the edition's other languages, below its footer and in its type; without the template's page (one's
# own template), on a white band that reads on any page.
PAGE = "herald-page"
_MUTED, _WHITE = "color:#52606d;", "color:#1f2933;background:#ffffff;"
_BAND = (f"margin:0 auto;max-width:552px;padding:8px 24px 24px;{_MUTED}text-align:center;"
         "font:13px/20px -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif")


def visitor_note(words: gettext.NullTranslations) -> str:
    """The note to visitors in the catalog's language, its links styled as the email's."""
    note = words.gettext('<a href="/subscribe">Subscribe</a> to receive the next editions by email, or read '
                         '<a href="/archive">all past editions</a>.')
    return re.sub(r'<a (href="/(?:subscribe|archive)")>', rf"<a \1 {_LINK}>", note)


VISITOR_NOTE = visitor_note(gettext.NullTranslations())
_ONE_DIV = re.compile(r"\s*(<div\b[^>]*>)((?:(?!</?div\b).)*)(</div>)\s*", re.DOTALL)


def as_web_page(email_html: str, address: str, heading: str, unsubscribe_help: str = "",
                note: str = VISITOR_NOTE) -> str:
    """The email as sent, made the web page at `address`: its "view in browser" band gone (or at least its link to
    that very page, in any language: `address`/fr), its note to subscribers (or, in a template without the class,
    the box holding the link to `unsubscribe_help`) replaced by `note`, telling a visitor how to subscribe, all of it
    inside <main>, and an <h1> (the masthead's title and date, looking as in the email). What subscribers received
    is untouched."""
    page = _without(email_html, VIEW_ONLINE)
    self_link = rf'<a\b[^>]*\bhref="{re.escape(str(escape(address)))}(?:/[A-Za-z]+(?:-[A-Za-z0-9]+)*)?"[^>]*>.*?</a>'
    page = re.sub(self_link, "", page, flags=re.DOTALL)
    page = _for_visitors(page, unsubscribe_help, note)
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


def _for_visitors(page: str, unsubscribe_help: str, note: str) -> str:
    """The note to subscribers replaced by `note`, in the same box and type."""
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
    return page[:start] + note + page[end:]
