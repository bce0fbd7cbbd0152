"""The translation page in a real browser (Debian's headless Chromium through Playwright): an editor adds a French
title from the item page and sees the translation there; axe-core finds no violation; each state of the page is
photographed at phone and desktop widths into /tmp/shots/translate-*.png for a person to look at."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from bot import queue, staff
from bot.ledger import Ledger
from bot.settings import Settings

from .browser import browser
from .conftest import SAMPLE_QUEUE
from .web_server import running

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
WIDTHS = {"375": 375, "1280": 1280}
SHOTS = Path("/tmp/shots")
CRACKDOWN = "2019-07-08-709-crackdown-anniversary"
RENEWED = "2019-07-12-iesogi-mandate-renewed"


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_APPROVAL="required")
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", datetime(2019, 7, 1, tzinfo=UTC))
    return settings


def sign_in(chromium: Any, base: str) -> Any:
    page = chromium.new_context().new_page()
    page.goto(base + "/admin")
    page.get_by_label("Email").fill("ed@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Agenda").wait_for()
    return page


def look(axe: Axe, page: Any, name: str) -> None:
    """No axe violation; no sideways scrolling at either width; a full-page photograph at each."""
    found = axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
    assert found.violations_count == 0, f"{name}: {found.generate_report()}"
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
        page.screenshot(path=str(SHOTS / f"translate-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_editor_adds_a_french_title_and_sees_it_on_the_item_page(site: Settings) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    with running(site) as base, browser() as chromium:
        editor = sign_in(chromium, base)
        editor.goto(f"{base}/admin/items/{CRACKDOWN}")
        look(axe, editor, "item-before")
        editor.get_by_role("link", name="French: add a translation").click()
        editor.get_by_role("heading", name="French translation").wait_for()
        assert editor.locator(".tr-text[lang='en']").first.inner_text().startswith("Four years after the '709")
        assert editor.get_by_label("Title in French").get_attribute("lang") == "fr"
        look(axe, editor, "new")

        editor.get_by_label("Title in French").fill("Quatre ans après la « répression 709 »")
        editor.get_by_role("button", name="Save the French translation").click()
        editor.locator("p.notice").wait_for()
        assert f"Saved the French translation as {CRACKDOWN}.fr.md." in editor.locator("p.notice").inner_text()
        assert editor.get_by_label("Title in French").input_value() == "Quatre ans après la « répression 709 »"
        look(axe, editor, "saved")

        editor.get_by_role("link", name="Back to the item").click()
        editor.get_by_role("link", name="French: edit translation").wait_for()
        assert editor.get_by_role("link", name="Spanish: add a translation").is_visible()
        look(axe, editor, "item-after")
        item = next(i for i in queue.load(site).items if i.id == CRACKDOWN)
        assert item.translations["fr"].title == "Quatre ans après la « répression 709 »"

        editor.goto(f"{base}/admin/items/{RENEWED}/translations/fr")  # a whole translation, with a text for x
        look(axe, editor, "existing")
        editor.get_by_label("Text for X in French").fill("Renouvelé ! " * 30)
        editor.get_by_role("button", name="Save the French translation").click()
        editor.get_by_role("alert").wait_for()
        assert "is too long" in editor.locator("#social_x-error").inner_text()
        look(axe, editor, "problems")
