"""The Threads backend against a local Graph API: two steps, crash-safe, on a fixed clock, checked in the ledger."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bot import queue, social
from bot.channels import Failed, OutgoingPost, Sent, open_channel
from bot.cli import cli
from bot.content import Item
from bot.dispatch import RunReport
from bot.errors import ConfigError, FinalChannelError
from bot.ledger import Delivery, Ledger
from bot.platforms import PLATFORMS
from bot.platforms.threads import STATUS_WAITS, Threads, threads_links
from bot.scheduler import run_once
from bot.settings import Settings, load_settings

from .conftest import BASE, SAMPLE_QUEUE
from .social_servers import Fault, serving
from .threads_server import ThreadsServer, graph_error

ZURICH = ZoneInfo("Europe/Zurich")
ITEM = "2019-07-12-iesogi-mandate-renewed"
AT = datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH)  # the item's publish_at
TITLE = "Human Rights Council renews the mandate of the UN expert on sexual orientation and gender identity"
SUMMARY = ("In a defining vote, the UN Human Rights Council adopted a resolution that keeps the Independent Expert "
           "on violence and discrimination based on sexual orientation and gender identity at work for three more "
           "years. It is a victory for LGBTI communities and for everyone who believes rights are universal.")
LINK = "https://news.example.org/2019/07/iesogi-mandate-renewed"
TEXT = f"{TITLE}\n\n{SUMMARY}\n\n{LINK}\n\n#LGBTI #RenewIESOGI #HRC41"
ALT = "Five panellists seated at a table in a UN conference room"
IMAGE = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
RULES = social.PLATFORMS["threads"]
Make = Callable[..., Settings]


@pytest.fixture
def threads() -> Iterator[ThreadsServer]:
    with serving(ThreadsServer) as server:
        yield server


def environment(server: ThreadsServer) -> dict[str, str]:
    """Threads through the local server, every other channel off (whatever platforms there are); no in-run retries."""
    off = {f"BOT_{name.upper()}_BACKEND": "off" for name in PLATFORMS if name != "threads"}
    return {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "off", **off, "BOT_THREADS_BACKEND": "api",
            "THREADS_BASE_URL": server.url, "THREADS_USER_ID": server.user_id, "THREADS_ACCESS_TOKEN": server.token,
            "BOT_RETRY_BUDGET": "0s"}


@pytest.fixture
def settings_for(make_settings: Make, threads: ThreadsServer) -> Make:
    def make(**env: str) -> Settings:
        return make_settings(**{**environment(threads), **env})

    return make


def delivery(settings: Settings, item: str = ITEM) -> Delivery:
    with Ledger.open(settings.state_dir) as ledger:
        found = ledger.post(item, "threads")
    assert found is not None
    return found


def steps(found: Delivery) -> dict[str, str]:
    return dict(json.loads(found.steps or "{}"))


def went_out(report: RunReport) -> bool:
    """Nothing failed, waits or is paused (the sample's older items are missed: the first run is late for them)."""
    return bool(report.posted) and not (report.failed or report.deferred or report.paused)


def image_queue(tmp_path: Path, url: str) -> Path:
    folder = tmp_path / "images-queue"
    folder.mkdir()
    (folder / "2019-07-12-panel.md").write_text(
        "---\ntitle: Defenders meet the Council\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
        "summary: Five defenders told the Council what protection means in practice.\nhashtags: [HRC41]\n"
        f"image: {url}\nimage_alt: {ALT}\nchannels: [threads]\n---\n", encoding="utf-8")
    return folder


# --- the two steps ------------------------------------------------------------------------------------------


def test_the_sample_post_is_a_container_then_published_and_the_posts_id_is_recorded(
        settings_for: Make, threads: ThreadsServer) -> None:
    settings = settings_for()
    report = run_once(settings, AT)

    assert went_out(report)
    assert [r.endpoint for r in threads.requests] == ["create_container", "publish"]  # a text needs no waiting
    [create] = threads.calls("create_container")
    # the topic: the campaign's first hashtag (the item's own LGBTI stays in the text)
    assert create.form == {"media_type": "TEXT", "text": TEXT, "topic_tag": "RenewIESOGI",
                           "access_token": threads.token}
    assert create.args == {}  # the token goes in the form body, never in an address
    [container] = threads.containers
    assert threads.calls("publish")[0].form == {"creation_id": container, "access_token": threads.token}
    [post] = threads.posts
    assert post["id"] != container and report.posted == [(ITEM, "threads", post["id"])]
    found = delivery(settings)
    assert (found.status, found.remote_id, found.attempts) == ("sent", post["id"], 1)
    assert steps(found) == {"container": container}


def test_a_picture_is_an_image_container_that_threads_fetches_published_once_finished(
        settings_for: Make, threads: ThreadsServer, tmp_path: Path) -> None:
    url = threads.image("panel.jpg", IMAGE)
    threads.polls_until_finished = 1  # the first look says IN_PROGRESS, the second FINISHED
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, url)), BOT_FETCH_ALLOW_PRIVATE="1")
    report = run_once(settings, AT)

    assert went_out(report)
    assert [r.endpoint for r in threads.requests] == ["create_container", "container", "container", "publish"]
    form = threads.calls("create_container")[0].form
    assert (form["media_type"], form["image_url"], form["alt_text"], form["topic_tag"]) == ("IMAGE", url, ALT, "HRC41")
    assert threads.calls("container")[0].args == {"fields": "status,error_message", "access_token": threads.token}
    assert threads.fetched == [url]
    assert not [r for r in threads.requests if r.path.startswith("/media/")]  # Herald never fetched the picture
    assert delivery(settings, "2019-07-12-panel").remote_id == threads.posts[0]["id"]


