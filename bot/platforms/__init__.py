"""Platforms: the registry of social networks, between social (composing posts) and channels (sending them).

Each module of this package is one network and says everything about it: its name, its settings, how it counts
a post and shows a link, the body of its create call, and its channel (send, reconcile, check, close), which it
registers with `channels.register(NAME, "api")`. Nothing outside its module names a network: the settings loader,
the validator, the composer, the ledger, the outbox, the preview, `bot doctor` and `bot status` ask this registry.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import regex

with warnings.catch_warnings():
    # twitter-text-parser imports pkg_resources, which setuptools warns about on every command's stderr: a
    # library's notice to its maintainers, not to the person running `bot`.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from twitter_text import extract_urls_with_indices

if TYPE_CHECKING:
    from ..social import Post

GRAPHEME = regex.compile(r"\X")
# URLs that staff typed inside the prose; trailing sentence punctuation is not part of the URL.
PROSE_URL = regex.compile(r"https?://[^\s<>\"]+?(?=[.,;:!?'\")\]]*(?:\s|$))")
HASHTAG = regex.compile(r"(?<![\p{L}\p{M}\p{N}_#&/])#([\p{L}\p{M}\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*)")
BACKENDS = ("outbox", "off", "api")


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters). In ASCII each character is one but CR LF, which is
    one together: counted without the cluster regex, which takes most of `bot validate`'s time otherwise."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(GRAPHEME.findall(text))


@lru_cache(maxsize=1024)
def one_whole_url(link: str) -> bool:
    found = extract_urls_with_indices(link)
    return len(found) == 1 and found[0]["indices"] == [0, len(link)] and link.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Option:
    """One setting of a platform: its name in the environment and `.env`, its key in the platform's options, how
    it is read (a parser of bot.setting_values), its default; `required` when the `api` backend needs it."""

    env: str
    key: str
    parse: Callable[[str], Any]
    default: str = ""
    secret: bool = False
    required: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a composed post's parts are: its prose first, then the link as shown, then the hashtags."""

    prose: str
    link_shown: str | None
    tags: tuple[str, ...]

    def text(self) -> str:
        parts = [self.prose] if self.prose else []
        if self.link_shown:
            parts.append(self.link_shown)
        if self.tags:
            parts.append(" ".join("#" + t for t in self.tags))
        return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class Platform:
    """How one network counts a post and what its create call's body is; each module subclasses it once."""

    name: ClassVar[str]
    title: ClassVar[str]  # as people write it: "Mastodon"
    order: ClassVar[int]  # where it stands in lists and tables
    colour: ClassVar[str]  # its badge in the preview and the staff pages (white text on it)
    options: ClassVar[tuple[Option, ...]] = ()
    # BOT_NAME_BACKEND when not set: `outbox`, or `off` for a network an organisation turns on by choice (so that
    # an upgrade of Herald never starts writing posts for a network nobody asked for)
    default_backend: ClassVar[str] = "outbox"
    fix: ClassVar[str] = ""  # where a person fixes refused credentials, for `bot doctor`
    payload_is: ClassVar[str] = ""  # what the body is the body of, said in the outbox and preview files
    max_tag: ClassVar[int | None] = None  # the longest hashtag (in graphemes) it links, when it has a limit
    threads: ClassVar[bool] = True  # posts a list of `social` parts as a reply thread; else joins them as one post
    reply_field: ClassVar[str] = ""  # the field of its create call that makes a post a reply, as the docs name it
    limit: int

    def measure(self, text: str) -> int:
        raise NotImplementedError

    def fits(self, text: str) -> bool:
        return self.measure(text) <= self.limit

    def why_not(self, text: str) -> str | None:
        """Why `text` does not fit other than by its length (too many links), in words; None when length is all."""
        return None

    def show_link(self, link: str) -> str:
        return link

    def link_length(self, link: str) -> int:
        """What a post's link alone counts. A link twitter-text finds whole is one URL, which X and Mastodon
        both count as 23: known without running the (slow) full parse."""
        return 23 if one_whole_url(link) else self.measure(self.show_link(link))

    def with_limit(self, limit: int) -> Platform:
        """The same rules under another limit (a Mastodon instance's own)."""
        return replace(self, limit=limit)

    def facets(self, text: str, layout: Layout, link: str | None) -> tuple[dict[str, Any], ...]:
        """Rich-text annotations the platform wants beside the text; none by default."""
        return ()

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        """The body of the create call as Herald composes it (`added_when_sent` says what the backend adds)."""
        raise NotImplementedError

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        """(field, what it is in plain words, how the backend gets it) for each part the real backend adds to this
        post's payload when it sends: it needs the network (an upload, a card), so no file can show it."""
        return []


REGISTRY: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    REGISTRY[platform.name] = platform
    return platform


def names() -> tuple[str, ...]:
    """Every platform's name, in the order they are listed."""
    return tuple(REGISTRY)


def options_of(name: str) -> tuple[Option, ...]:
    return REGISTRY[name].options


def tag_limit() -> tuple[int, str] | None:
    """The strictest hashtag limit of any platform, and that platform's title: a tag must go out everywhere."""
    limits = [(p.max_tag, p.title) for p in REGISTRY.values() if p.max_tag is not None]
    return min(limits) if limits else None


def _discover() -> None:
    """Import each module of this package once: each registers itself; the registry keeps their `order`."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    ordered = sorted(REGISTRY.values(), key=lambda p: (p.order, p.name))
    REGISTRY.clear()
    REGISTRY.update((p.name, p) for p in ordered)


_discover()
# Every platform's name, and everything Herald delivers (email first), in the registry's order.
PLATFORMS: tuple[str, ...] = tuple(REGISTRY)
CHANNELS: tuple[str, ...] = ("email", *PLATFORMS)
