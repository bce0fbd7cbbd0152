"""Subscribing from the organisation's own site (BOT_EMBED_ORIGINS), through the real app with Flask's test client:
the Origin instead of the CSRF token, the honeypot, the same limits and answers, JSON with CORS, the preflight, the
thanks page, and the snippet /admin shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot import staff, subscribers
from bot.errors import ConfigError
from bot.ledger import Ledger
from bot.settings import Settings
from bot.web import create_app
from bot.web.notices import drain_all

from .conftest import SAMPLE_QUEUE
from .python_values import html_findings

SITE = "https://www.example.org"
OTHER_SITE = "https://www.example.org.evil.example"
PUBLIC = "https://news.example.org"
PASSWORD = "correct horse battery staple"
JSON = {"Accept": "application/json"}


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_EMBED_ORIGINS=f"{SITE}, https://campaign.example.net")


@pytest.fixture
def client(site: Settings) -> FlaskClient:
    return create_app(site).test_client()


def embedded(client: FlaskClient, email: str, origin: str = SITE, headers: dict[str, str] | None = None,
             **fields: str) -> TestResponse:
    """The snippet's form sent from `origin`: no cookie, no CSRF token."""
    return client.post("/subscribe", data={"email": email, "name": "", **fields},
                       headers={"Origin": origin, **(headers or {})})


def own_form(client: FlaskClient, email: str, **fields: str) -> TestResponse:
    """Herald's own form, as a browser sends it: its CSRF token, and Herald's origin."""
    page = client.get("/subscribe").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return client.post("/subscribe", data={"email": email, "name": "", "website": "", "csrf_token": token.group(1),
                                           **fields}, headers={"Origin": "http://localhost"})


def status_of(settings: Settings, email: str) -> str | None:
    drain_all()  # recorded in the background
    with Ledger.open(settings.state_dir) as ledger:
        found = subscribers.get(ledger, email=email)
    return found.status if found else None


def mails(settings: Settings) -> int:
    drain_all()
    return len(list((settings.outbox_dir / "email").glob("confirm-*.eml")))


def test_an_allowed_origin_needs_no_token_and_lands_on_the_thanks_page(site: Settings, client: FlaskClient) -> None:
    answer = embedded(client, "lea@example.ch")
    # No address in it; the language the page is in (the form sent none: the visitor's browser's, here English).
    assert answer.status_code == 303 and answer.headers["Location"] == "/subscribe/thanks?lang=en"
    assert answer.headers["Access-Control-Allow-Origin"] == SITE and "Origin" in answer.vary
    assert "Set-Cookie" not in answer.headers
    assert status_of(site, "lea@example.ch") == "pending" and mails(site) == 1  # double opt-in: a link, no more
    assert embedded(client, "kim@example.ch", "HTTPS://Campaign.Example.NET").status_code == 303  # either, any case
    thanks = client.get("/subscribe/thanks?email=%3Cscript%3Ealert(1)%3C/script%3E")
    page = thanks.get_data(as_text=True)
    assert thanks.status_code == 200 and "<h1>Check your inbox</h1>" in page
    assert "If the address you gave can receive Geneva Rights Desk news, a message with a confirmation link" in page
    assert "lea@example.ch" not in page and "script" not in page  # the query string is never read
    assert thanks.headers["Cache-Control"] == "no-store" and html_findings("thanks", page) == []


def test_the_json_answer_carries_cors_for_that_origin_only(site: Settings, client: FlaskClient) -> None:
    answer = embedded(client, "lea@example.ch", headers=JSON)
    thanks = re.findall(r"<p>(If the address.*?)</p>\s*<p>(.*?)</p>", client.get("/subscribe/thanks").text, re.S)
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "message": " ".join(thanks[0])}
    assert answer.headers["Access-Control-Allow-Origin"] == SITE and "Origin" in answer.vary
    assert "Access-Control-Allow-Credentials" not in answer.headers  # no cookie is wanted from that site
    # A script may send JSON (after its preflight) as well as form fields.
    sent = client.post("/subscribe", json={"email": "kim@example.ch", "name": "Kim"},
                       headers={"Origin": "https://campaign.example.net", **JSON})
    assert sent.status_code == 200 and sent.headers["Access-Control-Allow-Origin"] == "https://campaign.example.net"
    bad = embedded(client, "not an address", headers=JSON)
    assert bad.status_code == 400 and bad.headers["Access-Control-Allow-Origin"] == SITE
    assert bad.get_json()["field"] == "email"
    assert bad.get_json()["message"].startswith("The email address does not look right: ")
    assert status_of(site, "lea@example.ch") == status_of(site, "kim@example.ch") == "pending" and mails(site) == 2


