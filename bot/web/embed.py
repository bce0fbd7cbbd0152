"""Subscribing from the organisation's own sites (BOT_EMBED_ORIGINS): Origin check, CORS, thanks page, snippet."""

# A form on another site cannot carry Herald's CSRF token, so an allowed Origin stands in for it there. A forged
# request from such a site is harmless: double opt-in only mails a link, which does nothing until it is followed.

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from .. import i18n
from ..settings import Settings
from . import csrf, lang, settings
from .lang import _

blueprint = Blueprint("embed", __name__)
HONEYPOT = "website"  # off screen and hidden from screen readers: only a program filling every field fills it
THANKS = "/subscribe/thanks"
SUBSCRIBE = "public.subscribe"


def origin() -> str | None:
    """The request's Origin when it is one of BOT_EMBED_ORIGINS (whole and lowercase, as browsers send it)."""
    sent = request.headers.get("Origin", "").strip().lower()
    return sent if sent and sent in settings().embed_origins else None


def wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def field(name: str) -> str:
    """A field of the request: from a form (urlencoded or multipart), or a JSON object's string, as scripts send it."""
    if not request.is_json:
        return request.form.get(name, "")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # '[[[[...' a hundred thousand deep: not a subscription, and never a 500
        return ""
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def thanks_lines() -> list[str]:
    """What the thanks page says, in its language: never the address, so that it is the same for every address."""
    return [_("If the address you gave can receive %(newsletter)s, a message with a confirmation link is on its "
              "way.") % {"newsletter": lang.title()},
            _("Open it and follow the link to start receiving the newsletter. Nothing happens until you do.")]


def answer() -> ResponseReturnValue:
    """The answer to a request sent by a script (JSON) or by an embedding site's form (to the thanks page)."""
    if wants_json():
        return jsonify(ok=True, message=" ".join(thanks_lines()))
    # A fixed page on Herald: the address is in no URL; the language chosen is, for the page to speak it.
    return redirect(f"{THANKS}?lang={lang.current()}" if len(settings().languages) > 1 else THANKS, code=303)


def bad_address(problem: str) -> ResponseReturnValue:
    # The mail library explains in English: another language says it plainly, as lang.address_problem does.
    if lang.current() == lang.SOURCE:
        return bad_field("email", _("The email address does not look right: %(problem)s") % {"problem": problem})
    return bad_field("email", _("That address does not look right. Check it and try again."))


def bad_field(name: str, message: str) -> ResponseReturnValue:
    """A script's request refused for one of its fields, said in the page's language (its Accept-Language)."""
    return jsonify(ok=False, field=name, message=message), 400


def refused(unnamed: bool = False) -> ResponseReturnValue:
    """403 for a form sent from a site that is not in BOT_EMBED_ORIGINS, without Herald's token. `unnamed`: the
    browser named no site (Origin: null), as it does for a page whose Referrer-Policy is no-referrer or
    same-origin: the organisation's own page may be the one, and its web team needs to know why."""
    first = _("This form was sent from a site that may not send it here, so nothing was done.")
    if unnamed:
        first = _("This form was sent from a page that does not say which site it is on (its Referrer-Policy is "
                  "no-referrer or same-origin), so nothing was done. Its site can send "
                  "strict-origin-when-cross-origin instead.")
    lines = [first, Markup(_('To receive %(newsletter)s, <a href="/subscribe">subscribe on its own page</a>.'))
             % {"newsletter": lang.title()}]
    if wants_json():
        return jsonify(ok=False, message=" ".join(Markup(line).striptags() for line in lines)), 403
    return render_template("message.html.j2", heading=_("Not allowed"), lines=lines), 403


def install(app: Flask) -> None:
    """Check POST /subscribe (exempt from CSRFProtect's own check) and add CORS to the answers for allowed origins."""
    app.before_request(_guard)
    app.after_request(_cors)
    app.register_blueprint(blueprint)


def _guard() -> ResponseReturnValue | None:
    """Herald's own form needs its token as before; an allowed Origin needs none; any other Origin gets 403.
    Before the view, as CSRFProtect's check was: a refused request does not count against the rate limits."""
    if request.endpoint != SUBSCRIBE or request.method != "POST" or origin():
        return None
    try:
        csrf.protect()
    except CSRFError:
        sent = request.headers.get("Origin")
        if sent is None or sent.strip().lower() in _own_origins():
            raise  # Herald's own page, left open too long: the 400 that says to reload it
        return refused(unnamed=sent.strip().lower() == "null")
    return None


def _own_origins() -> set[str]:
    public = urlsplit(settings().effective_public_url)
    return {f"{request.scheme}://{request.host}".lower(), f"{public.scheme}://{public.netloc}".lower()}


def _cors(response: Response) -> Response:
    allowed = origin() if request.path == "/subscribe" else None
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.vary.add("Origin")
    return response


@blueprint.route("/subscribe", methods=["OPTIONS"])
def preflight() -> ResponseReturnValue:
    """The CORS preflight of a script's POST (a JSON body, say): allowed origins only."""
    if origin() is None:
        return refused()
    return Response(status=204, headers={"Access-Control-Allow-Methods": "POST",
                                         "Access-Control-Allow-Headers": "Content-Type, Accept",
                                         "Access-Control-Max-Age": "600"})


@blueprint.get(THANKS)
def thanks() -> str:
    return render_template("message.html.j2", heading=_("Check your inbox"), lines=thanks_lines())


def snippet(config: Settings) -> str:
    """The HTML to paste into the organisation's site: a plain form posting to Herald, no script."""
    languages = [(code, i18n.language_name(code)) for code in config.languages]  # each named in itself
    html = render_template("embed_snippet.html.j2", action=f"{config.effective_public_url}/subscribe",
                           heading=f"Get {config.title} by email", org_name=config.org_name, languages=languages)
    return html.strip() + "\n"
