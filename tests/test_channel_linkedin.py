"""The LinkedIn backend against a local LinkedIn: the whole pipeline on a fixed clock, checked in the ledger."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import queue, social
from bot.channels import OutgoingPost, Sent, open_channel
from bot.cli import cli
from bot.clock import from_utc_iso
from bot.content import Item
from bot.dispatch import RunReport
from bot.errors import ConfigError
from bot.ledger import Delivery, Ledger
from bot.platforms import HASHTAG, REGISTRY
from bot.platforms.linkedin import DEFAULT_VERSION, links, little, plain
from bot.scheduler import run_once
from bot.settings import Settings, load_settings

from . import pictures
from .conftest import BASE, SAMPLE_QUEUE, assert_golden
from .linkedin_server import LinkedInServer, read_little, utf16
from .social_servers import Fault, serving

ZURICH = ZoneInfo("Europe/Zurich")
ITEM = "2019-07-12-iesogi-mandate-renewed"
AT = datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH)  # the item's publish_at
TITLE = "Human Rights Council renews the mandate of the UN expert on sexual orientation and gender identity"
SUMMARY = ("In a defining vote, the UN Human Rights Council adopted a resolution that keeps the Independent Expert "
           "on violence and discrimination based on sexual orientation and gender identity at work for three more "
           "years. It is a victory for LGBTI communities and for everyone who believes rights are universal.")
LINK = "https://news.example.org/2019/07/iesogi-mandate-renewed"
TAGS = "#LGBTI #RenewIESOGI #HRC41"
IMAGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
ALT = "Five panellists seated at a table in a UN conference room"
DISTRIBUTION = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}


@pytest.fixture
def linkedin() -> Iterator[LinkedInServer]:
    with serving(LinkedInServer) as server:
        yield server


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings], linkedin: LinkedInServer) -> Callable[..., Settings]:
    """The sample queue, LinkedIn through the local server, everything else off; no in-run retries."""

    def make(**env: str) -> Settings:
        return make_settings(**{**environment(linkedin), **env})

    return make


def environment(linkedin: LinkedInServer) -> dict[str, str]:
    off = {f"BOT_{name.upper()}_BACKEND": "off" for name in ("email", *REGISTRY)}
    return {**off, "BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_LINKEDIN_BACKEND": "api",
            "LINKEDIN_BASE_URL": linkedin.url, "LINKEDIN_ACCESS_TOKEN": linkedin.token,
            "LINKEDIN_AUTHOR": linkedin.author, "BOT_RETRY_BUDGET": "0s"}


def delivery(settings: Settings, item: str = ITEM) -> Delivery:
    with Ledger.open(settings.state_dir) as ledger:
        found = ledger.post(item, "linkedin")
    assert found is not None
    return found


def went_out(report: RunReport) -> bool:
    """Nothing failed, waits or is paused (the sample's older items are missed: the first run is late for them)."""
    return bool(report.posted) and not (report.failed or report.deferred or report.paused)


def one_item(tmp_path: Path, front: str) -> Path:
    folder = tmp_path / "own-queue"
    folder.mkdir()
    (folder / "2019-07-12-item.md").write_text(f"---\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n{front}"
                                               "channels: [linkedin]\n---\n", encoding="utf-8")
    return folder


def image_queue(tmp_path: Path, linkedin: LinkedInServer, *, link: bool) -> Path:
    url = linkedin.image("panel.jpg", IMAGE)
    return one_item(tmp_path, "title: Defenders meet the Council\n"
                              "summary: Five defenders told the Council what protection means in practice.\n"
                              f"image: {url}\nimage_alt: {ALT}\n" + (f"link: {LINK}\n" if link else ""))


def doctor(settings: Settings, linkedin: LinkedInServer, **env: str) -> Any:
    values = {**BASE, **environment(linkedin), "BOT_STATE_DIR": str(settings.state_dir), **env}
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"], env=values)


# --- the pipeline -------------------------------------------------------------------------------------------------


def test_a_sample_post_reaches_linkedin_exactly_and_its_urn_is_recorded(settings_for, linkedin) -> None:
    settings = settings_for()
    report = run_once(settings, AT)

    assert went_out(report)
    [request] = linkedin.calls("create_post")
    assert {k: request.headers[k] for k in ("Authorization", "Linkedin-Version", "X-Restli-Protocol-Version",
                                            "Content-Type")} == {
        "Authorization": f"Bearer {linkedin.token}", "Linkedin-Version": DEFAULT_VERSION,
        "X-Restli-Protocol-Version": "2.0.0", "Content-Type": "application/json"}
    assert request.json() == {
        "author": linkedin.author, "commentary": f"{TITLE}\n\n{SUMMARY}\n\n{LINK}\n\n{TAGS}", "visibility": "PUBLIC",
        "distribution": DISTRIBUTION, "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
        "content": {"article": {"source": LINK, "title": TITLE, "description": SUMMARY}}}
    [reading] = linkedin.readings
    assert reading.hashtags == ["LGBTI", "RenewIESOGI", "HRC41"] and reading.links == [LINK]
    [post] = linkedin.posts
    assert report.posted == [(ITEM, "linkedin", post["id"])] and post["id"].startswith("urn:li:share:")
    found = delivery(settings)
    assert (found.status, found.remote_id, found.attempts) == ("sent", post["id"], 1)
    assert not linkedin.calls("initialize_upload")


def test_every_reserved_character_is_escaped_but_urls_and_hashtags_go_as_written(settings_for, linkedin,
                                                                                 tmp_path: Path) -> None:
    folder = one_item(tmp_path, (
        'title: "Report (A/HRC/41/45) on *defenders*: [draft] {v2} <embargoed> ~ C# | ask @UNGeneva"\n'
        'summary: "Read https://example.org/~desk/a_b#part-2 before 5_pm, #RenewIESOGI is #1; see C:\\\\desk (sic)."\n'
        "link: https://news.example.org/2019/07/report_(final)\nhashtags: [LGBTI, HRC_41]\n"))
    settings = settings_for(BOT_QUEUE_DIR=str(folder))
    assert went_out(run_once(settings, AT))

    [request] = linkedin.calls("create_post")
    assert request.json()["commentary"] == (
        r"Report \(A/HRC/41/45\) on \*defenders\*: \[draft\] \{v2\} \<embargoed\> \~ C\# \| ask \@UNGeneva" "\n\n"
        r"Read https://example.org/~desk/a_b#part-2 before 5\_pm, #RenewIESOGI is \#1; see C:\\desk \(sic\)."
        "\n\nhttps://news.example.org/2019/07/report_(final)\n\n#LGBTI #HRC_41")
    [reading] = linkedin.readings  # as LinkedIn reads it: nothing cut (the fixture checks `problems` too)
    [entry] = queue.load(settings).items
    assert reading.text == social.compose(entry, "linkedin").text
    assert reading.hashtags == ["RenewIESOGI", "LGBTI", "HRC_41"]
    assert reading.links == ["https://example.org/~desk/a_b#part-2", "https://news.example.org/2019/07/report_(final)"]


RESERVED = "\\|{}@[]()<>#*_~"
pieces = st.one_of(
    st.text(alphabet=RESERVED + "ab é中 \n.,:;!?'\")-/&=", min_size=1, max_size=12),
    st.sampled_from(["#RenewIESOGI", "#HRC_41", "#1", "C#", "#ÉGALITÉ", "(#tag)", "https://example.org/a_b(c)~d#e",
                     "https://news.example.org/x?y=1&z=#q", "https://a.example/", "@[Eddy](urn:li:person:1)",
                     "{hashtag|\\#|mytag}", "\\#", "https://x.example/a\\b"]),
    st.text(max_size=6))


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pieces, max_size=12).map("".join))
def test_any_text_reads_back_as_written_with_its_urls_and_hashtags_intact(text: str) -> None:
    commentary = little(text)
    reading = read_little(commentary)
    assert reading.problems == [] and reading.text == text  # LinkedIn would show all of it, as written
    assert plain(commentary) == text
    urls = links(text)
    assert [text[start:end] for start, end in urls] == reading.links  # whole and unescaped: they link
    for tag in HASHTAG.finditer(text):
        if not any(start < tag.end() and tag.start() < end for start, end in urls):
            assert tag.group(1) in reading.hashtags