def test_a_bad_address_from_the_embedded_form_shows_heralds_own_page(client: FlaskClient) -> None:
    answer = embedded(client, "lea@example")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "That address does not look right" in page  # no way back to that page
    assert 'value="lea@example"' in page and 'action="/subscribe"' in page  # to correct it here


@pytest.mark.parametrize("origin", [OTHER_SITE, "http://www.example.org", "https://www.example.org:8443", "null",
                                    "https://example.org", f"{SITE}/"])
def test_any_other_origin_is_refused_without_cors(site: Settings, client: FlaskClient, origin: str) -> None:
    for headers in ({}, JSON):
        answer = embedded(client, "lea@example.ch", origin, headers)
        assert answer.status_code == 403, origin
        assert "Access-Control-Allow-Origin" not in answer.headers and "Origin" not in answer.vary
    expected = "does not say which site it is on" if origin == "null" else "sent from a site that may not send it here"
    assert expected in answer.get_json()["message"]
    page = embedded(client, "lea@example.ch", origin).get_data(as_text=True)
    assert '<a href="/subscribe">subscribe on its own page</a>' in page and html_findings("refused", page) == []
    assert status_of(site, "lea@example.ch") is None and mails(site) == 0


def test_a_json_body_nested_beyond_reason_is_refused_without_a_500(site: Settings, client: FlaskClient) -> None:
    answer = client.post("/subscribe", data=b"[" * 100_000, content_type="application/json",
                         headers={"Origin": SITE, **JSON})
    assert answer.status_code == 400 and answer.get_json()["field"] == "email"
    assert status_of(site, "lea@example.ch") is None


def test_origins_are_written_as_browsers_send_them(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BOT_EMBED_ORIGINS="HTTPS://WWW.Example.org:443/, https://bücher.example, "
                                               "http://localhost:9000, http://[::1]:8080")
    assert settings.embed_origins == ("https://www.example.org", "https://xn--bcher-kva.example",
                                      "http://localhost:9000", "http://[::1]:8080")
    for wrong in ("https://user:pw@www.example.org", "https://*.example.org", "https://www.example.org:99999",
                  "https://www.example.org/news", "www.example.org"):
        with pytest.raises(ConfigError, match="is not a site's origin"):
            make_settings(BOT_EMBED_ORIGINS=wrong)


def test_without_an_origin_or_a_token_it_is_refused_as_before(site: Settings, client: FlaskClient) -> None:
    for headers in ({}, {"Origin": "http://localhost"}):  # a script, or Herald's own page open too long
        answer = client.post("/subscribe", data={"email": "lea@example.ch"}, headers=headers)
        assert answer.status_code == 400 and "The form expired or was incomplete" in answer.text
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert status_of(site, "lea@example.ch") is None


def test_heralds_own_form_is_unchanged_and_carries_the_honeypot(site: Settings, client: FlaskClient) -> None:
    page = client.get("/subscribe").text
    trap = re.search(r'<div class="trap" aria-hidden="true">\s*<label for="website">[^<]+</label>\s*'
                     r'<input id="website" name="website" type="text" tabindex="-1" autocomplete="off" value="">',
                     page)
    assert trap, page
    answer = own_form(client, "lea@example.ch")
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert "If lea@example.ch can receive Geneva Rights Desk news" in answer.text  # its answer as before
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert status_of(site, "lea@example.ch") == "pending"


def test_a_filled_honeypot_gets_the_same_answer_and_nothing_happens(site: Settings, client: FlaskClient) -> None:
    for send in (embedded, lambda c, e, **f: embedded(c, e, headers=JSON, **f), own_form):
        real, bot = send(client, "real@example.ch"), send(client, "bot@example.ch", website="https://spam.example")
        assert (bot.status_code, bot.headers.get("Location")) == (real.status_code, real.headers.get("Location"))
        assert bot.text.replace("bot@", "real@") == real.text
    assert status_of(site, "real@example.ch") == "pending"
    assert status_of(site, "bot@example.ch") is None and mails(site) == 3  # a link for each real one, no more


def test_the_same_rate_limits_hold_for_embedded_posts(site: Settings, client: FlaskClient) -> None:
    # Three a day for one address, whichever form sends it.
    codes = [embedded(client, "flood@example.ch").status_code, own_form(client, "flood@example.ch").status_code,
             embedded(client, "flood@example.ch", headers=JSON).status_code,
             embedded(client, "flood@example.ch").status_code]
    assert codes == [303, 200, 200, 429]
    limited = embedded(client, "flood@example.ch", headers=JSON)
    assert limited.status_code == 429 and limited.get_json()["ok"] is False
    assert limited.headers["Access-Control-Allow-Origin"] == SITE  # so that the script can tell the visitor
    # Ten an hour from one client, whichever addresses.
    more = [embedded(client, f"reader{n}@example.ch").status_code for n in range(6)]
    assert more == [303] * 5 + [429]
    assert mails(site) == 3 + 5


