"""The Bluesky backend against a local PDS: the whole pipeline on a fixed clock, checked in the ledger."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import media, queue, social
from bot.channels import Failed, OutgoingPost, Sent, open_channel
from bot.clock import from_utc_iso
from bot.dispatch import RunReport
from bot.ledger import Delivery, Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from . import pictures
from .conftest import SAMPLE_QUEUE
from .social_servers import BlueskyServer, Fault, serving

ZURICH = ZoneInfo("Europe/Zurich")
ITEM = "2019-07-12-iesogi-mandate-renewed"
AT = datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH)  # the item's publish_at
EARLIER = "2019-07-11-xinjiang-joint-letter"
EARLIER_AT = datetime(2019, 7, 11, 9, 0, tzinfo=ZURICH)
TITLE = "Human Rights Council renews the mandate of the UN expert on sexual orientation and gender identity"
SUMMARY = ("In a defining vote, the UN Human Rights Council adopted a resolution that keeps the Independent Expert "
           "on violence and discrimination based on sexual orientation and gender identity at work for three more "
           "years. It is a victory for LGBTI communities and for everyone who believes rights are universal.")
LINK = "https://news.example.org/2019/07/iesogi-mandate-renewed"
SMALL = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
ALT = "Activists holding a rainbow banner outside the Palais des Nations"


@pytest.fixture
def pds() -> Iterator[BlueskyServer]:
    with serving(BlueskyServer) as server:
        yield server


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings], pds: BlueskyServer) -> Callable[..., Settings]:
    """The sample queue, Bluesky through the local PDS, everything else off; no in-run retries."""

    def make(**env: str) -> Settings:
        values = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "off", "BOT_X_BACKEND": "off",
                  "BOT_MASTODON_BACKEND": "off", "BOT_BLUESKY_BACKEND": "api", "BLUESKY_SERVICE": pds.url,
                  "BLUESKY_HANDLE": pds.handle_name, "BLUESKY_APP_PASSWORD": pds.password,
                  "BOT_RETRY_BUDGET": "0s"}
        return make_settings(**{**values, **env})

    return make


def delivery(settings: Settings, item: str = ITEM) -> Delivery:
    with Ledger.open(settings.state_dir) as ledger:
        found = ledger.post(item, "bluesky")
    assert found is not None
    return found


def went_out(report: RunReport) -> bool:
    """Nothing failed, waits or is paused (the sample's older items are missed: the first run is late for them)."""
    return bool(report.posted) and not (report.failed or report.deferred or report.paused)


def record_of(pds: BlueskyServer, settings: Settings, item: str, uri: str | None = None) -> dict[str, Any]:
    uri = uri or delivery(settings, item).remote_id or ""
    return pds.records[uri.rsplit("/", 1)[-1]]["value"]


def span(text: str, part: str) -> dict[str, int]:
    """The UTF-8 byte range of `part` in `text`."""
    start = len(text[:text.index(part)].encode())
    return {"byteStart": start, "byteEnd": start + len(part.encode())}


def test_a_sample_post_reaches_the_pds_exactly_and_its_uri_is_recorded(settings_for, pds) -> None:
    settings = settings_for()
    report = run_once(settings, AT)

    assert went_out(report)
    [request] = pds.calls("create_record")
    body = request.json()
    [session] = [s for s in pds.calls("create_session")]
    assert session.json() == {"identifier": pds.handle_name, "password": pds.password}
    assert request.headers["Authorization"].removeprefix("Bearer ") in pds.access
    cut = SUMMARY[:SUMMARY.index(" based on")]
    text = f"{TITLE}\n\n{cut}…\n\nnews.example.org/2019/07/iesog…\n\n#LGBTI #RenewIESOGI #HRC41"
    tag = "app.bsky.richtext.facet#tag"
    assert body == {"repo": pds.did, "collection": "app.bsky.feed.post", "rkey": body["rkey"], "record": {
        "$type": "app.bsky.feed.post",
        "text": text,
        "facets": [
            {"index": span(text, "news.example.org/2019/07/iesog…"),
             "features": [{"$type": "app.bsky.richtext.facet#link", "uri": LINK}]},
            {"index": span(text, "#LGBTI"), "features": [{"$type": tag, "tag": "LGBTI"}]},
            {"index": span(text, "#RenewIESOGI"), "features": [{"$type": tag, "tag": "RenewIESOGI"}]},
            {"index": span(text, "#HRC41"), "features": [{"$type": tag, "tag": "HRC41"}]}],
        "createdAt": "2019-07-12T13:30:00.000Z",
        "langs": ["en"],
        "embed": {"$type": "app.bsky.embed.external",
                  "external": {"uri": LINK, "title": TITLE, "description": SUMMARY}}}}
    uri = f"at://{pds.did}/app.bsky.feed.post/{body['rkey']}"
    assert report.posted == [(ITEM, "bluesky", uri)]
    post = delivery(settings)
    assert (post.status, post.remote_id, post.attempts) == ("sent", uri, 1)


def test_the_session_is_created_once_and_reused_by_later_runs(settings_for, pds) -> None:
    settings = settings_for()
    assert went_out(run_once(settings, EARLIER_AT))
    assert went_out(run_once(settings, AT))

    assert pds.logins == 1 and len(pds.records) == 2
    first, second = pds.calls("create_record")
    assert first.headers["Authorization"] == second.headers["Authorization"]  # read back from the session file


def test_an_expired_access_token_is_refreshed_not_a_new_login(settings_for, pds) -> None:
    settings = settings_for()
    run_once(settings, EARLIER_AT)
    pds.expire_access_tokens()
    report = run_once(settings, AT)

    assert went_out(report) and (pds.logins, pds.refreshes) == (1, 1)
    first, second = pds.calls("create_record")[1:]  # refused as expired, then accepted
    assert first.headers["Authorization"] != second.headers["Authorization"]
    stored = json.loads((settings.state_dir / "bluesky-session.json").read_text())
    assert stored["refreshJwt"] in pds.refresh and stored["accessJwt"] in pds.access  # the rotated tokens kept


def test_a_session_that_cannot_be_refreshed_signs_in_again(settings_for, pds) -> None:
    settings = settings_for()
    run_once(settings, EARLIER_AT)
    pds.expire_access_tokens()
    pds.expire_refresh_tokens()
    report = run_once(settings, AT)

    assert went_out(report)
    assert (len(pds.calls("refresh_session")), pds.refreshes, pds.logins) == (1, 0, 2)


def test_a_retry_uses_the_same_record_key_and_writes_one_record(settings_for, pds) -> None:
    settings = settings_for()
    pds.fault("create_record", Fault(503, {"error": "InternalServerError", "message": "Service Unavailable"}))
    first = run_once(settings, AT)
    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "bluesky")]
    assert delivery(settings).status == "pending" and not pds.records

    second = run_once(settings, AT + timedelta(minutes=1))
    assert went_out(second) and second.reconciled == 0
    one, two = (r.json() for r in pds.calls("create_record"))
    assert one["rkey"] == two["rkey"]
    assert (one["record"]["createdAt"], two["record"]["createdAt"]) == (
        "2019-07-12T13:30:00.000Z", "2019-07-12T13:31:00.000Z")  # the send time does not feed the key
    assert list(pds.records) == [one["rkey"]]
    assert delivery(settings).remote_id == pds.records[one["rkey"]]["uri"]