words = st.text(alphabet=RESERVED + "abcdef #\n", min_size=1, max_size=40)
long_words = st.text(alphabet=RESERVED + "ab #", min_size=20, max_size=40)  # escaped, far beyond 3,000


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(words, min_size=1, max_size=10), st.lists(long_words, min_size=150, max_size=200))
       .map(" ".join), st.booleans())
def test_any_post_fits_in_3000_as_linkedin_receives_it(summary: str, with_link: bool) -> None:
    entry = Item(id="random", path=Path("random.md"), title="Report (draft)", date=date(2019, 7, 12),
                 summary=summary, publish_at=datetime(2019, 7, 12, 9, tzinfo=UTC),
                 link="https://news.example.org/report_(final)" if with_link else None, hashtags=("HRC_41",))
    post = social.compose(entry, "linkedin")
    commentary = social.payload(post, language="en")["commentary"]
    assert post.length <= 3000 and utf16(commentary) <= 3000
    reading = read_little(commentary)
    assert reading.problems == [] and reading.text == post.text
    if with_link:
        assert "https://news.example.org/report_(final)" in reading.links


def test_a_picture_is_uploaded_and_becomes_the_articles_thumbnail(settings_for, linkedin, tmp_path: Path) -> None:
    # The picture's host is this machine: allowed only because the setting says so.
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, linkedin, link=True)), BOT_FETCH_ALLOW_PRIVATE="1")
    assert went_out(run_once(settings, AT))

    [initialize] = linkedin.calls("initialize_upload")
    assert initialize.args == {"action": "initializeUpload"}
    assert initialize.json() == {"initializeUploadRequest": {"owner": linkedin.author}}
    assert initialize.headers["Linkedin-Version"] == DEFAULT_VERSION
    [urn] = linkedin.uploads
    [put] = linkedin.calls("upload_image")
    assert put.body == IMAGE and put.headers["Content-Type"] == "image/jpeg"
    assert linkedin.calls("create_post")[0].json()["content"] == {"article": {
        "source": LINK, "title": "Defenders meet the Council", "thumbnail": urn,
        "description": "Five defenders told the Council what protection means in practice."}}
    [fetch] = [r for r in linkedin.requests if r.path == "/media/panel.jpg"]
    assert "Authorization" not in fetch.headers  # the picture's host never sees the token
    assert delivery(settings, "2019-07-12-item").remote_id == linkedin.posts[0]["id"]


