"""The Mailgun backend against a local server speaking Mailgun's API: an edition in batches, each error, check()."""

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
from bot.mail import TOKEN_PLACEHOLDER, PreparedEdition, prepare, prepare_notice
from bot.render import Newsletter
from bot.scheduler import run_once
from bot.settings import Settings
from bot.subscribers import read_token, secret_key

from .conftest import SAMPLE_QUEUE
from .mail_api_servers import MailgunApi, add_subscribers, assert_key_nowhere, email_deliveries, local_server

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
DOMAIN = "mg.example.org"
SECRET = "a-long-random-secret-for-unsubscribe-links"
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZoneInfo("Europe/Zurich"))  # the sample queue's Friday edition


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def mailgun(server: HTTPServer) -> MailgunApi:
    return MailgunApi(server, KEY, DOMAIN)


@pytest.fixture
def configure(make_settings: Callable[..., Settings], mailgun: MailgunApi) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "mailgun", "MAILGUN_API_KEY": KEY,
               "MAILGUN_DOMAIN": DOMAIN, "MAILGUN_BASE_URL": mailgun.url, "BOT_SECRET": SECRET,
               "BOT_RETRY_BUDGET": "0s", "BOT_X_BACKEND": "off", "BOT_MASTODON_BACKEND": "off",
               "BOT_BLUESKY_BACKEND": "off"}
        return make_settings(**{**env, **overrides})

    return make


