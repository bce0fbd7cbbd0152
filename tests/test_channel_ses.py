"""The SES backend, through boto3, against a local server speaking SES v2: editions, refusals, the pace, doctor."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer

from bot import mail, signing, subscribers
from bot.channels import open_channel
from bot.channels.ses import CONNECTIONS, SesChannel, amount
from bot.cli import cli
from bot.errors import ChannelAuthError, ConfigError, TransientChannelError
from bot.ledger import Ledger
from bot.render import Newsletter
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE
from .mail_api_servers import add_subscribers, assert_key_nowhere, email_deliveries, local_server
from .ses_server import SesApi
from .test_channel_sendgrid import SECRET, SLOT

KEY_ID = "AKIAHERALDTEST7EXAMPLE"
ACCESS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYHERALDKEY0"
WRONG_SECRET = "Wr0ngSecretAccessKeyNeverShownAnywhere00"


@pytest.fixture(autouse=True)
def no_aws_config_from_this_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 reads nothing of the machine's own AWS set-up, and never asks the instance metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    with local_server() as running:
        yield running


@pytest.fixture
def ses(server: HTTPServer) -> SesApi:
    return SesApi(server, KEY_ID, ACCESS_SECRET)


def ses_env(ses: SesApi, **overrides: str) -> dict[str, str]:
    return {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "ses", "SES_REGION": ses.region,
            "SES_ACCESS_KEY_ID": KEY_ID, "SES_SECRET_ACCESS_KEY": ACCESS_SECRET, "SES_ENDPOINT_URL": ses.url,
            "BOT_SECRET": SECRET, "BOT_RETRY_BUDGET": "0s", "BOT_HTTP_TIMEOUT": "5s", "BOT_X_BACKEND": "off",
            "BOT_MASTODON_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off", **overrides}


@pytest.fixture
def configure(make_settings: Callable[..., Settings], ses: SesApi) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        return make_settings(**ses_env(ses, **overrides))

    return make


@pytest.fixture
def fast(ses: SesApi) -> SesApi:
    """An account allowed many messages a second, so that a run's pace takes no time in a test."""
    ses.max_rate = 2000.0
    return ses


def open_ses(settings: Settings) -> SesChannel:
    channel = open_channel(settings, "email")
    assert isinstance(channel, SesChannel)
    return channel


def doctor(settings: Settings, ses: SesApi, **overrides: str) -> Any:
    env = {**BASE, **ses_env(ses, **overrides), "BOT_STATE_DIR": str(settings.state_dir)}
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"], env=env)


# --- an edition ---------------------------------------------------------------------------------------------------


def test_each_subscriber_gets_the_editions_own_bytes_raw_and_the_ledger_keeps_ses_message_id(
        configure: Callable[..., Settings], fast: SesApi) -> None:
    settings = configure(SES_CONFIGURATION_SET="herald-events")
    ids = add_subscribers(settings, 30)
    report = run_once(settings, SLOT)

    assert fast.problems == [] and fast.refused == []
    assert report.ok and report.emails_sent == 30
    # The quota is read once for the run; then one SendEmail per subscriber, from several threads.
    assert fast.operations.count("GetAccount") == 1 and fast.operations.count("SendEmail") == 30
    assert sorted(r for received in fast.received for r in received.recipients) == sorted(ids)
    assert {received.configuration_set for received in fast.received} == {"herald-events"}

    key = subscribers.secret_key(settings)
    with Ledger.open(settings.state_dir) as ledger:
        names = {row["email"]: row["name"] for row in ledger.db.execute("SELECT email, name FROM subscribers")}
        edition = ledger.edition(report.editions[0])
    prepared = mail.prepare(Newsletter(edition.subject, "", edition.html, edition.text, edition.item_ids),
                            mail_from=settings.effective_mail_from, public_url=settings.effective_public_url,
                            date=SLOT)
    deliveries = {d.subscriber_id: d for d in email_deliveries(settings)}
    for address, subscriber_id in ids.items():
        (received,) = fast.to(address)
        message = received.message
        assert message["To"].addresses[0].addr_spec == address
        link = message["List-Unsubscribe"]
        token = link.removeprefix("<https://news.example.org/unsubscribe/").removesuffix(">")
        assert subscribers.read_token(key, token) == subscriber_id
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",))
        assert text is not None and f"https://news.example.org/unsubscribe/{token}" in text.get_content()
        # The very bytes the edition prepares for this recipient, but for its random MIME boundary.
        expected = prepared.message(address, names[address], token, str(message["Message-ID"]))
        boundary = message_from_bytes(expected, policy=policy.default).get_boundary()
        assert received.raw == expected.replace(str(boundary).encode(), str(message.get_boundary()).encode())
        assert deliveries[subscriber_id].status == "sent"
        assert deliveries[subscriber_id].remote_id == received.message_id


