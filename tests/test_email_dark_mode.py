"""The newsletter in a mail app's dark mode (Chromium with prefers-color-scheme: dark) and in light mode: a dark
design, not an inversion; readable text, links and buttons (axe-core's colour-contrast rule) in both; hashtags
as muted words, never link-coloured. Screenshots at 375 and 1280 px land in var/screenshots/newsletter-*.png."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from bot import queue, render
from bot.mail import TOKEN_PLACEHOLDER, unsubscribe_url
from bot.settings import Settings

from .browser import SCREENSHOTS, browser, png, serve

pytestmark = pytest.mark.browser

# Found by what they show, not by class: the summary, a list item and a link of the body, the date line, an
# item's title, its button, its hashtags, and the section (card) around them.
COLOURS = """(() => {
    const divs = [...document.querySelectorAll("div")];
    const starting = text => divs.filter(d => d.textContent.trim().startsWith(text));
    const style = element => getComputedStyle(element);
    const title = [...document.querySelectorAll("a")].find(a => a.textContent.startsWith("UN rights chief warns"));
    const button = [...document.querySelectorAll("a")].find(a => a.textContent.trim() === "Read more");
    return {
        page: style(document.body).backgroundColor,
        card: style(title.closest('div[style*="max-width:600px"]')).backgroundColor,
        text: style(starting("Michelle Bachelet has voiced").pop()).color,
        body: style(document.querySelector("li")).color,
        muted: style(starting("20 March 2019").pop()).color,
        title: style(title).color,
        link: style(document.querySelector('a[href^="mailto:"]')).color,
        button: style(button).backgroundColor,
        button_text: style(button).color,
        hashtags: starting("#CSW63").map(d => [style(d).color, d.closest("a") === null]),
    }; })()"""


def luminance(css: str) -> float:
    """WCAG relative luminance of an `rgb(r, g, b)` colour."""
    channels = [int(c) / 255 for c in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def march_edition(settings: Settings, folder: Path) -> None:
    """The March edition (a Markdown body with a list and a link, photos) with its pictures served locally."""
    (folder / "img").mkdir(parents=True)
    items = []
    for n, entry in enumerate(i for i in queue.load(settings).items if "email" in i.channels and i.date.month == 3):
        if entry.image:
            (folder / "img" / f"{n}.png").write_bytes(png(1200, 640, (70 + 40 * n, 110, 160)))
            entry = dataclasses.replace(entry, image=f"/img/{n}.png")
        items.append(entry)
    html = render.render_newsletter(items, settings, edition_date=date(2019, 3, 22),
                                    unsubscribe_url=unsubscribe_url(settings.effective_public_url, TOKEN_PLACEHOLDER),
                                    archive_url="https://news.example.org/archive/3").html
    (folder / "newsletter.html").write_text(html, encoding="utf-8")


def test_a_designed_dark_newsletter_and_a_light_one_both_readable(sample_settings: Settings, tmp_path: Path) -> None:
    march_edition(sample_settings, tmp_path)
    axe = Axe()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen = {}
    with serve(tmp_path) as base, browser() as chromium:
        for scheme in ("light", "dark"):
            context = chromium.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                          else route.abort())  # links and nothing else point away: nothing leaves the machine
            page = context.new_page()
            page.goto(f"{base}/newsletter.html")
            page.wait_for_load_state("networkidle")
            seen[scheme] = page.evaluate(COLOURS)
            contrast = axe.run(page, options={"runOnly": {"type": "rule", "values": ["color-contrast"]},
                                              "resultTypes": ["violations"]})
            assert contrast.violations_count == 0, f"{scheme}: {contrast.generate_report()}"
            for width in (375, 1280):
                page.set_viewport_size({"width": width, "height": 900})
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(SCREENSHOTS / f"newsletter-{scheme}-{width}.png"), full_page=True)
            context.close()
    light, dark = seen["light"], seen["dark"]
    assert luminance(light["card"]) > 0.9 and luminance(light["text"]) < 0.05
    assert luminance(dark["page"]) < 0.02 and luminance(dark["card"]) < 0.03  # designed dark, not inverted
    for part in ("text", "body", "muted", "title", "link"):
        assert luminance(dark[part]) > 0.4, (part, dark[part])
    assert luminance(dark["button"]) > 0.4 and luminance(dark["button_text"]) < 0.02  # a light button, dark words
    for colours in (light, dark):
        assert colours["hashtags"] and all(not_a_link for _, not_a_link in colours["hashtags"])
        assert all(colour == colours["muted"] != colours["link"] for colour, _ in colours["hashtags"])