def test_an_image_container_is_looked_at_a_bounded_number_of_times_then_the_retry_publishes_it(
        settings_for: Make, threads: ThreadsServer) -> None:
    url = threads.image("panel.jpg", IMAGE)
    threads.polls_until_finished = 99
    channel = open_channel(settings_for(), "threads")
    assert isinstance(channel, Threads)
    waits: list[float] = []
    channel.sleep = waits.append  # no real waiting: the server decides when the container is ready
    message = OutgoingPost(f"{ITEM}-threads", "threads", ITEM, {"media_type": "TEXT", "text": "Renewed! #HRC41"},
                           LINK, TITLE, SUMMARY, url, ALT)
    try:
        [first] = channel.send([message])
        assert isinstance(first, Failed) and first.transient and "still IN_PROGRESS" in first.error
        assert waits == list(STATUS_WAITS) and len(threads.calls("container")) == len(STATUS_WAITS)
        assert not threads.calls("publish")
        [container] = threads.containers
        assert message.steps == {"container": container}

        threads.containers[container]["polls_left"] = 0  # Threads is done with the picture
        [second] = channel.send([message])
    finally:
        channel.close()
    assert isinstance(second, Sent) and second.remote_id == threads.posts[0]["id"]
    assert len(threads.calls("create_container")) == 1 and threads.published() == [container]


def test_a_picture_threads_cannot_use_fails_for_good_with_its_reason(
        settings_for: Make, threads: ThreadsServer, tmp_path: Path) -> None:
    url = f"{threads.url}/media/missing.jpg"  # Threads cannot fetch it: the container ends in ERROR
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, url)), BOT_FETCH_ALLOW_PRIVATE="1")
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.failed] == [("2019-07-12-panel", "threads")]
    assert delivery(settings, "2019-07-12-panel").last_error == "Threads: the container is ERROR: UNKNOWN"
    assert not threads.calls("publish")


# --- crash safety: the container is recorded before it is published ------------------------------------------