def test_a_picture_without_a_link_goes_as_the_posts_media_with_its_alt_text(settings_for, linkedin,
                                                                          tmp_path: Path) -> None:
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, linkedin, link=False)),
                            BOT_FETCH_ALLOW_PRIVATE="1")
    assert went_out(run_once(settings, AT))
    [urn] = linkedin.uploads
    assert linkedin.calls("create_post")[0].json()["content"] == {"media": {"id": urn, "altText": ALT}}


def test_a_retried_post_does_not_upload_its_picture_again(settings_for, linkedin, tmp_path: Path) -> None:
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, linkedin, link=True)), BOT_FETCH_ALLOW_PRIVATE="1")
    linkedin.fault("create_post", Fault(503, {"status": 503, "message": "Service Unavailable"}))
    assert run_once(settings, AT).deferred and not linkedin.posts

    assert went_out(run_once(settings, AT + timedelta(minutes=1)))
    [urn] = linkedin.uploads
    assert len(linkedin.calls("initialize_upload")) == len(linkedin.calls("upload_image")) == 1
    assert [c.json()["content"]["article"]["thumbnail"] for c in linkedin.calls("create_post")] == [urn, urn]


def test_the_token_goes_with_the_upload_to_linkedin_only(settings_for, linkedin, tmp_path: Path) -> None:
    linkedin.upload_base = linkedin.url.replace("127.0.0.1", "localhost")  # another host, as far as Herald knows
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, linkedin, link=False)),
                            BOT_FETCH_ALLOW_PRIVATE="1")
    assert went_out(run_once(settings, AT))
    [put] = linkedin.calls("upload_image")
    assert put.body == IMAGE and "Authorization" not in put.headers


