"""Queue reading, field by field: the readers of an item's fields (those campaigns.yaml shares are in frontmatter),
each turning a YAML node into its value or raising Invalid with the field, the line and what to do."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

import regex
import yaml

from . import frontmatter as fm
from . import media
from .addresses import literal_private
from .clock import parse_instant
from .frontmatter import CONTROL, Invalid
from .platforms import CHANNELS, PLATFORMS
from .settings import Settings

_SPACE_OR_CONTROL = regex.compile(r"[\s\p{Cc}]")
_LANGUAGE = regex.compile(r"[a-z]{2,3}")
_SCHEME = regex.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
FULL_ADDRESS = "must be a full web address starting with https:// (or http://)"


def summary(doc: fm.Document, node: yaml.Node) -> str:
    value = fm.text(doc, "summary", node).strip()
    if not value:
        raise Invalid("summary", "is empty", doc.line(node))
    if CONTROL.search(value.replace("\n", " ")):
        raise Invalid("summary", "contains a control character", doc.line(node))
    return value


def instant(doc: fm.Document, node: yaml.Node, settings: Settings) -> datetime:
    try:
        return parse_instant(fm.text(doc, "publish_at", node), settings.timezone).astimezone(settings.timezone)
    except ValueError as exc:
        raise Invalid("publish_at", str(exc), doc.line(node)) from None


def check_url(value: str, *, allow_private: bool = False) -> str | None:
    """Why `value` is not a full http(s) web address on the public internet, or None when it is.

    Offline and fast: only `localhost` and literal addresses are judged here; a name that resolves to a private
    address is refused when the picture is fetched (bot.channels.http.fetch_image)."""
    if _SPACE_OR_CONTROL.search(value):
        return "has a space or an invisible character in it: a web address has none (a space inside one is written %20)"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"'{short(value)}' is not a web address that can be opened: open the page in a browser and copy its " \
               "address again"
    scheme = parts.scheme.lower()
    # `www.example.org:8080/x` and `localhost:8080` read as a scheme: a person left out https:// there too.
    if not scheme or "." in scheme or (not parts.netloc and parts.path[:1].isdigit()):
        return f"{FULL_ADDRESS}; '{short(value)}' has none"
    if scheme not in ("http", "https"):
        return f"{FULL_ADDRESS}; '{short(value)}' starts with {parts.scheme}: instead"
    if not parts.hostname or ("." not in parts.hostname.strip(".") and parts.hostname != "localhost"):
        return f"needs a site's full name after {scheme}://, such as news.example.org; '{short(value)}' has none"
    if parts.username or parts.password:
        return "must not carry a user name or password (the part before @)"
    if len(value) > 2000:
        return f"is {len(value):,} characters long; a web address may have at most 2,000"
    local = None if allow_private else literal_private(parts.hostname)
    if local:
        return (f"points to {local}, a private or local address: only public internet addresses are allowed "
                "(BOT_FETCH_ALLOW_PRIVATE=1 allows pictures from an intranet)")
    return None


def short(value: str) -> str:
    """A value as a message quotes it: whole when short, else its start."""
    return value if len(value) <= 60 else value[:57] + "…"


def url(doc: fm.Document, name: str, node: yaml.Node) -> str:
    value = fm.text(doc, name, node).strip()
    why = check_url(value)
    if why:
        raise Invalid(name, why, doc.line(node))
    return value


def image(doc: fm.Document, node: yaml.Node, settings: Settings) -> str:
    """An http(s) URL, or media/NAME: a picture stored by `bot media add` in the queue's media folder."""
    value = fm.text(doc, "image", node).strip()
    path = value.replace("\\", "/")
    if re.match(r"[A-Za-z]:/|/(?!/)", path) or path.startswith(media.FOLDER + "/") or ".." in path.split("/"):
        why = media.check_local(settings, value)  # a file: only the media folder's own will do
    elif _SCHEME.match(value) or value.startswith("//"):
        why = check_url(value, allow_private=settings.fetch_allow_private)  # an intranet's own picture servers
    else:
        why = (f"{FULL_ADDRESS}, or media/NAME for a picture added with `bot media add FILE` or the composer's "
               f"upload; '{short(value)}' is neither")
    if why:
        raise Invalid("image", why, doc.line(node))
    return value


def channels(doc: fm.Document, node: yaml.Node) -> tuple[str, ...]:
    chosen = []
    for value, line in fm.words(doc, "channels", node, allow_single=True):
        if value not in CHANNELS:
            raise Invalid("channels", f"unknown channel '{value}'{fm.did_you_mean(value, CHANNELS)}; "
                          f"choose from {', '.join(CHANNELS)}", line)
        chosen.append(value)
    if not chosen:
        raise Invalid("channels", "is empty: name at least one of " + ", ".join(CHANNELS), doc.line(node))
    return tuple(c for c in CHANNELS if c in chosen)


def social(doc: fm.Document, node: yaml.Node) -> dict[str, str | tuple[str, ...]]:
    """Per platform, one text, or a list of them: the parts of a reply thread, posted in order."""
    out: dict[str, str | tuple[str, ...]] = {}
    for key, value_node, line in fm.mapping(doc, "social", node):
        if key not in PLATFORMS:
            raise Invalid("social", f"unknown platform '{key}'{fm.did_you_mean(key, PLATFORMS)}; "
                          f"choose from {', '.join(PLATFORMS)}", line)
        name = f"social.{key}"
        if isinstance(value_node, yaml.SequenceNode):
            parts = tuple(social_text(name, text, at, n) for n, (text, at) in
                          enumerate(fm.words(doc, name, value_node), 1))
            out[key] = parts if len(parts) > 1 else parts[0]
        else:
            out[key] = social_text(name, fm.text(doc, name, value_node), line)
    return out


def social_text(name: str, raw: str, line: int, part: int = 0) -> str:
    text = raw.strip()
    which = f"part {part} " if part else ""
    if not text:
        raise Invalid(name, f"{which}is empty", line)
    if CONTROL.search(text):
        raise Invalid(name, f"{which}contains a control character", line)
    return text


def flag(doc: fm.Document, name: str, node: yaml.Node) -> bool:
    value = fm.text(doc, name, node).strip().lower()
    if value not in ("true", "false", "yes", "no"):
        raise Invalid(name, f"'{value}' is not true or false", doc.line(node))
    return value in ("true", "yes")


def lang(doc: fm.Document, node: yaml.Node) -> str:
    value = fm.text(doc, "lang", node).strip()
    if not _LANGUAGE.fullmatch(value):
        raise Invalid("lang", f"'{value}' is not an ISO 639-1 language code such as en or fr", doc.line(node))
    return value