def test_a_run_killed_between_the_two_steps_is_followed_by_one_that_publishes_that_same_container(
        tmp_path: Path, threads: ThreadsServer) -> None:
    env = dict(os.environ, **BASE, **environment(threads), BOT_STATE_DIR=str(tmp_path / "var"))
    threads.stall_publish = True  # the publish is held, before it takes effect, until the run is dead
    run = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once", "--now",
                            "2019-07-12T15:30"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert threads.publish_stalled.wait(60), "the run never came to publishing"  # an event, not a duration
    finally:
        run.send_signal(signal.SIGKILL)  # the machine dies between the two steps
        run.wait()
        threads.unstall.set()
    [container] = threads.containers
    settings = load_settings(environ=env, env_file=None)
    left = delivery(settings)
    assert (left.status, steps(left)) == ("sending", {"container": container})
    assert not threads.posts

    report = run_once(settings, AT + timedelta(minutes=1))

    assert report.in_doubt == 1 and report.reconciled == 0  # found FINISHED, not published: published now
    assert list(threads.containers) == [container] and threads.published() == [container]
    assert report.posted == [(ITEM, "threads", threads.posts[0]["id"])]
    assert len(threads.calls("create_container")) == 1


def test_a_failed_publish_is_retried_with_the_same_container(settings_for: Make, threads: ThreadsServer) -> None:
    settings = settings_for()
    threads.fault("publish", Fault(503, graph_error(2, "Service temporarily unavailable", is_transient=True)))
    first = run_once(settings, AT)
    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "threads")]
    [container] = threads.containers
    assert steps(delivery(settings)) == {"container": container} and delivery(settings).status == "pending"

    second = run_once(settings, AT + timedelta(minutes=1))

    assert went_out(second) and second.reconciled == 0
    assert len(threads.calls("create_container")) == 1 and threads.published() == [container]


@pytest.mark.parametrize("how", ["expire", "forget"])
def test_a_container_expired_or_gone_by_the_retry_is_replaced_by_a_new_one(
        settings_for: Make, threads: ThreadsServer, how: str) -> None:
    settings = settings_for()
    threads.fault("publish", Fault(503, graph_error(2, "Service temporarily unavailable", is_transient=True)))
    run_once(settings, AT)
    [old] = threads.containers
    getattr(threads, how)(old)  # 24 hours went by, or Threads no longer knows it

    report = run_once(settings, AT + timedelta(minutes=1))

    assert went_out(report)
    new = steps(delivery(settings))["container"]
    assert new != old and threads.published() == [new] and len(threads.calls("create_container")) == 2


def test_a_publish_whose_answer_was_lost_is_found_published_not_posted_again(
        settings_for: Make, threads: ThreadsServer) -> None:
    settings = settings_for(BOT_HTTP_TIMEOUT="1s")
    threads.fault("publish", Fault(hold=True))  # published, but the answer comes after the client gave up
    first = run_once(settings, AT)
    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "threads")]
    [post] = threads.posts
    # The same words posted months before: another post, which reconcile must not take for this one.
    threads.posts.insert(0, {**post, "id": "17990000000000000", "container": "0",
                             "timestamp": "2019-01-04T09:00:00+0000"})

    second = run_once(settings, AT + timedelta(minutes=1))

    assert second.reconciled == 1 and second.posted == [(ITEM, "threads", post["id"])]
    assert len(threads.calls("publish")) == 1 and len(threads.calls("create_container")) == 1
    assert threads.calls("user_threads")[0].args == {"fields": "id,text,timestamp", "limit": "20",
                                                     "access_token": threads.token}
    assert (delivery(settings).status, delivery(settings).remote_id) == ("sent", post["id"])


# --- errors as the Graph API gives them ----------------------------------------------------------------------