def test_throttled_recipients_wait_for_the_next_run_and_rejected_ones_fail_for_good(
        configure: Callable[..., Settings], fast: SesApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure()
    ids = add_subscribers(settings, 6)
    slow, refused = "reader00001@example.net", "reader00004@example.net"
    fast.throttled.add(slow)
    fast.rejected[refused] = "Illegal address"
    report = run_once(settings, SLOT)

    assert report.emails_sent == 4 and report.emails_failed == 1 and report.emails_deferred == 1
    by_id = {d.subscriber_id: d for d in email_deliveries(settings)}
    assert by_id[ids[slow]].status == "pending" and by_id[ids[slow]].remote_id is None
    assert "TooManyRequestsException" in (by_id[ids[slow]].last_error or "")
    assert by_id[ids[refused]].status == "failed" and by_id[ids[refused]].next_attempt_at is None
    assert by_id[ids[refused]].last_error == "Amazon SES: MessageRejected: Illegal address"

    fast.throttled.clear()
    later = run_once(settings, SLOT + timedelta(minutes=5))
    assert later.emails_sent == 1 and later.emails_failed == 0
    assert len(fast.to(slow)) == 1 and fast.to(refused) == []  # the rejected one is never tried again
    assert run_once(settings, SLOT + timedelta(hours=1)).emails_sent == 0
    assert {d.status for d in email_deliveries(settings) if d.subscriber_id != ids[refused]} == {"sent"}
    assert fast.problems == []
    assert_key_nowhere(ACCESS_SECRET, settings, report, caplog.text)


@pytest.mark.parametrize(("key_id", "secret", "code"), [
    ("AKIANOTTHEKEYOFTHISACCOUNT", ACCESS_SECRET, "UnrecognizedClientException"),
    (KEY_ID, WRONG_SECRET, "InvalidSignatureException"),
])
def test_refused_credentials_pause_email_and_leave_every_delivery_pending(
        configure: Callable[..., Settings], fast: SesApi, caplog: pytest.LogCaptureFixture,
        key_id: str, secret: str, code: str) -> None:
    caplog.set_level(logging.DEBUG)
    settings = configure(SES_ACCESS_KEY_ID=key_id, SES_SECRET_ACCESS_KEY=secret)
    add_subscribers(settings, 5)
    report = run_once(settings, SLOT)

    assert fast.refused == [code] and fast.operations == [] and fast.received == []  # asked once, nothing sent
    assert report.paused["email"] == (f"Amazon SES: the access key was refused ({code}): check SES_ACCESS_KEY_ID "
                                      "and SES_SECRET_ACCESS_KEY")
    assert {d.status for d in email_deliveries(settings)} == {"pending"}
    assert_key_nowhere(secret, settings, report, caplog.text)
    shown = doctor(settings, fast, SES_ACCESS_KEY_ID=key_id, SES_SECRET_ACCESS_KEY=secret)
    assert shown.exit_code == 1 and "access key was refused" in shown.output and secret not in shown.output


def test_without_any_credentials_the_channel_says_where_they_come_from(configure: Callable[..., Settings],
                                                                      fast: SesApi) -> None:
    channel = open_ses(configure(SES_ACCESS_KEY_ID="", SES_SECRET_ACCESS_KEY=""))  # AWS's own chain: empty here
    try:
        with pytest.raises(ChannelAuthError, match=r"no usable AWS credentials \(NoCredentialsError\): check the "
                                                   r"credentials AWS's own chain finds"):
            channel.check()
    finally:
        channel.close()
    assert fast.operations == [] and fast.refused == []
    with pytest.raises(ConfigError, match="SES_ACCESS_KEY_ID and SES_SECRET_ACCESS_KEY go together"):
        open_ses(configure(SES_SECRET_ACCESS_KEY=""))


def test_a_used_up_daily_quota_or_paused_sending_pauses_the_channel(configure: Callable[..., Settings],
                                                                    fast: SesApi,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    settings = configure()
    ids = add_subscribers(settings, 6)
    fast.answer_next(400, "LimitExceededException", "Daily message quota exceeded.")
    report = run_once(settings, SLOT)
    assert "daily sending quota is used up" in report.paused["email"] and report.emails_failed == 0
    assert "email: sending stopped; it is paused for this run" in caplog.text  # not its credentials: a quota
    # The refused one waits; what other connections had in hand when the channel paused went on.
    statuses = [d.status for d in email_deliveries(settings)]
    assert statuses.count("pending") >= 1 and statuses.count("sent") == len(fast.received) <= CONNECTIONS - 1

    fast.enabled = False  # GetAccount says so before anything is sent
    calls = fast.operations.count("SendEmail")
    report = run_once(settings, SLOT + timedelta(minutes=5))
    assert report.paused["email"].startswith("Amazon SES: sending is paused for the account in eu-west-1")
    assert fast.operations.count("SendEmail") == calls

    fast.enabled = True
    run_once(settings, SLOT + timedelta(minutes=10))
    assert {d.status for d in email_deliveries(settings)} == {"sent"}
    assert sorted(r for received in fast.received for r in received.recipients) == sorted(ids)  # each once


def test_in_the_sandbox_unverified_recipients_fail_but_an_unverified_sender_pauses(
        configure: Callable[..., Settings], fast: SesApi) -> None:
    settings = configure()
    ids = add_subscribers(settings, 3)
    fast.production = False
    fast.verified = {"example.org", "reader00000@example.net"}
    report = run_once(settings, SLOT)
    assert report.emails_sent == 1 and report.emails_failed == 2 and not report.paused
    failed = [d for d in email_deliveries(settings) if d.status == "failed"]
    assert sorted(d.subscriber_id for d in failed) == sorted(ids[f"reader0000{n}@example.net"] for n in (1, 2))
    assert all("Email address is not verified" in (d.last_error or "") for d in failed)

    other = configure(BOT_STATE_DIR=str(settings.state_dir.parent / "other"), MAIL_FROM="News <news@unverified.org>")
    add_subscribers(other, 3)
    report = run_once(other, SLOT)
    assert report.paused["email"].startswith("Amazon SES: the sender news@unverified.org is not a verified identity")
    assert {d.status for d in email_deliveries(other)} == {"pending"}


def test_an_unreachable_endpoint_leaves_the_edition_pending(configure: Callable[..., Settings]) -> None:
    with socket.socket() as bound:  # a port that refuses connections: bound, never listening
        bound.bind(("127.0.0.1", 0))
        settings = configure(SES_ENDPOINT_URL=f"http://127.0.0.1:{bound.getsockname()[1]}")
        add_subscribers(settings, 1)
        report = run_once(settings, SLOT)
        channel = open_ses(settings)
        try:
            with pytest.raises(TransientChannelError, match=r"cannot connect to 127\.0\.0\.1"):
                channel.check()
        finally:
            channel.close()
    assert report.emails_deferred == 1 and not report.paused
    assert all("cannot connect" in (d.last_error or "") for d in email_deliveries(settings))


def test_the_bytes_handed_to_ses_carry_a_dkim_signature_that_verifies(configure: Callable[..., Settings],
                                                                      fast: SesApi, tmp_path: Path) -> None:
    # SES writes its own Date and Message-ID into raw messages (SesChannel.rewrites): the signature leaves them out,
    # so that it still verifies after SES has replaced them, as a reader's server receives the message.
    key = tmp_path / "dkim.pem"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    settings = configure(DKIM_DOMAIN="example.org", DKIM_SELECTOR="herald2026", DKIM_PRIVATE_KEY_FILE=str(key))
    add_subscribers(settings, 3)
    assert run_once(settings, SLOT).emails_sent == 3

    signer = signing.load(settings)
    assert signer is not None
    name, record = f"{signer.record_name}.".encode(), signer.record().encode()
    for received in fast.received:
        assert received.raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(received.raw, dnsfunc=lambda asked, timeout=5: record if asked == name else None)
        signed = re.search(rb"h=([^;]*);", re.sub(rb"\s+", b"", received.raw.split(b"\r\n\r\n")[0]))
        assert signed is not None and b"list-unsubscribe" in signed.group(1)
        assert b"date" not in signed.group(1).split(b":") and b"message-id" not in signed.group(1).split(b":")
        redated = re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: Mon, 30 Nov 2026 10:00:01 +0000", received.raw)
        as_ses_sends_it = re.sub(rb"\r\nMessage-ID: [^\r]*", b"\r\nMessage-ID: <0102019-ses@amazonses.com>", redated)
        assert as_ses_sends_it != received.raw
        assert dkim.verify(as_ses_sends_it, dnsfunc=lambda asked, timeout=5: record if asked == name else None)


# --- the pace, and what `bot doctor` says ---------------------------------------------------------------------------


def test_the_pace_is_the_accounts_quota_unless_ses_rate_is_lower(configure: Callable[..., Settings],
                                                                  ses: SesApi) -> None:
    def pace(**overrides: str) -> float | None:
        channel = open_ses(configure(**overrides))
        try:
            return channel.rate
        finally:
            channel.close()

    assert pace() == 14.0
    assert pace(SES_RATE="5") == 5.0
    assert pace(SES_RATE="50") == 14.0
    ses.max_rate = 0.5
    assert pace(SES_RATE="2") == 0.5
    assert pace(SES_ACCESS_KEY_ID="AKIAREFUSEDREFUSED00") is None  # refused: nothing will go, no pace to keep
    with socket.socket() as bound:  # a port that refuses connections: bound, never listening
        bound.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{bound.getsockname()[1]}"
        assert pace(SES_ENDPOINT_URL=unreachable, SES_RATE="5") == 1.0  # unknown for now: the slowest pace
    assert ses.operations == ["GetAccount"] * 4 and ses.received == []
    assert SesChannel.connections == 4 and SesChannel.batch_size == 1


def test_doctor_says_the_quota_in_words_and_what_to_fix(configure: Callable[..., Settings], ses: SesApi) -> None:
    settings = configure()
    shown = doctor(settings, ses)
    assert shown.exit_code == 0, shown.output
    assert ("region eu-west-1: sending enabled, up to 14 messages a second and 50,000 a day (production access); "
            "0 sent in the last 24 hours") in shown.output

    ses.production, ses.max_rate, ses.max_day = False, 1.0, 200.0
    shown = doctor(settings, ses, SES_RATE="0.5", SES_CONFIGURATION_SET="herald-events")
    assert ("up to 1 message a second and 200 a day, in the sandbox: only verified addresses receive mail; 0 sent in "
            "the last 24 hours; Herald sends at most 0.5 a second (SES_RATE); configuration set herald-events"
            ) in shown.output

    shown = doctor(settings, ses, SES_CONFIGURATION_SET="no-such-set")
    assert shown.exit_code == 1
    assert "the configuration set no-such-set does not exist in eu-west-1: check SES_CONFIGURATION_SET" in shown.output
    assert "credentials refused" not in shown.output

    ses.enabled, ses.enforcement = False, "SHUTDOWN"
    shown = doctor(settings, ses)
    assert shown.exit_code == 1 and "AWS has shut down sending for the account in eu-west-1" in shown.output
    assert "credentials refused" not in shown.output
    assert ses.received == [] and "SendEmail" not in ses.operations  # read-only
    assert ACCESS_SECRET not in shown.output and ses.problems == []


def test_numbers_are_written_as_people_write_them() -> None:
    assert [amount(n) for n in (14.0, 1.0, 0.5, 50_000.0, 1_000_000.0, 13.25)] == [
        "14", "1", "0.5", "50,000", "1,000,000", "13.25"]
