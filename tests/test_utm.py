"""Tracked links (BOT_UTM): what a tagged link is, and that posts, outbox and preview files and the newsletter agree."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import preview, queue, render, social, subscribers, utm
from bot.content import Campaign, Item
from bot.ledger import Ledger
from bot.mail import TOKEN_PLACEHOLDER, unsubscribe_url
from bot.platforms import PLATFORMS, PROSE_URL, REGISTRY, Layout
from bot.queue import check_url
from bot.scheduler import run_once
from bot.settings import Settings
from bot.web import composer

from .conftest import GOLDEN, SAMPLE_QUEUE
from .social_servers import BlueskyServer, serving

WHEN = datetime(2019, 7, 12, 9, 0, tzinfo=UTC)
ZURICH = ZoneInfo("Europe/Zurich")
HERALD = "https://herald.example.net"
CAMPAIGN = Campaign("RenewIESOGI", "Renew", ("RenewIESOGI",), date(2019, 6, 24), date(2019, 7, 12))
ON = utm.Tracking((), HERALD)  # BOT_UTM=on, BOT_UTM_DOMAINS empty: each item's own link's domain


def item(**fields: object) -> Item:
    base: dict[str, object] = dict(id="vote", path=Path("vote.md"), title="The Council renews the mandate",
                                   date=date(2019, 7, 12), summary="A historic vote for equality.", publish_at=WHEN,
                                   link="https://example.org/vote")
    base.update(fields)
    return Item(**base)  # type: ignore[arg-type]


def utm_for(source: str, campaign: str = "vote") -> str:
    medium = "email" if source == "newsletter" else "social"
    return f"utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"


def tag(url: str, tracking: utm.Tracking | None = ON, source: str = "x", **fields: object) -> str:
    return utm.tagger(tracking, item(**fields), source).url(url)


# --- what a tagged link is -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "tagged"), [
    ("https://example.org/vote", f"https://example.org/vote?{utm_for('x')}"),
    # The query stays as written, in its order and its encoding; the parameters go before the fragment.
    ("https://example.org/vote?b=2&a=1%20x+y;z&c#top", f"https://example.org/vote?b=2&a=1%20x+y;z&c&{utm_for('x')}#top"),
    ("https://example.org/vote?", f"https://example.org/vote?{utm_for('x')}"),
    ("https://example.org/vote?a=1&", f"https://example.org/vote?a=1&{utm_for('x')}"),
    ("https://example.org/vote#a?b", f"https://example.org/vote?{utm_for('x')}#a?b"),
    ("https://example.org", f"https://example.org?{utm_for('x')}"),
    ("HTTP://Example.ORG:443/Vote", f"HTTP://Example.ORG:443/Vote?{utm_for('x')}"),
    ("https://user@example.org:8443/v", f"https://user@example.org:8443/v?{utm_for('x')}"),
])
def test_a_link_gains_the_three_parameters_after_its_own(url: str, tagged: str) -> None:
    assert tag(url) == tagged


def test_parameters_already_there_are_kept_and_only_the_missing_ones_added() -> None:
    assert tag("https://example.org/v?utm_source=partner&x=1") == \
        "https://example.org/v?utm_source=partner&x=1&utm_medium=social&utm_campaign=vote"
    whole = "https://example.org/v?utm_campaign=c&utm_medium=m&utm_source=s#f"
    assert tag(whole) == whole
    assert tag(tag("https://example.org/v")) == tag("https://example.org/v")  # tagging twice adds nothing


@pytest.mark.parametrize("url", ["https://news.example.org/a", "https://a.b.example.org/a", "https://example.org./a"])
def test_a_domain_holds_its_subdomains(url: str) -> None:
    assert tag(url).endswith(utm_for("x"))


@pytest.mark.parametrize("url", [
    "https://notexample.org/a", "https://example.org.evil.net/a", "https://other.org/vote", "mailto:desk@example.org",
    "ftp://example.org/file", "javascript:alert('example.org')", "https://example.org:99999/bad-port", "https:///a",
    "example.org/vote",
])
def test_other_domains_and_other_schemes_are_left_as_they_are(url: str) -> None:
    assert tag(url) == url


def test_the_domains_are_the_items_own_link_s_unless_bot_utm_domains_names_them() -> None:
    assert tag("https://example.org/a") != "https://example.org/a"
    assert tag("https://example.org/a", link="https://other.org/vote") == "https://example.org/a"
    assert tag("https://other.org/a", link="https://other.org/vote").endswith(utm_for("x"))
    assert tag("https://example.org/a", link=None) == "https://example.org/a"  # no link, no domain: nothing tagged
    named = utm.Tracking(("example.org", "partner.net"), HERALD)
    assert tag("https://www.partner.net/a", named, link="https://elsewhere.org/v").endswith(utm_for("x"))
    assert tag("https://elsewhere.org/a", named, link="https://elsewhere.org/v") == "https://elsewhere.org/a"


@pytest.mark.parametrize(("url", "kept"), [
    ("https://example.org/herald/unsubscribe/TOKEN", True), ("https://example.org/herald", True),
    ("http://example.org/herald/archive/7", True), ("https://EXAMPLE.org:443/herald/confirm/T", True),
    ("https://example.org/heraldry", False), ("https://example.org/news/herald", False),
    ("https://example.org:8080/herald/x", False), ("https://news.example.org/herald/x", False),
])
def test_herald_s_own_address_is_never_tagged(url: str, kept: bool) -> None:
    tracking = utm.Tracking(("example.org",), "https://example.org/herald")
    assert (tag(url, tracking) == url) is kept


def test_source_medium_and_campaign(make_settings: Callable[..., Settings]) -> None:
    tracking = utm.tracking(make_settings(BOT_UTM="on"))
    assert tag("https://example.org/a", tracking, "newsletter", campaign=CAMPAIGN).endswith(
        "utm_source=newsletter&utm_medium=email&utm_campaign=RenewIESOGI")
    assert tag("https://example.org/a", tracking, "mastodon", id="a b&c").endswith(
        "utm_source=mastodon&utm_medium=social&utm_campaign=a%20b%26c")
    off = make_settings(BOT_UTM="off", BOT_UTM_DOMAINS="example.org")
    assert utm.tracking(off) is None and tag("https://example.org/a", utm.tracking(off)) == "https://example.org/a"


# --- posts ---------------------------------------------------------------------------------------------------------

PROSE = f"See https://example.org/report?p=2#s. https://other.org/x, {HERALD}/archive/7 (https://news.example.org/a)"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_bot_utm_off_changes_no_post(make_settings: Callable[..., Settings], platform: str) -> None:
    off = make_settings(BOT_UTM="off", BOT_UTM_DOMAINS="example.org,other.org")
    entry = item(summary=PROSE, social={platform: ["Part one https://example.org/1", "Part two https://example.org/2"]})
    assert social.compose_thread(entry, platform, tracking=utm.tracking(off)) == social.compose_thread(entry, platform)
    assert social.override_problems(entry, utm.tracking(off)) == social.override_problems(entry)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_tags_its_link_and_the_urls_of_its_prose(platform: str) -> None:
    post = social.compose(item(title="Vote", summary=PROSE), platform, tracking=ON)
    body = json.dumps(social.payload(post, language="en", created_at=WHEN))
    link = f"https://example.org/vote?{utm_for(platform)}"
    assert post.link == link
    report = f"https://example.org/report?p=2&{utm_for(platform)}#s"
    urls = [m.group() for m in PROSE_URL.finditer(post.text)]
    assert urls[:4] == [report, "https://other.org/x", f"{HERALD}/archive/7", f"https://news.example.org/a?{utm_for(platform)}"]
    rules = REGISTRY[platform]
    assert post.text.endswith("\n\n" + rules.show_link(link))
    if platform == "bluesky":  # shown shortened; the facet carries the whole tagged address
        assert [f["features"][0]["uri"] for f in post.facets][-1] == link and link not in post.text
    else:
        assert link in post.text
    assert link in body and report in body
    assert rules.fits(post.text) and post.length == rules.measure(post.text)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_tagging_changes_the_links_never_whether_the_link_is_added(platform: str) -> None:
    entry = item(title="Vote", summary="Details: https://example.org/vote/details")  # holds the link's address
    plain, tagged = social.compose(entry, platform), social.compose(entry, platform, tracking=ON)
    assert tagged.text == utm.tagger(ON, entry, platform).text(plain.text)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_post_that_fitted_is_shortened_when_its_tagged_link_counts_more(platform: str) -> None:
    rules = REGISTRY[platform]
    link = "https://example.org/vote"
    grows = rules.link_length(tag(link, source=platform)) > rules.link_length(link)
    words = 1
    while not social.compose(item(summary="word " * (words + 1)), platform).shortened:
        words += 1  # the longest summary that fits untagged
    entry = item(summary="word " * words)
    plain, tagged = social.compose(entry, platform), social.compose(entry, platform, tracking=ON)
    assert not plain.shortened and rules.fits(tagged.text)
    assert tagged.shortened is grows  # X and Mastodon count every URL as 23: tagging changes nothing there
    shown = rules.show_link(tag(link, source=platform))
    assert tagged.wanted == rules.measure(Layout(social.prose_for(entry, platform), shown, ()).text())


def test_an_override_that_fits_only_untagged_is_a_problem_once_tagged() -> None:
    link = "https://example.org/vote"
    rules = REGISTRY["threads"]
    room = rules.limit - rules.measure(f"\n\n{link}")
    entry = item(social={"threads": "a" * room})
    assert social.override_problems(entry) == []
    [(field, message)] = social.override_problems(entry, ON)
    assert field == "social.threads" and message.startswith("is too long")
    # A later part of a reply thread is checked tagged too.
    part = "https://example.org/more " + "b" * (rules.limit - len("https://example.org/more "))
    thread = item(social={"threads": ["One.", part]})
    assert social.override_problems(thread) == []
    [(field, message)] = social.override_problems(thread, ON)
    assert field == "social.threads" and message.startswith("part 2 is too long")


@pytest.mark.parametrize("platform", [p for p in PLATFORMS if REGISTRY[p].threads])
def test_each_part_of_a_reply_thread_is_tagged(platform: str) -> None:
    entry = item(social={platform: ["First.", "More at https://example.org/more and https://other.org/x"]})
    second = social.compose_thread(entry, platform, tracking=ON)[1]
    assert f"https://example.org/more?{utm_for(platform)} and https://other.org/x" in second.text


# --- outbox, preview and the newsletter, from a run ----------------------------------------------------------------

BODY = ("Read [the report](https://example.org/report?b=2&a=1#s), <https://example.org/auto>, [ours](https://other.org/p)"
        ", <a href=\"https://example.org/raw?q=1&amp;r=2\">as HTML</a> and [mail](mailto:desk@example.org).")


def write_vote(queue_dir: Path, picture: bool = True) -> None:
    queue_dir.mkdir(parents=True, exist_ok=True)
    (queue_dir / "vote.md").write_text(
        "---\ntitle: The Council renews the mandate\ndate: 2019-07-12\npublish_at: 2019-07-12 09:30\n"
        "summary: A historic vote, https://example.org/report.\nlink: https://example.org/vote?ref=home#top\n"
        + ("image: https://example.org/vote.jpg\nimage_alt: The vote\n" if picture else "") + "---\n" + BODY + "\n",
        encoding="utf-8")


def tagged_run(make_settings: Callable[..., Settings], on: str) -> Settings:
    settings = make_settings(BOT_UTM=on, BOT_PUBLIC_URL=HERALD, BOT_LINKEDIN_BACKEND="outbox",
                             BOT_THREADS_BACKEND="outbox")
    write_vote(settings.queue_dir)
    with Ledger.open(settings.state_dir) as ledger:
        subscribers.add(ledger, "reader@example.org", "", datetime(2019, 1, 1, tzinfo=UTC))
    return settings


def test_the_outbox_sends_and_the_preview_shows_the_same_tagged_posts(make_settings: Callable[..., Settings],
                                                                     tmp_path: Path) -> None:
    settings = tagged_run(make_settings, "on")
    now = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)
    planned = preview.plan(queue.load(settings), settings, now)
    preview.write(planned, settings, tmp_path / "preview")
    run_once(settings, now)
    assert {p.post.platform for p in planned.posts} == set(PLATFORMS)
    for platform in PLATFORMS:
        sent = json.loads((settings.outbox_dir / platform / "vote.json").read_text())["payload"]
        shown = json.loads((tmp_path / "preview" / platform / "vote.json").read_text())["payload"]
        for payload in (sent, shown):
            payload.pop("createdAt", None)  # Bluesky's: the moment of sending, which a preview cannot know
        assert sent == shown
        body = json.dumps(sent, ensure_ascii=False)
        assert f"https://example.org/vote?ref=home&{utm_for(platform)}#top" in body
        assert f"https://example.org/report?{utm_for(platform)}." in body


def test_the_newsletter_tags_its_entries_links_in_both_parts(make_settings: Callable[..., Settings]) -> None:
    settings = tagged_run(make_settings, "on")
    run_once(settings, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))
    [eml] = (settings.outbox_dir / "email").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    page = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    source = utm_for("newsletter")
    link = f"https://example.org/vote?ref=home&{source}#top"
    assert page.count(f'href="{link.replace("&", "&amp;")}"') == 3  # the picture, the title and the button
    for href in (f"https://example.org/report?b=2&a=1&{source}#s", f"https://example.org/auto?{source}",
                 f"https://example.org/raw?q=1&r=2&{source}"):
        assert f'href="{href.replace("&", "&amp;")}"' in page
    assert 'href="https://other.org/p"' in page and 'href="mailto:desk@example.org"' in page
    assert 'src="https://example.org/vote.jpg"' in page  # a picture's address is no link
    assert f"Read more:\n{link}" in text
    flat = " ".join(text.split())
    assert f"the report (https://example.org/report?b=2&a=1&{source}#s)" in flat
    assert f", https://example.org/auto?{source}, ours (https://other.org/p)" in flat  # an address shown once
    # Herald's own links, and the summary's plain words, are as they were.
    for own in (f"{HERALD}/unsubscribe/", f"{HERALD}/archive/"):
        assert own in page and own in text
    assert "utm_" not in "".join(line for line in text.splitlines() if HERALD in line)
    assert "A historic vote, https://example.org/report." in flat


def test_the_link_card_a_backend_adds_carries_the_tagged_link(make_settings: Callable[..., Settings]) -> None:
    with serving(BlueskyServer) as pds:
        settings = make_settings(BOT_UTM="on", BOT_PUBLIC_URL=HERALD, BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off",
                                 BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=pds.url,
                                 BLUESKY_HANDLE=pds.handle_name, BLUESKY_APP_PASSWORD=pds.password)
        write_vote(settings.queue_dir, picture=False)
        assert run_once(settings, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)).posted
        [call] = pds.calls("create_record")
    record = call.json()["record"]
    link = f"https://example.org/vote?ref=home&{utm_for('bluesky')}#top"
    assert record["embed"]["external"]["uri"] == link == record["facets"][-1]["features"][0]["uri"]


def test_the_staff_composer_previews_the_tagged_posts(make_settings: Callable[..., Settings]) -> None:
    settings = tagged_run(make_settings, "on")
    [entry] = queue.load(settings).items
    now = datetime(2019, 7, 12, 9, 0, tzinfo=ZURICH)
    shown = {(p["platform"], p["text"]) for p in composer.preview(settings, entry, now)["posts"]}
    planned = {(p.post.platform, p.post.text) for p in preview.plan(queue.load(settings), settings, now).posts}
    assert shown == planned and all(utm_for(platform) in text for platform, text in shown)


def test_bot_utm_off_sends_what_it_sent_before(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = tagged_run(make_settings, "off")
    run_once(settings, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))
    files = [p for p in settings.outbox_dir.rglob("*") if p.is_file()]
    assert len(files) == len(PLATFORMS) + 1 and not any("utm_" in p.read_text() for p in files)


# --- the golden files ------------------------------------------------------------------------------------------


def golden(relative: str) -> str:
    """Read, never written: HERALD_UPDATE_GOLDEN rewrites them from the tests that own them, not from these."""
    return (GOLDEN / relative).read_text(encoding="utf-8")


def sample_newsletter(settings: Settings) -> tuple[str, str]:
    items = [i for i in queue.load(settings).items if "email" in i.channels and i.date.month == 7]
    letter = render.render_newsletter(items, settings, edition_date=date(2019, 7, 26),
                                      unsubscribe_url=unsubscribe_url("https://news.example.org", TOKEN_PLACEHOLDER),
                                      archive_url="https://news.example.org/archive/7")
    return letter.html, letter.text


def sample_posts(settings: Settings) -> dict[str, str]:
    found = {}
    for entry in queue.load(settings).items:
        for platform in PLATFORMS:
            if platform in entry.channels and (GOLDEN / "posts" / platform).is_dir():
                post = social.compose(entry, platform, tracking=utm.tracking(settings))
                options = {"author": "urn:li:organization:2414183"} if platform == "linkedin" else {}
                record = {"platform": platform, "item": entry.id, "length": post.length, "limit": post.limit,
                          "notes": list(post.notes), "payload": social.payload(post, language="en",
                                                                               created_at=entry.publish_at, **options)}
                found[f"posts/{platform}/{entry.id}.json"] = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    return found


@pytest.mark.parametrize(("utm_setting", "public_url"), [
    ("off", HERALD),  # off: nothing changes, whatever the domains
    ("on", "https://news.example.org"),  # on, but every link of the sample is under Herald's own address
])
def test_the_golden_files_stay_as_they_are(make_settings: Callable[..., Settings], utm_setting: str,
                                          public_url: str) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_UTM=utm_setting, BOT_PUBLIC_URL=public_url,
                             BOT_UTM_DOMAINS="example.org")
    html, text = sample_newsletter(settings)
    assert html == golden("newsletter/edition.html") and text == golden("newsletter/edition.txt")
    posts = sample_posts(settings)
    assert len(posts) >= 40
    for relative, record in posts.items():
        assert record == golden(relative), relative


def test_with_tagging_on_every_sample_link_differs_from_its_golden_file(make_settings: Callable[..., Settings]) -> None:
    """The golden test above can fail: the same sample, Herald elsewhere, tags every item's link."""
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_UTM="on", BOT_PUBLIC_URL=HERALD)
    html, text = sample_newsletter(settings)
    assert html.count("utm_medium=email") == 12 and text.count("utm_medium=email") == 6
    for relative, record in sample_posts(settings).items():  # each post with a link
        assert (record != golden(relative)) is ("news.example.org" in golden(relative)), relative


