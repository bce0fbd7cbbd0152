"""The web side over real HTTP (Waitress on 127.0.0.1): unsubscribe, subscribe, archive, webhooks, staff pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from werkzeug.security import generate_password_hash

from bot import subscribers
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE
from .smtp_server import SmtpServer
from .web_server import running, serving_process, settle

NOW = datetime(2019, 7, 1, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def site(make_settings) -> Settings:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="",
                             BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD),
                             MAILGUN_WEBHOOK_SIGNING_KEY="mg-signing-key-for-tests")
    return settings


def add(settings: Settings, email: str) -> tuple[int, str]:
    with Ledger.open(settings.state_dir) as ledger:
        subscribers.add(ledger, email, "", NOW)
        found = subscribers.get(ledger, email=email)
    return found.id, subscribers.make_token(subscribers.secret_key(settings), found.id)


def status_of(settings: Settings, email: str) -> str:
    with Ledger.open(settings.state_dir) as ledger:
        return subscribers.get(ledger, email=email).status


def confirmation_mail(settings: Settings, nth: int = 0) -> EmailMessage:
    """The nth confirmation email the outbox holds."""
    settle()  # the links are mailed in the background
    mails = sorted((settings.outbox_dir / "email").glob("confirm-*.eml"))
    return message_from_bytes(mails[nth].read_bytes(), policy=policy.default)


def confirm_path(settings: Settings, nth: int = 0) -> str:
    """The path of the confirmation link in the nth confirmation email the outbox holds."""
    text = confirmation_mail(settings, nth).get_content()
    return re.search(r"https?://[^/\s]+(/confirm/\S+)", text).group(1)


def form_token(session: requests.Session, url: str) -> str:
    page = session.get(url).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def ask(base: str, email: str) -> requests.Response:
    """Subscribe as a person does: open the form, send it."""
    browser = requests.Session()
    token = form_token(browser, base + "/subscribe")
    return browser.post(base + "/subscribe", data={"email": email, "csrf_token": token})


def press_confirm(base: str, link: str) -> requests.Response:
    """Follow a confirmation link as a person does: open it, and press its button when the page has one."""
    browser = requests.Session()
    page = browser.get(base + link)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        return page
    return browser.post(base + link, data={"csrf_token": token.group(1)})


def test_every_page_carries_the_security_headers(site: Settings) -> None:
    with running(site) as base:
        for path in ("/subscribe", "/archive", "/unsubscribe/" + "A" * 32, "/nowhere"):
            headers = requests.get(base + path).headers
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none': no script at all
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "same-origin"  # tokens in URLs never reach another site
            assert headers["X-Frame-Options"] == "DENY"


def test_one_click_unsubscribe_as_mail_clients_send_it(site: Settings) -> None:
    _, token = add(site, "amina@example.org")
    with running(site) as base:
        url = f"{base}/unsubscribe/{token}"
        page = requests.get(url)
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
        assert status_of(site, "amina@example.org") == "active"  # looking at the page changes nothing
        assert "will receive no more" not in page.text and "Press the button" in page.text  # nothing done yet
        for _ in range(2):  # RFC 8058: a POST with this body, no cookie, no CSRF token; idempotent
            answer = requests.post(url, data="List-Unsubscribe=One-Click", allow_redirects=False,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert answer.status_code == 200 and "You are unsubscribed" in answer.text
            assert "Set-Cookie" not in answer.headers and "Location" not in answer.headers
        assert status_of(site, "amina@example.org") == "unsubscribed"


def test_a_bad_or_foreign_token_gets_a_plain_404(site: Settings) -> None:
    _, token = add(site, "amina@example.org")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with running(site) as base:
        nowhere = requests.get(base + "/no-such-page")
        for path in (f"/unsubscribe/{forged}", "/unsubscribe/short", f"/unsubscribe/{'x' * 32}"):
            for method in (requests.get, requests.post):
                answer = method(base + path)
                assert answer.status_code == 404
                assert answer.text == nowhere.text  # reveals nothing: the same page as any unknown address
    assert status_of(site, "amina@example.org") == "active"


def test_subscribe_then_confirm_and_the_same_answer_for_everyone(site: Settings) -> None:
    add(site, "already@example.org")
    with running(site) as base:
        answers = {}
        for email in ("new@example.org", "already@example.org"):
            browser = requests.Session()
            answer = browser.post(base + "/subscribe", data={"email": email, "name": "N",
                                                             "csrf_token": form_token(browser, base + "/subscribe")})
            assert answer.status_code == 200
            answers[email] = answer.text.replace(email, "ADDRESS")
        assert answers["new@example.org"] == answers["already@example.org"]
        settle()  # recorded and mailed in the background
        assert status_of(site, "new@example.org") == "pending"
        assert len(list((site.outbox_dir / "email").glob("confirm-*.eml"))) == 1  # the active one gets nothing
        link = confirm_path(site)
        confirmed = press_confirm(base, link)
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert status_of(site, "new@example.org") == "active"
        assert requests.get(base + link[:-3] + "xyz").status_code == 404


def test_subscribe_needs_its_csrf_token_and_a_real_address(site: Settings) -> None:
    with running(site) as base:
        assert requests.post(base + "/subscribe", data={"email": "x@example.org"}).status_code == 400
        browser = requests.Session()
        bad = browser.post(base + "/subscribe", data={"email": "not an address",
                                                      "csrf_token": form_token(browser, base + "/subscribe")})
        assert bad.status_code == 400 and "does not look right" in bad.text


def test_repeated_requests_are_rate_limited(site: Settings) -> None:
    with running(site) as base:
        codes = []
        for _ in range(5):
            browser = requests.Session()
            codes.append(browser.post(base + "/subscribe", data={
                "email": "flood@example.org", "csrf_token": form_token(browser, base + "/subscribe")}).status_code)
        assert codes == [200, 200, 200, 429, 429]  # three a day for one address, whoever asks
        settle()
        assert len(list((site.outbox_dir / "email").glob("confirm-*.eml"))) == 3  # no more mail than that


def test_the_answer_to_subscribe_never_waits_for_the_mail_server(make_settings) -> None:
    with SmtpServer() as mailbox:
        settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_EMAIL_BACKEND="smtp", SMTP_HOST=mailbox.host,
                                 SMTP_PORT=str(mailbox.port), SMTP_SECURITY="none", BOT_PUBLIC_URL="https://news.example.org",
                                 BOT_SECRET="Pq8vZ2mX7kL4nR9sT1wY6bC3dF5gH0jK_uE-oA")
        add(settings, "already@example.org")
        with running(settings) as base:
            mailbox.hold()  # the mail server takes the message and does not answer
            try:
                answers = {}
                for email in ("new@example.org", "already@example.org"):
                    browser = requests.Session()
                    token = form_token(browser, base + "/subscribe")
                    # The cookie is Secure (the public URL is https): sent by hand over this test's plain http,
                    # as browsers do for 127.0.0.1. Waiting for the mail server here would hang until the
                    # timeout: the answer must not.
                    answer = browser.post(base + "/subscribe", data={"email": email, "csrf_token": token},
                                          headers={"Cookie": f"herald_session={browser.cookies['herald_session']}"},
                                          timeout=20)
                    assert answer.status_code == 200, answer.text
                    answers[email] = answer.text.replace(email, "ADDRESS")
                assert answers["new@example.org"] == answers["already@example.org"]
                assert mailbox.messages == []  # both answered while the confirmation was still on its way
            finally:
                mailbox.release()
            settle()
            assert [m.recipients for m in mailbox.messages] == [("new@example.org",)]
            assert status_of(settings, "new@example.org") == "pending"


def test_the_daily_limit_per_address_holds_for_every_spelling_of_it(site: Settings) -> None:
    # Full-width letters are the same domain once normalised (IDNA): one inbox, one counter.
    spellings = ["bomb@example.org", "bomb@\uff45xample.org", "BOMB@EXAMPLE.ORG",
                 "bomb@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff4f\uff52\uff47", " Bomb@Example.Org "]
    with running(site) as base:
        codes = [ask(base, email).status_code for email in spellings]
        assert codes == [200, 200, 200, 429, 429]
        settle()
        assert len(list((site.outbox_dir / "email").glob("confirm-*.eml"))) == 3


def test_malformed_calls_get_400_or_404_never_a_500_even_under_python_O(make_settings, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    # A SendGrid key that is not an elliptic-curve one: once only an assert (gone under -O) refused it.
    wrong_kind = base64.b64encode(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    key = "mg-signing-key-for-tests"
    environ = {**BASE, "BOT_STATE_DIR": str(tmp_path / "var"), "BOT_QUEUE_DIR": str(SAMPLE_QUEUE),
               "MAILGUN_WEBHOOK_SIGNING_KEY": key, "SENDGRID_WEBHOOK_PUBLIC_KEY": wrong_kind}
    settings = make_settings(**environ)
    add(settings, "bounce@example.org")
    with serving_process(environ, "-O") as base:
        url = base + "/webhooks/mailgun"
        for body in ({"signature": "x"}, {"signature": ["x"]}, {"signature": 7}, ["signature"], "signature"):
            answer = requests.post(url, json=body)
            assert answer.status_code == 400 and "Traceback" not in answer.text, body
        for odd in ({"timestamp": "1", "token": "t", "signature": "\u00e9"}, {"timestamp": "\u00b2", "token": "t"}):
            assert requests.post(url, json={"signature": odd}).status_code == 403, odd
        for n, event in enumerate(("x", ["failed"], {"event": "failed", "recipient": "bounce@example.org",
                                                     "severity": "permanent", "delivery-status": "550 gone"})):
            answer = requests.post(url, json=mailgun_call(key, event, f"odd-{n}"))  # signed, oddly shaped
            assert answer.status_code in (200, 400) and "Traceback" not in answer.text, event
        assert status_of(settings, "bounce@example.org") == "bounced"  # the well-signed bounce still counts
        stamp = str(int(time.time()))
        sendgrid = requests.post(base + "/webhooks/sendgrid", data=b"[]", headers={
            "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(b"x" * 64).decode()})
        assert sendgrid.status_code == 403
        superscript = requests.post(base + "/webhooks/sendgrid", data=b"[]", headers={
            "X-Twilio-Email-Event-Webhook-Timestamp": "\u00b2", "X-Twilio-Email-Event-Webhook-Signature": "eA=="})
        assert superscript.status_code == 403  # a digit to str.isdigit, not to int()
        nowhere = requests.get(base + "/no-such-page")
        for number in ("99999999999999999999999", str(2**63), str(2**63 - 1), "0"):
            answer = requests.get(f"{base}/archive/{number}")
            assert answer.status_code == 404 and answer.text == nowhere.text, number


def test_archive_shows_editions_without_anyones_token(site: Settings) -> None:
    _, token = add(site, "reader@example.org")
    run_once(site, datetime(2019, 7, 12, 10, 0, tzinfo=ZoneInfo("Europe/Zurich")))
    with running(site) as base:
        listing = requests.get(base + "/archive")
        assert "/archive/1" in listing.text
        # The day as the newsletter says it, and a count, not a repr.
        assert re.search(r'<time datetime="2019-07-12">12 July 2019</time> &middot; \d+ updates?</span>', listing.text)
        assert "built-in" not in listing.text and "object at 0x" not in listing.text
        page = requests.get(base + "/archive/1")
        assert page.status_code == 200 and "22 States urge China" in page.text
        assert token not in page.text and "HERALD-TOKEN" not in page.text
        # A visitor can subscribe and see the other editions; no link to unsubscribe, which could unsubscribe nobody.
        assert "/unsubscribe" not in page.text and "because you subscribed" not in page.text
        assert 'href="/subscribe"' in page.text and 'href="/archive"' in page.text
        assert "script-src" not in page.headers["Content-Security-Policy"]
        assert requests.get(base + "/archive/99").status_code == 404


def mailgun_call(key: str, event: dict, token: str = "tok-1", stamp: int | None = None) -> dict:
    timestamp = str(stamp or int(time.time()))
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}


def test_mailgun_webhook_suppresses_only_when_signed(site: Settings) -> None:
    add(site, "bounce@example.org")
    add(site, "soft@example.org")
    key = "mg-signing-key-for-tests"
    hard = {"event": "failed", "severity": "permanent", "recipient": "bounce@example.org",
            "delivery-status": {"code": 550, "message": "No such user"}}
    with running(site) as base:
        url = base + "/webhooks/mailgun"
        assert requests.post(url, json=mailgun_call("wrong-key", hard)).status_code == 403
        assert requests.post(url, json={"event-data": hard}).status_code == 403
        stale = mailgun_call(key, hard, "tok-old", stamp=int(time.time()) - 3 * 86400)
        assert requests.post(url, json=stale).status_code == 200
        assert status_of(site, "bounce@example.org") == "active"  # unsigned, badly signed or stale: nothing
        assert requests.post(url, json=mailgun_call(key, hard)).status_code == 200
        assert status_of(site, "bounce@example.org") == "bounced"
        soft = {"event": "failed", "severity": "temporary", "recipient": "soft@example.org"}
        for n in range(3):
            requests.post(url, json=mailgun_call(key, soft, f"soft-{n}"))
            requests.post(url, json=mailgun_call(key, soft, f"soft-{n}"))  # a replay counts once
            assert status_of(site, "soft@example.org") == ("bounced" if n == 2 else "active")


def test_sendgrid_signed_event_webhook(site: Settings, make_settings) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), SENDGRID_WEBHOOK_PUBLIC_KEY=public)
    add(settings, "complains@example.org")
    body = json.dumps([{"email": "complains@example.org", "event": "spamreport", "sg_event_id": "e1",
                        "timestamp": int(time.time())}]).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": stamp}
    with running(settings) as base:
        url = base + "/webhooks/sendgrid"
        tampered = body.replace(b"spamreport", b"delivered!")
        assert requests.post(url, data=tampered, headers={
            **headers, "X-Twilio-Email-Event-Webhook-Signature": signature}).status_code == 403
        assert requests.post(url, data=body, headers=headers).status_code == 403
        assert status_of(settings, "complains@example.org") == "active"
        assert requests.post(url, data=body, headers={
            **headers, "X-Twilio-Email-Event-Webhook-Signature": signature}).status_code == 200
        assert status_of(settings, "complains@example.org") == "unsubscribed"


def test_staff_pages_sign_in_agenda_and_requeue(site: Settings) -> None:
    run_once(site, datetime(2019, 7, 9, 9, 0, tzinfo=ZoneInfo("Europe/Zurich")))  # the 5 July post is missed
    with running(site) as base:
        staff = requests.Session()
        assert staff.get(base + "/admin").status_code == 401
        wrong = staff.post(base + "/admin/login", data={"email": "admin", "password": "guess",
                                                        "csrf_token": form_token(staff, base + "/admin")})
        assert wrong.status_code == 401
        assert staff.post(base + "/admin/login", data={"email": "admin",
                                                       "password": PASSWORD}).status_code == 400  # no CSRF token
        ok = staff.post(base + "/admin/login?next=https://evil.example", allow_redirects=False,
                        data={"email": "admin", "password": PASSWORD,
                              "csrf_token": form_token(staff, base + "/admin")})
        assert ok.status_code == 303 and ok.headers["Location"] == "/admin"  # never where the visitor says
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        agenda = staff.get(base + "/admin").text
        assert "2019-07-05-iesogi-vote-next-week" in agenda and "Requeue" in agenda
        token = re.search(r'name="csrf_token" value="([^"]+)"', agenda).group(1)
        requeued = staff.post(base + "/admin/requeue", data={"item": "2019-07-05-iesogi-vote-next-week",
                                                             "platform": "x", "csrf_token": token})
        assert "is back in the schedule on x" in requeued.text
    with Ledger.open(site.state_dir) as ledger:
        assert ledger.post("2019-07-05-iesogi-vote-next-week", "x").status == "pending"


def test_staff_pages_are_off_without_a_password(make_settings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="")  # no account, no BOT_ADMIN_PASSWORD
    with running(settings) as base:
        visitor = requests.Session()
        page = visitor.get(base + "/admin")
        assert page.status_code == 401 and "bot staff add EMAIL --role admin" in page.text
        for email, password in (("admin", ""), ("admin", "admin"), ("admin", PASSWORD), ("a@example.org", PASSWORD)):
            answer = visitor.post(base + "/admin/login", allow_redirects=False, data={
                "email": email, "password": password, "csrf_token": form_token(visitor, base + "/admin")})
            assert answer.status_code == 401
        assert visitor.get(base + "/admin").status_code == 401


def test_hash_password_command_makes_a_hash_the_settings_accept(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli
    from bot.settings import load_settings

    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "hash-password", "--password",
                                      "a long staff password"])
    digest = result.stdout.strip()
    assert result.exit_code == 0 and digest.startswith(("scrypt:", "pbkdf2:"))
    assert load_settings(environ={"BOT_ADMIN_PASSWORD": digest}, env_file=None).admin_password
    short = CliRunner().invoke(cli, ["--env-file", "/dev/null", "hash-password", "--password", "short"])
    assert short.exit_code == 2


def test_serve_with_the_scheduler_runs_both_and_holds_the_lock(site: Settings) -> None:
    from bot.errors import HeraldError
    from bot.scheduler import state_lock

    with running(site, with_scheduler=True) as base:
        assert requests.get(base + "/subscribe").status_code == 200
        deadline = time.monotonic() + 60
        while True:  # the scheduler's first tick records the sample's posts (all long past: missed)
            with Ledger.open(site.state_dir) as ledger:
                if list(ledger.deliveries()):
                    break
            assert time.monotonic() < deadline, "the scheduler never ran"
            time.sleep(0.05)
        with pytest.raises(HeraldError, match="already dispatching"), state_lock(site):
            pass
    with state_lock(site):  # released when the server stops
        pass