def test_a_post_whose_answer_timed_out_is_looked_up_not_written_again(settings_for, pds) -> None:
    settings = settings_for(BOT_HTTP_TIMEOUT="1s")
    pds.fault("create_record", Fault(hold=True))  # written, but answered only after the client gave up
    report = run_once(settings, AT)

    [(rkey, record)] = pds.records.items()
    assert report.posted == [(ITEM, "bluesky", record["uri"])]
    assert len(pds.calls("create_record")) == 1
    assert pds.calls("get_record")[0].args == {"repo": pds.did, "collection": "app.bsky.feed.post", "rkey": rkey}
    assert delivery(settings).status == "sent"


def test_a_post_whose_answer_was_lost_is_reconciled_by_the_next_run(settings_for, pds) -> None:
    settings = settings_for()
    pds.fault("create_record", Fault(502, {"error": "UpstreamFailure", "message": "Bad Gateway"}, after=True))
    pds.fault("get_record", Fault(503, {"error": "InternalServerError", "message": "Service Unavailable"}))
    first = run_once(settings, AT)
    assert delivery(settings).status == "pending" and len(pds.records) == 1

    second = run_once(settings, AT + timedelta(minutes=1))
    [record] = pds.records.values()
    assert second.reconciled == 1 and second.posted == [(ITEM, "bluesky", record["uri"])]
    assert len(pds.calls("create_record")) == 1 and first.deferred
    assert (delivery(settings).status, delivery(settings).remote_id) == ("sent", record["uri"])


def test_a_create_refused_because_the_record_exists_is_resolved_by_get_record(settings_for, pds) -> None:
    settings = settings_for()
    pds.fault("create_record", Fault(502, {"error": "UpstreamFailure", "message": "Bad Gateway"}, after=True))
    for _ in range(2):  # the look-up after the failure, and reconcile in the next run, both fail
        pds.fault("get_record", Fault(503, {"error": "InternalServerError", "message": "Service Unavailable"}))
    run_once(settings, AT)
    second = run_once(settings, AT + timedelta(minutes=1))

    [record] = pds.records.values()
    assert len(pds.calls("create_record")) == 2  # the second one refused: the key is taken
    assert second.posted == [(ITEM, "bluesky", record["uri"])] and not second.failed
    assert delivery(settings).status == "sent"