@pytest.mark.parametrize("status, body", [
    (400, graph_error(190, "Error validating access token: Session has expired", 463)),
    (403, graph_error(10, "Application does not have permission for this action")),
    (400, graph_error(200, "Requires threads_content_publish permission")),
], ids=["190", "10", "200"])
def test_refused_credentials_pause_threads_and_leave_the_post_pending(
        settings_for: Make, threads: ThreadsServer, status: int, body: dict[str, object]) -> None:
    settings = settings_for()
    threads.fault("create_container", Fault(status, body))
    report = run_once(settings, AT)

    assert "threads" in report.paused and str(body["error"]["message"]) in report.paused["threads"]  # type: ignore
    assert delivery(settings).status == "pending" and not threads.containers


def test_a_wrong_token_gets_190_as_http_400_and_pauses_threads_without_showing_the_token(
        settings_for: Make, threads: ThreadsServer) -> None:
    settings = settings_for(THREADS_ACCESS_TOKEN="revoked-threads-token-4417")
    report = run_once(settings, AT)

    assert "Invalid OAuth access token" in report.paused["threads"] and "(code 190)" in report.paused["threads"]
    assert delivery(settings).status == "pending" and not threads.containers
    assert "revoked-threads-token-4417" not in report.paused["threads"] + (delivery(settings).last_error or "")


@pytest.mark.parametrize("status, body", [
    (400, graph_error(4, "Application request limit reached")),
    (403, graph_error(17, "User request limit reached")),
    (400, graph_error(32, "Page request limit reached")),
    (400, graph_error(613, "Calls to this api have exceeded the rate limit.")),
    (429, {}),
    (500, graph_error(1, "An unknown error occurred")),
    (503, {}),
], ids=["4", "17", "32", "613", "429", "500", "503"])
def test_rate_limits_and_server_faults_defer_the_post(
        settings_for: Make, threads: ThreadsServer, status: int, body: dict[str, object]) -> None:
    settings = settings_for()
    threads.fault("create_container", Fault(status, body))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.deferred] == [(ITEM, "threads")] and not report.paused
    assert delivery(settings).status == "pending"
    assert went_out(run_once(settings, AT + timedelta(minutes=5)))


def test_too_many_links_fails_for_good_with_threads_own_words(settings_for: Make, threads: ThreadsServer) -> None:
    settings = settings_for()
    threads.fault("create_container", Fault(400, graph_error(
        100, "THREADS_API__LINK_LIMIT_EXCEEDED", 4279013, error_user_msg="Posts can't have more than 5 links.")))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.failed] == [(ITEM, "threads")]
    assert delivery(settings).last_error == (
        "Threads: making the container: HTTP 400: THREADS_API__LINK_LIMIT_EXCEEDED; Posts can't have more than 5 "
        "links. (code 100, error_subcode 4279013)")
    assert not run_once(settings, AT + timedelta(minutes=5)).posted  # never retried
    assert len(threads.calls("create_container")) == 1


def test_the_token_never_appears_in_output_logs_or_the_ledger(
        settings_for: Make, threads: ThreadsServer, tmp_path: Path) -> None:
    # A server that repeats the token in its error: the worst case for what gets stored and shown.
    threads.fault("publish", Fault(400, graph_error(100, f"Invalid parameter access_token={threads.token}")))
    lines: list[str] = []
    collect = logging.Handler(logging.DEBUG)
    collect.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    herald = logging.getLogger("herald")
    herald.addHandler(collect)
    try:
        report = run_once(settings_for(BOT_STATE_DIR=str(tmp_path / "var")), AT)
    finally:
        herald.removeHandler(collect)
    env = {**BASE, **environment(threads), "BOT_STATE_DIR": str(tmp_path / "var")}
    shown = [CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)
             for args in (["--debug", "status", "--json", "--now", "2019-07-12T15:31"], ["doctor"],
                          ["--debug", "run", "--once", "--now", "2019-07-12T15:32"])]

    assert report.failed and "Invalid parameter access_token=***" in report.failed[0][2]
    assert f"@genevarights ({threads.user_id})" in shown[1].output
    stored = b"".join(path.read_bytes() for path in (tmp_path / "var").rglob("*") if path.is_file())
    for text in [repr(report), *lines, *(r.output + (r.stderr or "") for r in shown)]:
        assert threads.token not in text
    assert threads.token.encode() not in stored
    assert not [r for r in threads.requests if r.method == "POST" and "access_token" in r.args]  # form body only