def test_an_edition_to_2500_subscribers_is_three_batch_calls_with_each_recipients_variables(
        configure: Callable[..., Settings], mailgun: MailgunApi) -> None:
    settings = configure()
    ids = add_subscribers(settings, 2500)
    report = run_once(settings, SLOT)

    assert mailgun.problems == []
    assert report.ok and len(report.editions) == 1 and report.emails_sent == 2500
    assert [len(call.to) for call in mailgun.calls] == [1000, 1000, 500]
    seen = [address for call in mailgun.calls for address in call.to]
    assert len(seen) == len(set(seen)) == 2500 and set(seen) == set(ids)

    key = secret_key(settings)
    for call in mailgun.calls:
        assert call.value("from") == "Geneva Rights Desk <newsletter@example.org>"
        assert call.value("h:List-Unsubscribe") == "<%recipient.unsubscribe%>"
        assert call.value("h:List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert call.value("h:Message-Id") == "%recipient.message_id%"
        for part in ("text", "html"):
            assert TOKEN_PLACEHOLDER not in call.value(part) and "%recipient.token%" in call.value(part)
        for address in call.to:
            variables = call.variables[address]
            assert read_token(key, variables["token"]) == ids[address]
            assert variables["unsubscribe"] == f"https://news.example.org/unsubscribe/{variables['token']}"
            assert variables["message_id"].startswith(f"<1.{ids[address]}.")
        for address in call.to[::250]:  # each recipient's own copy, as Mailgun writes it
            copy, token = call.render(address), call.variables[address]["token"]
            assert f"https://news.example.org/unsubscribe/{token}" in copy["text"]
            assert f"https://news.example.org/unsubscribe/{token}" in copy["html"]
            assert copy["h:List-Unsubscribe"] == f"<https://news.example.org/unsubscribe/{token}>"

    by_subscriber = {ids[address]: call.id for call in mailgun.calls for address in call.to}
    deliveries = email_deliveries(settings)
    assert len(deliveries) == 2500 and {d.status for d in deliveries} == {"sent"}
    assert all(d.remote_id == by_subscriber[d.subscriber_id] and d.remote_id.endswith(f"@{DOMAIN}>")
               for d in deliveries)
    assert len({d.remote_id for d in deliveries}) == 3


def test_a_refused_key_pauses_email_and_leaves_every_delivery_pending(
        configure: Callable[..., Settings], mailgun: MailgunApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "key-0000000000000000000000000000wrong"
    settings = configure(MAILGUN_API_KEY=wrong)
    add_subscribers(settings, 3)
    report = run_once(settings, SLOT)

    assert mailgun.refused == 1 and mailgun.calls == [] and mailgun.problems == []
    assert "email" in report.paused and "HTTP 401" in report.paused["email"] and not report.ok
    assert {d.status for d in email_deliveries(settings)} == {"pending"}
    assert all(d.remote_id is None for d in email_deliveries(settings))
    assert_key_nowhere(wrong, settings, report, caplog.text)


def test_a_429_defers_the_batch_until_the_servers_time_then_it_goes_once(
        configure: Callable[..., Settings], mailgun: MailgunApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    ids = add_subscribers(settings, 3)
    mailgun.answer_next(429, {"message": "Too many requests"}, {"Retry-After": "120"})
    report = run_once(settings, SLOT)

    assert report.emails_deferred == 3 and report.emails_sent == 0 and not report.ok
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"pending"}
    assert {d.next_attempt_at for d in deliveries} == {utc_iso(SLOT + timedelta(seconds=120))}
    assert all("HTTP 429" in (d.last_error or "") for d in deliveries)

    assert run_once(settings, SLOT + timedelta(seconds=119)).emails_sent == 0  # not before the server's time
    assert len(mailgun.calls) == 1
    later = run_once(settings, SLOT + timedelta(seconds=120))
    assert later.ok and later.emails_sent == 3
    assert run_once(settings, SLOT + timedelta(minutes=10)).emails_sent == 0
    assert [call.status for call in mailgun.calls] == [429, 200]
    assert sorted(mailgun.accepted[0].to) == sorted(ids)
    assert {(d.status, d.remote_id) for d in email_deliveries(settings)} == {("sent", mailgun.accepted[0].id)}
    assert mailgun.problems == []
    assert_key_nowhere(KEY, settings, report, caplog.text)


def test_a_400_fails_the_whole_batch_for_good_with_mailguns_own_words(
        configure: Callable[..., Settings], mailgun: MailgunApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    add_subscribers(settings, 3)
    mailgun.answer_next(400, {"message": "from parameter is not a valid address. please check documentation"})
    report = run_once(settings, SLOT)

    assert report.emails_failed == 3 and not report.ok
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"failed"}
    assert all(d.next_attempt_at is None and "from parameter is not a valid address" in (d.last_error or "")
               for d in deliveries)
    assert run_once(settings, SLOT + timedelta(hours=1)).emails_sent == 0 and len(mailgun.calls) == 1
    assert_key_nowhere(KEY, settings, report, caplog.text)


def test_a_500_leaves_the_batch_pending_for_the_next_run(
        configure: Callable[..., Settings], mailgun: MailgunApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    add_subscribers(settings, 3)
    mailgun.answer_next(500, "Internal Server Error")
    report = run_once(settings, SLOT)

    assert report.emails_deferred == 3 and report.emails_failed == 0
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries} == {"pending"} and all(d.remote_id is None for d in deliveries)
    assert all("HTTP 500" in (d.last_error or "") and d.next_attempt_at for d in deliveries)
    assert run_once(settings, SLOT + timedelta(minutes=1)).emails_sent == 3
    assert {d.status for d in email_deliveries(settings)} == {"sent"}
    assert_key_nowhere(KEY, settings, report, caplog.text)


def _mail(edition: PreparedEdition, n: int) -> OutgoingMail:
    return OutgoingMail(f"edition-9-subscriber-{n}", edition, f"r{n}@example.net", "", "T" * 31 + str(n),
                        f"<9.{n}.test@example.org>")


def test_a_batch_holding_two_editions_is_one_call_per_edition_with_outcomes_in_order(
        configure: Callable[..., Settings], mailgun: MailgunApi) -> None:
    settings = configure()
    parts = dict(mail_from=settings.mail_from, public_url=settings.public_url, date=datetime.now(UTC))
    first, second = (prepare(Newsletter(subject, "", f"<p>{TOKEN_PLACEHOLDER}</p>" * 2, f"{TOKEN_PLACEHOLDER}\n" * 2,
                                        ()), **parts) for subject in ("First", "Second"))
    channel = open_channel(settings, "email")
    assert channel is not None and channel.batch_size == 1000 and channel.kind == "email"
    try:
        outcomes = channel.send([_mail(first, 1), _mail(second, 2), _mail(first, 3)])
    finally:
        channel.close()

    assert mailgun.problems == []
    assert [(call.value("subject"), call.to) for call in mailgun.calls] == [
        ("First", ["r1@example.net", "r3@example.net"]), ("Second", ["r2@example.net"])]
    assert outcomes == [Sent(mailgun.calls[0].id), Sent(mailgun.calls[1].id), Sent(mailgun.calls[0].id)]
    assert mailgun.calls[0].render("r3@example.net")["text"] == f"{'T' * 31}3\n" * 2


def test_check_reads_the_domain_and_says_its_state(configure: Callable[..., Settings], mailgun: MailgunApi) -> None:
    channel = open_channel(configure(), "email")
    assert channel is not None
    try:
        assert channel.check() == f"domain {DOMAIN} is active"
        mailgun.state = "unverified"
        with pytest.raises(FinalChannelError, match="unverified"):
            channel.check()
    finally:
        channel.close()
    assert mailgun.calls == []  # read-only: nothing sent

    for overrides, error in (({"MAILGUN_API_KEY": "key-wrong"}, ChannelAuthError),
                             ({"MAILGUN_DOMAIN": "other.example.org"}, FinalChannelError)):
        channel = open_channel(configure(**overrides), "email")
        assert channel is not None
        with pytest.raises(error) as raised:
            channel.check()
        channel.close()
        assert "key-" not in str(raised.value)
    assert mailgun.problems == []


def test_a_notice_goes_without_list_headers_or_html(configure: Callable[..., Settings], mailgun: MailgunApi) -> None:
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

    assert mailgun.problems == [] and outcome == Sent(mailgun.calls[0].id)
    (call,) = mailgun.calls
    assert call.to == ["staff@example.org"] and call.value("text") == "Edition 1: 3 emails failed.\n"
    assert not [name for name in call.fields if name == "html" or name.startswith("h:List-")]
    assert call.render("staff@example.org")["h:Message-Id"] == "<alert.1@example.org>"
