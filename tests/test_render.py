"""The newsletter: golden HTML and text for the sample, the template's MJML, escaping and sanitising."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import regex

from bot import queue, render
from bot.content import Item
from bot.errors import RenderError
from bot.mail import TOKEN_PLACEHOLDER, unsubscribe_url
from bot.settings import Settings

from .conftest import assert_golden

# Every MJML tag mjml-python understands that the template may use; MRML passes unknown ones silently.
KNOWN_MJML = {"mjml", "mj-head", "mj-title", "mj-preview", "mj-attributes", "mj-all", "mj-text", "mj-section",
              "mj-image", "mj-style", "mj-body", "mj-column", "mj-button", "mj-divider", "mj-spacer",
              "mj-wrapper", "mj-group", "mj-raw", "mj-font", "mj-breakpoint", "mj-class", "mj-social",
              "mj-social-element", "mj-table", "mj-hero", "mj-navbar", "mj-navbar-link"}


def sample_edition(settings: Settings) -> list[Item]:
    return [i for i in queue.load(settings).items if "email" in i.channels and i.date.month == 7]


def test_golden_newsletter_html_and_text(sample_settings: Settings) -> None:
    items = sample_edition(sample_settings)
    newsletter = render.render_newsletter(
        items, sample_settings, edition_date=date(2019, 7, 26),
        unsubscribe_url=unsubscribe_url(sample_settings.effective_public_url, TOKEN_PLACEHOLDER),
        archive_url="https://news.example.org/archive/7")
    assert_golden("newsletter/edition.html", newsletter.html)
    assert_golden("newsletter/edition.txt", newsletter.text)
    assert newsletter.subject == ("Geneva Rights Desk news: Civil society in Niger presents a draft law to protect "
                                  "human rights defenders and 5 more")
    assert newsletter.preheader.startswith("Also: Human Rights Council renews the mandate")


def test_items_are_newest_first_with_every_part(sample_settings: Settings) -> None:
    items = sample_edition(sample_settings)
    newsletter = render.render_newsletter(items, sample_settings, edition_date=date(2019, 7, 26),
                                          unsubscribe_url="https://news.example.org/unsubscribe/T")
    titles = [i.title for i in sorted(items, key=lambda i: i.date, reverse=True)]
    positions = [newsletter.text.index(t[:40]) for t in titles]  # titles wrap in the text part
    assert positions == sorted(positions)
    html = newsletter.html
    for entry in items:
        assert render.day_label(entry.date) in html
        if entry.link:
            assert f'href="{entry.link}"' in html
        for tag in entry.all_hashtags:
            assert f"#{tag}" in html and f"#{tag}" in newsletter.text
    assert "Geneva Rights Desk" in html and "Rue de Varembé 1" in html
    assert html.count("https://news.example.org/unsubscribe/T") == 1
    assert newsletter.text.count("https://news.example.org/unsubscribe/T") == 1


def test_image_has_alt_text_and_credit(sample_settings: Settings) -> None:
    items = [i for i in queue.load(sample_settings).items if i.image]
    html = render.render_newsletter(items, sample_settings, edition_date=date(2019, 3, 22),
                                    unsubscribe_url="u").html
    for entry in items:
        assert f'alt="{entry.image_alt}"' in html.replace("&#39;", "'")
        assert f"Photo: {entry.image_credit}" in html.replace("&#39;", "'")


def test_template_uses_only_mjml_tags_mjml_python_knows(sample_settings: Settings) -> None:
    items = queue.load(sample_settings).items
    source, _, _ = render.render_sources(items, sample_settings, edition_date=date(2019, 7, 26),
                                         unsubscribe_url="u", archive_url="a")
    used = set(regex.findall(r"</?(mj[a-z-]*)", source))
    assert used <= KNOWN_MJML, used - KNOWN_MJML
    assert "mj-html-attributes" not in source  # mjml-python fails the whole render on it
    assert 'inline="inline"' not in source  # and ignores it: styles that matter sit on attributes


def entry(**fields) -> Item:
    base = dict(id="x", path=Path("x.md"), title="A <b>bold</b> & \"quoted\" title", date=date(2019, 7, 12),
                summary="<script>alert(1)</script> and <img src=x onerror=alert(2)>",
                publish_at=datetime(2019, 7, 12, 9, tzinfo=UTC))
    base.update(fields)
    return Item(**base)


def test_fields_are_escaped_not_interpreted(settings: Settings) -> None:
    html = render.render_newsletter([entry()], settings, edition_date=date(2019, 7, 12), unsubscribe_url="u").html
    assert "<script>" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;" in html and "A &lt;b&gt;bold&lt;/b&gt; &amp;" in html


def test_a_media_library_picture_is_shown_from_bot_serves_public_address(settings: Settings) -> None:
    picture = entry(title="A vote", summary="The Council voted.", image="media/0123456789abcdef.jpg",
                    image_alt="The Council chamber")
    html = render.render_newsletter([picture], settings, edition_date=date(2019, 7, 12), unsubscribe_url="u").html
    assert 'src="https://news.example.org/media/0123456789abcdef.jpg"' in html and 'src="media/' not in html


def test_markdown_body_is_rendered_and_raw_html_sanitised(settings: Settings) -> None:
    body = ("Some **bold** text and [a link](https://example.org).\n\n<script>alert(1)</script>\n\n"
            "<a href=\"javascript:alert(1)\">click</a> <iframe src=\"https://evil.example\"></iframe>"
            "<p onclick=\"x()\">para</p>\n\n[data](data:text/html;base64,PHNjcmlwdD4=)\n\n# Heading")
    newsletter = render.render_newsletter([entry(summary="s", body=body)], settings, edition_date=date(2019, 7, 12),
                                          unsubscribe_url="u")
    html = newsletter.html
    assert "<strong>bold</strong>" in html and 'href="https://example.org"' in html
    for bad in ("<script", "javascript:", "<iframe", "onclick", "href=\"data:"):
        assert bad not in html, bad
    assert "<h2>Heading</h2>" in html
    assert "<script" not in newsletter.text and "**bold**" in newsletter.text


def test_text_part_is_written_for_reading(sample_settings: Settings) -> None:
    text = render.render_newsletter(sample_edition(sample_settings), sample_settings,
                                    edition_date=date(2019, 7, 26), unsubscribe_url="u").text
    assert "<" not in text.replace("<-", "")
    assert "Read more: https://news.example.org/2019/07/iesogi-mandate-renewed" in text
    assert all(len(line) <= 78 for line in text.splitlines() if "http" not in line)


def test_empty_edition_is_a_render_error(settings: Settings) -> None:
    with pytest.raises(RenderError):
        render.render_newsletter([], settings, edition_date=date(2019, 7, 12), unsubscribe_url="u")


def test_a_broken_custom_template_is_a_render_error(make_settings, tmp_path: Path) -> None:
    custom = tmp_path / "templates" / "email"
    custom.mkdir(parents=True)
    (custom / "newsletter.mjml.j2").write_text("<mjml><mj-body>{{ no_such_name }}</mj-body></mjml>")
    settings = make_settings(BOT_TEMPLATES_DIR=str(tmp_path / "templates"))
    with pytest.raises(RenderError, match="no_such_name"):
        render.render_newsletter([entry()], settings, edition_date=date(2019, 7, 12), unsubscribe_url="u")
