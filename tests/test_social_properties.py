"""Rules that must hold for any input: random Unicode prose, URLs and hashtags, on every platform."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import regex
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from bot import social
from bot.content import Item
from bot.queue import check_tag, check_url

WHEN = datetime(2019, 7, 12, 9, 0, tzinfo=UTC)
TLDS = ["org", "com", "ch", "net", "int", "info", "de", "fr", "io", "africa"]

label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)
segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%", max_size=40)


@st.composite
def urls(draw: st.DrawFn) -> str:
    host = ".".join(draw(st.lists(label, min_size=1, max_size=3))) + "." + draw(st.sampled_from(TLDS))
    path = "/".join(draw(st.lists(segment, max_size=6)))
    query = draw(st.one_of(st.just(""), st.builds(lambda k, v: f"?{k}={v}", label, label)))
    url = f"{draw(st.sampled_from(['http', 'https']))}://{host}/{path}{query}"
    assert check_url(url) is None
    return url


tags = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Lm", "Mn", "Nd"]) | st.just("_"),
    min_size=1, max_size=30,
).filter(lambda t: check_tag(t) is None)

# Short and long on purpose: most interesting cases are posts that must be cut.
prose = st.one_of(st.text(min_size=1, max_size=80), st.text(min_size=280, max_size=900))
words = st.one_of(st.lists(st.text(min_size=1, max_size=15), min_size=1, max_size=10),
                  st.lists(st.text(min_size=1, max_size=15), min_size=40, max_size=150)).map(" ".join)


@st.composite
def items(draw: st.DrawFn) -> Item:
    override = draw(st.one_of(st.none(), prose, words))
    platform = draw(st.sampled_from(["x", "mastodon", "bluesky"]))
    return Item(
        id="random", path=Path("random.md"),
        title=draw(st.one_of(words, prose)).replace("\n", " ") or "t",
        date=date(2019, 7, 12), summary=draw(st.one_of(words, prose)), publish_at=WHEN,
        link=draw(st.one_of(st.none(), urls(), urls())),
        hashtags=tuple(draw(st.one_of(st.lists(tags, max_size=4), st.lists(tags, min_size=10, max_size=30)))),
        social={platform: override} if override else {},
    )


def check_post(entry: Item, platform: str) -> None:
    post = social.compose(entry, platform)
    text = post.text
    event(f"{platform}: {'shortened' if post.shortened else 'whole'}{', tags dropped' if post.dropped_tags else ''}")
    assert post.length <= post.limit

    if platform == "x":
        assert parse_tweet(text).weightedLength <= 280
    if platform == "mastodon":
        assert social.PLATFORMS["mastodon"].measure(text) <= 500
    if platform == "bluesky":
        assert len(regex.findall(r"\X", text)) <= 300
        assert len(text.encode("utf-8")) <= 3000

    if entry.link:
        if platform == "bluesky":
            uris = [f["features"][0].get("uri") for f in post.facets]
            assert entry.link in uris
        else:
            assert entry.link in text

    # Hashtags in the post are whole: each is one of the item's, or was whole in the prose it came from.
    source = social.prose_for(entry, platform)
    allowed = {t.casefold() for t in entry.hashtags} | {m.group(1).casefold() for m in social.HASHTAG.finditer(source)}
    for m in social.HASHTAG.finditer(text):
        assert m.group(1).casefold() in allowed, m.group(0)

    if platform == "bluesky":
        data = text.encode("utf-8")
        last_end = 0
        for facet in post.facets:
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            assert last_end <= start < end <= len(data)
            last_end = end
            shown = data[start:end].decode("utf-8")
            feature = facet["features"][0]
            if feature["$type"] == "app.bsky.richtext.facet#tag":
                assert shown == "#" + feature["tag"]
            else:
                assert shown in (feature["uri"], social.PLATFORMS["bluesky"].show_link(feature["uri"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_any_post_fits_keeps_its_link_and_its_facets_slice_exactly(entry: Item) -> None:
    for platform in ("x", "mastodon", "bluesky"):
        check_post(entry, platform)


CLUSTERS = ["\U0001F469\u200D\U0001F469\u200D\U0001F467", "\U0001F1E8\U0001F1ED", "e\u0301", "中", " ", "#", "a",
            "\u200d", "\U0001F44D\U0001F3FD"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(CLUSTERS), min_size=1, max_size=600).map("".join), st.one_of(st.none(), urls()))
def test_no_grapheme_cluster_is_ever_split(text: str, link: str | None) -> None:
    entry = Item(id="g", path=Path("g.md"), title="t", date=date(2019, 7, 12), summary=text, publish_at=WHEN,
                 link=link)
    allowed = set(regex.findall(r"\X", social.prose_for(entry, "x"))) | {"\n", "…"}
    for platform in ("x", "mastodon", "bluesky"):
        post = social.compose(entry, platform)
        shown = social.PLATFORMS[platform].show_link(link) if link else ""
        for cluster in regex.findall(r"\X", post.text):
            assert cluster in allowed or cluster in shown, (platform, cluster)
