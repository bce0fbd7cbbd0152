"""The newsletter: golden HTML and text for the sample, the template's MJML, escaping and sanitising."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import regex
from markupsafe import escape

from bot import queue, render
from bot.content import Item
from bot.errors import RenderError
from bot.mail import TOKEN_PLACEHOLDER, language_url, unsubscribe_url
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


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_golden_newsletter_in_french_and_spanish(sample_settings: Settings, lang: str) -> None:
    """The July edition as a French and a Spanish subscriber get it: translated items in their language, the others
    as written and marked, every fixed word and date in the language, the link to choose one's language."""
    items = [i.in_language(lang, "en") for i in sample_edition(sample_settings)]
    public = sample_settings.effective_public_url
    newsletter = render.render_newsletter(
        items, sample_settings, edition_date=date(2019, 7, 26), lang=lang,
        unsubscribe_url=unsubscribe_url(public, TOKEN_PLACEHOLDER),
        language_url=language_url(public, TOKEN_PLACEHOLDER),
        archive_url=f"https://news.example.org/archive/7/{lang}")
    assert_golden(f"newsletter/edition.{lang}.html", newsletter.html)
    assert_golden(f"newsletter/edition.{lang}.txt", newsletter.text)


def test_golden_text_part_of_a_markdown_body_with_photos(sample_settings: Settings) -> None:
    """The March edition: a body with bold words, a numbered list and a mailto link, and photos with credits."""
    items = [i for i in queue.load(sample_settings).items if "email" in i.channels and i.date.month == 3]
    newsletter = render.render_newsletter(
        items, sample_settings, edition_date=date(2019, 3, 22),
        unsubscribe_url=unsubscribe_url(sample_settings.effective_public_url, TOKEN_PLACEHOLDER),
        archive_url="https://news.example.org/archive/3")
    assert_golden("newsletter/edition-march.txt", newsletter.text)


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
    text = newsletter.text
    assert "<script" not in text and "alert(1)" not in text and "<p" not in text and "<iframe" not in text
    assert "Some bold text and a link (https://example.org)." in text and "**" not in text
    assert "\nclick para\n" in text and "\nHeading\n" in text and "# Heading" not in text


def test_text_part_is_written_for_reading(sample_settings: Settings) -> None:
    text = render.render_newsletter(sample_edition(sample_settings), sample_settings,
                                    edition_date=date(2019, 7, 26), unsubscribe_url="u").text
    assert "<" not in text.replace("<-", "")
    assert "Read more: https://news.example.org/2019/07/iesogi-mandate-renewed" in text
    assert all(len(line) <= 72 for line in text.splitlines())


def test_every_line_of_the_text_part_is_wrapped_at_72_and_no_url_is_cut(sample_settings: Settings) -> None:
    """The March edition has a Markdown body (a list, a mailto link) and photos; long fields and a long link
    everywhere: each line fits in 72 columns but a URL, which stands whole on a line of its own."""
    long_url = "https://news.example.org/2019/03/" + "a-very-long-address-for-a-report" * 2
    items = [dataclasses.replace(i, link=long_url if i.link else None,
                                 image_credit=(i.image_credit or "") + " " + "and a long credit line" * 3)
             for i in queue.load(sample_settings).items if "email" in i.channels and i.date.month == 3]
    long_org = dataclasses.replace(sample_settings, org_address="Rue de Varembé 1, 1202 Geneva, " * 4)
    text = render.render_newsletter(items, long_org, edition_date=date(2019, 3, 22),
                                    unsubscribe_url=unsubscribe_url(sample_settings.effective_public_url,
                                                                    TOKEN_PLACEHOLDER)).text
    assert "**" not in text and "](" not in text and "mailto:" not in text
    assert "Press contact: Eleanor Openshaw, e.openshaw@example.org" in text
    assert "1. States should say publicly that they support CICIG's work, and urge\n   Guatemala" in text
    for line in text.splitlines():
        assert len(line) <= 72 or line == long_url, line
    assert text.count("\n" + long_url + "\n") == sum(1 for i in items if i.link)
    assert "\n" + unsubscribe_url(sample_settings.effective_public_url, TOKEN_PLACEHOLDER) + "\n" in text


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
    # A syntax error says which file and line to look at.
    (custom / "newsletter.mjml.j2").write_text("<mjml>\n<mj-body>\n{% if %}</mj-body></mjml>")
    with pytest.raises(RenderError) as raised:
        render.render_newsletter([entry()], settings, edition_date=date(2019, 7, 12), unsubscribe_url="u")
    assert str(raised.value).startswith(f"newsletter template {custom / 'newsletter.mjml.j2'}:3: ")