# --- when LinkedIn says no --------------------------------------------------------------------------------------


def test_a_retired_version_pauses_linkedin_and_bot_doctor_names_the_setting(settings_for, linkedin) -> None:
    settings = settings_for(LINKEDIN_VERSION="202401")
    report = run_once(settings, AT)

    assert report.paused["linkedin"].startswith("LinkedIn has retired LINKEDIN_VERSION=202401: set a current "
                                                "version, YYYYMM")
    assert delivery(settings).status == "pending" and not linkedin.posts

    shown = doctor(settings, linkedin, LINKEDIN_VERSION="202401")
    assert shown.exit_code == 1, shown.output
    [line] = [line for line in shown.output.splitlines() if "linkedin (api)" in line]
    assert line.startswith("FIX") and "LinkedIn has retired LINKEDIN_VERSION=202401" in line
    assert "credentials refused" not in line  # a setting to change, not a token
    assert "LINKEDIN_VERSION is one LinkedIn still serves" in shown.output and linkedin.token not in shown.output

    assert went_out(run_once(settings_for(), AT + timedelta(minutes=5)))  # a current version: it goes


def test_a_refused_token_pauses_linkedin_and_leaves_the_post_pending(settings_for, linkedin) -> None:
    settings = settings_for(LINKEDIN_ACCESS_TOKEN="AQV-revoked-token-4417")
    report = run_once(settings, AT)

    assert "Invalid access token" in report.paused["linkedin"]
    assert delivery(settings).status == "pending" and not linkedin.posts
    shown = doctor(settings, linkedin, LINKEDIN_ACCESS_TOKEN="AQV-revoked-token-4417")
    assert "credentials refused" in shown.output and "about 60 days" in shown.output
    assert "AQV-revoked-token-4417" not in report.paused["linkedin"] + (delivery(settings).last_error or "") + \
        shown.output


def test_a_rate_limit_defers_the_post_until_the_time_linkedin_gives(settings_for, linkedin) -> None:
    settings = settings_for()
    linkedin.fault("create_post", Fault(429, {"status": 429, "message": "Resource level throttle limit reached"},
                                        {"Retry-After": "3600"}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.deferred] == [(ITEM, "linkedin")]
    found = delivery(settings)
    assert found.status == "pending" and found.next_attempt_at is not None
    assert from_utc_iso(found.next_attempt_at) == AT + timedelta(hours=1)
    assert not run_once(settings, AT + timedelta(minutes=30)).posted  # not before the time given
    assert run_once(settings, AT + timedelta(minutes=61)).posted
    assert len(linkedin.calls("create_post")) == 2 and len(linkedin.posts) == 1


def test_a_post_whose_answer_never_came_is_found_on_the_page_not_posted_twice(settings_for, linkedin) -> None:
    settings = settings_for(BOT_HTTP_TIMEOUT="1s")
    linkedin.fault("create_post", Fault(hold=True))  # created, but the answer comes after the client gave up
    first = run_once(settings, AT)
    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "linkedin")]
    [post] = linkedin.posts
    assert "{hashtag|\\#|RenewIESOGI}" in post["commentary"]  # read back as LinkedIn writes hashtags
    # Meanwhile staff posted something else with the same title: it is not taken for ours.
    linkedin.posts.insert(0, {**post, "id": "urn:li:share:1", "commentary": f"{TITLE}\n\nWatch the vote live."})

    second = run_once(settings, AT + timedelta(minutes=1))
    assert second.reconciled == 1 and second.posted == [(ITEM, "linkedin", post["id"])]
    assert len(linkedin.calls("create_post")) == 1
    [look] = linkedin.calls("find_posts")
    assert look.args == {"author": linkedin.author, "q": "author", "count": "20"}
    assert (delivery(settings).status, delivery(settings).remote_id) == ("sent", post["id"])


