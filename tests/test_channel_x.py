"""The X backend against a local X API v2 (tests/x_server.py) that verifies every OAuth 1.0a signature.

Whole runs go through run_once on a fixed clock with BOT_RETRY_BUDGET=0s, so that nothing is retried within
a run and each retry is a later run_once: no test depends on timing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import media, queue, social
from bot.channels import Failed, OutgoingPost, Sent, open_channel
from bot.clock import utc_iso
from bot.ledger import Delivery, Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from . import pictures
from .conftest import SAMPLE_QUEUE
from .x_server import XServer

ZURICH = ZoneInfo("Europe/Zurich")
KEYS = {"X_API_KEY": "herald-consumer-key", "X_API_SECRET": "consumer-secret-9f2c",
        "X_ACCESS_TOKEN": "1150000000000000001-access-token", "X_ACCESS_TOKEN_SECRET": "token-secret-51ab"}
# Herald's words for X's duplicate refusal, pinned here (and bot.channels.x is not imported directly: only
# open_channel, so that the registry is discovered whole).
DUPLICATE = "X refused it as a duplicate of an earlier post"
SAMPLE_ITEM = "2019-07-12-iesogi-mandate-renewed"
SAMPLE_AT = datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH)  # its publish_at
# A 1x1 PNG: bytes that a text-mangling upload would break (it holds \r, \n and NUL).
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
                       "RU5ErkJggg==")


@pytest.fixture
def x_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[XServer]:
    with XServer(KEYS["X_API_KEY"], KEYS["X_API_SECRET"], KEYS["X_ACCESS_TOKEN"], KEYS["X_ACCESS_TOKEN_SECRET"],
                 prefix="/x-api") as server:
        # Anything addressed to another host (api.x.com, api.twitter.com) goes through the server as a proxy,
        # which records it and refuses it; calls to 127.0.0.1 go straight.
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, server.origin)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1")
        yield server
    assert server.escaped == [], f"calls went elsewhere than X_API_BASE_URL: {server.escaped}"


@pytest.fixture
def x_settings(make_settings: Callable[..., Settings], x_server: XServer) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        values = {"BOT_X_BACKEND": "api", "BOT_MASTODON_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off",
                  "BOT_EMAIL_BACKEND": "off", "BOT_RETRY_BUDGET": "0s", "X_API_BASE_URL": x_server.url, **KEYS}
        values.update(env)
        return make_settings(**values)

    return make


def composed_text(settings: Settings, item_id: str) -> str:
    item = {i.id: i for i in queue.load(settings).items}[item_id]
    return social.payload(social.compose(item, "x"), language=item.lang or settings.language)["text"]


def x_post(settings: Settings, item_id: str) -> Delivery:
    with Ledger.open(settings.state_dir) as ledger:
        found = ledger.post(item_id, "x")
    assert found is not None
    return found


def test_a_sample_post_reaches_x_exactly_as_composed_and_its_id_is_recorded(x_settings, x_server: XServer) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    report = run_once(settings, SAMPLE_AT)

    assert x_server.routes() == ["POST /2/tweets"]  # no media, no reads: one call, and it reached the server
    [call] = x_server.requests
    # Signed for the URL it was sent to (the server recomputes the signature over its own address).
    assert call.signed and call.headers["Host"] == x_server.origin.removeprefix("http://")
    assert call.json() == {"text": composed_text(settings, SAMPLE_ITEM)}
    [tweet] = x_server.tweets
    assert report.posted == [(SAMPLE_ITEM, "x", tweet["id"])]
    post = x_post(settings, SAMPLE_ITEM)
    assert (post.status, post.remote_id, post.attempts) == ("sent", tweet["id"], 1)

    run_once(settings, SAMPLE_AT + timedelta(hours=1))  # nothing is posted twice
    assert x_server.routes() == ["POST /2/tweets"]


def test_an_image_is_uploaded_with_its_alt_text_and_attached(x_settings, x_server: XServer, tmp_path: Path) -> None:
    image = x_server.serve_image("/media/defenders.png", PNG, "image/png")
    folder = tmp_path / "own-queue"
    folder.mkdir()
    (folder / "defenders-photo.md").write_text(f"""---
