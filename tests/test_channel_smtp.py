"""The SMTP backend against real local SMTP servers: whole editions, one connection, drops, TLS, AUTH, refusals."""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import mail, subscribers
from bot.channels import OutgoingMail, Sent, open_channel
from bot.errors import ChannelAuthError, TransientChannelError
from bot.ledger import Delivery, Ledger
from bot.render import Newsletter
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import SAMPLE_QUEUE
from .smtp_server import SmtpServer

ZURICH = ZoneInfo("Europe/Zurich")
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)  # a Friday slot: the sample queue makes an edition
SECRET = "test-secret-for-unsubscribe-links-0123456789"
PASSWORD = "s3cret-Pass-word-for-tests"
WRONG_PASSWORD = "Wr0ng-pa55word-never-shown"
ADDRESSES = [f"reader{n:02d}@example.net" for n in range(1, 26)]

MakeSettings = Callable[..., Settings]


@pytest.fixture(params=[False, True], ids=["plain", "pipelining"])
def server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """Each test that takes it runs against a server that offers PIPELINING and one that does not."""
    with SmtpServer(pipelining=request.param) as running:
        yield running


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nothing else takes it) but not listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def smtp_settings(make_settings: MakeSettings, server: SmtpServer, **extra: str) -> Settings:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "smtp", "BOT_SECRET": SECRET,
           "SMTP_HOST": server.host, "SMTP_PORT": str(server.port), "SMTP_SECURITY": server.security,
           # No retries within a run (and so no waiting): only the channel's own reconnection counts.
           "BOT_HTTP_TIMEOUT": "10s", "BOT_RETRY_BUDGET": "0s",
           "BOT_X_BACKEND": "off", "BOT_MASTODON_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off"}
    env.update(extra)
    return make_settings(**env)


def subscribe(settings: Settings, addresses: list[str]) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        for address in addresses:
            subscribers.add(ledger, address, "", datetime(2019, 1, 1, tzinfo=UTC))


def email_deliveries(settings: Settings) -> dict[str, Delivery]:
    """Each email delivery, by its subscriber's address."""
    with Ledger.open(settings.state_dir) as ledger:
        emails = {s["id"]: s["email"] for s in ledger.db.execute("SELECT id, email FROM subscribers")}
        return {emails[d.subscriber_id]: d for d in ledger.deliveries("channel = 'email'")}


def trust(monkeypatch: pytest.MonkeyPatch, server: SmtpServer) -> None:
    """Make the standard trust store (as OpenSSL reads it) the test server's self-signed certificate."""
    assert server.cert_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))


def test_an_edition_reaches_each_subscriber_alone_over_one_connection(make_settings: MakeSettings,
                                                                      server: SmtpServer) -> None:
    settings = smtp_settings(make_settings, server)
    subscribe(settings, ADDRESSES)
    report = run_once(settings, SLOT)
    assert report.ok and report.emails_sent == 25

    assert server.sessions == 1  # one connection for the whole edition
    assert server.quits == 1  # and it was closed politely at the end of the run
    # Pipelined (MAIL, RCPT and DATA in one write) exactly where the server offers it.
    assert server.pipelined == (25 if server.pipelining else 0)
    assert Counter(r for m in server.messages for r in m.recipients) == Counter(ADDRESSES)
    key = subscribers.secret_key(settings)
    deliveries = email_deliveries(settings)
    with Ledger.open(settings.state_dir) as ledger:
        ids = {s["email"]: s["id"] for s in ledger.db.execute("SELECT id, email FROM subscribers")}
        edition = ledger.edition(report.editions[0])
    prepared = mail.prepare(Newsletter(edition.subject, "", edition.html, edition.text, edition.item_ids),
                            mail_from=settings.effective_mail_from, public_url=settings.effective_public_url,
                            date=SLOT)
    for received in server.messages:
        (address,) = received.recipients
        assert received.sender == "newsletter@example.org"
        message = received.parsed()
        assert message["To"] == address
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        link = message["List-Unsubscribe"]
        assert link.startswith("<https://news.example.org/unsubscribe/") and link.endswith(">")
        token = link[1:-1].rsplit("/", 1)[1]
        assert subscribers.read_token(key, token) == ids[address]
        # The very bytes the edition prepares for this recipient (but for its random MIME boundary): nothing
        # re-encoded on the way.
        expected = prepared.message(address, "", token, message["Message-ID"])
        boundary = message_from_bytes(expected, policy=policy.default).get_boundary()
        assert received.data == expected.replace(boundary.encode(), message.get_boundary().encode())
        assert deliveries[address].status == "sent"
        assert deliveries[address].remote_id == message["Message-ID"]
    assert len({d.remote_id for d in deliveries.values()}) == 25


