"""The public pages in the reader's language, in a real browser (Debian's headless Chromium, through Playwright) with
axe-core: a French browser gets the French page and form, the language menu moves to Spanish and the choice holds on
the next page, the language page changes a subscriber's language, and an archived edition reads in each language.

Every page is checked at a phone's and a desktop's width (axe, nothing wider than the screen, the language menu on
one line) and photographed into /tmp/shots/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe

from bot import subscribers
from bot.ledger import Ledger, langs
from bot.scheduler import run_once
from bot.settings import Settings

from .browser import browser
from .conftest import SAMPLE_QUEUE
from .web_server import running, settle

pytestmark = pytest.mark.browser
PUBLIC = "https://news.example.org"
ZURICH = ZoneInfo("Europe/Zurich")
SHOTS = Path("/tmp/shots")
WIDTHS = (375, 1280)


@pytest.fixture
def site(make_settings) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL=PUBLIC,
                         BOT_SECRET="languages-test-secret-Hk3Rw9ZpQ2vN7xLc", BOT_X_BACKEND="off",
                         BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="off")


@pytest.fixture
def chromium() -> Iterator[Any]:
    with browser() as instance:
        yield instance


def looks_right(page: Any, name: str, axe: Axe) -> None:
    """At each width: no axe violation, nothing wider than the screen, the menu on one line; a screenshot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
        found = axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
        assert found.violations_count == 0, f"{name} at {width}: {found.generate_report()}"
        tops = {round(box["y"]) for box in (item.bounding_box() for item in page.locator("nav.langs li").all())
                if box}
        assert len(tops) <= 1, f"{name} at {width}: the language menu wraps"
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def pending_lang(settings: Settings, email: str) -> tuple[str, str | None] | None:
    settle()
    with Ledger.open(settings.state_dir) as ledger:
        found = subscribers.get(ledger, email=email)
    return (found.status, found.lang) if found else None


