"""The Mastodon backend against a local Mastodon: the whole pipeline on a fixed clock, checked in the ledger."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from werkzeug import Response

from bot import media, queue, social
from bot.channels import Failed, OutgoingPost, open_channel
from bot.cli import cli
from bot.clock import from_utc_iso
from bot.dispatch import RunReport
from bot.ledger import Delivery, Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from . import pictures
from .conftest import BASE, SAMPLE_QUEUE
from .social_servers import Fault, MastodonServer, Seen, serving

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


@pytest.fixture
def mastodon() -> Iterator[MastodonServer]:
    with serving(MastodonServer) as server:
        yield server


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings], mastodon: MastodonServer) -> Callable[..., Settings]:
    """The sample queue, Mastodon through the local instance, everything else off; no in-run retries."""

    def make(**env: str) -> Settings:
        values = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "off", "BOT_X_BACKEND": "off",
                  "BOT_BLUESKY_BACKEND": "off", "BOT_MASTODON_BACKEND": "api", "MASTODON_BASE_URL": mastodon.url,
                  "MASTODON_ACCESS_TOKEN": mastodon.token, "BOT_RETRY_BUDGET": "0s"}
        return make_settings(**{**values, **env})

    return make


def delivery(settings: Settings, item: str = ITEM) -> Delivery:
    with Ledger.open(settings.state_dir) as ledger:
        found = ledger.post(item, "mastodon")
    assert found is not None
    return found


def went_out(report: RunReport) -> bool:
    """Nothing failed, waits or is paused (the sample's older items are missed: the first run is late for them)."""
    return bool(report.posted) and not (report.failed or report.deferred or report.paused)


def image_queue(tmp_path: Path, mastodon: MastodonServer, url: str | None = None) -> Path:
    folder = tmp_path / "images-queue"
    folder.mkdir()
    url = url or mastodon.image("panel.jpg", IMAGE)
    (folder / "2019-07-12-panel.md").write_text(
        "---\ntitle: Defenders meet the Council\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
        "summary: Five defenders told the Council what protection means in practice.\n"
        f"image: {url}\nimage_alt: {ALT}\nchannels: [mastodon]\n---\n", encoding="utf-8")
    return folder


def test_a_sample_post_reaches_mastodon_exactly_and_its_status_id_is_recorded(settings_for, mastodon) -> None:
    settings = settings_for()
    report = run_once(settings, AT)

    assert went_out(report)
    [request] = mastodon.calls("create_status")
    assert request.headers["Authorization"] == f"Bearer {mastodon.token}"
    assert request.json() == {"status": f"{TITLE}\n\n{SUMMARY}\n\n{LINK}\n\n{TAGS}", "visibility": "public",
                              "language": "en"}
    [status] = mastodon.statuses
    assert report.posted == [(ITEM, "mastodon", status["id"])]
    post = delivery(settings)
    assert (post.status, post.remote_id, post.attempts) == ("sent", status["id"], 1)
    assert not mastodon.calls("upload_media")


def test_an_image_is_uploaded_with_its_alt_text_and_attached(settings_for, mastodon, tmp_path: Path) -> None:
    # The picture's host is this machine: allowed only because the setting says so (see the tests further down).
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, mastodon)), BOT_FETCH_ALLOW_PRIVATE="1")
    report = run_once(settings, AT)

    assert went_out(report)
    [upload] = mastodon.calls("upload_media")
    assert upload.files["file"] == (IMAGE, "image/jpeg") and upload.form == {"description": ALT}
    [media_id] = mastodon.media_items
    assert mastodon.calls("create_status")[0].json()["media_ids"] == [media_id]
    assert mastodon.statuses[0]["media_attachments"][0]["description"] == ALT
    [image_fetch] = [r for r in mastodon.requests if r.path == "/media/panel.jpg"]
    assert "Authorization" not in image_fetch.headers  # the image host never sees the token
    assert delivery(settings, "2019-07-12-panel").remote_id == mastodon.statuses[0]["id"]