title: Defenders meet the Council
date: 2019-07-09
publish_at: 2019-07-09 11:00
summary: Women human rights defenders met members of the Council in Geneva.
link: https://news.example.org/2019/07/defenders
image: {image}
image_alt: "Five women stand in front of the Palais des Nations, holding a banner that reads: defend the defenders"
hashtags: [WHRDs]
---
""", encoding="utf-8")
    settings = x_settings(BOT_QUEUE_DIR=str(folder), BOT_FETCH_ALLOW_PRIVATE="1")  # the picture is on this machine
    report = run_once(settings, datetime(2019, 7, 9, 11, 0, tzinfo=ZURICH))

    assert x_server.routes() == ["GET /media/defenders.png", "POST /2/media/upload", "POST /2/media/metadata",
                                 "POST /2/tweets"]
    fetch, upload, metadata, create = x_server.requests
    assert "Authorization" not in fetch.headers  # X's signature never goes to the image's host
    assert all(r.signed for r in (upload, metadata, create))
    form = upload.form()
    assert form["media"] == (PNG, "defenders.png", "image/png")
    assert form["media_category"][0] == b"tweet_image"
    [(media_id, media)] = x_server.media.items()
    alt = "Five women stand in front of the Palais des Nations, holding a banner that reads: defend the defenders"
    assert metadata.json() == {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
    assert media["alt_text"] == alt
    assert create.json() == {"text": composed_text(settings, "defenders-photo"), "media": {"media_ids": [media_id]}}
    [tweet] = x_server.tweets
    assert report.posted == [("defenders-photo", "x", tweet["id"])]
    assert x_post(settings, "defenders-photo").remote_id == tweet["id"]


def test_a_media_library_picture_is_uploaded_from_its_file_without_any_fetch(x_settings, x_server: XServer,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "own-queue"
    folder.mkdir()
    # BOT_PUBLIC_URL is the local X: a fetch of BOT_PUBLIC_URL/media/NAME would be seen there.
    settings = x_settings(BOT_QUEUE_DIR=str(folder), BOT_PUBLIC_URL=x_server.origin)
    stored = media.store(settings, pictures.phone_photo(), "IMG_0815.jpg")
    (folder / "defenders-photo.md").write_text(
        "---\ntitle: Defenders meet the Council\ndate: 2019-07-09\npublish_at: 2019-07-09 11:00\n"
        "summary: Women human rights defenders met members of the Council in Geneva.\n"
        f"image: {stored.image}\nimage_alt: Five women in front of the Palais des Nations\n---\n", encoding="utf-8")

    run_once(settings, datetime(2019, 7, 9, 11, 0, tzinfo=ZURICH))

    assert x_server.routes() == ["POST /2/media/upload", "POST /2/media/metadata", "POST /2/tweets"]
    assert x_server.calls("POST /2/media/upload")[0].form()["media"] == (stored.path.read_bytes(), stored.path.name,
                                                                         "image/jpeg")


def test_a_duplicate_is_failed_for_good_and_never_retried(x_settings, x_server: XServer) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    x_server.seed_tweet(composed_text(settings, SAMPLE_ITEM))  # someone posted the same words by hand

    report = run_once(settings, SAMPLE_AT)
    assert report.failed == [(SAMPLE_ITEM, "x", DUPLICATE)] and not report.posted
    post = x_post(settings, SAMPLE_ITEM)
    assert (post.status, post.last_error, post.remote_id, post.next_attempt_at) == ("failed", DUPLICATE, None, None)

    run_once(settings, SAMPLE_AT + timedelta(hours=2))
    assert x_server.routes() == ["POST /2/tweets"] and len(x_server.tweets) == 1
    assert x_post(settings, SAMPLE_ITEM).status == "failed"


def test_refused_credentials_pause_x_and_leave_the_post_pending(x_settings, x_server: XServer) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), X_ACCESS_TOKEN_SECRET="a-revoked-secret")
    report = run_once(settings, SAMPLE_AT)

    assert set(report.paused) == {"x"} and not report.posted and not report.failed
    assert "HTTP 401" in report.paused["x"]
    [call] = x_server.requests
    assert call.route == "POST /2/tweets" and not call.signed and x_server.tweets == []
    post = x_post(settings, SAMPLE_ITEM)
    assert post.status == "pending" and post.next_attempt_at is not None
    for secret in (*KEYS.values(), "a-revoked-secret", "oauth_signature"):
        assert secret not in (post.last_error or "") and secret not in report.paused["x"]


def test_a_rate_limit_defers_the_post_until_x_says(x_settings, x_server: XServer) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    reset = SAMPLE_AT + timedelta(minutes=15)
    x_server.clock = SAMPLE_AT  # X's Date: the wait is measured on X's clock, whatever this machine's says
    x_server.fail_next("POST /2/tweets", 429, headers={"x-rate-limit-reset": str(int(reset.timestamp()))})

    report = run_once(settings, SAMPLE_AT)
    assert [(i, p) for i, p, _ in report.deferred] == [(SAMPLE_ITEM, "x")] and x_server.tweets == []
    post = x_post(settings, SAMPLE_ITEM)
    assert (post.status, post.next_attempt_at) == ("pending", utc_iso(reset))
    assert "429" in (post.last_error or "")

    run_once(settings, reset - timedelta(minutes=1))  # before the reset: X is not asked again
    assert x_server.routes() == ["POST /2/tweets"]

    report = run_once(settings, reset)
    # Handed over before, so first looked for; not there, so posted.
    assert x_server.routes() == ["POST /2/tweets", "GET /2/users/me", f"GET /2/users/{x_server.user_id}/tweets",
                                 "POST /2/tweets"]
    [tweet] = x_server.tweets
    assert report.posted == [(SAMPLE_ITEM, "x", tweet["id"])]
    assert (x_post(settings, SAMPLE_ITEM).status, x_post(settings, SAMPLE_ITEM).remote_id) == ("sent", tweet["id"])


def test_a_server_error_leaves_the_post_pending_for_the_next_run(x_settings, x_server: XServer) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    x_server.fail_next("POST /2/tweets", 503)

    report = run_once(settings, SAMPLE_AT)
    assert not report.posted and not report.failed and x_server.tweets == []
    post = x_post(settings, SAMPLE_ITEM)
    assert post.status == "pending" and "HTTP 503: Service Unavailable" in (post.last_error or "")
    assert post.next_attempt_at is not None

    report = run_once(settings, SAMPLE_AT + timedelta(minutes=5))
    [tweet] = x_server.tweets
    assert report.posted == [(SAMPLE_ITEM, "x", tweet["id"])] and report.reconciled == 0
    assert x_post(settings, SAMPLE_ITEM).remote_id == tweet["id"]


@pytest.mark.parametrize("lost", ["dropped connection", "503 after storing"])
def test_a_post_whose_answer_was_lost_is_found_not_posted_twice(x_settings, x_server: XServer, lost: str) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    if lost == "dropped connection":
        x_server.fail_next("POST /2/tweets", drop=True, after=True)
    else:
        x_server.fail_next("POST /2/tweets", 503, after=True)

    report = run_once(settings, SAMPLE_AT)
    assert not report.posted and len(x_server.tweets) == 1  # X has it; Herald does not know
    assert x_post(settings, SAMPLE_ITEM).status == "pending"

    report = run_once(settings, SAMPLE_AT + timedelta(minutes=5))
    [tweet] = x_server.tweets  # still exactly one: found, not posted again
    assert "https://t.co/" in tweet["text"]  # X showed the link shortened; the match survived it
    assert report.posted == [(SAMPLE_ITEM, "x", tweet["id"])] and report.reconciled == 1
    assert x_server.routes() == ["POST /2/tweets", "GET /2/users/me", f"GET /2/users/{x_server.user_id}/tweets"]
    assert x_server.requests[-1].path.endswith("?max_results=20")
    post = x_post(settings, SAMPLE_ITEM)
    assert (post.status, post.remote_id) == ("sent", tweet["id"])


def test_reconcile_finds_a_post_as_x_shows_it_back_and_nothing_else(x_settings, x_server: XServer) -> None:
    settings = x_settings()
    text = "Rights & wrongs at the Council: read https://news.example.org/2019/07/council #HRC41"
    message = OutgoingPost("council-x", "x", "council", {"text": text})
    x_server.seed_tweet(text.replace("Rights", "Lefts"))  # a near miss is not the post
    channel = open_channel(settings, "x")
    assert channel is not None
    try:
        assert channel.reconcile(message) is None
        # X shows it back with the link on t.co, "&" escaped, and one more link for attached media.
        tweet = x_server.seed_tweet(text, media=True)
        assert "&amp;" in tweet["text"] and "news.example.org" not in tweet["text"]
        assert channel.reconcile(message) == Sent(tweet["id"])
    finally:
        channel.close()
    # The account's id is read once per channel, then reused.
    assert x_server.routes().count("GET /2/users/me") == 1


def test_check_names_the_account_through_the_configured_base_url(x_settings, x_server: XServer) -> None:
    settings = x_settings()
    assert x_server.url.endswith("/x-api")  # a base URL with a path: every call must keep it
    channel = open_channel(settings, "x")
    assert channel is not None
    try:
        assert channel.check() == "@GenevaRightsDesk"
    finally:
        channel.close()
    [call] = x_server.requests
    assert call.route == "GET /2/users/me" and call.signed and call.path == "/2/users/me"


@pytest.mark.parametrize("image", ["http://169.254.169.254/latest/meta-data/iam/security-credentials/herald",
                                   "http://[::ffff:a9fe:a9fe]/latest/meta-data/", "http://2852039166/latest/meta-data/"],
                         ids=["metadata", "metadata-as-ipv6", "metadata-as-a-number"])
def test_a_picture_on_the_cloud_metadata_address_fails_for_good_without_any_request(x_settings, x_server: XServer,
                                                                                     image: str) -> None:
    settings = x_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    item = {i.id: i for i in queue.load(settings).items}[SAMPLE_ITEM]
    post = OutgoingPost(f"{SAMPLE_ITEM}-x", "x", SAMPLE_ITEM, {"text": composed_text(settings, SAMPLE_ITEM)},
                        item.link, item.title, item.summary, image, "The Council chamber")
    channel = open_channel(settings, "x")
    assert channel is not None
    try:
        [outcome] = channel.send([post])
    finally:
        channel.close()

    assert x_server.escaped == []  # nothing went to 169.254.169.254, not even through the proxy
    assert x_server.routes() == []
    assert isinstance(outcome, Failed) and not outcome.transient
    assert "169.254.169.254" in outcome.error and "is not a public address: refused" in outcome.error
