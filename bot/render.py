"""The newsletter, from the due items: Jinja2 -> MJML -> HTML (mjml-python) plus a plain-text part, once per edition.

The unsubscribe URL arrives as a fixed-length placeholder; per-recipient work later only fills it in.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import nh3
from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup
from mjml import mjml2html

from . import i18n, plaintext, utm
from .content import Item
from .errors import RenderError
from .media import public_url
from .settings import Settings

RTL = {"ar", "arc", "dv", "fa", "ha", "he", "khw", "ks", "ku", "ps", "ur", "yi"}
# What a Markdown body may keep once rendered: text structure and links, no scripts, styles or embeds.
BODY_TAGS = {"p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote", "h2", "h3", "h4",
             "code", "pre", "hr"}
BODY_ATTRIBUTES = {"a": {"href", "title"}}
BODY_SCHEMES = {"http", "https", "mailto"}

_markdown = plaintext.MARKDOWN
# A link as nh3 writes it: every attribute double-quoted, with &, ", <, > and the no-break space as entities.
_ANCHOR = re.compile(r"<a\s[^>]*>")
_HREF = re.compile(r'(\shref=")([^"]*)(")')
_ATTRIBUTE = {"&": "&amp;", "\xa0": "&nbsp;", '"': "&quot;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True, slots=True)
class Newsletter:
    subject: str
    preheader: str
    html: str
    text: str
    item_ids: tuple[str, ...]


def body_html(markdown: str, tag: utm.Tagger = utm.UNTAGGED) -> Markup:
    """A Markdown body as HTML with anything unsafe removed (nh3), ready for the template; its links tagged by `tag`."""
    raw = _markdown.render(markdown)
    # Headings in a body sit under the item's own title, so they start at h2.
    raw = raw.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    clean = nh3.clean(raw, tags=BODY_TAGS, attributes=BODY_ATTRIBUTES, url_schemes=BODY_SCHEMES,
                      link_rel="noopener noreferrer")
    if tag.active:  # on what nh3 kept, so that a link written as HTML in the Markdown is tagged too
        clean = _ANCHOR.sub(lambda a: _HREF.sub(lambda h: h[1] + _tagged_attribute(h[2], tag) + h[3], a[0]), clean)
    return Markup(clean.strip())


def _tagged_attribute(value: str, tag: utm.Tagger) -> str:
    url = html.unescape(value)
    tagged = tag.url(url)
    return value if tagged == url else "".join(_ATTRIBUTE.get(c, c) for c in tagged)


def body_text(markdown: str, tag: utm.Tagger = utm.UNTAGGED) -> str:
    """A Markdown body as the text part shows it (plaintext), its links tagged by `tag` before lines are wrapped."""
    if not tag.active:
        return plaintext.markdown_text(markdown)
    tokens = _markdown.parse(markdown)
    for inline in (t for t in tokens if t.children):
        children = inline.children or []
        for at, token in enumerate(children):
            href = token.attrGet("href") if token.type == "link_open" else None
            if not isinstance(href, str):
                continue
            token.attrSet("href", tag.url(href))
            # A link that shows its own address (<https://...>) shows it tagged: once, not as `URL (tagged URL)`.
            shown = children[at + 1] if at + 2 < len(children) and children[at + 2].type == "link_close" else None
            if shown is not None and shown.type == "text" and _markdown.normalizeLink(shown.content) == href:
                shown.content = tag.url(shown.content)
    # markdown_text parses the source itself, and its tokens are tagged here: the same layout, from these tokens.
    return "\n".join(plaintext._blocks(SyntaxTreeNode(tokens).children, plaintext.WIDTH))


def day_label(day: date, lang: str = "en") -> str:
    return i18n.day(day, lang)


@lru_cache(maxsize=16)
def environments(templates_dir: str, lang: str = "en") -> tuple[Environment, Environment]:
    """(MJML environment, autoescaped; text environment) in `lang`, both strict about undefined names."""
    loaders: list[BaseLoader] = [FileSystemLoader(templates_dir)] if templates_dir else []
    try:
        # The newsletter's own (email/), from the repository's templates/ folder, installed as herald_templates.
        loaders.append(PackageLoader("herald_templates", "."))
    except ModuleNotFoundError as exc:  # an editable install made before templates/ left the package
        raise RenderError("the newsletter templates (package herald_templates) are not installed: "
                          "install Herald again (pip install -e .)") from exc
    loader = ChoiceLoader([*loaders, PackageLoader("bot", "templates")])  # preview/ lives in the package
    markup = Environment(loader=loader, autoescape=True, undefined=StrictUndefined, trim_blocks=False,
                         extensions=["jinja2.ext.i18n"])
    text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True,
                       extensions=["jinja2.ext.i18n"])
    text.filters["wrap"] = plaintext.wrap  # lines of the text part: 72 columns, never a URL cut
    for env in (markup, text):
        env.install_gettext_translations(i18n.translations(lang, "email"), newstyle=True)  # type: ignore[attr-defined]
    return markup, text


def _entry(item: Item, settings: Settings, tracking: utm.Tracking | None, lang: str) -> dict[str, Any]:
    tag = utm.tagger(tracking, item, utm.NEWSLETTER)
    own = item.own_language(settings.language)
    return {
        # An item shown in another language than the edition's (not translated) says so, to eyes and screen readers.
        "lang": own if own != lang else "",
        "language": i18n.language_name(own, lang, running=True) if own != lang else "",
        "title": item.title,
        "date_label": day_label(item.date, lang),
        "campaign": item.campaign.name_in(lang) if item.campaign else "",
        "summary": item.summary,
        "body_html": body_html(item.body, tag) if item.body else "",
        "body_text": body_text(item.body, tag) if item.body else "",
        "image": public_url(settings, item.image) if item.image else "",
        "image_alt": item.image_alt or "",
        "image_credit": item.image_credit or "",
        "link": tag.url(item.link) if item.link else "",  # the title's, the button's and the picture's
        "hashtags": " ".join("#" + t for t in item.all_hashtags),
    }


def order(items: Sequence[Item]) -> list[Item]:
    """Newest first: by news date, then by publication time."""
    return sorted(items, key=lambda i: (i.date, i.publish_at, i.id), reverse=True)


def title_in(settings: Settings, lang: str) -> str:
    """The newsletter's name in `lang`: BOT_NEWSLETTER_NAME as given (a name is not translated), else the
    organisation's news as the language says it."""
    if settings.newsletter_name:
        return settings.newsletter_name
    return i18n.translations(lang, "email").gettext("%(organisation)s news") % {"organisation": settings.org_name}


