"""Social posts: golden posts for the sample queue, and the composition rules one by one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import regex
from twitter_text import parse_tweet

from bot import queue, social
from bot.content import Campaign, Item
from bot.settings import Settings

from .conftest import assert_golden

WHEN = datetime(2019, 7, 12, 9, 0, tzinfo=UTC)
CAMPAIGN = Campaign("RenewIESOGI", "Renew", ("RenewIESOGI", "HRC41"), date(2019, 6, 24), date(2019, 7, 12))


def item(**fields) -> Item:
    base = dict(id="vote", path=Path("vote.md"), title="The Council renews the mandate", date=date(2019, 7, 12),
                summary="A historic vote for equality.", publish_at=WHEN)
    base.update(fields)
    return Item(**base)


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


@pytest.mark.parametrize("platform", ["x", "mastodon", "bluesky"])
def test_sample_posts_match_golden_files(sample_settings: Settings, platform: str) -> None:
    for entry in queue.load(sample_settings).items:
        if platform not in entry.channels:
            continue
        post = social.compose(entry, platform)
        body = social.payload(post, language="en", created_at=entry.publish_at)
        record = {"platform": platform, "item": entry.id, "length": post.length, "limit": post.limit,
                  "notes": list(post.notes), "payload": body}
        assert_golden(f"posts/{platform}/{entry.id}.json", json.dumps(record, ensure_ascii=False, indent=2) + "\n")


def test_campaign_hashtags_join_the_items_without_duplicates_in_any_case() -> None:
    post = social.compose(item(hashtags=("renewiesogi", "LGBTI"), campaign=CAMPAIGN), "mastodon")
    assert post.text.endswith("#renewiesogi #LGBTI #HRC41")


def test_campaign_hashtags_only_while_the_campaign_runs() -> None:
    later = datetime(2019, 7, 13, 9, 0, tzinfo=UTC)
    assert "#RenewIESOGI" not in social.compose(item(campaign=CAMPAIGN, publish_at=later), "x").text
    assert "#RenewIESOGI" in social.compose(item(campaign=CAMPAIGN), "x").text


def test_a_hashtag_the_text_already_holds_is_not_repeated() -> None:
    post = social.compose(item(social={"x": "Vote yes! #renewIESOGI"}, campaign=CAMPAIGN), "x")
    assert post.text == "Vote yes! #renewIESOGI\n\n#HRC41"


def test_text_is_override_else_title_and_summary_then_link_then_hashtags() -> None:
    entry = item(link="https://example.org/vote", hashtags=("LGBTI",), social={"mastodon": "Big news."})
    assert social.compose(entry, "x").text == (
        "The Council renews the mandate\n\nA historic vote for equality.\n\nhttps://example.org/vote\n\n#LGBTI")
    assert social.compose(entry, "mastodon").text == "Big news.\n\nhttps://example.org/vote\n\n#LGBTI"


def test_a_link_already_in_the_override_is_not_added_again() -> None:
    entry = item(link="https://example.org/vote", social={"x": "Read https://example.org/vote now"})
    assert social.compose(entry, "x").text.count("https://example.org/vote") == 1


def test_long_prose_is_cut_at_a_word_boundary_with_an_ellipsis_and_keeps_link_and_tags() -> None:
    summary = " ".join(["Defenders"] * 60) + "."
    entry = item(summary=summary, link="https://example.org/" + "a" * 150, hashtags=("LGBTI",), campaign=CAMPAIGN)
    post = social.compose(entry, "x")
    assert post.shortened and not post.dropped_tags
    assert parse_tweet(post.text).weightedLength == post.length <= 280
    prose, link, tags = post.text.split("\n\n")[-3:]
    assert prose.endswith("Defenders…")
    assert link == entry.link
    assert tags == "#LGBTI #RenewIESOGI #HRC41"
    assert "text shortened to fit" in post.notes


def test_x_counts_cjk_as_two() -> None:
    entry = item(title="人权理事会", summary="独立专家的任务延长了三年。" * 30)
    post = social.compose(entry, "x")
    assert post.length == parse_tweet(post.text).weightedLength <= 280
    assert post.length > 250  # the room was used, at two per character
    assert len(post.text) < 150


def test_a_url_in_the_prose_is_never_cut() -> None:
    url = "https://example.org/statements/hrc41/joint-statement-on-the-renewal-of-the-mandate"
    text = ("word " * 40) + url + (" more" * 60)
    for platform in ("x", "mastodon", "bluesky"):
        post = social.compose(item(social={platform: text}), platform)
        assert post.shortened
        cut = post.text.split("\n\n")[0]
        assert url in cut or "https://" not in cut, cut


def test_a_grapheme_cluster_is_never_cut() -> None:
    family = "\U0001F469\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"
    flag = "\U0001F1E8\U0001F1ED"
    prose = (family + flag) * 200
    for platform in ("x", "mastodon", "bluesky"):
        post = social.compose(item(social={platform: prose}), platform)
        body = post.text.removesuffix("…")
        assert set(clusters(body)) <= {family, flag}, platform
        assert post.length <= post.limit


def test_hashtags_are_dropped_from_the_end_only_as_a_last_resort() -> None:
    tags = tuple(f"Tag{n}Solidarity{'x' * 20}" for n in range(12))
    post = social.compose(item(hashtags=tags, link="https://example.org/vote"), "x")
    assert post.dropped_tags and post.length <= 280
    kept = [t for t in tags if f"#{t}" in post.text]
    assert kept == list(tags[: len(kept)])  # the first ones stay, the last ones go
    assert post.dropped_tags == tags[len(kept):]
    assert "https://example.org/vote" in post.text
    assert any(n.startswith("hashtags dropped to fit: #Tag") for n in post.notes)


def test_mastodon_counts_every_url_as_23() -> None:
    link = "https://example.org/" + "p" * 300
    entry = item(summary="x " * 200, link=link)
    post = social.compose(entry, "mastodon")
    assert link in post.text
    assert post.length <= 500
    assert len(post.text) > 500


def test_bluesky_shows_a_long_link_shortened_and_keeps_the_full_uri_in_its_facet() -> None:
    link = "https://news.example.org/2019/07/the-human-rights-council-renews-the-sogi-mandate"
    post = social.compose(item(link=link, campaign=CAMPAIGN), "bluesky")
    assert link not in post.text
    assert "news.example.org/2019/07/the-h…" in post.text
    data = post.text.encode("utf-8")
    links = [f for f in post.facets if f["features"][0]["$type"].endswith("#link")]
    assert [f["features"][0]["uri"] for f in links] == [link]
    shown = data[links[0]["index"]["byteStart"]:links[0]["index"]["byteEnd"]].decode()
    assert shown == "news.example.org/2019/07/the-h…"


def test_bluesky_facets_use_utf8_byte_offsets() -> None:
    entry = item(social={"bluesky": "Défendez le mandat ✊ https://example.org/renew #RenewIESOGI"})
    post = social.compose(entry, "bluesky")
    assert post.text == "Défendez le mandat ✊ https://example.org/renew #RenewIESOGI"
    assert post.facets == (
        {"index": {"byteStart": 24, "byteEnd": 49},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/renew"}]},
        {"index": {"byteStart": 50, "byteEnd": 62},
         "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "RenewIESOGI"}]},
    )


def test_payloads_are_the_bodies_each_api_takes() -> None:
    entry = item(link="https://example.org/vote")
    x = social.payload(social.compose(entry, "x"), language="fr")
    masto = social.payload(social.compose(entry, "mastodon"), language="fr", visibility="unlisted")
    sky = social.payload(social.compose(entry, "bluesky"), language="fr", created_at=WHEN)
    assert set(x) == {"text"}
    assert masto["visibility"] == "unlisted" and masto["language"] == "fr" and set(masto) == {"status", "visibility",
                                                                                             "language"}
    assert sky["$type"] == "app.bsky.feed.post" and sky["langs"] == ["fr"]
    assert sky["createdAt"] == "2019-07-12T09:00:00.000Z"
    assert set(sky) == {"$type", "text", "facets", "createdAt", "langs"}


def test_control_characters_never_reach_a_post() -> None:
    post = social.compose(item(summary="One\u0007 two\u200b\ufeff three\r\nfour"), "x")
    assert "\u0007" not in post.text and "\ufeff" not in post.text and "\r" not in post.text
    assert parse_tweet(post.text).valid


def test_a_hashtag_in_unspaced_script_is_never_cut() -> None:
    tag = "#人权理事会决议"
    for platform, lengths in (("x", range(120, 142)), ("mastodon", range(480, 500)), ("bluesky", range(280, 300))):
        for n in lengths:  # put the tag across the cut, wherever the platform's limit falls
            prose = "专" * n + " " + tag + " " + "务" * 100
            post = social.compose(item(social={platform: prose}), platform)
            tags_in_post = {m.group(0) for m in social.HASHTAG.finditer(post.text)}
            assert tags_in_post <= {tag}, (platform, n, tags_in_post)


def test_a_url_inside_an_unbroken_run_is_never_cut() -> None:
    url = "https://example.org/" + "y" * 40
    for platform, lengths in (("x", range(230, 290, 3)), ("mastodon", range(450, 510, 3)),
                              ("bluesky", range(250, 310, 3))):
        for n in lengths:
            post = social.compose(item(social={platform: "x" * n + url}), platform)
            assert url in post.text or "https" not in post.text, (platform, n)