def test_check_names_the_account_and_catches_a_user_id_that_is_not_the_tokens(
        settings_for: Make, threads: ThreadsServer) -> None:
    for user_id, expected in ((threads.user_id, f"@genevarights ({threads.user_id})"), ("17841400000000002", None)):
        channel = open_channel(settings_for(THREADS_USER_ID=user_id), "threads")
        assert channel is not None
        try:
            if expected:
                assert channel.check() == expected
            else:
                with pytest.raises(FinalChannelError, match="THREADS_USER_ID is 17841400000000002, but the token "
                                                            "is @genevarights's"):
                    channel.check()
        finally:
            channel.close()
    assert threads.calls("me")[0].args == {"fields": "id,username", "access_token": threads.token}
    assert not threads.calls("create_container")  # check only reads


def test_threads_is_off_until_turned_on_and_its_api_needs_the_user_id_and_the_token(make_settings: Make) -> None:
    assert make_settings().backends["threads"] == "off"
    with pytest.raises(ConfigError, match="BOT_THREADS_BACKEND=api needs THREADS_USER_ID, THREADS_ACCESS_TOKEN"):
        make_settings(BOT_THREADS_BACKEND="api")
    with pytest.raises(ConfigError, match="THREADS_USER_ID: '@genevarights' is not a Threads user id"):
        make_settings(THREADS_USER_ID="@genevarights")


# --- the outbox and preview record, against what the real backend sends --------------------------------------


@pytest.mark.parametrize("with_image", [False, True], ids=["text only", "picture"])
def test_what_the_threads_file_says_is_what_the_real_backend_sends(make_settings: Make, with_image: bool) -> None:
    sample = {i.id: i for i in queue.load(make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))).items}[ITEM]
    body = social.payload(social.compose(sample, "threads"), language="en")
    with serving(ThreadsServer) as server:
        image = server.image("panel.jpg", IMAGE) if with_image else None
        settings = make_settings(**environment(server))
        record = social.file_record("threads", ITEM, body, link=LINK, image=image, image_alt=ALT)
        channel = open_channel(settings, "threads")
        assert channel is not None
        try:
            [outcome] = channel.send([OutgoingPost(f"{ITEM}-threads", "threads", ITEM, body, LINK, TITLE, SUMMARY,
                                                   image, ALT if image else None)])
        finally:
            channel.close()
        [create], [publish] = server.calls("create_container"), server.calls("publish")
    assert isinstance(outcome, Sent)
    sent = {k: v for k, v in create.form.items() if k != "access_token"}
    named = {line.split(":", 1)[0] for line in record["added_when_sent"]}
    assert set(sent) == set(record["payload"]) | named  # nothing sent that the record does not show or name
    assert all(sent[k] == v for k, v in record["payload"].items() if k not in named)
    assert all(sent[k] != record["payload"].get(k) for k in named)  # each named field is added or changed
    assert named == ({"media_type", "image_url", "alt_text"} if image else set())
    assert record["payload_is"] == ("the parameters of POST /{user-id}/threads (a container), then published with "
                                    "POST /{user-id}/threads_publish")
    assert set(publish.form) == {"creation_id", "access_token"}


# --- counting as Threads counts --------------------------------------------------------------------------------

# Whole emoji: a face, a thumb with a skin tone, a family (ZWJ), a flag, a heart with VS16, a keycap, a rainbow flag.
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇨🇭", "❤\ufe0f", "1\ufe0f\u20e3", "🏳\ufe0f\u200d🌈"]
PLAIN = "abcXYZ0189 .,;:!?-éüßçñ中文字日本語한국어"


@given(st.lists(st.one_of(st.sampled_from(PLAIN).map(lambda c: (c, 1)),
                          st.sampled_from(EMOJI).map(lambda e: (e, len(e.encode())))), max_size=80))
