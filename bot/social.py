"""Social posts, from a validated item: the text for each platform (bot.platforms) within its limit, and its API body.

A post is prose (the platform's override, else title and summary), then the link, then the hashtags.
When it is too long the prose is cut at a word boundary with an ellipsis; a URL, a hashtag or a grapheme
cluster is never cut and the link is never dropped; hashtags go from the end only when the prose would
otherwise shrink below a quarter of the limit. With BOT_UTM on, the links are tagged first (bot.utm): every count
is of the text that goes out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex

from .content import Item
from .errors import ContentError
from .platforms import GRAPHEME, HASHTAG, PROSE_URL, REGISTRY, Layout, Platform
from .utm import Tracking, tagger

ELLIPSIS = "…"
_BREAKS = regex.compile(r"\r\n?|[\u2028\u2029\x85]")
_RUN_OF_SPACES = regex.compile(r" {2,}")
_BLANK_LINES = regex.compile(r"\n{3,}")
_BAD = regex.compile(r"[^\P{Cc}\n]|[\ufeff\ufffe\uffff]")  # control characters but the line feed


def clean(text: str) -> str:
    """NFC, one kind of line break, no control characters, no runs of blank lines."""
    text = _BREAKS.sub("\n", unicodedata.normalize("NFC", text)).replace("\t", " ")
    text = _BAD.sub("", text)
    text = "\n".join(_RUN_OF_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


# Every platform, by name, as bot.platforms registers them (the name kept for what reads it from here).
PLATFORMS: Mapping[str, Platform] = REGISTRY


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
    part: int = 1  # its place in a reply thread; the link and hashtags go in the first
    campaign_tags: tuple[str, ...] = ()  # the item's active campaign's hashtags (Threads takes the first as topic)


def parts_of(item: Item, platform: str) -> tuple[str, ...]:
    """The item's own text for `platform`, as parts: one for a plain override, several for a reply thread, none
    without an override. A platform without threads (LinkedIn) gets the parts as one text, blank lines between."""
    override = item.social.get(platform)
    parts = (override,) if isinstance(override, str) else tuple(override or ())
    if len(parts) > 1 and not PLATFORMS[platform].threads:
        return ("\n\n".join(parts),)
    return parts


def prose_for(item: Item, platform: str) -> str:
    parts = parts_of(item, platform)
    return clean(parts[0] if parts else f"{item.title}\n\n{item.summary}")


def compose_thread(item: Item, platform: str, limit: int | None = None,
                   tracking: Tracking | None = None) -> list[Post]:
    """Every post of the item on `platform`: the first as `compose` makes it (with the link and hashtags), then
    each further part of a reply thread as written (validation has seen that each fits), its URLs tagged too."""
    first = compose(item, platform, limit, tracking)
    rules = PLATFORMS[platform] if limit is None else PLATFORMS[platform].with_limit(limit)
    posts = [first]
    tag = tagger(tracking, item, platform)
    for number, part in enumerate(parts_of(item, platform)[1:], 2):
        text = tag.text(clean(part))
        layout = Layout(text, None, ())
        posts.append(Post(platform, item.id, text, rules.measure(text), rules.limit, None,
                          rules.facets(text, layout, None), part=number, wanted=rules.measure(text)))
    return posts


def holds_tag(text: str, tag: str) -> bool:
    wanted = tag.casefold()
    return any(m.group(1).casefold() == wanted for m in HASHTAG.finditer(text))


def _tagged(item: Item, platform: str, rules: Platform,
            tracking: Tracking | None) -> tuple[str, str | None, str | None]:
    """The prose, the link as shown after it (None when the prose holds it) and the item's link, with their links
    tagged (BOT_UTM), so that every count is of the text that goes out: a tagged URL is longer where a network
    counts its characters (Threads, LinkedIn), and Bluesky's facet carries the tagged address."""
    prose = prose_for(item, platform)
    tag = tagger(tracking, item, platform)
    if not item.link:
        return tag.text(prose), None, None
    link = tag.url(item.link)
    # Whether the prose holds the link is asked of the text as written: tagging changes links, never what is added.
    return tag.text(prose), rules.show_link(link) if item.link not in prose else None, link