@pytest.mark.parametrize("pipelining", [False, True], ids=["plain", "pipelining"])
def test_a_dropped_connection_is_reopened_and_nothing_is_lost_or_repeated(make_settings: MakeSettings,
                                                                          pipelining: bool) -> None:
    # The server answers the 10th message, then hangs up: the 11th meets a closed connection, and is sent
    # again on a new one.
    with SmtpServer(drop_after=10, pipelining=pipelining) as server:
        settings = smtp_settings(make_settings, server)
        subscribe(settings, ADDRESSES)
        report = run_once(settings, SLOT)
        assert report.ok and report.emails_sent == 25
        assert Counter(r for m in server.messages for r in m.recipients) == Counter(ADDRESSES)
        assert [m.session for m in server.messages] == [1] * 10 + [2] * 15
        assert server.sessions == 2
    assert {d.status for d in email_deliveries(settings).values()} == {"sent"}


@pytest.mark.parametrize("pipelining", [False, True], ids=["plain", "pipelining"])
def test_a_connection_dropped_before_its_answer_repeats_only_the_message_in_flight(
        make_settings: MakeSettings, pipelining: bool) -> None:
    # The server takes the 10th message and hangs up without answering: the channel cannot know it arrived,
    # so it sends it again on a new connection (with the same Message-ID, for receivers to drop).
    with SmtpServer(drop_after=10, answer_before_drop=False, pipelining=pipelining) as server:
        settings = smtp_settings(make_settings, server)
        subscribe(settings, ADDRESSES)
        report = run_once(settings, SLOT)
        assert report.ok and report.emails_sent == 25
        counts = Counter(r for m in server.messages for r in m.recipients)
        assert counts == Counter(ADDRESSES + [ADDRESSES[9]])
        first, again = server.received_by(ADDRESSES[9])
        assert first.parsed()["Message-ID"] == again.parsed()["Message-ID"]
        assert (first.session, again.session) == (1, 2)
        assert server.sessions == 2
    deliveries = email_deliveries(settings)
    assert {d.status for d in deliveries.values()} == {"sent"}
    assert deliveries[ADDRESSES[9]].remote_id == first.parsed()["Message-ID"]


def test_a_421_reopens_the_connection_and_tries_that_message_once_more(make_settings: MakeSettings,
                                                                        server: SmtpServer) -> None:
    server.refuse(ADDRESSES[2], "421 4.3.2 Shutting down, come back later")
    settings = smtp_settings(make_settings, server)
    subscribe(settings, ADDRESSES[:5])
    report = run_once(settings, SLOT)
    assert report.emails_sent == 4 and report.emails_deferred == 1
    # The 421 closes the connection (smtplib hangs up on it); one more try on a new one meets the same 421,
    # and the rest of the edition goes over a third.
    assert server.sessions == 3
    deferred = email_deliveries(settings)[ADDRESSES[2]]
    assert deferred.status == "pending" and deferred.next_attempt_at is not None
    assert "421 4.3.2 Shutting down, come back later" in (deferred.last_error or "")