def test_content_refused_fails_for_good_with_linkedins_words(settings_for, linkedin) -> None:
    settings = settings_for()
    linkedin.fault("create_post", Fault(422, {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                                              "message": "Content is a duplicate of urn:li:share:7150"}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.failed] == [(ITEM, "linkedin")]
    found = delivery(settings)
    assert found.status == "failed" and "Content is a duplicate of urn:li:share:7150" in (found.last_error or "")
    assert not run_once(settings, AT + timedelta(minutes=5)).posted
    assert len(linkedin.calls("create_post")) == 1


def test_the_token_never_appears_in_output_logs_or_the_state_folder(settings_for, linkedin, caplog) -> None:
    settings = settings_for()
    echo = f"Header Authorization: Bearer {linkedin.token} is malformed"  # a server that repeats the request
    linkedin.fault("create_post", Fault(400, {"status": 400, "message": echo}))
    with caplog.at_level("DEBUG"):
        run_once(settings, AT)
    assert "Bearer *** is malformed" in (delivery(settings).last_error or "")

    shown = [doctor(settings, linkedin).output]
    env = {**BASE, **environment(linkedin), "BOT_STATE_DIR": str(settings.state_dir)}
    for command in (["status", "--now", "2019-07-12T15:31"], ["config"]):
        shown.append(CliRunner().invoke(cli, ["--env-file", "/dev/null", *command], env=env).output)
    stored = b"".join(p.read_bytes() for p in settings.state_dir.rglob("*") if p.is_file())
    assert linkedin.token not in caplog.text + "".join(shown)
    assert linkedin.token.encode() not in stored


def test_check_reads_the_pages_posts_and_never_posts(settings_for, linkedin) -> None:
    channel = open_channel(settings_for(), "linkedin")
    assert channel is not None
    try:
        said = channel.check()
    finally:
        channel.close()
    assert [c.endpoint for c in linkedin.requests] == ["find_posts"]
    today = datetime.now(UTC).date()
    assert said == (f"organisation {linkedin.author}, Linkedin-Version {DEFAULT_VERSION}; this token has worked "
                    f"since {day(today)}: make a new one by {day(today + timedelta(days=60))} (about 60 days)")


def day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def test_doctor_counts_a_tokens_60_days_from_the_day_it_first_worked(settings_for, linkedin) -> None:
    """The day is kept with a digest of the token, never the token; a new token starts a new count."""
    settings = settings_for()
    noted = settings.state_dir / "linkedin-token.json"
    noted.parent.mkdir(parents=True, exist_ok=True)
    old = datetime.now(UTC).date() - timedelta(days=70)
    digest = hashlib.sha256(f"Bearer {linkedin.token}".encode()).hexdigest()
    noted.write_text(json.dumps({"token": digest, "since": old.isoformat()}))
    channel = open_channel(settings, "linkedin")
    assert channel is not None
    try:
        assert channel.check().endswith(f"this token has worked since {day(old)}: it may stop any day now "
                                         "(LinkedIn tokens last about 60 days); make a new one")
        noted.write_text(json.dumps({"token": "another token's digest", "since": old.isoformat()}))
        assert "make a new one by" in channel.check()
    finally:
        channel.close()
    assert linkedin.token not in noted.read_text() and oct(noted.stat().st_mode & 0o777) == "0o600"


# --- settings -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, value, words", [
    ("LINKEDIN_AUTHOR", "2414183", "LINKEDIN_AUTHOR: '2414183' is not an organisation's URN such as "
                                   "urn:li:organization:2414183"),
    ("LINKEDIN_AUTHOR", "urn:li:person:8675309", "is a member, not an organisation"),
    ("LINKEDIN_VERSION", "2026-06", "LINKEDIN_VERSION: '2026-06' is not a LinkedIn API version as YYYYMM"),
    ("LINKEDIN_VERSION", "202613", "is not a LinkedIn API version as YYYYMM"),
    ("LINKEDIN_BASE_URL", "api.linkedin.com", "LINKEDIN_BASE_URL: 'api.linkedin.com' is not an absolute"),
])
def test_a_malformed_linkedin_setting_is_refused_by_name(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={name: value}, env_file=None)
    assert words in str(refused.value)