def compose(item: Item, platform: str, limit: int | None = None, tracking: Tracking | None = None) -> Post:
    """The post for one platform; raises ContentError only when even the bare link cannot fit."""
    rules = PLATFORMS[platform]
    if limit is not None:
        rules = rules.with_limit(limit)
    prose, link_shown, link = _tagged(item, platform, rules, tracking)
    tags = tuple(t for t in item.all_hashtags if not holds_tag(prose, t))

    full = Layout(prose, link_shown, tags)
    if rules.fits(full.text()):
        return _post(item, rules, full, False, (), link=link)
    floor = min(rules.measure(prose), rules.limit // 4)
    wanted = rules.measure(full.text())
    for keep in range(len(tags), -1, -1):
        layout = Layout(prose, link_shown, tags[:keep])
        if keep < len(tags) and rules.fits(layout.text()):
            return _post(item, rules, layout, False, tags[keep:], wanted, link)
        cut = _longest_fitting_cut(rules, layout)
        if cut is not None and (keep == 0 or rules.measure(cut.prose) >= floor):
            return _post(item, rules, cut, True, tags[keep:], wanted, link)
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


def _longest_fitting_cut(rules: Platform, layout: Layout) -> Layout | None:
    words, clusters = _cut_points(layout.prose)
    for points in (words, clusters):
        lo, hi, best = 0, len(points) - 1, None
        while lo <= hi:  # the text only grows with the cut, so the fitting cuts form a prefix
            mid = (lo + hi) // 2
            candidate = Layout(_shorten(layout.prose, points[mid]), layout.link_shown, layout.tags)
            if rules.fits(candidate.text()):
                best, lo = candidate, mid + 1
            else:
                hi = mid - 1
        if best is not None and best.prose:
            return best
    bare = Layout("", layout.link_shown, layout.tags)
    return bare if layout.link_shown and rules.fits(bare.text()) else None


def _post(
    item: Item, rules: Platform, layout: Layout, shortened: bool, dropped: tuple[str, ...], wanted: int = 0,
    link: str | None = None,
) -> Post:
    text = layout.text()
    length = rules.measure(text)
    notes = []
    if shortened:
        notes.append("text shortened to fit")
    if dropped:
        notes.append("hashtags dropped to fit: " + " ".join("#" + t for t in dropped))
    facets = rules.facets(text, layout, link)
    campaign = item.campaign.hashtags_in(item.lang) if item.campaign is not None and item.campaign_active else ()
    return Post(rules.name, item.id, text, length, rules.limit, link, facets, shortened, dropped,
                tuple(notes), wanted or length, campaign_tags=campaign)


def payload(post: Post, *, language: str, created_at: datetime | None = None, **options: Any) -> dict[str, Any]:
    """The body of the platform's create call as Herald composes it; `added_when_sent` says what the real
    backend adds to it (uploaded pictures, link cards), which needs the network. `options` are the platform's own
    settings (Settings.platform_options), such as Mastodon's visibility."""
    return REGISTRY[post.platform].payload(post, language=language, created_at=created_at or datetime.now(UTC),
                                           options=options)


def added_when_sent(platform: str, *, link: str | None, image: str | None,
                    part: int = 1) -> list[tuple[str, str, str]]:
    """(field, what it is in plain words, how the backend gets it) for each part the platform's real backend
    adds to this post's payload at sending time; a later part of a reply thread adds what makes it a reply."""
    rules = REGISTRY[platform]
    added = rules.added_when_sent(link=link, image=image)
    if part > 1 and rules.reply_field:
        added.append((rules.reply_field, f"the reply to part {part - 1}",
                      f"the id {rules.title} gave part {part - 1} when it was posted"))
    return added


def file_record(platform: str, item: str, body: dict[str, Any], *, link: str | None, image: str | None,
                image_alt: str | None, part: int = 1) -> dict[str, Any]:
    """One post as the outbox and the preview write it: the body as composed, what it is, and what the
    real backend adds when it sends. Part N of a reply thread says its number (1 for any other post)."""
    return {"platform": platform, "item": item, "part": part, "payload": body,
            "payload_is": REGISTRY[platform].payload_is,
            "attachments": [{"image": image, "alt": image_alt or ""}] if image else [],
            "added_when_sent": [f"{name}: {what} ({how})" for name, what, how in
                                added_when_sent(platform, link=link, image=image, part=part)]}


def override_problems(item: Item, tracking: Tracking | None = None) -> list[tuple[str, str]]:
    """(field, message) for each per-platform override, or part of a reply thread, that cannot go out as written
    (with its links tagged, when `tracking` says so: that is the text that would go out)."""
    problems = []
    for platform in item.social:
        if platform not in PLATFORMS or platform not in item.channels:
            continue
        thread = compose_thread(item, platform, tracking=tracking)
        first = thread[0]
        which = "part 1 " if len(thread) > 1 else ""
        rules = PLATFORMS[platform]
        if first.shortened or first.dropped_tags:
            prose, shown, _ = _tagged(item, platform, rules, tracking)
            why = rules.why_not(Layout(prose, shown, ()).text())
            problems.append((f"social.{platform}", f"{which}{why}" if why else
                             f"{which}is too long: with the link and hashtags it counts {first.wanted} of "
                             f"{first.limit}; shorten it by {first.wanted - first.limit}"))
        for post in thread[1:]:
            if not rules.fits(post.text):
                why = rules.why_not(post.text)
                problems.append((f"social.{platform}", f"part {post.part} {why}" if why else
                                 f"part {post.part} is too long: it counts {post.length} of {post.limit}; shorten "
                                 f"it by {post.length - post.limit}"))
    return problems
