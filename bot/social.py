"""Social posts, from a validated item: the text for X, Mastodon and Bluesky within each one's limit, and its API body.

A post is prose (the platform's override, else title and summary), then the link, then the hashtags.
When it is too long the prose is cut at a word boundary with an ellipsis; a URL, a hashtag or a grapheme
cluster is never cut and the link is never dropped; hashtags go from the end only when the prose would
otherwise shrink below a quarter of the limit.
"""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import regex

with warnings.catch_warnings():
    # twitter-text-parser imports pkg_resources, which setuptools warns about on every command's stderr: a
    # library's notice to its maintainers, not to the person running `bot`.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from twitter_text import extract_urls_with_indices, parse_tweet

from .content import Item
from .errors import ContentError

ELLIPSIS = "…"
GRAPHEME = regex.compile(r"\X")
# URLs that staff typed inside the prose; trailing sentence punctuation is not part of the URL.
PROSE_URL = regex.compile(r"https?://[^\s<>\"]+?(?=[.,;:!?'\")\]]*(?:\s|$))")
HASHTAG = regex.compile(r"(?<![\p{L}\p{M}\p{N}_#&/])#([\p{L}\p{M}\p{N}_]*\p{L}[\p{L}\p{M}\p{N}_]*)")
_BREAKS = regex.compile(r"\r\n?|[\u2028\u2029\x85]")
_RUN_OF_SPACES = regex.compile(r" {2,}")
_BLANK_LINES = regex.compile(r"\n{3,}")
_BAD = regex.compile(r"[^\P{Cc}\n]|[\ufeff\ufffe\uffff]")  # control characters but the line feed


def graphemes(text: str) -> int:
    return len(GRAPHEME.findall(text))