def test_each_emoji_counts_its_utf8_bytes_and_any_other_character_one(parts: list[tuple[str, int]]) -> None:
    text = "".join(part for part, _ in parts)
    assert RULES.measure(text) == sum(count for _, count in parts)
    assert RULES.fits(text) == (sum(count for _, count in parts) <= 500)


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
urls = st.builds(lambda host, path: f"https://{host}.org/{path}", label, label)


@given(st.lists(urls, max_size=9), st.integers(min_value=0, max_value=3))
def test_a_post_fits_with_at_most_five_distinct_links_however_often_each_appears(
        found: list[str], repeats: int) -> None:
    text = " ".join(["Read", *found, *found[:repeats], "and share."])
    assert threads_links(text) == len(set(found))
    assert RULES.fits(text) == (len(set(found)) <= 5)


@given(st.lists(urls, max_size=10), st.lists(label, min_size=1, max_size=30).map(" ".join))
def test_a_composed_post_never_carries_more_than_five_links(found: list[str], words: str) -> None:
    item = Item(id="random", path=Path("random.md"), title="t", date=date(2019, 7, 12), summary="s",
                publish_at=datetime(2019, 7, 12, 9, tzinfo=ZURICH), link=LINK, hashtags=("HRC41",),
                social={"threads": " ".join(f"{words} {url}" for url in found) or words})
    post = social.compose(item, "threads")
    assert threads_links(post.text) <= 5 and post.length <= 500 and LINK in post.text
    if len(set(found) | {LINK}) > 5:  # too many links: shortened, as a post too long is
        assert post.shortened


def test_an_override_with_six_links_is_a_problem_of_its_field(
        write_item: Callable[..., Path], settings: Settings) -> None:
    six = " ".join(f"https://example.org/{n}" for n in range(6))
    write_item("2019-07-12-links", f'title: Six reports\ndate: 2019-07-12\nsummary: Six reports.\n'
                                   f'social:\n  threads: "Read all six: {six}"')
    problems = [p for p in queue.load(settings).problems if p.field.startswith("social.")]
    assert [(p.field, p.message) for p in problems] == [
        ("social.threads", "has 6 different links; Threads takes at most 5")]


def test_threads_posts_each_part_of_a_reply_thread_in_reply_to_the_one_before(
        settings_for: Make, threads: ThreadsServer, write_item: Callable[..., Path], queue_dir: Path) -> None:
    write_item("2019-07-12-thread", "title: Mandate renewed\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
                                    "summary: The Council voted.\nchannels: [threads]\nsocial:\n  threads:\n"
                                    "    - The Council renewed the mandate.\n    - 27 for, 12 against.\n"
                                    "    - Thank you to everyone who campaigned.")
    settings = settings_for(BOT_QUEUE_DIR=str(queue_dir))
    run_once(settings, AT)
    containers = threads.calls("create_container")
    with Ledger.open(settings.state_dir) as ledger:
        ids = [d.remote_id for d in ledger.thread("2019-07-12-thread", "threads")]
    assert [c.form.get("reply_to_id") for c in containers] == [None, ids[0], ids[1]]


def test_the_topic_tag_is_the_first_hashtag_threads_takes_and_every_hashtag_stays_in_the_text() -> None:
    too_long = "Defenders" * 6  # 54 letters: a hashtag, but no topic tag (1 to 50 characters)
    item = Item(id="tags", path=Path("tags.md"), title="Vote today", date=date(2019, 7, 12), summary="Watch live.",
                publish_at=datetime(2019, 7, 12, 9, tzinfo=ZURICH), hashtags=(too_long, "RenewIESOGI", "HRC41"))
    body = social.payload(social.compose(item, "threads"), language="en")
    assert body == {"media_type": "TEXT", "topic_tag": "RenewIESOGI",
                    "text": f"Vote today\n\nWatch live.\n\n#{too_long} #RenewIESOGI #HRC41"}
