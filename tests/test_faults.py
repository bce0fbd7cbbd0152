"""Faults, all at once, against the local servers: every run completes, transient faults are retried, final ones
recorded per recipient or post, credentials refused pause only their channel, nothing is lost, and the run's
report counts each kind. Then: no secret in anything a run writes."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from bot import subscribers
from bot.cli import cli
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE
from .smtp_server import SmtpServer
from .social_servers import BlueskyServer, Fault, MastodonServer, serving
from .x_server import XServer

ZURICH = ZoneInfo("Europe/Zurich")
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)
X_KEYS = {"X_API_KEY": "x-consumer-key", "X_API_SECRET": "x-consumer-secret", "X_ACCESS_TOKEN": "1-x-access-token",
          "X_ACCESS_TOKEN_SECRET": "x-token-secret"}


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SmtpServer, MastodonServer, BlueskyServer, XServer]]:
    with SmtpServer() as smtp, serving(MastodonServer) as mastodon, serving(BlueskyServer) as pds, \
            XServer(X_KEYS["X_API_KEY"], X_KEYS["X_API_SECRET"], X_KEYS["X_ACCESS_TOKEN"],
                    X_KEYS["X_ACCESS_TOKEN_SECRET"]) as x:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1")
        yield smtp, mastodon, pds, x


def configure(make_settings, servers, **extra: str) -> Settings:
    smtp, mastodon, pds, x = servers
    values = dict(
        BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_RETRY_BUDGET="0s", BOT_HTTP_TIMEOUT="2s",
        BOT_SECRET="s3cret-signing-key-9QxT4mZ7wKc2LpV8",
        BOT_EMAIL_BACKEND="smtp", SMTP_HOST=smtp.host, SMTP_PORT=str(smtp.port), SMTP_SECURITY="none",
        BOT_MASTODON_BACKEND="api", MASTODON_BASE_URL=mastodon.url, MASTODON_ACCESS_TOKEN=mastodon.token,
        BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=pds.url, BLUESKY_HANDLE=pds.handle_name,
        BLUESKY_APP_PASSWORD=pds.password, BOT_X_BACKEND="api", X_API_BASE_URL=x.url, **X_KEYS)
    return make_settings(**{**values, **extra})


def subscribe(settings: Settings, count: int) -> list[str]:
    emails = [f"reader{n}@example.org" for n in range(count)]
    with Ledger.open(settings.state_dir) as ledger:
        for email in emails:
            subscribers.add(ledger, email, "", datetime(2019, 1, 1, tzinfo=ZURICH))
    return emails


def test_smtp_faults_across_an_edition(make_settings, servers) -> None:
    smtp = servers[0]
    settings = configure(make_settings, servers, BOT_X_BACKEND="off", BOT_MASTODON_BACKEND="off",
                         BOT_BLUESKY_BACKEND="off")
    emails = subscribe(settings, 30)
    smtp.refuse(emails[3], "451 4.3.0 try again later")
    smtp.refuse(emails[7], "452 4.2.2 mailbox full")
    smtp.refuse(emails[11], "550 5.1.1 no such user")
    smtp.refuse(emails[15], "554 5.7.1 message refused", at="DATA")
    smtp.refuse(emails[19], "421 4.7.0 too busy, closing")  # the server hangs up: reconnect and go on

    first = run_once(settings, SLOT)
    assert (first.emails_sent, first.emails_failed, first.emails_deferred) == (25, 2, 3)
    for transient in (emails[3], emails[7], emails[19]):
        smtp.accept(transient)
    second = run_once(settings, SLOT + timedelta(minutes=10))
    assert (second.emails_sent, second.emails_failed, second.emails_deferred) == (3, 0, 0)
    assert run_once(settings, SLOT + timedelta(hours=1)).emails_sent == 0  # nothing more, nothing twice

    received = Counter(r for message in smtp.messages for r in message.recipients)
    assert set(received) == set(emails) - {emails[11], emails[15]}  # nothing lost but the refused ones
    assert max(received.values()) == 1
    with Ledger.open(settings.state_dir) as ledger:
        failed = {d.subscriber_id: d.last_error for d in ledger.deliveries("status = 'failed'")}
    assert sorted(failed.values()) == ["message refused: 554 5.7.1 message refused",
                                       "recipient refused: 550 5.1.1 no such user"]


def test_http_faults_across_the_platforms(make_settings, servers) -> None:
    _, mastodon, pds, x = servers
    settings = configure(make_settings, servers, BOT_EMAIL_BACKEND="off")
    run_once(settings, datetime(2019, 7, 8, 9, 0, tzinfo=ZURICH))  # the older posts are missed, 8 July posted
    reset = (datetime.now(ZURICH) + timedelta(minutes=7)).isoformat()
    mastodon.fault("create_status", Fault(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": reset}))
    pds.fault("create_record", Fault(200, raw=b"<html>upstream proxy error</html>"))  # malformed answer
    x.fail_next("POST /2/tweets", 401)  # credentials refused in the middle of a run
    day = datetime(2019, 7, 9, 9, 0, tzinfo=ZURICH)
    report = run_once(settings, day)
    assert report.paused.keys() == {"x"}
    # All three wait for the next run: rate limited, answered with garbage, paused.
    assert {(i, p) for i, p, _ in report.deferred} == {("2019-07-09-1300-ngos-call-for-renewal", p)
                                                      for p in ("x", "mastodon", "bluesky")}
    assert not report.failed and not report.ok
    with Ledger.open(settings.state_dir) as ledger:
        waiting = ledger.post("2019-07-09-1300-ngos-call-for-renewal", "mastodon")
        assert waiting.status == "pending" and "429" in waiting.last_error

    later = run_once(settings, day + timedelta(minutes=10))  # the bluesky record may exist: it is checked first
    assert {(i, p) for i, p, _ in later.posted} == {("2019-07-09-1300-ngos-call-for-renewal", p)
                                                    for p in ("x", "mastodon", "bluesky")}
    assert later.ok
    assert len([s for s in mastodon.statuses if "1,300" in s["content"]]) == 1
    assert len([r for r in pds.records.values() if "1,300" in r["value"]["text"]]) == 1
    assert len([t for t in x.tweets if "1,300" in t["sent"]]) == 1


def test_no_secret_in_anything_a_run_writes(make_settings, servers, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Every secret set to a marker; runs with faults, doctor, status, config; then grep everything written."""
    smtp, mastodon, pds, x = servers
    markers = {"BOT_SECRET": "MARKER-bot-secret-71c3-5hJ8qWzX2nPd", "SMTP_PASSWORD": "MARKER-smtp-password-5e2a",
               "MAILGUN_API_KEY": "MARKER-mailgun-9a0b", "SENDGRID_API_KEY": "MARKER-sendgrid-44d1",
               "MAILGUN_WEBHOOK_SIGNING_KEY": "MARKER-mg-webhook-7f7f"}
    settings = configure(make_settings, servers, **markers, SMTP_USERNAME="newsletter")
    subscribe(settings, 3)
    x.fail_next("POST /2/tweets", 401)
    mastodon.fault("create_status", Fault(422, {"error": "Validation failed: MARKER-echo-test"}))
    caplog.set_level(logging.DEBUG)
    run_once(settings, SLOT)  # SMTP refuses the sign-in: email paused, with the password in hand
    env = {**BASE, **{k: v for k, v in os.environ.items() if k.startswith(("HTTP", "NO_", "no_", "http"))},
           "BOT_STATE_DIR": str(settings.state_dir), **{k: str(v) for k, v in {
               "BOT_QUEUE_DIR": SAMPLE_QUEUE, "BOT_EMAIL_BACKEND": "smtp", "SMTP_HOST": smtp.host,
               "SMTP_PORT": smtp.port, "SMTP_SECURITY": "none", "SMTP_USERNAME": "newsletter",
               "BOT_X_BACKEND": "outbox", "BOT_MASTODON_BACKEND": "outbox", "BOT_BLUESKY_BACKEND": "outbox",
               **markers}.items()}}
    outputs = []
    for args in (["doctor"], ["status", "--json"], ["status"], ["config"],
                 ["run", "--once", "--now", "2019-07-12T11:00"], ["--debug", "doctor"]):
        result = CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)
        outputs.append(result.output + (repr(result.exception) if result.exception else ""))
    written = b"".join(p.read_bytes() for p in settings.state_dir.rglob("*") if p.is_file())
    everything = "\n".join(outputs) + caplog.text + written.decode("utf-8", "replace")
    assert "credentials" in everything or "sign-in" in everything  # the runs did hit the refusal
    for name, marker in markers.items():
        assert marker not in everything, f"{name} leaked"
    for name in ("X_ACCESS_TOKEN_SECRET", "X_API_SECRET"):
        assert X_KEYS[name] not in everything, f"{name} leaked"
    assert pds.password not in everything and mastodon.token not in everything
