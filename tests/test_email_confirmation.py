"""Double opt-in over real HTTP: the confirmation email as subscribers read it, and what its link does at each age."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from itsdangerous.timed import TimestampSigner

from bot import subscribers
from bot.ledger import Ledger
from bot.settings import Settings

from .conftest import SAMPLE_QUEUE
from .test_web import add, ask, confirm_path, confirmation_mail, form_token, press_confirm, status_of
from .web_server import running, settle

ZURICH = ZoneInfo("Europe/Zurich")


@pytest.fixture
def site(make_settings) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="")


def test_someone_who_left_must_confirm_again(site: Settings) -> None:
    _sid, token = add(site, "left@example.org")
    with running(site) as base:
        requests.post(f"{base}/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
        browser = requests.Session()
        browser.post(base + "/subscribe", data={"email": "left@example.org",
                                                "csrf_token": form_token(browser, base + "/subscribe")})
        settle()
        assert status_of(site, "left@example.org") == "unsubscribed"  # not until they confirm
        press_confirm(base, confirm_path(site))
        assert status_of(site, "left@example.org") == "active"


def test_a_link_scanner_opening_the_confirmation_link_confirms_nothing(site: Settings) -> None:
    with running(site) as base:
        assert ask(base, "scanned@example.org").status_code == 200
        link = confirm_path(site)
        assert requests.head(base + link).status_code == 200  # what mail security scanners send
        page = requests.get(base + link)
        assert status_of(site, "scanned@example.org") == "pending"  # looking at the link changes nothing
        assert page.status_code == 200 and '<form method="post"' in page.text and ">Confirm<" in page.text
        assert requests.post(base + link).status_code == 400  # a bare POST, without the page's token: nothing
        assert status_of(site, "scanned@example.org") == "pending"
        confirmed = press_confirm(base, link)  # the person presses the button
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert status_of(site, "scanned@example.org") == "active"


def test_a_confirmation_link_works_once_and_never_undoes_a_later_unsubscribe(site: Settings) -> None:
    with running(site) as base:
        ask(base, "twice@example.org")
        ask(base, "twice@example.org")  # asked twice: two links in the inbox
        first, second = confirm_path(site, 0), confirm_path(site, 1)
        assert "You are subscribed" in press_confirm(base, first).text
        with Ledger.open(site.state_dir) as ledger:
            sid = subscribers.get(ledger, email="twice@example.org").id
        token = subscribers.make_token(subscribers.secret_key(site), sid)
        requests.post(f"{base}/unsubscribe/{token}", data="List-Unsubscribe=One-Click")
        assert status_of(site, "twice@example.org") == "unsubscribed"
        for link in (first, second, first):  # the used one replayed, and the one never used: both spent
            page = press_confirm(base, link)
            assert status_of(site, "twice@example.org") == "unsubscribed"  # still gone
            assert page.status_code == 410 and "no longer works" in page.text and "<form" not in page.text
            again = press_confirm_anyway(base, link)  # the POST itself, with a good CSRF token
            assert status_of(site, "twice@example.org") == "unsubscribed"
            assert again.status_code == 410 and "no longer works" in again.text
        ask(base, "twice@example.org")  # only their own new request, confirmed, brings them back
        settle()
        assert status_of(site, "twice@example.org") == "unsubscribed"
        assert "You are subscribed" in press_confirm(base, confirm_path(site, 2)).text
        assert status_of(site, "twice@example.org") == "active"


def test_the_confirmation_email_reads_like_the_newsletter(site: Settings) -> None:
    """Its text wrapped at 72 columns with the link whole on its own line, and dated in BOT_TIMEZONE."""
    with running(site) as base:
        ask(base, "reader@example.org")
        mail = confirmation_mail(site)
    link = f"{site.effective_public_url}{confirm_path(site)}"
    assert len(link) > 72  # longer than a line: it stands alone, whole
    assert mail.get_content().replace("\r\n", "\n") == (
        "Someone, probably you, asked to receive Geneva Rights Desk news at this\n"
        "address.\n"
        "\n"
        "To confirm, open this link within 7 days and press Confirm:\n"
        "\n"
        f"{link}\n"
        "\n"
        "If you did not ask for it, ignore this message: you will not be\n"
        "subscribed.\n"
        "\n"
        "-- Geneva Rights Desk\n"
        "Rue de Varembé 1, 1202 Geneva, Switzerland\n")
    sent = parsedate_to_datetime(mail["Date"])
    assert sent.utcoffset() == sent.astimezone(ZURICH).utcoffset() != timedelta(0)  # +0100 or +0200, as in Zurich


def test_an_expired_confirmation_link_says_so_and_a_forged_one_is_the_plain_404(make_settings,
                                                                                 monkeypatch) -> None:
    """A link whose signature is good but whose BOT_CONFIRM_MAX_AGE has passed is Herald's own: 410, saying how
    long links last and where to ask again. Anything else is the plain 404 of any unknown page."""
    site = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="", BOT_CONFIRM_MAX_AGE="3d")
    with running(site) as base:
        with monkeypatch.context() as past:  # the link is signed as if mailed four days ago
            past.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 4 * 86400)
            ask(base, "late@example.org")
            old = confirm_path(site)
        ask(base, "late@example.org")
        fresh = confirm_path(site, 1)
        for method in (requests.get, requests.head):
            assert method(base + old).status_code == 410
        page = press_confirm(base, old)
        assert page.status_code == 410 and "<form" not in page.text
        assert "This link has expired" in page.text and "Confirmation links work for 3 days" in page.text
        assert '<a href="/subscribe">ask again</a>' in page.text
        posted = press_confirm_anyway(base, old)  # the button pressed on a page opened in time
        assert posted.status_code == 410 and "This link has expired" in posted.text
        assert status_of(site, "late@example.org") == "pending"
        nowhere = requests.get(base + "/no-such-page")
        forged = old[:-2] + ("AA" if not old.endswith("AA") else "BB")
        for path in (forged, "/confirm/not-a-token", "/confirm/" + old.rsplit(".", 1)[0]):
            answer = requests.get(base + path)
            assert answer.status_code == 404 and answer.text == nowhere.text, path
        assert "You are subscribed" in press_confirm(base, fresh).text  # a link asked for since still works
        assert status_of(site, "late@example.org") == "active"


def press_confirm_anyway(base: str, link: str) -> requests.Response:
    """POST a confirmation with a good CSRF token (from the subscribe form), as a replay would."""
    browser = requests.Session()
    return browser.post(base + link, data={"csrf_token": form_token(browser, base + "/subscribe")})
