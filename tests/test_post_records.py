"""The outbox and preview files say what they hold: checked against what the real backends send to local servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot import social
from bot.channels import OutgoingPost, Sent, open_channel
from bot.settings import Settings

from . import pictures
from .social_servers import BlueskyServer, MastodonServer, serving
from .x_server import XServer

LINK = "https://news.example.org/2019/07/iesogi-mandate-renewed"
ALT = "Five panellists seated at a table in a UN conference room"
TEXT = "The Human Rights Council renewed the mandate of the UN expert on SOGI. #RenewIESOGI"
CASES = {"link and picture": (True, True), "picture only": (False, True), "link only": (True, False),
         "text only": (False, False)}


def post(platform: str, body: dict[str, Any], link: bool, image: str | None) -> OutgoingPost:
    return OutgoingPost(f"renewal-{platform}", platform, "renewal", body, LINK if link else None,
                        "Mandate renewed", "The Council voted.", image, ALT if image else None)


def fields_named(record: dict[str, Any]) -> set[str]:
    """The top-level payload fields that `added_when_sent` names (`media.media_ids` names `media`)."""
    return {line.split(":", 1)[0].split(".", 1)[0] for line in record["added_when_sent"]}


def send(platform: str, settings: Settings, message: OutgoingPost) -> None:
    channel = open_channel(settings, platform)
    assert channel is not None
    try:
        [outcome] = channel.send([message])
    finally:
        channel.close()
    assert isinstance(outcome, Sent), outcome


@pytest.mark.parametrize("case", CASES)
def test_what_the_mastodon_file_says_is_added_is_exactly_what_the_real_backend_adds(
        make_settings: Callable[..., Settings], case: str) -> None:
    link, with_image = CASES[case]
    with serving(MastodonServer) as server:
        image = server.image("panel.jpg", pictures.phone_photo()) if with_image else None
        settings = make_settings(BOT_MASTODON_BACKEND="api", MASTODON_BASE_URL=server.url,
                                 MASTODON_ACCESS_TOKEN=server.token, BOT_FETCH_ALLOW_PRIVATE="1")
        body = {"status": TEXT, "visibility": "public", "language": "en"}
        record = social.file_record("mastodon", "renewal", body, link=LINK if link else None, image=image,
                                    image_alt=ALT)
        send("mastodon", settings, post("mastodon", body, link, image))
        [request] = server.calls("create_status")
    sent = request.json()
    assert {k: v for k, v in sent.items() if k in record["payload"]} == record["payload"]
    assert set(sent) - set(record["payload"]) == fields_named(record)
    assert record["payload_is"] == "the body of POST /api/v1/statuses"


@pytest.mark.parametrize("case", CASES)
def test_what_the_bluesky_file_says_is_added_is_exactly_what_the_real_backend_adds(
        make_settings: Callable[..., Settings], case: str) -> None:
    link, with_image = CASES[case]
    with serving(BlueskyServer) as server:
        image = server.image("panel.png", pictures.phone_photo()) if with_image else None
        settings = make_settings(BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=server.url,
                                 BLUESKY_HANDLE=server.handle_name, BLUESKY_APP_PASSWORD=server.password,
                                 BOT_FETCH_ALLOW_PRIVATE="1")
        body = {"$type": "app.bsky.feed.post", "text": TEXT, "facets": [], "createdAt": "2019-07-12T13:30:00.000Z",
                "langs": ["en"]}
        record = social.file_record("bluesky", "renewal", body, link=LINK if link else None, image=image,
                                    image_alt=ALT)
        send("bluesky", settings, post("bluesky", body, link, image))
        [request] = server.calls("create_record")
    call = request.json()
    assert set(call) == {"repo", "collection", "rkey", "record"}  # the wrapper `payload_is` describes
    assert {k: v for k, v in call["record"].items() if k in record["payload"]} == record["payload"]
    assert set(call["record"]) - set(record["payload"]) == fields_named(record)
    if "embed" in call["record"]:
        words = record["added_when_sent"][0]
        assert call["record"]["embed"]["$type"] in words
        assert ("thumbnail" in words) == ("thumb" in call["record"]["embed"].get("external", {}))


def test_the_outbox_writes_the_same_record_as_the_preview(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    body = {"text": TEXT}
    image = "https://cdn.example.org/vote.jpg"
    channel = open_channel(settings, "x")
    assert channel is not None
    [outcome] = channel.send([post("x", body, True, image)])
    assert isinstance(outcome, Sent)
    written = json.loads((settings.outbox_dir / "x" / "renewal.json").read_text())
    assert written == social.file_record("x", "renewal", body, link=LINK, image=image, image_alt=ALT)
    assert written["attachments"] == [{"image": image, "alt": ALT}]
    assert written["added_when_sent"] == [
        "media.media_ids: the picture, with its alt text (uploaded with POST /2/media/upload, alt text set with "
        "POST /2/media/metadata)"]


@pytest.mark.parametrize("with_image", [True, False], ids=["picture", "text only"])
def test_what_the_x_file_says_is_added_is_exactly_what_the_real_backend_adds(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, with_image: bool) -> None:
    keys = {"X_API_KEY": "herald-consumer-key", "X_API_SECRET": "consumer-secret-9f2c",
            "X_ACCESS_TOKEN": "1150000000000000001-access-token", "X_ACCESS_TOKEN_SECRET": "token-secret-51ab"}
    with XServer(*keys.values(), prefix="/x-api") as server:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1")
        image = server.serve_image("/panel.png", pictures.phone_photo(), "image/jpeg") if with_image else None
        settings = make_settings(BOT_X_BACKEND="api", X_API_BASE_URL=server.url, BOT_FETCH_ALLOW_PRIVATE="1", **keys)
        body = {"text": TEXT}
        record = social.file_record("x", "renewal", body, link=LINK, image=image, image_alt=ALT)
        send("x", settings, post("x", body, True, image))
        [request] = server.calls("POST /2/tweets")
    sent = request.json()
    assert {k: v for k, v in sent.items() if k in record["payload"]} == record["payload"]
    assert set(sent) - set(record["payload"]) == fields_named(record)
    if with_image:
        assert set(sent["media"]) == {"media_ids"}
