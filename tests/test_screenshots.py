"""The newsletter and the preview page in a real browser (Debian's headless Chromium) at phone and desktop widths.

Screenshots land in var/screenshots/ for a person to look at; the assertions catch what a person would see
first: sideways scrolling, images that do not load, text too small to read, a missing unsubscribe link.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import preview, queue, render
from bot.mail import TOKEN_PLACEHOLDER, unsubscribe_url
from bot.settings import Settings

from .browser import SCREENSHOTS, browser, png, serve

pytestmark = pytest.mark.browser


def newsletter_page(settings: Settings, folder: Path) -> None:
    """The March edition of the sample (it has the photos), with its images served locally."""
    (folder / "img").mkdir(parents=True)
    items = []
    for n, entry in enumerate(i for i in queue.load(settings).items if "email" in i.channels and i.date.month == 3):
        if entry.image:
            (folder / "img" / f"{n}.png").write_bytes(png(1200, 640, (70 + 40 * n, 110, 160)))
            entry = dataclasses.replace(entry, image=f"/img/{n}.png")
        items.append(entry)
    html = render.render_newsletter(items, settings, edition_date=date(2019, 3, 22),
                                    unsubscribe_url=unsubscribe_url(settings.effective_public_url,
                                                                    TOKEN_PLACEHOLDER)).html
    (folder / "newsletter.html").write_text(html, encoding="utf-8")


@pytest.mark.parametrize("width", [375, 800])
def test_newsletter_reads_well_at_phone_and_desktop_width(sample_settings: Settings, tmp_path: Path,
                                                         width: int) -> None:
    newsletter_page(sample_settings, tmp_path)
    with serve(tmp_path) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{base}/newsletter.html")
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"newsletter-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        images = page.evaluate("[...document.images].map(i => [i.alt, i.naturalWidth, "
                               "i.getBoundingClientRect().width])")
        assert images and all(alt and natural > 0 and 0 < shown <= width for alt, natural, shown in images)
        smallest = page.evaluate("""(() => {
            const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            let min = 99;
            while (walk.nextNode()) {
                const box = walk.currentNode.parentElement;  // the hidden preheader does not count
                if (walk.currentNode.textContent.trim() && box.checkVisibility({opacityProperty: true}))
                    min = Math.min(min, parseFloat(getComputedStyle(box).fontSize));
            }
            return min; })()""")
        assert smallest >= 12
        unsubscribe = page.get_by_role("link", name="Unsubscribe")
        assert unsubscribe.is_visible()
        titles = page.locator("a", has_text="No peace without women human rights defenders")
        assert titles.first.is_visible()


@pytest.mark.parametrize("width", [375, 1100])
def test_preview_index_reads_well(sample_settings: Settings, tmp_path: Path, width: int) -> None:
    now = datetime(2019, 7, 8, 8, 0, tzinfo=ZoneInfo("Europe/Zurich"))
    preview.write(preview.plan(queue.load(sample_settings), sample_settings, now), sample_settings, tmp_path)
    with serve(tmp_path) as base, browser() as chromium:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        page.goto(f"{base}/index.html")
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"preview-{width}.png"), full_page=False)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("li.post").count() == len(list(tmp_path.glob("*/*.json")))
        assert page.get_by_text("279 / 280").first.is_visible()