def test_a_templates_folder_that_is_not_there_or_holds_no_template_is_a_setting_error(make_settings,
                                                                                     tmp_path: Path) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"BOT_TEMPLATES_DIR: '.*nonexistent' is not a folder"):
        make_settings(BOT_TEMPLATES_DIR=str(tmp_path / "nonexistent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"holds no email/newsletter\.mjml\.j2 or email/newsletter\.txt\.j2"):
        make_settings(BOT_TEMPLATES_DIR=str(tmp_path / "empty"))


def july_html(settings: Settings) -> str:
    return render.render_newsletter(sample_edition(settings), settings, edition_date=date(2019, 7, 26),
                                    unsubscribe_url="https://news.example.org/unsubscribe/T",
                                    archive_url="https://news.example.org/archive/7").html


def test_images_are_as_wide_as_the_content_box_for_outlook(sample_settings: Settings) -> None:
    """Outlook draws an <img> at its width attribute: the card's 600 px, less its 1 px borders and the 24 px
    paddings each side. mjml-python alone would write the column's 598."""
    content_box = 600 - 2 * 1 - 2 * 24
    items = [i for i in queue.load(sample_settings).items if i.image]
    html = render.render_newsletter(items, sample_settings, edition_date=date(2019, 3, 22), unsubscribe_url="u").html
    widths = regex.findall(r'<img\b[^>]*\bwidth="([^"]*)"', html)
    assert widths == [str(content_box)] * len(items)
    assert html.count(f"width:{content_box}px") >= len(items)  # the cell Outlook sizes the picture by


def test_hashtags_are_muted_words_not_links(sample_settings: Settings) -> None:
    html = july_html(sample_settings)
    link_colour = regex.search(r"\ba \{ color: (#[0-9a-f]{6}); \}", html).group(1)
    for entry in sample_edition(sample_settings):
        tags = " ".join("#" + t for t in entry.all_hashtags)
        found = regex.search(r'<div style="([^"]*)">' + regex.escape(tags) + "</div>", html)
        assert found, tags
        colour = regex.search(r"(?<![-\w])color:(#[0-9a-f]{6})", found.group(1)).group(1)
        assert colour == "#52606d" and colour != link_colour  # the dates' and captions' grey
        assert f">{tags}</a>" not in html


def test_the_preheader_is_hidden_without_a_colour_or_size_trick(sample_settings: Settings) -> None:
    """mj-preview hides it in 1px type coloured like the background, which SpamAssassin scores
    (HTML_FONT_LOW_CONTRAST): this one is display:none and nothing else."""
    html = july_html(sample_settings)
    hidden = regex.findall(r'<div class="herald-preheader" style="([^"]*)">([^<]*)</div>', html)
    assert len(hidden) == 1
    style, text = hidden[0]
    assert text.startswith("Also: Human Rights Council renews the mandate")
    assert "display:none" in style and "mso-hide:all" in style
    assert "color" not in style and "font-size" not in style and "line-height" not in style
    assert "color:#ffffff;line-height:1px" not in html  # no mj-preview either


def test_each_button_names_what_it_opens(sample_settings: Settings) -> None:
    html = july_html(sample_settings)
    entries = sample_edition(sample_settings)
    names = regex.findall(r'<a href="([^"]*)" aria-label="([^"]*)"[^>]*>Read more</a>', html)
    assert len(names) == len(entries) == len({name for _, name in names})
    for entry in entries:
        assert (entry.link, "Read more: " + escape(entry.title)) in names


def test_dark_mode_is_declared_to_mail_apps(sample_settings: Settings) -> None:
    html = july_html(sample_settings)
    assert '<meta name="color-scheme" content="light dark"' in html
    assert '<meta name="supported-color-schemes" content="light dark"' in html
    assert "@media (prefers-color-scheme: dark)" in html
