"""The web side (`bot serve`): one-click unsubscribe, double opt-in, the archive, provider webhooks and the staff pages.

Flask for the pages, Flask-WTF for CSRF on every form, Flask-Limiter against repeated requests, Waitress
to serve them. Security headers on every answer; tokens in URLs never reach another site through the Referer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from jinja2 import StrictUndefined

from .. import keys
from ..errors import ConfigError
from ..ledger import Ledger
from ..platforms import REGISTRY
from ..settings import Settings
from .lang import gettext as _  # the error pages a visitor meets, in their language (English on staff pages)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
STATIC = Path(__file__).resolve().parent / "static"
PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'")
# An archived edition is email HTML: inline styles and remote images, but no scripts, forms or framing.
ARCHIVE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; form-action 'none'; "
               "frame-ancestors 'none'; base-uri 'none'")

csrf = CSRFProtect()
# Rate limits, per view: (limit, key, deduct_when) where key None means per client address and deduct_when
# None means every request counts.
Deduct = Callable[[Response], bool]
LIMITS: dict[str, list[tuple[str, Callable[[], str] | None, Deduct | None]]] = {}

log = logging.getLogger("herald")


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC), static_url_path="/static")
    app.jinja_env.autoescape = True
    app.jinja_env.undefined = StrictUndefined
    key = keys.root(settings)  # the token functions derive their own keys from it
    app.config.update(
        # The session key is derived from BOT_SECRET for this one purpose.
        SECRET_KEY=keys.derive(settings, "session").hex(),
        SESSION_COOKIE_NAME="herald_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.effective_public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=1_000_000,
        HERALD=settings,
        HERALD_KEY=key,
    )
    # BOT_PROXIES (the forwarded client address and scheme) is read by Waitress alone: see server.serve.
    csrf.init_app(app)

    from . import accounts, admin, auth, calendar, embed, items, lang, media, notices, public, translate, webhooks

    lang.install(app)  # the public pages in each visitor's language, and /language: see lang
    notices.install(app)  # subscribe requests are handled in the background: see notices
    app.register_blueprint(public.blueprint)
    app.register_blueprint(webhooks.blueprint)
    csrf.exempt(webhooks.blueprint)  # signed by the provider instead
    csrf.exempt(public.unsubscribe)  # RFC 8058: mail clients POST without cookie or token; the token is the key
    csrf.exempt(public.subscribe)  # checked by embed: Herald's token, or the Origin of a site in BOT_EMBED_ORIGINS
    embed.install(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(items.blueprint)
    app.register_blueprint(translate.blueprint)
    app.register_blueprint(accounts.blueprint)
    app.register_blueprint(calendar.blueprint)
    app.register_blueprint(media.blueprint)
    _limit(app)

    @app.context_processor
    def common() -> dict[str, Any]:
        return {"title": lang.title(), "org_name": settings.org_name, "org_address": settings.org_address}

    @app.teardown_request
    def close_ledger(exc: BaseException | None) -> None:
        ledger = g.pop("ledger", None)
        if ledger is not None:
            ledger.close()

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        # Unsubscribe and confirm tokens sit in URLs: no other site ever sees them in a Referer. Our own pages get
        # it, which the CSRF check of every form needs over HTTPS (no-referrer made browsers send none at all).
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.path.startswith(("/unsubscribe", "/confirm", "/admin", "/subscribe", "/language")):
            headers["Cache-Control"] = "no-store"
        return response

    @app.get("/platforms.css")
    def platform_colours() -> Response:
        """Each platform's badge colour, as its module declares it: a new platform needs no stylesheet edit."""
        css = "".join(f".badge.{name} {{ background: {p.colour}; }}\n" for name, p in REGISTRY.items())
        return Response(css, mimetype="text/css", headers={"Cache-Control": "public, max-age=3600"})

    _error_pages(app)
    return app


def _limit(app: Flask) -> None:
    """The rate limits each view declared (rate_limited), with a limiter of this app's own, in memory: one process
    serves one app (tests start several)."""
    limiter = Limiter(key_func=get_remote_address, app=app, storage_uri="memory://", strategy="fixed-window",
                      headers_enabled=False)
    for endpoint, limits in LIMITS.items():
        if endpoint in app.view_functions:
            view: Any = app.view_functions[endpoint]
            for limit, key_func, deduct_when in limits:
                if key_func:
                    view = limiter.limit(limit, key_func=key_func, deduct_when=deduct_when)(view)
                else:
                    view = limiter.limit(limit, deduct_when=deduct_when)(view)
            app.view_functions[endpoint] = view


def _error_pages(app: Flask) -> None:
    """Every error a visitor can meet, as a page of Herald's in words, never a server's default page."""
    @app.errorhandler(ConfigError)
    def not_set_up(exc: ConfigError) -> tuple[str, int]:
        """A setting that is wrong (a queue folder that is not there) is, for staff, the one line every command
        gives, instead of a server error; a visitor learns nothing of the server."""
        log.error("%s: %s", request.path, exc)
        if request.path.startswith("/admin"):
            lines = [str(exc), "Whoever runs Herald on the server can fix this; every bot command shows the same line."]
            return render_template("message.html.j2", heading="Herald is not set up completely", lines=lines), 503
        return render_template("message.html.j2", heading=_("Not available"),
                               lines=[_("This page is not available right now. Please try again later.")]), 503

    @app.errorhandler(404)
    def not_found(exc: Exception) -> tuple[str, int]:
        return render_template("message.html.j2", heading=_("Not found"),
                               lines=[_("There is nothing at this address.")]), 404

    @app.errorhandler(405)
    def not_allowed(exc: Exception) -> tuple[str, int]:
        return render_template("message.html.j2", heading=_("Not allowed"),
                               lines=[_("This page does not take that kind of request.")]), 405

    app.register_error_handler(429, too_many)

    @app.errorhandler(400)
    def bad_request(exc: Exception) -> tuple[str, int]:
        return render_template("message.html.j2", heading=_("Something was missing"), lines=[
            _("The form expired or was incomplete. Go back, reload the page and try again.")]), 400


def too_many(exc: Exception) -> tuple[str | Response, int]:
    from . import embed

    line = _("There were too many requests from here. Please try again later.")
    if request.path == "/subscribe" and embed.wants_json():  # a script on an embedding site reads it
        return jsonify(ok=False, message=line), 429
    return render_template("message.html.j2", heading=_("Please wait"), lines=[line]), 429


def rate_limited(endpoint: str, limit: str, key: Callable[[], str] | None = None,
                 deduct_when: Deduct | None = None) -> None:
    """Declare a rate limit for a view (applied by create_app); `key` None means per client address;
    with `deduct_when`, only the answers it picks count (failed sign-ins, not successful ones)."""
    LIMITS.setdefault(endpoint, []).append((limit, key, deduct_when))


def ledger() -> Ledger:
    """The state database for this request, opened once and closed when the request ends."""
    if "ledger" not in g:
        g.ledger = Ledger.open(settings().state_dir)
    opened: Ledger = g.ledger
    return opened


def settings() -> Settings:
    from flask import current_app

    configured: Settings = current_app.config["HERALD"]
    return configured