def clean(text: str) -> str:
    """NFC, one kind of line break, no control characters, no runs of blank lines."""
    text = _BREAKS.sub("\n", unicodedata.normalize("NFC", text)).replace("\t", " ")
    text = _BAD.sub("", text)
    text = "\n".join(_RUN_OF_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


@dataclass(frozen=True, slots=True)
class Platform:
    """How one network counts a post; subclasses differ only in `measure` and how a link is shown."""

    name: str
    limit: int

    def measure(self, text: str) -> int:
        raise NotImplementedError

    def fits(self, text: str) -> bool:
        return self.measure(text) <= self.limit

    def show_link(self, link: str) -> str:
        return link

    def link_length(self, link: str) -> int:
        """What a post's link alone counts. A link twitter-text finds whole is one URL, which X and Mastodon
        both count as 23: known without running the (slow) full parse."""
        return 23 if _one_whole_url(link) else self.measure(self.show_link(link))


@lru_cache(maxsize=1024)
def _one_whole_url(link: str) -> bool:
    found = extract_urls_with_indices(link)
    return len(found) == 1 and found[0]["indices"] == [0, len(link)] and link.startswith(("http://", "https://"))


@lru_cache(maxsize=4096)
def _x_length(text: str) -> int:
    return int(parse_tweet(text).weightedLength)


@dataclass(frozen=True, slots=True)
class XPlatform(Platform):
    def measure(self, text: str) -> int:
        return _x_length(text)  # twitter-text v3: URLs 23, CJK and emoji 2


@dataclass(frozen=True, slots=True)
class MastodonPlatform(Platform):
    url_length: int = 23

    def measure(self, text: str) -> int:
        # As Mastodon's StatusLengthValidator: grapheme clusters, each http(s) URL counting a fixed length.
        total, pos = 0, 0
        for url in extract_urls_with_indices(text):
            start, end = url["indices"]
            if not url["url"].lower().startswith(("http://", "https://")):
                continue
            total += graphemes(text[pos:start]) + self.url_length
            pos = end
        return total + graphemes(text[pos:])


@dataclass(frozen=True, slots=True)
class BlueskyPlatform(Platform):
    max_bytes: int = 3000

    def measure(self, text: str) -> int:
        return graphemes(text)

    def fits(self, text: str) -> bool:
        return graphemes(text) <= self.limit and len(text.encode("utf-8")) <= self.max_bytes

    def link_length(self, link: str) -> int:
        return graphemes(self.show_link(link))  # shown shortened, never more than 31 clusters

    def show_link(self, link: str) -> str:
        """The link as shown: no scheme, and long ones shortened; its facet carries the full URI."""
        parts = urlsplit(link)
        host = parts.netloc.removeprefix("www.")
        shown = host + parts.path + (f"?{parts.query}" if parts.query else "")
        shown = shown.rstrip("/") or host
        clusters = GRAPHEME.findall(shown)
        if len(clusters) > 32:
            shown = "".join(clusters[:30]) + ELLIPSIS
        return shown


PLATFORMS: dict[str, Platform] = {
    "x": XPlatform("x", 280),
    "mastodon": MastodonPlatform("mastodon", 500),
    "bluesky": BlueskyPlatform("bluesky", 300),
}


@dataclass(frozen=True, slots=True)
class Post:
    platform: str
    item: str
    text: str
    length: int
    limit: int
    link: str | None = None
    facets: tuple[dict[str, Any], ...] = ()
    shortened: bool = False
    dropped_tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    wanted: int = 0  # the length it would have had uncut, with every hashtag


@dataclass(frozen=True, slots=True)
class _Layout:
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


def prose_for(item: Item, platform: str) -> str:
    override = item.social.get(platform)
    return clean(override if override else f"{item.title}\n\n{item.summary}")


def holds_tag(text: str, tag: str) -> bool:
    wanted = tag.casefold()
    return any(m.group(1).casefold() == wanted for m in HASHTAG.finditer(text))


def compose(item: Item, platform: str, limit: int | None = None) -> Post:
    """The post for one platform; raises ContentError only when even the bare link cannot fit."""
    rules = PLATFORMS[platform]
    if limit is not None:
        rules = type(rules)(rules.name, limit)
    prose = prose_for(item, platform)
    link = item.link if item.link and item.link not in prose else None
    link_shown = rules.show_link(link) if link else None
    tags = tuple(t for t in item.all_hashtags if not holds_tag(prose, t))

    full = _Layout(prose, link_shown, tags)
    if rules.fits(full.text()):
        return _post(item, rules, full, False, ())
    floor = min(rules.measure(prose), rules.limit // 4)
    wanted = rules.measure(full.text())
    for keep in range(len(tags), -1, -1):
        layout = _Layout(prose, link_shown, tags[:keep])
        if keep < len(tags) and rules.fits(layout.text()):
            return _post(item, rules, layout, False, tags[keep:], wanted)
        cut = _longest_fitting_cut(rules, layout)
        if cut is not None and (keep == 0 or rules.measure(cut.prose) >= floor):
            return _post(item, rules, cut, True, tags[keep:], wanted)
    raise ContentError(
        str(item.path), "link", f"is too long for {platform}: it alone counts more than {rules.limit}"
    )


# Scripts written without spaces between words: any boundary between their characters is a word boundary.
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]")


def _cut_points(prose: str) -> tuple[list[int], list[int]]:
    """Word boundaries, and (as a fallback for long unbroken runs) grapheme boundaries; never inside a URL or tag."""
    protected = [m.span() for m in PROSE_URL.finditer(prose)] + [m.span() for m in HASHTAG.finditer(prose)]
    words, clusters, pos = [], [], 0
    for g in GRAPHEME.findall(prose):
        pos += len(g)
        if pos >= len(prose) or any(a < pos < b for a, b in protected):
            continue
        clusters.append(pos)
        before, after = prose[pos - 1], prose[pos]
        if (after.isspace() and not before.isspace()) or _UNSPACED.match(before) or _UNSPACED.match(after):
            words.append(pos)
    return words, clusters


def _shorten(prose: str, cut: int) -> str:
    head = prose[:cut].rstrip().rstrip(",;:–—-").rstrip()
    return head + ELLIPSIS if head else ""


def _longest_fitting_cut(rules: Platform, layout: _Layout) -> _Layout | None:
    words, clusters = _cut_points(layout.prose)
    for points in (words, clusters):
        lo, hi, best = 0, len(points) - 1, None
        while lo <= hi:  # the text only grows with the cut, so the fitting cuts form a prefix
            mid = (lo + hi) // 2
            candidate = _Layout(_shorten(layout.prose, points[mid]), layout.link_shown, layout.tags)
            if rules.fits(candidate.text()):
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None and best.prose:
            return best
    bare = _Layout("", layout.link_shown, layout.tags)
    return bare if layout.link_shown and rules.fits(bare.text()) else None


def _post(
    item: Item, rules: Platform, layout: _Layout, shortened: bool, dropped: tuple[str, ...], wanted: int = 0
) -> Post:
    text = layout.text()
    length = rules.measure(text)
    notes = []
    if shortened:
        notes.append("text shortened to fit")
    if dropped:
        notes.append("hashtags dropped to fit: " + " ".join("#" + t for t in dropped))
    facets = _facets(text, layout, item.link) if rules.name == "bluesky" else ()
    return Post(rules.name, item.id, text, length, rules.limit, item.link, facets, shortened, dropped,
                tuple(notes), wanted or length)


def _facets(text: str, layout: _Layout, link: str | None) -> tuple[dict[str, Any], ...]:
    """Bluesky rich-text facets: UTF-8 byte ranges for every link and every #tag in the final text."""
    spans: list[tuple[int, int, dict[str, Any]]] = []
    prose_end = len(layout.prose)
    for m in PROSE_URL.finditer(text, 0, prose_end):
        spans.append((m.start(), m.end(), {"$type": "app.bsky.richtext.facet#link", "uri": m.group()}))
    if layout.link_shown and link:
        start = prose_end + (2 if layout.prose else 0)
        spans.append((start, start + len(layout.link_shown), {"$type": "app.bsky.richtext.facet#link", "uri": link}))
    for m in HASHTAG.finditer(text):
        if m.start() >= prose_end or not any(a <= m.start() < b for a, b, _ in spans):
            tag = m.group(1)
            if graphemes(tag) <= 64 and len(tag.encode()) <= 640:
                spans.append((m.start(), m.end(), {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
    spans.sort(key=lambda s: s[0])
    facets = []
    for start, end, feature in spans:
        byte_start = len(text[:start].encode("utf-8"))
        byte_end = byte_start + len(text[start:end].encode("utf-8"))
        facets.append({"index": {"byteStart": byte_start, "byteEnd": byte_end}, "features": [feature]})
    return tuple(facets)


def payload(post: Post, *, language: str, visibility: str = "public",
            created_at: datetime | None = None) -> dict[str, Any]:
    """The body of the platform's create call as Herald composes it; `added_when_sent` says what the real
    backend adds to it (uploaded pictures, link cards), which needs the network."""
    if post.platform == "x":
        return {"text": post.text}  # POST /2/tweets
    if post.platform == "mastodon":
        return {"status": post.text, "visibility": visibility, "language": language}  # POST /api/v1/statuses
    when = (created_at or datetime.now(UTC)).astimezone(UTC)
    return {  # com.atproto.repo.createRecord's record, an app.bsky.feed.post
        "$type": "app.bsky.feed.post",
        "text": post.text,
        "facets": list(post.facets),
        "createdAt": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "langs": [language],
    }


# What the real backends add to `payload` when they send, which the outbox and the preview cannot write: each
# needs an upload first, or the account's identity. Said in words beside the body, so that nobody takes the
# file for the whole call.
_WRAPPER = {
    "x": "the body of POST /2/tweets",
    "mastodon": "the body of POST /api/v1/statuses",
    "bluesky": "the `record` of com.atproto.repo.createRecord, sent with the account's `repo` (its DID), "
               "`collection` app.bsky.feed.post and an `rkey` made from the item and the first attempt",
}


def added_when_sent(platform: str, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
    """(field, what it is in plain words, how the backend gets it) for each part the platform's real backend
    adds to this post's payload at sending time."""
    if platform == "x" and image:
        return [("media.media_ids", "the picture, with its alt text",
                 "uploaded with POST /2/media/upload, alt text set with POST /2/media/metadata")]
    if platform == "mastodon" and image:
        return [("media_ids", "the picture, with its alt text", "uploaded first with POST /api/v2/media")]
    if platform == "bluesky" and link:
        card = "a link card with the item's link, title and summary"
        return [("embed", card + (", the picture as its thumbnail" if image else ""),
                 "app.bsky.embed.external" + ("; the picture uploaded with com.atproto.repo.uploadBlob" if image
                                              else ""))]
    if platform == "bluesky" and image:
        return [("embed", "the picture, with its alt text",
                 "app.bsky.embed.images; uploaded with com.atproto.repo.uploadBlob")]
    return []


def file_record(platform: str, item: str, body: dict[str, Any], *, link: str | None, image: str | None,
                image_alt: str | None) -> dict[str, Any]:
    """One post as the outbox and the preview write it: the body as composed, what it is, and what the
    real backend adds when it sends."""
    return {"platform": platform, "item": item, "payload": body, "payload_is": _WRAPPER[platform],
            "attachments": [{"image": image, "alt": image_alt or ""}] if image else [],
            "added_when_sent": [f"{name}: {what} ({how})"
                                for name, what, how in added_when_sent(platform, link=link, image=image)]}


def override_problems(item: Item) -> list[tuple[str, str]]:
    """(field, message) for each per-platform override that cannot go out as written."""
    problems = []
    for platform in item.social:
        if platform not in PLATFORMS or platform not in item.channels:
            continue
        post = compose(item, platform)
        if post.shortened or post.dropped_tags:
            problems.append((f"social.{platform}", f"is too long: with the link and hashtags it counts "
                             f"{post.wanted} of {post.limit}; shorten it by {post.wanted - post.limit}"))
    return problems
