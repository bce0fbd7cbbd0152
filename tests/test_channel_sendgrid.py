"""The SendGrid backend against a local server speaking its v3 API: an edition in batches, each error, check()."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer

from bot.channels import OutgoingMail, Sent, open_channel
from bot.clock import utc_iso
from bot.errors import ChannelAuthError, FinalChannelError
from bot.mail import TOKEN_PLACEHOLDER, prepare_notice
from bot.scheduler import run_once
from bot.settings import Settings
from bot.subscribers import read_token, secret_key

from .conftest import SAMPLE_QUEUE
from .mail_api_servers import (
    SendGridApi,
    add_subscribers,
    assert_key_nowhere,
    email_deliveries,
    local_server,
    sendgrid_error,
)

KEY = "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"
SECRET = "a-long-random-secret-for-unsubscribe-links"
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZoneInfo("Europe/Zurich"))  # the sample queue's Friday edition


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def sendgrid(server: HTTPServer) -> SendGridApi:
    return SendGridApi(server, KEY)


@pytest.fixture
def configure(make_settings: Callable[..., Settings], sendgrid: SendGridApi) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": KEY,
               "SENDGRID_BASE_URL": sendgrid.url, "BOT_SECRET": SECRET, "BOT_RETRY_BUDGET": "0s",
               "BOT_X_BACKEND": "off", "BOT_MASTODON_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off"}
        return make_settings(**{**env, **overrides})

    return make


def test_an_edition_to_2500_subscribers_is_three_calls_with_one_personalization_each(
        configure: Callable[..., Settings], sendgrid: SendGridApi) -> None:
    settings = configure()
    ids = add_subscribers(settings, 2500)
    report = run_once(settings, SLOT)

    assert sendgrid.problems == []
    assert report.ok and len(report.editions) == 1 and report.emails_sent == 2500
    assert [len(call.body["personalizations"]) for call in sendgrid.calls] == [1000, 1000, 500]
    seen = [email for call in sendgrid.calls for email in call.recipients]
    assert len(seen) == len(set(seen)) == 2500 and set(seen) == set(ids)

    key = secret_key(settings)
    for call in sendgrid.calls:
        assert call.body["from"] == {"email": "newsletter@example.org", "name": "Geneva Rights Desk"}
        assert [part["type"] for part in call.body["content"]] == ["text/plain", "text/html"]
        for personalization in call.body["personalizations"]:
            (to,) = personalization["to"]
            token = personalization["substitutions"][TOKEN_PLACEHOLDER]
            assert read_token(key, token) == ids[to["email"]]
            assert personalization["headers"] == {
                "List-Unsubscribe": f"<https://news.example.org/unsubscribe/{token}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            assert personalization["custom_args"] == {"herald_key": f"edition-1-subscriber-{ids[to['email']]}"}
            assert to.get("name", "") == ("Zoë Müller-Nyström" if ids[to["email"]] % 7 == 1 else "")
        for email in call.recipients[::250]:  # each recipient's own copy, as SendGrid writes it
            copy = call.render(email)
            token = call.personalization(email)["substitutions"][TOKEN_PLACEHOLDER]
            for part in ("text/plain", "text/html"):
                assert f"https://news.example.org/unsubscribe/{token}" in copy[part]
                assert TOKEN_PLACEHOLDER not in copy[part]

    by_subscriber = {ids[email]: call.message_id for call in sendgrid.calls for email in call.recipients}
    deliveries = email_deliveries(settings)
    assert len(deliveries) == 2500 and {d.status for d in deliveries} == {"sent"}
    assert all(d.remote_id and d.remote_id == by_subscriber[d.subscriber_id] for d in deliveries)
    assert len({d.remote_id for d in deliveries}) == 3


def test_a_refused_key_pauses_email_and_leaves_every_delivery_pending(
        configure: Callable[..., Settings], sendgrid: SendGridApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "SG.wrongwrongwrongwrong.wrongwrongwrongwrongwrongwrongwrongwrong00"
    settings = configure(SENDGRID_API_KEY=wrong)
    add_subscribers(settings, 3)
    report = run_once(settings, SLOT)

    assert sendgrid.refused == 1 and sendgrid.calls == [] and sendgrid.problems == []
    assert "email" in report.paused and "authorization grant is invalid" in report.paused["email"]
    assert {d.status for d in email_deliveries(settings)} == {"pending"}
    assert all(d.remote_id is None for d in email_deliveries(settings))
    assert_key_nowhere(wrong, settings, report, caplog.text)


def test_a_429_defers_the_batch_until_the_servers_time_then_it_goes_once(
        configure: Callable[..., Settings], sendgrid: SendGridApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    ids = add_subscribers(settings, 3)
    sendgrid.answer_next(429, sendgrid_error("too many requests"), {"Retry-After": "90"})
    report = run_once(settings, SLOT)

    assert report.emails_deferred == 3 and report.emails_sent == 0 and not report.ok
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"pending"}
    assert {d.next_attempt_at for d in deliveries} == {utc_iso(SLOT + timedelta(seconds=90))}
    assert all("too many requests" in (d.last_error or "") for d in deliveries)

    assert run_once(settings, SLOT + timedelta(seconds=89)).emails_sent == 0
    assert len(sendgrid.calls) == 1
    later = run_once(settings, SLOT + timedelta(seconds=90))
    assert later.ok and later.emails_sent == 3
    assert run_once(settings, SLOT + timedelta(minutes=10)).emails_sent == 0
    assert [call.status for call in sendgrid.calls] == [429, 202]
    assert sorted(sendgrid.accepted[0].recipients) == sorted(ids)
    assert {(d.status, d.remote_id) for d in email_deliveries(settings)} == {("sent", sendgrid.accepted[0].message_id)}
    assert sendgrid.problems == []
    assert_key_nowhere(KEY, settings, report, caplog.text)


def test_a_400_fails_the_whole_batch_for_good_with_sendgrids_own_words(
        configure: Callable[..., Settings], sendgrid: SendGridApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    add_subscribers(settings, 3)
    sendgrid.answer_next(400, sendgrid_error("The from address does not match a verified Sender Identity.", "from"))
    report = run_once(settings, SLOT)

    assert report.emails_failed == 3 and not report.ok
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"failed"}
    assert all(d.next_attempt_at is None and "does not match a verified Sender Identity" in (d.last_error or "")
               for d in deliveries)
    assert run_once(settings, SLOT + timedelta(hours=1)).emails_sent == 0 and len(sendgrid.calls) == 1
    assert_key_nowhere(KEY, settings, report, caplog.text)


def test_a_500_leaves_the_batch_pending_for_the_next_run(
        configure: Callable[..., Settings], sendgrid: SendGridApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    add_subscribers(settings, 3)
    sendgrid.answer_next(500, sendgrid_error("internal error"))
    report = run_once(settings, SLOT)

    assert report.emails_deferred == 3 and report.emails_failed == 0
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"pending"} and all(d.remote_id is None for d in deliveries)
    assert all("HTTP 500" in (d.last_error or "") and d.next_attempt_at for d in deliveries)
    assert run_once(settings, SLOT + timedelta(minutes=1)).emails_sent == 3
    assert {d.status for d in email_deliveries(settings)} == {"sent"}
    assert_key_nowhere(KEY, settings, report, caplog.text)


def test_check_says_whether_the_key_may_send_mail(configure: Callable[..., Settings], sendgrid: SendGridApi) -> None:
    channel = open_channel(configure(), "email")
    assert channel is not None
    try:
        assert "mail.send" in channel.check()
        sendgrid.scopes = ["user.profile.read", "stats.read"]
        with pytest.raises(FinalChannelError, match=r"mail\.send"):
            channel.check()
    finally:
        channel.close()
    assert sendgrid.calls == []  # read-only: nothing sent

    channel = open_channel(configure(SENDGRID_API_KEY="SG.wrong"), "email")
    assert channel is not None
    with pytest.raises(ChannelAuthError) as raised:
        channel.check()
    channel.close()
    assert "SG." not in str(raised.value) and sendgrid.problems == []


def test_a_notice_goes_without_list_headers_or_html(configure: Callable[..., Settings], sendgrid: SendGridApi) -> None:
    settings = configure()
    notice = prepare_notice("Herald: 3 emails failed", "Edition 1: 3 emails failed.\n", mail_from=settings.mail_from,
                            date=datetime.now(UTC))
    channel = open_channel(settings, "email")
    assert channel is not None
    try:
        message = OutgoingMail("alert-1", notice, "staff@example.org", "", "", "<alert.1@example.org>")
        (outcome,) = channel.send([message])
    finally:
        channel.close()

    assert sendgrid.problems == [] and outcome == Sent(sendgrid.calls[0].message_id or "")
    (call,) = sendgrid.calls
    assert call.body["personalizations"] == [{"to": [{"email": "staff@example.org"}],
                                              "custom_args": {"herald_key": "alert-1"}}]
    assert call.body["content"] == [{"type": "text/plain", "value": "Edition 1: 3 emails failed.\n"}]