def test_the_preflight_is_answered_for_allowed_origins_only(client: FlaskClient) -> None:
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/subscribe", headers={"Origin": SITE, **asked})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SITE and "Origin" in allowed.vary
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert allowed.headers["Access-Control-Allow-Headers"] == "Content-Type, Accept"
    for headers in ({"Origin": OTHER_SITE, **asked}, asked):
        refused = client.options("/subscribe", headers=headers)
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert client.get("/subscribe").status_code == 200  # the form is still there


class _Snippet(HTMLParser):
    """The form's action, its fields and the honeypot's wrapper, as a browser reads the snippet."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.labels: list[str | None] = []
        self.hidden: list[dict[str, str | None]] = []
        self.tags: set[str] = set()
        self.options: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.add(tag)
        if tag == "form":
            self.forms.append(found)
        elif tag in ("input", "select"):
            self.inputs[found["name"] or ""] = found
        elif tag == "option":
            self.options.append(found)
        elif tag == "label":
            self.labels.append(found.get("for"))
        elif found.get("aria-hidden") == "true":
            self.hidden.append(found)


def staff_client(settings: Settings) -> FlaskClient:
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", datetime(2019, 7, 1, tzinfo=UTC))
    browser = create_app(settings).test_client()
    page = browser.get("/admin/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = browser.post("/admin/login", data={"email": "ed@example.org", "password": PASSWORD,
                                                "csrf_token": token.group(1)})
    assert answer.status_code == 303
    return browser


def test_admin_shows_the_snippet_to_paste_with_the_organisations_name(make_settings) -> None:
    settings = make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_ORG_NAME="Droits & Libertés <Genève>",
                             BOT_EMBED_ORIGINS=SITE, BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    assert create_app(settings).test_client().get("/admin").status_code == 401  # staff only
    page = staff_client(settings).get("/admin").text  # an editor: the lowest role sees it
    assert html_findings("/admin", page) == []
    section = re.search(r'<section aria-labelledby="embed">(.*?)</section>', page, re.S)
    assert section, page
    assert f"It works on {SITE} (the setting <code>BOT_EMBED_ORIGINS</code>)" in section.group(1)
    box = re.search(r'<label for="embed-html">HTML to paste</label>.*?<textarea id="embed-html" class="snippet" '
                    r'readonly[^>]*>(.*?)</textarea>', section.group(1), re.S)
    assert box and "select all" in section.group(1)
    snippet = unescape(box.group(1))  # the text in the box: the HTML exactly as it is to be pasted
    assert "<script" not in snippet and "<textarea" not in box.group(1)  # the box's own markup is escaped
    assert "<strong>Get Droits &amp; Libertés &lt;Genève&gt; news by email</strong>" in snippet
    assert "Short, dated news from Droits &amp; Libertés &lt;Genève&gt;." in snippet
    form = _Snippet()
    form.feed(snippet)
    assert form.forms == [{"method": "post", "action": f"{PUBLIC}/subscribe", "class": "herald-subscribe"}]
    assert set(form.inputs) == {"email", "name", "website", "lang"} and "button" in form.tags
    # The visitor's language, each named in itself (BOT_LANGUAGES=en,fr,es), the default chosen.
    assert [(o["value"], "selected" in o) for o in form.options] == [("en", True), ("fr", False), ("es", False)]
    assert ">Français</option>" in snippet
    assert form.inputs["email"]["type"] == "email" and "required" in form.inputs["email"]
    assert "required" not in form.inputs["name"]
    trap = form.inputs["website"]
    assert trap["tabindex"] == "-1" and trap["autocomplete"] == "off"
    assert set(form.labels) == {i["id"] for i in form.inputs.values()}  # every field labelled, the trap too
    [wrapper] = form.hidden
    assert "position:absolute;left:-10000px" in (wrapper["style"] or "")  # inline: that site's CSS is unknown


def test_admin_says_which_setting_to_set_before_the_snippet_works(make_settings) -> None:
    settings = make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_EMBED_ORIGINS="", BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    page = staff_client(settings).get("/admin").text
    section = re.search(r'<section aria-labelledby="embed">(.*?)</section>', page, re.S)
    assert section
    text = " ".join(re.sub(r"<[^>]+>", "", section.group(1)).split())
    assert "Not yet allowed on any site. It works only once your site's address, such as https://www.example.org, " \
           "is in the setting BOT_EMBED_ORIGINS" in text
    assert "()" not in text and "None" not in text and html_findings("/admin", page) == []
    refused = create_app(settings).test_client().post("/subscribe", data={"email": "lea@example.ch"},
                                                       headers={"Origin": SITE})
    assert refused.status_code == 403  # as the page says