def test_content_refused_fails_for_good_with_the_pds_message(settings_for, pds) -> None:
    settings = settings_for()
    message = "Invalid app.bsky.feed.post record: Record/langs/0 must be a valid language code"
    pds.fault("create_record", Fault(400, {"error": "InvalidRequest", "message": message}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.failed] == [(ITEM, "bluesky")]
    post = delivery(settings)
    assert post.status == "failed" and message in (post.last_error or "")
    assert not run_once(settings, AT + timedelta(minutes=5)).posted and len(pds.calls("create_record")) == 1


def test_a_wrong_app_password_pauses_bluesky_and_leaves_the_post_pending(settings_for, pds) -> None:
    settings = settings_for(BLUESKY_APP_PASSWORD="zzzz-yyyy-xxxx-wwww")
    report = run_once(settings, AT)

    assert "Invalid identifier or password" in report.paused["bluesky"]  # createSession: 401
    post = delivery(settings)
    assert post.status == "pending" and not pds.records
    assert "zzzz-yyyy-xxxx-wwww" not in report.paused["bluesky"] + (post.last_error or "")
    assert not (settings.state_dir / "bluesky-session.json").exists()


def test_a_sign_in_refused_for_another_reason_pauses_bluesky_too(settings_for, pds) -> None:
    settings = settings_for()
    pds.fault("create_session", Fault(400, {"error": "AccountTakedown", "message": "Account has been taken down"}))
    report = run_once(settings, AT)

    assert "Account has been taken down" in report.paused["bluesky"]  # not a failed post: nothing could go
    assert delivery(settings).status == "pending" and not report.failed


def test_a_rate_limit_defers_the_post_until_the_pds_says(settings_for, pds) -> None:
    settings = settings_for()
    reset = int(time.time()) + 1800
    pds.fault("create_record", Fault(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, {
        "ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset),
        "ratelimit-policy": "5000;w=3600"}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.deferred] == [(ITEM, "bluesky")]
    post = delivery(settings)
    assert post.status == "pending" and post.next_attempt_at is not None
    assert timedelta(minutes=29) <= from_utc_iso(post.next_attempt_at) - AT <= timedelta(minutes=30)
    assert not pds.calls("get_record")  # a rate limit says nothing about the record existing


def test_the_session_file_is_private_and_no_file_holds_the_app_password(settings_for, pds) -> None:
    settings = settings_for()
    run_once(settings, AT)

    path = settings.state_dir / "bluesky-session.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["did"] == pds.did
    [token] = pds.access
    for file in (p for p in settings.state_dir.rglob("*") if p.is_file()):
        assert pds.password.encode() not in file.read_bytes(), file
        if file != path:
            assert token.encode() not in file.read_bytes(), file  # tokens live in the session file only


def queue_with(tmp_path: Path, pds: BlueskyServer, *, link: bool, image: bytes) -> Path:
    folder = tmp_path / "images-queue"
    folder.mkdir()
    url = pds.image("banner.png", image, "image/png")
    link_line = "link: https://news.example.org/2019/07/banner\n" if link else ""
    (folder / "2019-07-12-banner.md").write_text(
        "---\ntitle: A rainbow banner at the Palais\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
        f"summary: Activists celebrated the vote outside the UN.\n{link_line}image: {url}\nimage_alt: {ALT}\n"
        "channels: [bluesky]\n---\n", encoding="utf-8")
    return folder


def test_a_link_cards_thumb_is_the_items_image_uploaded_as_a_blob(settings_for, pds, tmp_path: Path) -> None:
    settings = settings_for(BOT_QUEUE_DIR=str(queue_with(tmp_path, pds, link=True, image=SMALL)),
                            BOT_FETCH_ALLOW_PRIVATE="1")  # the picture is on this machine
    assert went_out(run_once(settings, AT))

    [upload] = pds.calls("upload_blob")
    assert upload.body == SMALL and upload.headers["Content-Type"] == "image/png"
    card = record_of(pds, settings, "2019-07-12-banner")["embed"]["external"]
    [cid] = pds.blobs
    assert card["thumb"] == {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": len(SMALL)}
    assert (card["uri"], card["title"]) == ("https://news.example.org/2019/07/banner", "A rainbow banner at the Palais")


def test_an_image_without_a_link_is_posted_as_an_image_with_its_alt_text(settings_for, pds, tmp_path: Path) -> None:
    settings = settings_for(BOT_QUEUE_DIR=str(queue_with(tmp_path, pds, link=False, image=SMALL)),
                            BOT_FETCH_ALLOW_PRIVATE="1")  # the picture is on this machine
    assert went_out(run_once(settings, AT))

    [cid] = pds.blobs
    assert record_of(pds, settings, "2019-07-12-banner")["embed"] == {"$type": "app.bsky.embed.images", "images": [
        {"alt": ALT, "image": {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": len(SMALL)}}]}


def test_an_image_over_a_million_bytes_leaves_the_card_without_a_thumb(settings_for, pds, tmp_path: Path) -> None:
    big = SMALL + bytes(1_000_001 - len(SMALL))
    settings = settings_for(BOT_QUEUE_DIR=str(queue_with(tmp_path, pds, link=True, image=big)),
                            BOT_FETCH_ALLOW_PRIVATE="1")  # the picture is on this machine
    assert went_out(run_once(settings, AT))

    assert not pds.calls("upload_blob")
    assert "thumb" not in record_of(pds, settings, "2019-07-12-banner")["embed"]["external"]


@pytest.mark.parametrize("link", [True, False], ids=["card-thumb", "image"])
def test_a_media_library_picture_is_uploaded_from_its_file_without_any_fetch(settings_for, pds, tmp_path: Path,
                                                                             link: bool) -> None:
    folder = tmp_path / "own-queue"
    folder.mkdir()
    # BOT_PUBLIC_URL is the local PDS: a fetch of BOT_PUBLIC_URL/media/NAME would be seen there.
    settings = settings_for(BOT_QUEUE_DIR=str(folder), BOT_PUBLIC_URL=pds.url)
    stored = media.store(settings, pictures.phone_photo(), "IMG_0815.jpg")
    link_line = "link: https://news.example.org/2019/07/banner\n" if link else ""
    (folder / "2019-07-12-banner.md").write_text(
        "---\ntitle: A rainbow banner at the Palais\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
        f"summary: Activists celebrated the vote outside the UN.\n{link_line}image: {stored.image}\n"
        f"image_alt: {ALT}\nchannels: [bluesky]\n---\n", encoding="utf-8")

    assert went_out(run_once(settings, AT))

    data = stored.path.read_bytes()
    [upload] = pds.calls("upload_blob")
    assert upload.body == data and upload.headers["Content-Type"] == "image/jpeg"
    [cid] = pds.blobs
    blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/jpeg", "size": len(data)}
    embed = record_of(pds, settings, "2019-07-12-banner")["embed"]
    if link:
        assert embed["external"]["thumb"] == blob
    else:
        assert embed == {"$type": "app.bsky.embed.images", "images": [{"alt": ALT, "image": blob}]}
    assert not [r for r in pds.requests if r.method == "GET" and r.path.startswith("/media/")]


def test_check_names_the_account(settings_for, pds) -> None:
    channel = open_channel(settings_for(), "bluesky")
    assert channel is not None
    try:
        assert channel.check() == f"@{pds.handle_name} ({pds.did})"
    finally:
        channel.close()
    assert not pds.calls("create_record")


# --- pictures from hostile addresses --------------------------------------------------------------------------

METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/herald"


@pytest.fixture
def trap(pds: BlueskyServer, monkeypatch: pytest.MonkeyPatch) -> BlueskyServer:
    """Whatever is addressed to another host reaches the local PDS as a proxy and is recorded there, where the
    metadata address answers like a cloud's: so that even an unguarded fetch never leaves this machine."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, pds.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    pds.images[METADATA_URL.removeprefix("http://169.254.169.254")] = (b"AccessKeyId=ASIAEXAMPLE", "image/png")
    return pds


def hostile_post(settings: Settings, image: str, *, link: bool) -> OutgoingPost:
    """The sample item's post as dispatch hands it over, with `image` as its picture: what validation would
    refuse, so this is the guard at fetch time."""
    item = {i.id: i for i in queue.load(settings).items}[ITEM]
    body = social.payload(social.compose(item, "bluesky"), language="en", created_at=AT)
    return OutgoingPost(f"{ITEM}-bluesky", "bluesky", ITEM, body, item.link if link else None, item.title,
                        item.summary, image, ALT, AT)


@pytest.mark.parametrize("link", [True, False], ids=["card-thumb", "image"])
def test_a_picture_on_the_cloud_metadata_address_is_never_fetched(settings_for, trap, link: bool) -> None:
    settings = settings_for()
    channel = open_channel(settings, "bluesky")
    assert channel is not None
    try:
        [outcome] = channel.send([hostile_post(settings, METADATA_URL, link=link)])
    finally:
        channel.close()

    assert [r.path for r in trap.requests if r.headers.get("Host") == "169.254.169.254"] == []
    assert not trap.calls("upload_blob")
    if link:  # the card is worth posting without its picture, as with one too big
        assert isinstance(outcome, Sent)
        assert "thumb" not in record_of(trap, settings, ITEM, outcome.remote_id)["embed"]["external"]
    else:
        assert isinstance(outcome, Failed) and not outcome.transient
        assert "169.254.169.254 is not a public address" in outcome.error and not trap.records