def test_a_media_library_picture_is_uploaded_from_its_file_without_any_fetch(settings_for, mastodon,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "own-queue"
    folder.mkdir()
    # BOT_PUBLIC_URL is the local instance: a fetch of BOT_PUBLIC_URL/media/NAME would be seen there.
    settings = settings_for(BOT_QUEUE_DIR=str(folder), BOT_PUBLIC_URL=mastodon.url)
    stored = media.store(settings, pictures.phone_photo(), "IMG_0815.jpg")
    (folder / "2019-07-12-panel.md").write_text(
        "---\ntitle: Defenders meet the Council\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\n"
        "summary: Five defenders told the Council what protection means in practice.\n"
        f"image: {stored.image}\nimage_alt: {ALT}\nchannels: [mastodon]\n---\n", encoding="utf-8")

    assert went_out(run_once(settings, AT))

    [upload] = mastodon.calls("upload_media")
    assert upload.files["file"] == (stored.path.read_bytes(), "image/jpeg") and upload.form == {"description": ALT}
    assert f'filename="{stored.path.name}"' in upload.body.decode("latin-1")
    assert mastodon.calls("create_status")[0].json()["media_ids"] == list(mastodon.media_items)
    assert not [r for r in mastodon.requests if r.method == "GET" and r.path.startswith("/media/")]


def test_an_image_still_being_processed_is_waited_for_before_the_status(settings_for, mastodon,
                                                                        tmp_path: Path) -> None:
    mastodon.process_async, mastodon.polls_until_ready = True, 1  # 202, then 206 once, then 200
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, mastodon)), BOT_FETCH_ALLOW_PRIVATE="1")
    report = run_once(settings, AT)

    assert went_out(report)  # Mastodon refuses (422) a status naming media not yet processed
    assert len(mastodon.calls("media")) == 2
    assert len(mastodon.statuses) == 1 and delivery(settings, "2019-07-12-panel").status == "sent"


def test_a_retry_carries_the_same_idempotency_key_and_posts_once(settings_for, mastodon) -> None:
    settings = settings_for()
    mastodon.fault("create_status", Fault(503, {"error": "Service Unavailable"}))
    first = run_once(settings, AT)
    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "mastodon")]
    assert delivery(settings).status == "pending" and not mastodon.statuses

    # Meanwhile staff posted something else with the same title: reconcile must not take it for ours.
    mastodon.statuses.insert(0, {"id": "1", "content": f"<p>{TITLE}</p><p>Watch the vote live.</p>"})
    second = run_once(settings, AT + timedelta(minutes=1))

    assert went_out(second) and second.reconciled == 0
    keys = [r.headers["Idempotency-Key"] for r in mastodon.calls("create_status")]
    assert len(keys) == 2 and keys[0] == keys[1] and ITEM not in keys[0]
    assert [s["id"] for s in mastodon.statuses if s["id"] != "1"] == [delivery(settings).remote_id]


def test_a_status_whose_answer_timed_out_is_reconciled_not_posted_twice(settings_for, mastodon) -> None:
    settings = settings_for(BOT_HTTP_TIMEOUT="1s")
    mastodon.fault("create_status", Fault(hold=True))  # created, but the answer comes after the client gave up
    first = run_once(settings, AT)

    assert [(i, p) for i, p, _ in first.deferred] == [(ITEM, "mastodon")]
    assert "no answer within 1 s" in (delivery(settings).last_error or "")
    assert delivery(settings).status == "pending" and len(mastodon.statuses) == 1

    second = run_once(settings, AT + timedelta(minutes=1))
    [status] = mastodon.statuses
    assert second.reconciled == 1 and second.posted == [(ITEM, "mastodon", status["id"])]
    assert len(mastodon.calls("create_status")) == 1  # found among the recent statuses, not posted again
    assert mastodon.calls("account_statuses")[0].args == {"limit": "40"}
    post = delivery(settings)
    assert (post.status, post.remote_id) == ("sent", status["id"])


