"""web, public side: each page's language (?lang, the `lang` cookie, Accept-Language), and a subscriber's own page."""

# A visitor's own choice wins over what their browser asks for, and both over the default language. Pages about one
# subscriber (confirm, unsubscribe, language) are in the language recorded for them unless the visitor chose. Staff
# pages stay in English: their strings are not in the `web` catalog. /language/<token>, linked from each newsletter,
# is where a subscriber chooses the language their newsletter comes in.

from __future__ import annotations

import gettext as _gettext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.units import format_unit
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    has_app_context,
    has_request_context,
    render_template,
    request,
)

from .. import i18n, subscriber_langs
from ..clock import human_duration
from ..ledger import langs
from ..render import title_in
from ..settings import Settings
from ..subscribers import Subscriber

COOKIE = "lang"
COOKIE_AGE = 365 * 86400
SOURCE = "en"  # the language the strings are written in, and staff pages' only one
STAFF = "/admin"
DOMAIN = "web"
blueprint = Blueprint("language", __name__)


@dataclass(frozen=True, slots=True)
class Choice:
    """One language as a menu offers it: named in itself, whatever the page's language."""

    code: str
    name: str
    current: bool
    dir: str


def _settings() -> Settings:
    configured: Settings = current_app.config["HERALD"]
    return configured


def _languages() -> tuple[str, ...]:
    return _settings().languages


def staff_page() -> bool:
    return has_request_context() and request.path.startswith(STAFF)


def explicit() -> str | None:
    """The language the visitor chose on this site: ?lang on this request, else the cookie a previous one set."""
    for value in (request.args.get(COOKIE, ""), request.cookies.get(COOKIE, "")):
        if value in _languages():
            return value
    return None


def _browser() -> str:
    """The first of BOT_LANGUAGES the browser asks for (Werkzeug's matching: fr-CH is fr, q=0 is "not this one"),
    else the default."""
    languages = _languages()
    found: str = request.accept_languages.best_match(languages, default=languages[0])
    return found


def current() -> str:
    """This page's language: chosen, else the browser's, else the default; English on staff pages; the default
    outside a request (and English outside an app)."""
    if not has_request_context():
        return _settings().language if has_app_context() else SOURCE
    if "herald_lang" not in g:
        g.herald_lang = SOURCE if staff_page() else explicit() or _browser()
    found: str = g.herald_lang
    return found


def prefer(recorded: str | None) -> None:
    """A page about one subscriber: in the language recorded for them (None: the default), unless the visitor
    chose one here."""
    if explicit() is None:
        g.herald_lang = recorded if recorded in _languages() else _settings().language


def use(code: str) -> None:
    """This page in `code`, whatever was chosen: the answer to choosing it."""
    g.herald_lang = code


def translations(lang: str | None = None) -> _gettext.NullTranslations:
    if lang is None and staff_page():
        return _gettext.NullTranslations()
    return i18n.translations(lang or current(), DOMAIN)


def gettext(message: str) -> str:
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations().ngettext(singular, plural, n)


_ = gettext


def title(lang: str | None = None) -> str:
    """The newsletter's name in `lang` (default: this page's), as its editions in that language call it."""
    return title_in(_settings(), lang or current())


def direction(code: str) -> str:
    """'rtl' for a language written right to left (Arabic, Hebrew...), else 'ltr'."""
    try:
        return "rtl" if Locale.parse(code).character_order == "right-to-left" else "ltr"
    except (UnknownLocaleError, ValueError):
        return "ltr"


def choices(selected: str | None = None) -> list[Choice]:
    """Every language of the organisation, `selected` (default: this page's) marked current."""
    chosen = selected or current()
    return [Choice(code, i18n.language_name(code), code == chosen, direction(code)) for code in _languages()]


def duration(delta: timedelta, lang: str) -> str:
    """clock.human_duration in `lang`: 3 days, 3 jours, 3 días; 5 hours 20 minutes."""
    return human_duration(delta, lambda n, unit: format_unit(n, f"duration-{unit}", length="long", locale=lang))