# --- any link, any text ----------------------------------------------------------------------------------------

label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%", max_size=20)
value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%+", max_size=12)


@st.composite
def urls(draw: st.DrawFn, host: str | None = None) -> str:
    host = host or ".".join(draw(st.lists(label, min_size=1, max_size=3))) + "." + draw(st.sampled_from(["org", "ch"]))
    path = "/".join(draw(st.lists(segment, max_size=4)))
    pairs = draw(st.lists(st.tuples(label, value), max_size=3))
    bare_question_mark = draw(st.booleans())
    query = "?" + "&".join(f"{k}={v}" for k, v in pairs) if pairs or bare_question_mark else ""
    fragment = "#" + draw(label) if draw(st.booleans()) else ""
    url = f"{draw(st.sampled_from(['http', 'https']))}://{host}/{path}{query}{fragment}"
    assert check_url(url) is None
    return url


@st.composite
def tagged_items(draw: st.DrawFn) -> Item:
    link = draw(urls())
    host = urlsplit(link).hostname or ""
    pieces = st.one_of(st.text(max_size=40), urls(host), urls(f"www.{host}"), urls(), st.just(link))
    prose = " ".join(draw(st.one_of(st.lists(pieces, max_size=6), st.lists(pieces, min_size=20, max_size=60))))
    platform = draw(st.sampled_from(PLATFORMS))
    override = draw(st.booleans())
    return item(id=draw(label), link=link, summary=prose or "s", social={platform: prose} if override and prose else {},
                hashtags=tuple(draw(st.lists(st.sampled_from(["LGBTI", "HRC41", "人権"]), max_size=3, unique=True))))