def test_content_refused_with_422_fails_for_good_with_mastodons_words(settings_for, mastodon) -> None:
    settings = settings_for()
    mastodon.fault("create_status", Fault(422, {"error": "Validation failed: Text contains a forbidden word"}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.failed] == [(ITEM, "mastodon")]
    post = delivery(settings)
    assert post.status == "failed" and "Validation failed: Text contains a forbidden word" in (post.last_error or "")
    assert not run_once(settings, AT + timedelta(minutes=5)).posted  # never retried
    assert len(mastodon.calls("create_status")) == 1


def test_a_refused_token_pauses_mastodon_and_leaves_the_post_pending(settings_for, mastodon) -> None:
    settings = settings_for(MASTODON_ACCESS_TOKEN="revoked-token-4417")
    report = run_once(settings, AT)

    assert "mastodon" in report.paused and "The access token is invalid" in report.paused["mastodon"]
    post = delivery(settings)
    assert post.status == "pending" and not mastodon.statuses
    assert "revoked-token-4417" not in report.paused["mastodon"] + (post.last_error or "")


def test_a_rate_limit_defers_the_post_until_the_time_mastodon_gives(settings_for, mastodon) -> None:
    settings = settings_for()
    reset = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="microseconds")
    mastodon.fault("create_status", Fault(429, {"error": "Too many requests"}, {
        "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.replace("+00:00", "Z")}))
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.deferred] == [(ITEM, "mastodon")]
    post = delivery(settings)
    assert post.status == "pending" and post.next_attempt_at is not None
    wait = from_utc_iso(post.next_attempt_at) - AT
    assert timedelta(minutes=59) <= wait <= timedelta(hours=1)
    assert not run_once(settings, AT + timedelta(minutes=30)).posted  # not before the reset
    assert run_once(settings, AT + timedelta(minutes=61)).posted


def test_the_instances_own_character_limit_gives_a_shorter_post(settings_for, mastodon) -> None:
    mastodon.max_characters = 300
    settings = settings_for()
    report = run_once(settings, AT)

    assert went_out(report)
    text = mastodon.calls("create_status")[0].json()["status"]
    cut = SUMMARY[:SUMMARY.index(" based on")]
    assert text == f"{TITLE}\n\n{cut} based on…\n\n{LINK}\n\n{TAGS}"  # 296 as Mastodon counts


def test_an_instance_that_does_not_say_its_limit_gets_mastodons_default(settings_for, mastodon) -> None:
    mastodon.max_characters = None
    settings = settings_for()
    channel = open_channel(settings, "mastodon")
    try:
        assert channel is not None and channel.limit is None
        assert channel.check() == f"@genevarights on {mastodon.url.removeprefix('http://')}"
    finally:
        if channel is not None:
            channel.close()
    assert not mastodon.calls("create_status")  # check() only reads


# --- pictures from hostile addresses: the fetch is guarded, and what comes back is never kept raw ----------------

METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/herald"
METADATA = b"AccessKeyId=ASIAEXAMPLE SecretAccessKey=wJalrXUtnFEMI/K7MDENG Token=IQoJb3JpZ2luX2Vj"
ERROR_PAGE = ("<!DOCTYPE html><html><head><title>500 Internal Server Error</title><style>h1{color:red}</style>"
              "</head><body><h1>Internal Server Error</h1><script>var session = 'intranet-session-7731';</script>"
              "<pre>" + "Traceback (most recent call last):\n  File \"/srv/intranet/app.py\", line 12\n" * 40
              + "</pre></body></html>")


@pytest.fixture
def trap(mastodon: MastodonServer, monkeypatch: pytest.MonkeyPatch) -> MastodonServer:
    """Whatever is addressed to another host reaches the local instance as a proxy and is recorded there, where the
    metadata address answers like a cloud's: so that even an unguarded fetch never leaves this machine."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, mastodon.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    mastodon.images[METADATA_URL.removeprefix("http://169.254.169.254")] = (METADATA, "image/jpeg")
    return mastodon


def elsewhere(server: MastodonServer) -> list[Seen]:
    """The requests that were meant for another host than this machine."""
    return [r for r in server.requests if not r.headers.get("Host", "").startswith("127.0.0.1:")]


def hostile_post(settings: Settings, image: str) -> OutgoingPost:
    """The sample item's status, as dispatch hands it over, with `image` as its picture (what the queue would
    refuse: this is the guard at fetch time, behind the one at validation)."""
    item = {i.id: i for i in queue.load(settings).items}[ITEM]
    body = social.payload(social.compose(item, "mastodon"), language="en")
    return OutgoingPost(f"{ITEM}-mastodon", "mastodon", ITEM, body, item.link, item.title, item.summary, image, ALT)


def send(settings: Settings, post: OutgoingPost) -> Failed:
    channel = open_channel(settings, "mastodon")
    assert channel is not None
    try:
        [outcome] = channel.send([post])
    finally:
        channel.close()
    assert isinstance(outcome, Failed), outcome
    return outcome


def plain(text: str) -> bool:
    """One short printable line, without markup."""
    return len(text) <= 200 and text.isprintable() and "<" not in text and ">" not in text


def test_a_picture_on_the_cloud_metadata_address_fails_for_good_without_any_request(settings_for, trap) -> None:
    failed = send(settings_for(), hostile_post(settings_for(), METADATA_URL))

    assert elsewhere(trap) == []  # nothing went to 169.254.169.254, not even through a proxy
    assert not trap.calls("upload_media") and not trap.statuses
    assert not failed.transient  # the item names it: trying again cannot help (bot requeue, once it is fixed)
    assert failed.error == (f"image {METADATA_URL}: 169.254.169.254 is not a public address: refused "
                            "(BOT_FETCH_ALLOW_PRIVATE=1 allows it on an intranet)")


def test_a_picture_on_this_machine_is_not_fetched(settings_for, mastodon) -> None:
    url = mastodon.image("panel.jpg", IMAGE)  # any service listening on 127.0.0.1: an admin page, a database
    failed = send(settings_for(), hostile_post(settings_for(), url))

    assert [r.path for r in mastodon.requests if r.path.startswith("/media/")] == []
    assert not mastodon.calls("upload_media") and not failed.transient
    assert "127.0.0.1 is not a public address" in failed.error


def test_an_item_whose_picture_is_the_metadata_address_is_refused_by_validation(settings_for, trap,
                                                                                tmp_path: Path) -> None:
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, trap, METADATA_URL)))
    report = run_once(settings, AT)

    assert elsewhere(trap) == [] and not trap.calls("upload_media") and not trap.statuses
    assert not report.posted
    [problem] = queue.load(settings).problems
    assert (problem.field, problem.line) == ("image", 6)
    assert "points to 169.254.169.254, a private or local address" in problem.message


def test_an_image_hosts_html_error_page_is_kept_as_a_short_plain_excerpt(settings_for, mastodon,
                                                                         tmp_path: Path) -> None:
    url = mastodon.page("/media/broken.jpg", lambda: Response(ERROR_PAGE, status=500, content_type="text/html"))
    folder = image_queue(tmp_path, mastodon, url)
    settings = settings_for(BOT_QUEUE_DIR=str(folder), BOT_FETCH_ALLOW_PRIVATE="1")
    report = run_once(settings, AT)

    assert [(i, p) for i, p, _ in report.deferred] == [("2019-07-12-panel", "mastodon")]  # a 5xx: tried again later
    error = delivery(settings, "2019-07-12-panel").last_error or ""
    assert plain(error), error
    assert error.startswith(f"image {url}: HTTP 500: 500 Internal Server Error Internal Server Error Traceback")
    assert "intranet-session-7731" not in error  # a script's text is no part of what the page says
    env = dict(BASE, BOT_STATE_DIR=str(settings.state_dir), BOT_QUEUE_DIR=str(folder), BOT_EMAIL_BACKEND="off",
               BOT_X_BACKEND="off", BOT_BLUESKY_BACKEND="off", BOT_MASTODON_BACKEND="api",
               MASTODON_BASE_URL=mastodon.url, MASTODON_ACCESS_TOKEN=mastodon.token, BOT_FETCH_ALLOW_PRIVATE="1")
    shown = CliRunner().invoke(cli, ["--env-file", "/dev/null", "status", "--json", "--now",
                                     "2019-07-12T15:31"], env=env)
    assert shown.exit_code == 0, shown.output
    [retry] = [p for p in json.loads(shown.stdout)["next"]["posts"] if p.get("retry")]
    assert retry["last_error"] == error


def test_an_instances_html_error_page_is_kept_as_a_short_plain_excerpt(settings_for, mastodon) -> None:
    settings = settings_for()
    mastodon.fault("create_status", Fault(502, raw=ERROR_PAGE.replace("500 Internal Server", "502 Bad").encode()))
    run_once(settings, AT)

    error = delivery(settings).last_error or ""
    assert plain(error), error
    assert error.startswith("status: HTTP 502: 502 Bad Error Internal Server Error Traceback")


def test_an_image_host_that_never_finishes_is_cut_off_at_the_timeout(settings_for, mastodon, tmp_path: Path) -> None:
    stop = threading.Event()

    def drip() -> Response:
        def body():  # a byte every 0.1 s: every read gets an answer in time, the whole takes 3 s
            for _ in range(30):
                if stop.wait(0.1):
                    return
                yield b"\xff"
        return Response(body(), content_type="image/jpeg")

    url = mastodon.page("/media/slow.jpg", drip)
    settings = settings_for(BOT_QUEUE_DIR=str(image_queue(tmp_path, mastodon, url)), BOT_FETCH_ALLOW_PRIVATE="1",
                            BOT_HTTP_TIMEOUT="1s")
    try:
        report = run_once(settings, AT)
    finally:
        stop.set()

    assert [(i, p) for i, p, _ in report.deferred] == [("2019-07-12-panel", "mastodon")]
    assert not mastodon.calls("upload_media") and not mastodon.statuses
    assert delivery(settings, "2019-07-12-panel").last_error == f"image {url}: not fetched within 1 s"
