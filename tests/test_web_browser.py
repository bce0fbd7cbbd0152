"""The web pages driven in a real browser (Debian's headless Chromium, through Playwright), with mail caught by a
real local SMTP server: subscribe and confirm, unsubscribe from a received newsletter, one-click, staff requeue.

Screenshots at phone and desktop widths land in var/screenshots/web-*.png for a person to look at."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from werkzeug.security import generate_password_hash

from bot import subscribers
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .browser import SCREENSHOTS, browser
from .conftest import SAMPLE_QUEUE
from .smtp_server import SmtpServer
from .web_server import running, settle

pytestmark = pytest.mark.browser
PUBLIC = "https://news.example.org"
PASSWORD = "correct horse battery staple"
ZURICH = ZoneInfo("Europe/Zurich")
WIDTHS = {"phone": 375, "desktop": 1280}


@pytest.fixture
def mailbox():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def site(make_settings, mailbox: SmtpServer) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_EMAIL_BACKEND="smtp", SMTP_HOST=mailbox.host,
                         SMTP_PORT=str(mailbox.port), SMTP_SECURITY="none",
                         BOT_SECRET="web-test-secret-Hk3Rw9ZpQ2vN7xLc",
                         BOT_PUBLIC_URL=PUBLIC, BOT_X_BACKEND="off", BOT_MASTODON_BACKEND="off",
                         BOT_BLUESKY_BACKEND="off", BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD))


def link_in(mailbox: SmtpServer, recipient: str, path: str) -> str:
    """The path of the first link to `path` in the last message `recipient` received."""
    message = mailbox.received_by(recipient)[-1].parsed()
    text = message.get_body(("plain",)).get_content()
    return re.search(re.escape(PUBLIC) + r"(" + re.escape(path) + r"\S+)", text).group(1)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
        page.screenshot(path=str(SCREENSHOTS / f"web-{name}-{label}.png"), full_page=True)


def status_of(settings: Settings, email: str) -> str | None:
    with Ledger.open(settings.state_dir) as ledger:
        found = subscribers.get(ledger, email=email)
    return found.status if found else None


def test_subscribe_and_confirm_from_the_email(site: Settings, mailbox: SmtpServer) -> None:
    with running(site) as base, browser() as chromium:
        page = chromium.new_page()
        page.goto(f"{base}/subscribe")
        shoot(page, "subscribe")
        page.get_by_label("Email address").fill("lucia@example.net")
        page.get_by_label("Name").fill("Lucía Fernández")
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()
        shoot(page, "check-inbox")
        settle()  # the request is recorded and its confirmation mailed in the background
        assert status_of(site, "lucia@example.net") == "pending"
        page.goto(base + link_in(mailbox, "lucia@example.net", "/confirm/"))
        page.get_by_role("heading", name="Confirm your subscription").wait_for()
        assert status_of(site, "lucia@example.net") == "pending"  # opening the link (as scanners do) is not enough
        shoot(page, "confirm")
        page.get_by_role("button", name="Confirm").click()
        page.get_by_role("heading", name="You are subscribed").wait_for()
        shoot(page, "confirmed")
    assert status_of(site, "lucia@example.net") == "active"


def test_unsubscribe_from_the_link_in_a_received_newsletter(site: Settings, mailbox: SmtpServer) -> None:
    with Ledger.open(site.state_dir) as ledger:
        subscribers.add(ledger, "jonas@example.ch", "Jonas Keller", datetime(2019, 1, 1, tzinfo=ZURICH))
    run_once(site, datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))
    newsletter = mailbox.received_by("jonas@example.ch")[-1].parsed()
    header = newsletter["List-Unsubscribe"].strip("<>")
    path = link_in(mailbox, "jonas@example.ch", "/unsubscribe/")
    assert header == PUBLIC + path  # the footer link and the header are the same
    with running(site) as base, browser() as chromium:
        page = chromium.new_page()
        page.goto(base + path)
        shoot(page, "unsubscribe")
        button = page.get_by_role("button", name="Unsubscribe")
        button.focus()  # reachable and usable from the keyboard
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="You are unsubscribed").wait_for()
        shoot(page, "unsubscribed")
        assert status_of(site, "jonas@example.ch") == "unsubscribed"
        page.goto(f"{base}/archive/1")
        assert "22 States urge China" in page.content()
        shoot(page, "archive-edition")


def test_the_one_click_post_mail_clients_send(site: Settings) -> None:
    with Ledger.open(site.state_dir) as ledger:
        subscribers.add(ledger, "amina@example.org", "", datetime(2019, 1, 1, tzinfo=ZURICH))
        sid = subscribers.get(ledger, email="amina@example.org").id
    token = subscribers.make_token(subscribers.secret_key(site), sid)
    with running(site) as base, browser() as chromium:
        context = chromium.new_context()
        answer = context.request.post(f"{base}/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                                      max_redirects=0)
        assert answer.status == 200 and "set-cookie" not in answer.headers
    assert status_of(site, "amina@example.org") == "unsubscribed"


def test_staff_sign_in_and_requeue_a_missed_post(make_settings) -> None:
    site = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD),
                         BOT_MASTODON_BACKEND="off")
    run_once(site, datetime(2019, 7, 9, 9, 0, tzinfo=ZURICH))  # the 5 July post is found days late: missed
    with running(site) as base, browser() as chromium:
        page = chromium.new_page()
        page.goto(f"{base}/admin")
        shoot(page, "admin-sign-in")
        page.get_by_label("Email").fill("admin")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Agenda").wait_for()
        shoot(page, "admin-agenda")
        page.get_by_role("button", name="Requeue 2019-07-05-iesogi-vote-next-week on x").click()
        page.get_by_role("status").wait_for()
        assert "is back in the schedule on x" in page.get_by_role("status").inner_text()
    with Ledger.open(site.state_dir) as ledger:
        assert ledger.post("2019-07-05-iesogi-vote-next-week", "x").status == "pending"
        assert ledger.post("2019-07-05-iesogi-vote-next-week", "mastodon") is None  # off in this test