def test_starttls_with_a_trusted_certificate_and_sign_in(make_settings: MakeSettings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(security="starttls", users={"newsletter": PASSWORD}) as server:
        trust(monkeypatch, server)
        settings = smtp_settings(make_settings, server, SMTP_USERNAME="newsletter", SMTP_PASSWORD=PASSWORD)
        subscribe(settings, ADDRESSES[:3])
        report = run_once(settings, SLOT)
        assert report.ok and report.emails_sent == 3
        assert [(m.recipients, m.tls, m.login) for m in server.messages] == [
            ((a,), True, "newsletter") for a in ADDRESSES[:3]]
        assert server.sessions == 1


def test_implicit_tls_with_sign_in(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(security="tls", users={"newsletter": PASSWORD}) as server:
        trust(monkeypatch, server)
        settings = smtp_settings(make_settings, server, SMTP_USERNAME="newsletter", SMTP_PASSWORD=PASSWORD)
        subscribe(settings, ADDRESSES[:3])
        report = run_once(settings, SLOT)
        assert report.ok and report.emails_sent == 3
        assert [(m.recipients, m.tls, m.login) for m in server.messages] == [
            ((a,), True, "newsletter") for a in ADDRESSES[:3]]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_certificate_the_system_does_not_trust_sends_nothing(make_settings: MakeSettings, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               security: str) -> None:
    other = tmp_path / "empty-trust-store.pem"
    other.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(other))  # verification stays on: nothing vouches for the server
    with SmtpServer(security=security) as server:
        settings = smtp_settings(make_settings, server)
        subscribe(settings, ADDRESSES[:2])
        report = run_once(settings, SLOT)
        assert report.emails_sent == 0 and report.emails_deferred == 2
        assert server.messages == []
    for delivery in email_deliveries(settings).values():
        assert delivery.status == "pending" and "certificate" in (delivery.last_error or "")


def test_nothing_listening_leaves_the_edition_pending(make_settings: MakeSettings, server: SmtpServer,
                                                     refusing_port: int) -> None:
    settings = smtp_settings(make_settings, server, SMTP_PORT=str(refusing_port))
    subscribe(settings, ADDRESSES[:3])
    report = run_once(settings, SLOT)
    assert report.emails_sent == 0 and report.emails_deferred == 3 and not report.paused
    for delivery in email_deliveries(settings).values():
        assert delivery.status == "pending" and delivery.next_attempt_at is not None
        assert delivery.last_error == f"127.0.0.1:{refusing_port}: cannot connect: connection refused"
    with pytest.raises(TransientChannelError, match="connection refused"):  # and `bot doctor` says so
        channel = open_channel(settings, "email")
        assert channel is not None
        channel.check()


@pytest.mark.parametrize("pipelining", [False, True], ids=["plain", "pipelining"])
def test_a_server_that_wants_a_sign_in_nobody_configured_pauses_email(make_settings: MakeSettings,
                                                                      pipelining: bool) -> None:
    # Every message would meet the same 530: the list is paused, not marked failed one subscriber at a time.
    with SmtpServer(users={"newsletter": PASSWORD}, pipelining=pipelining) as server:
        settings = smtp_settings(make_settings, server)
        subscribe(settings, ADDRESSES[:3])
        report = run_once(settings, SLOT)
        assert server.messages == []
    assert "sender refused: 530 5.7.0 Authentication required" in report.paused["email"]
    assert report.emails_failed == 0
    assert {d.status for d in email_deliveries(settings).values()} == {"pending"}


def test_a_wrong_password_pauses_email_and_the_posts_still_go_out(make_settings: MakeSettings,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(security="starttls", users={"newsletter": PASSWORD}) as server:
        trust(monkeypatch, server)
        # 48 h of lateness lets Thursday's item be posted in the same run as Friday's edition.
        settings = smtp_settings(make_settings, server, SMTP_USERNAME="newsletter", SMTP_PASSWORD=WRONG_PASSWORD,
                                 BOT_MAX_LATENESS="48h", BOT_X_BACKEND="outbox", BOT_MASTODON_BACKEND="outbox",
                                 BOT_BLUESKY_BACKEND="outbox")
        subscribe(settings, ADDRESSES[:3])
        report = run_once(settings, SLOT)
        assert server.messages == []
    assert set(report.paused) == {"email"}
    assert "sign-in as newsletter refused: 535" in report.paused["email"]
    assert {(i, p) for i, p, _ in report.posted} == {("2019-07-11-xinjiang-joint-letter", p)
                                                     for p in ("x", "mastodon", "bluesky")}
    assert (settings.outbox_dir / "x" / "2019-07-11-xinjiang-joint-letter.json").is_file()
    assert report.emails_sent == 0 and len(report.editions) == 1
    assert {d.status for d in email_deliveries(settings).values()} == {"pending"}

    stored = b"".join(p.read_bytes() for p in settings.state_dir.rglob("*") if p.is_file())
    captured = capsys.readouterr()
    for where in (repr(report), stored.decode("utf-8", "replace"), caplog.text, captured.out + captured.err):
        assert WRONG_PASSWORD not in where and PASSWORD not in where
    assert "credentials refused" in caplog.text  # the log does say what happened


def test_refused_recipients_fail_alone_and_a_deferred_one_is_delivered_by_a_later_run(
        make_settings: MakeSettings, server: SmtpServer) -> None:
    bounced, greylisted, rejected = ADDRESSES[1], ADDRESSES[3], ADDRESSES[4]
    server.refuse(bounced, "550 5.1.1 No such mailbox here")
    server.refuse(greylisted, "451 4.7.1 Greylisted, please try again later")
    server.refuse(rejected, "554 5.7.1 Message content rejected", at="DATA")
    settings = smtp_settings(make_settings, server)
    subscribe(settings, ADDRESSES[:6])

    report = run_once(settings, SLOT)
    assert (report.emails_sent, report.emails_failed, report.emails_deferred) == (3, 2, 1)
    assert server.sessions == 1  # a refusal does not cost the connection
    deliveries = email_deliveries(settings)
    assert deliveries[bounced].status == "failed"
    assert deliveries[bounced].last_error == "recipient refused: 550 5.1.1 No such mailbox here"
    assert deliveries[rejected].status == "failed"
    assert deliveries[rejected].last_error == "message refused: 554 5.7.1 Message content rejected"
    assert deliveries[greylisted].status == "pending" and deliveries[greylisted].next_attempt_at is not None
    assert deliveries[greylisted].last_error == "recipient refused: 451 4.7.1 Greylisted, please try again later"
    assert sorted(r for m in server.messages for r in m.recipients) == sorted(
        set(ADDRESSES[:6]) - {bounced, greylisted, rejected})

    server.accept(greylisted)
    server.accept(bounced)  # a final failure is never tried again, even when the server would now take it
    report = run_once(settings, SLOT + timedelta(minutes=10))
    assert report.emails_sent == 1 and report.ok
    assert len(server.received_by(greylisted)) == 1 and server.received_by(bounced) == []
    deliveries = email_deliveries(settings)
    assert deliveries[greylisted].status == "sent"
    assert deliveries[greylisted].remote_id == server.received_by(greylisted)[0].parsed()["Message-ID"]
    assert deliveries[bounced].status == "failed"


@pytest.mark.parametrize("security, described", [("starttls", "STARTTLS"), ("tls", "TLS")])
def test_check_signs_in_and_sends_nothing(make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch,
                                          security: str, described: str) -> None:
    with SmtpServer(security=security, users={"newsletter": PASSWORD}) as server:
        trust(monkeypatch, server)
        settings = smtp_settings(make_settings, server, SMTP_USERNAME="newsletter", SMTP_PASSWORD=PASSWORD)
        channel = open_channel(settings, "email")
        assert channel is not None
        assert channel.check() == f"127.0.0.1:{server.port}, {described}, signed in as newsletter"
        assert (server.sessions, server.quits) == (1, 1)

        wrong = smtp_settings(make_settings, server, SMTP_USERNAME="newsletter", SMTP_PASSWORD=WRONG_PASSWORD)
        refused = open_channel(wrong, "email")
        assert refused is not None
        with pytest.raises(ChannelAuthError) as caught:
            refused.check()
        assert "refused" in str(caught.value) and WRONG_PASSWORD not in str(caught.value)
        assert server.messages == []


def test_each_thread_has_its_own_connection_and_close_quits_them_all(make_settings: MakeSettings,
                                                                      server: SmtpServer) -> None:
    channel = open_channel(smtp_settings(make_settings, server), "email")
    assert channel is not None
    html = f'<p><a href="{mail.unsubscribe_url("https://news.example.org", mail.TOKEN_PLACEHOLDER)}">x</a></p>'
    text = f"Unsubscribe: {mail.unsubscribe_url('https://news.example.org', mail.TOKEN_PLACEHOLDER)}\n"
    prepared = mail.prepare(Newsletter("Threads", "", html, text, ()), mail_from="News <news@example.org>",
                            public_url="https://news.example.org", date=SLOT)
    key = SECRET.encode()
    outcomes: dict[str, list[object]] = {}

    def send(name: str, start: int) -> None:
        outcomes[name] = [channel.send([OutgoingMail(f"m{n}", prepared, ADDRESSES[n], "",
                                                     subscribers.make_token(key, n + 1), f"<{n}@example.org>")])[0]
                          for n in range(start, start + 3)]

    threads = [threading.Thread(target=send, args=(name, start)) for name, start in (("a", 0), ("b", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == {"a": [Sent(f"<{n}@example.org>") for n in range(3)],
                        "b": [Sent(f"<{n}@example.org>") for n in range(3, 6)]}
    assert server.sessions == 2 and server.quits == 0
    by_session = {m.session: set() for m in server.messages}
    for m in server.messages:
        by_session[m.session].update(m.recipients)
    assert sorted(map(sorted, by_session.values())) == [ADDRESSES[0:3], ADDRESSES[3:6]]
    channel.close()
    assert server.quits == 2
    assert channel.reconcile(OutgoingMail("m0", prepared, ADDRESSES[0], "", subscribers.make_token(key, 1),
                                          "<0@example.org>")) is None  # SMTP cannot tell