def confirm_path(settings: Settings) -> str:
    settle()
    [mail] = (settings.outbox_dir / "email").glob("confirm-*.eml")
    text = message_from_bytes(mail.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    start = text.index(PUBLIC + "/confirm/") + len(PUBLIC)
    return str(text[start:].split()[0])


def test_a_french_browser_gets_french_and_the_menu_moves_to_spanish(site: Settings, chromium: Any) -> None:
    axe = Axe()
    with running(site) as base:
        context = chromium.new_context(locale="fr-FR")  # Chromium's Accept-Language: fr-FR,fr
        page = context.new_page()
        page.goto(f"{base}/")
        assert page.get_attribute("html", "lang") == "fr"
        page.get_by_role("heading", name="Abonnez-vous à «\u202fActualités de Geneva Rights Desk\u202f»").wait_for()
        choice = page.get_by_label("Langue de la lettre d’information")
        assert choice.input_value() == "fr"  # the form says which language the newsletter will come in
        menu = page.get_by_role("navigation", name="Langue")
        assert menu.get_by_role("link", name="Français").get_attribute("aria-current") == "true"
        looks_right(page, "subscribe-fr", axe)

        menu.get_by_role("link", name="Español").click()
        page.get_by_role("heading", name="Suscríbase a «Noticias de Geneva Rights Desk»").wait_for()
        assert page.get_attribute("html", "lang") == "es"
        assert page.get_by_label("Idioma del boletín").input_value() == "es"
        looks_right(page, "subscribe-es", axe)
        page.get_by_role("link", name="Ediciones anteriores").click()  # the footer's link: no ?lang in it
        page.get_by_role("heading", name="Ediciones anteriores").wait_for()
        assert page.get_attribute("html", "lang") == "es"  # the choice holds over the browser's French

        page.goto(f"{base}/subscribe")
        page.get_by_label("Dirección de correo electrónico").fill("amina@example.org")
        page.get_by_label("Nombre").fill("Amina Diallo")
        page.get_by_label("Idioma del boletín").select_option("fr")  # a Spanish page, a French newsletter
        page.get_by_role("button", name="Suscribirse").click()
        page.get_by_role("heading", name="Revise su bandeja de entrada").wait_for()
        looks_right(page, "check-inbox-es", axe)
        assert pending_lang(site, "amina@example.org") == ("pending", "fr")

        page.goto(base + confirm_path(site))  # the visitor chose Spanish here: the page stays Spanish
        page.get_by_role("heading", name="Confirme su suscripción").wait_for()
        assert "Las ediciones llegarán en francés." in page.content()
        looks_right(page, "confirm-es", axe)
        page.get_by_role("button", name="Confirmar").click()
        page.get_by_role("heading", name="Su suscripción está confirmada").wait_for()
        assert pending_lang(site, "amina@example.org") == ("active", "fr")
        context.close()


def test_the_language_page_in_a_browser(site: Settings, chromium: Any) -> None:
    with Ledger.open(site.state_dir) as ledger:
        subscribers.add(ledger, "jonas@example.ch", "Jonas", datetime(2019, 1, 1, tzinfo=ZURICH), lang="fr")
        sid = subscribers.get(ledger, email="jonas@example.ch").id
    token = subscribers.make_token(subscribers.secret_key(site), sid)
    axe = Axe()
    with running(site) as base:
        context = chromium.new_context(locale="en-GB")
        page = context.new_page()
        page.goto(f"{base}/language/{token}")  # theirs, French, whatever the browser asks
        heading = "Dans quelle langue recevoir «\u202fActualités de Geneva Rights Desk\u202f»\u202f?"
        page.get_by_role("heading", name=heading).wait_for()
        assert page.get_by_role("radio", name="Français").is_checked()
        looks_right(page, "language-fr", axe)
        page.get_by_role("radio", name="Español").check()
        page.get_by_role("button", name="Enregistrer").click()
        page.get_by_role("heading", name="Su elección se ha guardado").wait_for()
        assert page.get_attribute("html", "lang") == "es"
        looks_right(page, "language-saved-es", axe)
        page.goto(f"{base}/unsubscribe/{token}")
        page.get_by_role("heading", name="¿Darse de baja de «Noticias de Geneva Rights Desk»?").wait_for()
        looks_right(page, "unsubscribe-es", axe)
        context.close()
    with Ledger.open(site.state_dir) as ledger:
        assert langs.of(ledger, "jonas@example.ch") == "es"


def test_the_archive_in_each_language(site: Settings, chromium: Any) -> None:
    with Ledger.open(site.state_dir) as ledger:
        subscribers.add(ledger, "reader@example.org", "Reader", datetime(2019, 1, 1, tzinfo=ZURICH))
    run_once(site, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))
    with Ledger.open(site.state_dir) as ledger:
        languages = ledger.edition(1).languages
    assert languages[0] == "en" and len(languages) > 1, languages
    axe = Axe()
    with running(site) as base:
        context = chromium.new_context(locale="fr-FR")
        # The edition links to news.example.org and its pictures: nothing but the local server is ever reached.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                      else route.abort())
        page = context.new_page()
        page.goto(f"{base}/archive")
        page.get_by_role("heading", name="Éditions précédentes").wait_for()
        assert "12 juillet 2019" in page.content()
        looks_right(page, "archive-list-fr", axe)
        page.get_by_role("main").get_by_role("link").first.click()
        page.wait_for_url(f"{base}/archive/1")
        assert page.get_attribute("html", "lang") == "fr"
        others = page.get_by_role("navigation", name="Autres langues")
        assert others.get_by_role("link", name="English").get_attribute("hreflang") == "en"
        looks_right(page, "archive-edition-fr", axe)
        others.get_by_role("link", name="English").click()
        page.wait_for_url(f"{base}/archive/1/en")
        assert page.get_attribute("html", "lang") == "en"
        assert page.get_by_role("navigation", name="Other languages").get_by_role("link", name="Français").count() == 1
        looks_right(page, "archive-edition-en", axe)
        context.close()