def test_linkedin_is_off_until_an_organisation_turns_it_on_and_then_needs_its_settings() -> None:
    assert load_settings(environ={}, env_file=None).backends["linkedin"] == "off"
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"BOT_LINKEDIN_BACKEND": "api"}, env_file=None)
    assert "BOT_LINKEDIN_BACKEND=api needs LINKEDIN_ACCESS_TOKEN, LINKEDIN_AUTHOR" in str(refused.value)


# --- what the outbox and the preview say ---------------------------------------------------------------------------

CASES = {"link and picture": (True, True), "picture only": (False, True), "link only": (True, False),
         "text only": (False, False)}


@pytest.mark.parametrize("case", CASES)
def test_what_the_linkedin_file_says_is_added_is_exactly_what_the_real_backend_adds(settings_for, linkedin,
                                                                                    case: str) -> None:
    link, with_image = CASES[case]
    image = linkedin.image("panel.jpg", pictures.phone_photo()) if with_image else None
    settings = settings_for(BOT_FETCH_ALLOW_PRIVATE="1")
    [entry] = [i for i in queue.load(settings).items if i.id == ITEM]
    body = social.payload(social.compose(entry, "linkedin"), language="en", **settings.platform_options["linkedin"])
    record = social.file_record("linkedin", ITEM, body, link=LINK if link else None, image=image, image_alt=ALT)
    channel = open_channel(settings, "linkedin")
    assert channel is not None
    try:
        [outcome] = channel.send([OutgoingPost(f"{ITEM}-linkedin", "linkedin", ITEM, body, LINK if link else None,
                                               TITLE, SUMMARY, image, ALT if image else None)])
    finally:
        channel.close()
    assert isinstance(outcome, Sent), outcome

    [request] = linkedin.calls("create_post")
    sent = request.json()
    assert record["payload_is"] == "the body of POST /rest/posts"
    assert {k: v for k, v in sent.items() if k in record["payload"]} == record["payload"]
    assert set(sent) - set(record["payload"]) == {line.split(":", 1)[0] for line in record["added_when_sent"]}
    if "content" in sent:
        [words] = record["added_when_sent"]
        assert f"content.{next(iter(sent['content']))}" in words
        assert ("thumbnail" in words) == ("thumbnail" in sent["content"].get("article", {}))
        assert ("initializeUpload" in words) == bool(linkedin.calls("initialize_upload"))


def test_sample_posts_match_golden_files(sample_settings: Settings) -> None:
    for entry in queue.load(sample_settings).items:
        if "linkedin" not in entry.channels:
            continue
        post = social.compose(entry, "linkedin")
        body = social.payload(post, language="en", created_at=entry.publish_at,
                              author="urn:li:organization:2414183")
        record = {"platform": "linkedin", "item": entry.id, "length": post.length, "limit": post.limit,
                  "notes": list(post.notes), "payload": body}
        assert_golden(f"posts/linkedin/{entry.id}.json", json.dumps(record, ensure_ascii=False, indent=2) + "\n")
