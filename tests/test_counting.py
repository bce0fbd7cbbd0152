"""The quick ways of counting a post's length agree with the slow, general ones for any text they take."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.platforms import GRAPHEME, graphemes
from bot.platforms.threads import _EMOJI, threads_length
from bot.platforms.x import _HEAVY, _x_length

URLS = st.sampled_from(["https://news.example.org/2019/07/iesogi", "http://example.org", "www.example.org/a?b=1#c",
                        "https://exämple.org/ü", "example.org", "https://t.co/abc"])
# ASCII (with line ends), the light ranges' letters and punctuation, and some that are not light or are emoji.
LIGHT = st.characters(min_codepoint=0, max_codepoint=0x10FF) | st.sampled_from("\u2014\u2019\u201c\u201d\u2032\u200d")
ANY = LIGHT | st.sampled_from("©®™😷🙋🏽👨\u200d🎤🇨🇭#️⃣\ufe0f\u20e3\u3042\u4e2d")
TEXTS = st.lists(LIGHT.map(str) | URLS | st.just(" ") | st.just("\r\n"), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY.map(str) | URLS | st.just(" "), max_size=40).map("".join))
def test_x_length_is_twitter_texts_weighted_length(text: str) -> None:
    from twitter_text import parse_tweet  # after bot.platforms, which silences its pkg_resources warning

    _x_length.cache_clear()
    assert _x_length(text) == parse_tweet(text).weightedLength


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_the_quick_way_is_taken_for_light_text_and_still_agrees(text: str) -> None:
    # Most of what staff write takes the quick way: it must agree there most of all.
    import unicodedata

    from twitter_text import parse_tweet

    if _HEAVY.search(unicodedata.normalize("NFC", text)) is None:
        _x_length.cache_clear()
        assert _x_length(text) == parse_tweet(text).weightedLength


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=0x7F)) | TEXTS | st.text())
def test_graphemes_and_threads_length_agree_with_the_cluster_regex(text: str) -> None:
    clusters = GRAPHEME.findall(text)
    assert graphemes(text) == len(clusters)
    threads_length.cache_clear()
    assert threads_length(text) == sum(len(c.encode()) if _EMOJI.search(c) else 1 for c in clusters)