def parses_back(tagged: str, original: str, source: str, campaign: str) -> None:
    after, before = urlsplit(tagged), urlsplit(original)
    assert (after.scheme, after.netloc, after.path, after.fragment) == \
        (before.scheme, before.netloc, before.path, before.fragment)
    assert parse_qsl(after.query, keep_blank_values=True) == parse_qsl(before.query, keep_blank_values=True) + [
        ("utm_source", source), ("utm_medium", "social"), ("utm_campaign", campaign)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tagged_items())
def test_any_tagged_post_fits_and_its_link_parses_back_to_the_original_plus_three_parameters(entry: Item) -> None:
    assert entry.link is not None
    host = urlsplit(entry.link).hostname or ""
    for platform in PLATFORMS:
        rules = REGISTRY[platform]
        post = social.compose(entry, platform, tracking=ON)
        assert rules.fits(post.text), (platform, post.text)
        assert post.link is not None
        parses_back(post.link, entry.link, platform, entry.id)
        if entry.link not in social.prose_for(entry, platform):  # else the prose holds it and no link is added
            where = [f["features"][0].get("uri") for f in post.facets] if platform == "bluesky" else post.text
            assert post.link in where
        for m in PROSE_URL.finditer(post.text):  # every URL of the item's domain in the prose: tagged, once
            if m.group().endswith(social.ELLIPSIS):
                continue  # prose cut just after a URL: the ellipsis sticks to it, tagged or not (a matter of its own)
            found = urlsplit(m.group())
            if found.hostname in (host, f"www.{host}"):
                pairs = parse_qsl(found.query, keep_blank_values=True)
                assert pairs[-3:] == parse_qsl(utm_for(platform, entry.id)), m.group()
                assert [k for k, _ in pairs].count("utm_source") == 1


def test_validate_checks_an_override_as_it_goes_out_tagged(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Threads counts a URL's characters: an override that fits untagged may not fit tagged, and is refused."""
    from bot import queue as queue_mod

    folder = tmp_path / "q"
    folder.mkdir()
    text = "x" * 440 + " https://campaign.example.net/a"  # 471 untagged; the three parameters take it past 500
    (folder / "long.md").write_text(
        "---\ntitle: A vote\ndate: 2019-07-12\nsummary: It passed.\nlink: https://campaign.example.net/a\n"
        f"channels: [threads]\nsocial:\n  threads: \"{text}\"\n---\n", encoding="utf-8")
    off = queue_mod.load(make_settings(BOT_QUEUE_DIR=str(folder)))
    on = queue_mod.load(make_settings(BOT_QUEUE_DIR=str(folder), BOT_UTM="on"))
    assert off.problems == []
    assert [p.field for p in on.problems] == ["social.threads"]