def subject_for(items: Sequence[Item], settings: Settings, lang: str = "en") -> str:
    words = i18n.translations(lang, "email")
    name = title_in(settings, lang)
    if len(items) == 1:
        return words.gettext("%(newsletter)s: %(title)s") % {"newsletter": name, "title": items[0].title}
    more = len(items) - 1
    return words.ngettext("%(newsletter)s: %(title)s and %(num)s more", "%(newsletter)s: %(title)s and %(num)s more",
                          more) % {"newsletter": name, "title": items[0].title, "num": i18n.number(more, lang)}


def preheader_for(items: Sequence[Item], lang: str = "en") -> str:
    """The inbox snippet: the lead item's summary, or the other titles when there are several."""
    also = i18n.translations(lang, "email").gettext("Also: %(titles)s")
    text = also % {"titles": "; ".join(i.title for i in items[1:4])} if len(items) > 1 else items[0].summary
    return text if len(text) <= 140 else text[:139].rsplit(" ", 1)[0] + "…"


def render_sources(
    items: Sequence[Item],
    settings: Settings,
    *,
    edition_date: date,
    unsubscribe_url: str,
    archive_url: str | None = None,
    subject_prefix: str = "",
    lang: str | None = None,
    language_url: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(MJML source, plain text, template context) of one edition in `lang` (None: the default language): its
    items as they read in it, as given. `language_url`: where a subscriber chooses their language (none with one
    language)."""
    if not items:
        raise RenderError("an edition needs at least one item")
    lang = lang or settings.language
    ordered = order(items)
    tracking = utm.tracking(settings)  # Herald's own links (unsubscribe, archive) are never given to it
    context = {
        "lang": lang,
        "rtl": lang in RTL,
        "subject": subject_prefix + subject_for(ordered, settings, lang),
        "preheader": preheader_for(ordered, lang),
        "title": title_in(settings, lang),
        "edition_label": day_label(edition_date, lang),
        "items": [_entry(i, settings, tracking, lang) for i in ordered],
        "item_ids": tuple(i.id for i in ordered),
        "org_name": settings.org_name,
        "org_address": settings.org_address,
        "unsubscribe_url": unsubscribe_url,
        "archive_url": archive_url,
        "language_url": language_url if len(settings.languages) > 1 else None,
    }
    markup_env, text_env = environments(str(settings.templates_dir or ""), lang)
    try:
        source = markup_env.get_template("email/newsletter.mjml.j2").render(context)
        text = text_env.get_template("email/newsletter.txt.j2").render(context)
    except TemplateError as exc:
        # A syntax error knows its file and line: said, so that whoever edited the template finds the place.
        where = ":".join(str(p) for p in (getattr(exc, "filename", None), getattr(exc, "lineno", None)) if p)
        raise RenderError(f"newsletter template{' ' + where if where else ''}: {exc}") from exc
    return source, text, context


def render_newsletter(items: Sequence[Item], settings: Settings, **kwargs: Any) -> Newsletter:
    """One edition's subject, preheader, HTML and text; everything per-recipient stays a placeholder."""
    source, text, context = render_sources(items, settings, **kwargs)
    try:
        html_out = mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(f"newsletter MJML did not compile: {exc}") from exc
    return Newsletter(context["subject"], context["preheader"], html_out, text, context["item_ids"])
