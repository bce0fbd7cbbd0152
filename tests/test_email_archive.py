"""The public copy of an edition, /archive/N, in a real browser (Debian's headless Chromium): a web page with a
<main> landmark and an <h1>, no violation at all for axe-core in light or dark mode, no "view in browser" band, a
footer that offers a visitor to subscribe and the other editions (not to unsubscribe), a button per item whose
accessible name says what it opens; and the email subscribers received is not changed by it."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page

from bot import queue, subscribers
from bot.ledger import Ledger
from bot.mail import TOKEN_PLACEHOLDER
from bot.scheduler import run_once
from bot.settings import Settings
from bot.web.public import as_web_page

from .browser import SCREENSHOTS, browser
from .conftest import ROOT, SAMPLE_QUEUE
from .web_server import running

pytestmark = pytest.mark.browser
ZURICH = ZoneInfo("Europe/Zurich")
SELF_LINK = "View this edition in your browser"
SUBSCRIBER_NOTE = "because you subscribed to it"


def first_edition(settings: Settings) -> None:
    """One subscriber, and the 12 July 2019 edition sent to the outbox."""
    with Ledger.open(settings.state_dir) as ledger:
        subscribers.add(ledger, "reader@example.org", "Reader", datetime(2019, 1, 1, tzinfo=ZURICH))
    run_once(settings, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))


def local_only(context: BrowserContext, base: str) -> None:
    # The edition links to news.example.org: nothing but the local server is ever reached.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())


def violations(axe: Axe, page: Page) -> str:
    found = axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
    return "" if found.violations_count == 0 else found.generate_report()


def assert_a_visitors_footer(page: Page) -> None:
    """Where subscribers read why they get the mail and how to leave, a visitor reads how to get it, and where
    the other editions are; and nothing leads to an unsubscribe page that could unsubscribe nobody."""
    assert SUBSCRIBER_NOTE not in page.content()
    assert page.get_by_role("link", name="Unsubscribe").count() == 0 and "/unsubscribe" not in page.content()
    subscribe = page.get_by_role("main").get_by_role("link", name="Subscribe", exact=True)
    assert subscribe.count() == 1 and subscribe.get_attribute("href") == "/subscribe"
    editions = page.get_by_role("link", name="all past editions", exact=True)
    assert editions.count() == 1 and editions.get_attribute("href") == "/archive"
    assert " ".join(subscribe.locator("xpath=..").inner_text().split()) == (
        "Subscribe to receive the next editions by email, or read all past editions.")


def test_an_archived_edition_is_an_accessible_web_page(make_settings) -> None:
    site = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_SECRET="archive-test-secret-Hk3Rw9ZpQ2vN7xLc",
                         BOT_X_BACKEND="off", BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="off")
    first_edition(site)
    with Ledger.open(site.state_dir) as ledger:
        edition = ledger.edition(1)
    items = {i.id: i for i in queue.load(site).items}
    entries = [items[i] for i in edition.item_ids]
    axe = Axe()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running(site) as base, browser() as chromium:
        for scheme in ("light", "dark"):
            context = chromium.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
            local_only(context, base)
            page = context.new_page()
            page.goto(f"{base}/archive/1")
            assert page.get_by_role("main").count() == 1
            heading = page.get_by_role("heading", level=1)
            assert heading.count() == 1 and heading.is_visible()
            assert " ".join(heading.inner_text().split()) == f"{site.title} 12 July 2019 · {len(entries)} updates"
            assert page.get_by_role("link", name=SELF_LINK).count() == 0
            # No link to this very page (the edition's other languages are linked, at its end).
            assert '/archive/1"' not in page.content() and "/archive/1/en" not in page.content()
            # The whole "view in browser" band is gone, not only its link: the masthead's band starts the page.
            assert page.locator(".herald-view-online").count() == 0
            assert page.evaluate("document.querySelector('main h1').closest('[style*=\"#0b3954\"]')"
                                 ".getBoundingClientRect().top") == 0
            assert_a_visitors_footer(page)
            # Each button names its item: "Read more: <title>", one per item, all different.
            assert page.get_by_role("link", name="Read more", exact=True).count() == 0
            for entry in entries:
                button = page.get_by_role("link", name=f"Read more: {entry.title}", exact=True)
                assert button.count() == 1 and button.inner_text().strip() == "Read more"
                assert button.get_attribute("href") == entry.link
            for width in (375, 1280):
                page.set_viewport_size({"width": width, "height": 900})
                assert violations(axe, page) == "", (scheme, width)
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SCREENSHOTS / f"archive-{scheme}-{width}.png"), full_page=True)
            context.close()
    # What the subscriber received is the email as rendered: its link to the archive, no web page furniture.
    sent = email.message_from_bytes(next((site.outbox_dir / "email").glob("*.eml")).read_bytes(),
                                    policy=email.policy.default)
    html = sent.get_body(("html",)).get_content()
    token = sent["List-Unsubscribe"].rsplit("/", 1)[1].rstrip(">")
    as_rendered = edition.html.replace(TOKEN_PLACEHOLDER, token)
    assert html.replace("\r\n", "\n").rstrip("\n") == as_rendered.replace("\r\n", "\n")  # MIME ends it with one
    assert SELF_LINK in html and f'href="{site.effective_public_url}/archive/1/en"' in html
    assert f"You receive {site.title} because you subscribed to it." in html
    assert f'<a href="{site.effective_public_url}/unsubscribe/{token}"' in html
    assert "<main" not in html and "<h1" not in html and 'href="/subscribe"' not in html


def test_an_edition_from_a_template_without_the_classes_still_makes_a_page_for_visitors(make_settings,
                                                                                      tmp_path: Path) -> None:
    """An organisation's own template (BOT_TEMPLATES_DIR) may lack the masthead the <h1> is made from, and the
    classes of the "view in browser" band and of the note to subscribers: the link to the page itself goes, and the
    box holding the unsubscribe link speaks to visitors."""
    own = tmp_path / "own"
    shutil.copytree(ROOT / "templates" / "email", own / "email")
    template = own / "email" / "newsletter.mjml.j2"
    source = template.read_text(encoding="utf-8")
    for css_class in ('css-class="herald-masthead" ', 'css-class="herald-view-online" ', " herald-subscriber-note"):
        assert css_class in source
        source = source.replace(css_class, "")
    template.write_text(source, encoding="utf-8")
    site = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_TEMPLATES_DIR=str(own), BOT_X_BACKEND="off",
                         BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="off")
    first_edition(site)
    with running(site) as base, browser() as chromium:
        context = chromium.new_context()
        local_only(context, base)
        page = context.new_page()
        page.goto(f"{base}/archive/1")
        assert violations(Axe(), page) == ""
        assert page.get_by_role("heading", level=1).inner_text() == f"{site.title}, 12 July 2019"
        assert page.get_by_role("main").count() == 1 and page.get_by_role("link", name=SELF_LINK).count() == 0
        assert_a_visitors_footer(page)


def test_only_the_link_to_this_very_page_goes() -> None:
    sent = ('<html><body><p><a href="https://news.example.org/archive/1" style="color:#0b5cad">View it</a> '
            '<a href="https://other.example/archive/1">theirs</a> <a href="https://news.example.org/archive/12">'
            "another</a></p></body></html>")
    page = as_web_page(sent, "https://news.example.org/archive/1", "Desk news, 1 May 2019")
    assert "View it" not in page and "theirs</a>" in page and "another</a>" in page
    assert page.startswith("<html><body><main><h1 ") and page.endswith("</p></main></body></html>")
    assert ">Desk news, 1 May 2019</h1>" in page