def from_form(raw: str) -> str | None:
    """The language a subscribe form or script sent (`fr`, `FR`, a site's `fr-CA`), to record: None when there is
    only one language (NULL, the default whatever it becomes), this page's when the field is missing or empty;
    ValueError, in this page's language, for any other value."""
    languages = _languages()
    if not raw.strip():
        return current() if len(languages) > 1 else None
    found = subscriber_langs.code(raw)
    if found not in languages:
        names = format_list([i18n.language_name(code) for code in languages], style="or", locale=current())
        raise ValueError(_("The newsletter is not written in that language. Choose %(languages)s.")
                         % {"languages": names})
    return found if len(languages) > 1 else None


def address_problem(problem: str) -> str:
    """What is wrong with a typed address: the mail library's explanation is in English, so only an English page
    shows it; another language says it plainly."""
    if current() == SOURCE:
        return _("That address does not look right: %(problem)s") % {"problem": problem}
    return _("That address does not look right. Check it and try again.")


def install(app: Flask) -> None:
    """Templates write {{ _("...") }} and {% trans %}, in the page's language; the menu and <html lang> come
    from the context; a ?lang choice is remembered in a cookie."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    app.context_processor(_context)
    app.after_request(_remember)
    app.register_blueprint(blueprint)
    from . import csrf

    csrf.exempt(choose)  # as unsubscribe: the token in the address is the key, and the answer changes nothing else


def _context() -> dict[str, Any]:
    page = current()
    menu = choices() if not staff_page() and len(_languages()) > 1 else []
    return {"page_lang": page, "page_dir": direction(page), "language_menu": menu}


def _remember(response: Response) -> Response:
    if staff_page() or request.path.startswith(("/webhooks", "/static")):
        return response
    # The same address answers in other languages for other visitors: no cache may give one the other's.
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    chosen = request.args.get(COOKIE, "")
    if chosen in _languages() and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=_settings().effective_public_url.startswith("https://"))
    return response


@blueprint.get("/language/<token>")
def page(token: str) -> str:
    """The newsletter's footer links here, with its unsubscribe link's token: the language it comes in."""
    from .public import subscriber_for

    return _language_form(token, subscriber_for(token))


def _language_form(token: str, found: Subscriber, error: str = "") -> str:
    config = _settings()
    if len(config.languages) == 1:
        return render_template("message.html.j2", heading=_("Language"), lines=[
            _("%(newsletter)s is written in one language only: %(language)s.")
            % {"newsletter": title(), "language": i18n.language_name(config.language, current(), running=True)}])
    return render_template("language.html.j2", token=token, email=found.email, error=error,
                           languages=choices(found.lang if found.lang in config.languages else config.language))


@blueprint.post("/language/<token>")
def choose(token: str) -> str | tuple[str, int]:
    """The choice, recorded for the next edition, and said in the language chosen."""
    from . import ledger
    from .public import subscriber_for

    found, config = subscriber_for(token), _settings()
    chosen = subscriber_langs.code(request.form.get("lang", ""))  # FR or fr-CA as the subscribe form takes them
    if chosen not in config.languages:
        return _language_form(token, found, _("Choose one of these languages.")), 400
    langs.choose(ledger(), found.email, chosen if len(config.languages) > 1 else None, datetime.now(UTC))
    use(chosen)
    return render_template("message.html.j2", heading=_("Your choice is saved"), lines=[
        _("From the next edition, %(newsletter)s will come to %(email)s in %(language)s.")
        % {"newsletter": title(), "email": found.email, "language": i18n.language_name(chosen, chosen, running=True)},
    ])


@blueprint.get("/language")
def help_page() -> str:
    return render_template("message.html.j2", heading=_("Language"), lines=[
        _("To choose the language you receive the newsletter in, use the link at the bottom of any newsletter you "
          "received."),
    ])
