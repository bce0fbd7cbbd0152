"""Staff sign-in over real HTTP (Waitress on 127.0.0.1): roles, CSRF, server-side sessions, rate limits, pages."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime

import pytest
import requests
from werkzeug.security import generate_password_hash

from bot import staff
from bot.ledger import Ledger
from bot.ledger import staff as store
from bot.ledger.review import activity
from bot.settings import Settings

from .browser import SCREENSHOTS, browser
from .conftest import SAMPLE_QUEUE
from .web_server import running

PASSWORD = "correct horse battery staple"
WRONG = "That email and password do not match a staff account."
PEOPLE = {"ed@example.org": "editor", "ap@example.org": "approver", "ad@example.org": "admin"}


@pytest.fixture
def site(make_settings) -> Settings:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="")  # plain http: cookies go back
    with Ledger.open(settings.state_dir) as ledger:
        for email, role in PEOPLE.items():
            staff.add(ledger, email, role, PASSWORD, "test", datetime.now(UTC))
    return settings


def token(browser_: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', browser_.get(url).text).group(1)


def attempt(base: str, email: str, password: str, browser_: requests.Session | None = None,
            client: str | None = None) -> requests.Response:
    """One sign-in; `client` is the address a trusted proxy says it comes from (with BOT_PROXIES=1)."""
    browser_ = browser_ or requests.Session()
    if client:
        browser_.headers["X-Forwarded-For"] = client
    return browser_.post(base + "/admin/login", allow_redirects=False, data={
        "email": email, "password": password, "csrf_token": token(browser_, base + "/admin")})


def signed_in(base: str, email: str, password: str = PASSWORD) -> requests.Session:
    browser_ = requests.Session()
    answer = attempt(base, email, password, browser_)
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin", answer.text
    return browser_


def post(browser_: requests.Session, base: str, path: str, data: dict[str, str], page: str = "/admin/account"):
    return browser_.post(base + path, data={**data, "csrf_token": token(browser_, base + page)},
                         allow_redirects=False)


def actions(settings: Settings) -> list[tuple[str, str, str]]:
    with Ledger.open(settings.state_dir) as ledger:
        return [(a.actor, a.action, a.detail) for a in reversed(activity(ledger)) if a.actor != "test"]


def test_roles_are_checked_on_the_server(site: Settings) -> None:
    with running(site) as base:
        nobody = requests.Session()
        for path in ("/admin", "/admin/account", "/admin/staff"):
            page = nobody.get(base + path)
            assert page.status_code == 401 and "Staff sign-in" in page.text
        editor = signed_in(base, "ed@example.org")
        assert editor.get(base + "/admin").status_code == 200
        assert editor.get(base + "/admin/account").status_code == 200
        requeue = post(editor, base, "/admin/requeue", {"item": "2019-07-05-iesogi-vote-next-week", "platform": "x"})
        assert requeue.status_code == 403 and "This needs the role approver" in requeue.text
        assert editor.get(base + "/admin/staff").status_code == 403
        for path, data in (("/admin/staff", {"email": "new@example.org", "role": "admin", "password": PASSWORD}),
                           ("/admin/staff/role", {"email": "ed@example.org", "role": "admin"}),
                           ("/admin/staff/remove", {"email": "ad@example.org"})):
            assert post(editor, base, path, data).status_code == 403
        approver = signed_in(base, "ap@example.org")
        assert approver.get(base + "/admin/staff").status_code == 403
        assert post(approver, base, "/admin/requeue", {"item": "x", "platform": "x"}).status_code == 303
        admin = signed_in(base, "ad@example.org")
        page = admin.get(base + "/admin/staff")
        assert page.status_code == 200 and all(email in page.text for email in PEOPLE)
    with Ledger.open(site.state_dir) as ledger:
        assert store.get(ledger, "ed@example.org").role == "editor" and store.count(ledger) == 3


def test_every_staff_form_needs_its_csrf_token(site: Settings) -> None:
    with running(site) as base:
        assert requests.post(base + "/admin/login", data={"email": "ad@example.org",
                                                          "password": PASSWORD}).status_code == 400
        admin = signed_in(base, "ad@example.org")
        for path, data in (("/admin/logout", {}),
                           ("/admin/account/password", {"current": PASSWORD, "new": "x" * 20, "repeat": "x" * 20}),
                           ("/admin/staff", {"email": "new@example.org", "role": "admin", "password": PASSWORD}),
                           ("/admin/staff/role", {"email": "ed@example.org", "role": "admin"}),
                           ("/admin/staff/remove", {"email": "ed@example.org"})):
            assert admin.post(base + path, data=data).status_code == 400, path
        assert admin.get(base + "/admin").status_code == 200  # still signed in: nothing happened
    with Ledger.open(site.state_dir) as ledger:
        assert [(p.email, p.role) for p in staff.listing(ledger)] == sorted(PEOPLE.items())
        assert staff.authenticate(ledger, site, "ad@example.org", PASSWORD) == "ad@example.org"


def test_signing_out_ends_every_session_of_that_person(site: Settings) -> None:
    with running(site) as base:
        laptop, phone = signed_in(base, "ed@example.org"), signed_in(base, "ed@example.org")
        colleague = signed_in(base, "ap@example.org")
        assert post(laptop, base, "/admin/logout", {}).headers["Location"] == "/admin"
        for browser_ in (laptop, phone):
            assert browser_.get(base + "/admin").status_code == 401
        assert colleague.get(base + "/admin").status_code == 200
    assert actions(site) == [("ed@example.org", "sign-in", ""), ("ed@example.org", "sign-in", ""),
                             ("ap@example.org", "sign-in", ""), ("ed@example.org", "sign-out", "")]


def test_a_password_change_ends_the_other_sessions(site: Settings) -> None:
    new = "a brand new long password"
    with running(site) as base:
        here, there = signed_in(base, "ap@example.org"), signed_in(base, "ap@example.org")
        change = "/admin/account/password"
        wrong = post(here, base, change, {"current": "not my password", "new": new, "repeat": new})
        assert wrong.status_code == 403 and "current password is not right" in wrong.text
        differ = post(here, base, change, {"current": PASSWORD, "new": new, "repeat": new + "!"})
        assert differ.status_code == 400 and "differ" in differ.text
        short = post(here, base, change, {"current": PASSWORD, "new": "short", "repeat": "short"})
        assert short.status_code == 400 and "at least 12 characters" in short.text
        assert there.get(base + "/admin").status_code == 200  # no change yet, nothing ended
        done = post(here, base, change, {"current": PASSWORD, "new": new, "repeat": new})
        assert done.status_code == 303 and done.headers["Location"] == "/admin/account"
        assert "Your password is changed" in here.get(base + "/admin/account").text  # this browser carries on
        assert there.get(base + "/admin").status_code == 401
        assert attempt(base, "ap@example.org", PASSWORD).status_code == 401
        signed_in(base, "ap@example.org", new)
        for page in (wrong, differ, short, done):
            assert new not in page.text and PASSWORD not in page.text
    assert ("ap@example.org", "password", "ap@example.org") in actions(site)


def test_removing_someone_ends_their_sessions_at_once(site: Settings) -> None:
    with running(site) as base:
        editor, admin = signed_in(base, "ed@example.org"), signed_in(base, "ad@example.org")
        removed = post(admin, base, "/admin/staff/remove", {"email": "ed@example.org"}, "/admin/staff")
        assert removed.status_code == 303 and removed.headers["Location"] == "/admin/staff"
        assert "ed@example.org is removed" in admin.get(base + "/admin/staff").text
        assert editor.get(base + "/admin").status_code == 401
        assert attempt(base, "ed@example.org", PASSWORD).status_code == 401
        myself = post(admin, base, "/admin/staff/remove", {"email": "AD@example.org"}, "/admin/staff")
        assert myself.status_code == 400 and "your own account" in myself.text
        demoted = post(admin, base, "/admin/staff/role", {"email": "ad@example.org", "role": "editor"}, "/admin/staff")
        assert demoted.status_code == 400 and "last admin" in demoted.text
        assert admin.get(base + "/admin/staff").status_code == 200
    with Ledger.open(site.state_dir) as ledger:
        assert store.sessions_of(ledger, "ed@example.org") == 0 and store.get(ledger, "ed@example.org") is None
    assert ("ad@example.org", "staff-remove", "ed@example.org") in actions(site)


def test_an_admin_adds_someone_and_a_role_change_holds_from_the_next_request(site: Settings) -> None:
    with running(site) as base:
        admin = signed_in(base, "ad@example.org")
        short = post(admin, base, "/admin/staff", {"email": "new@example.org", "role": "editor",
                                                    "password": "short"}, "/admin/staff")
        assert short.status_code == 400 and "at least 12 characters" in short.text
        added = post(admin, base, "/admin/staff", {"email": "New@Example.org", "role": "editor",
                                                    "password": PASSWORD}, "/admin/staff")
        assert added.status_code == 303
        newcomer = signed_in(base, "new@example.org")
        assert newcomer.get(base + "/admin/staff").status_code == 403
        promoted = post(admin, base, "/admin/staff/role", {"email": "new@example.org", "role": "admin"},
                        "/admin/staff")
        assert promoted.status_code == 303
        assert newcomer.get(base + "/admin/staff").status_code == 200  # the same session, the new role
        stepped_down = post(newcomer, base, "/admin/staff/role", {"email": "new@example.org", "role": "approver"},
                            "/admin/staff")
        assert stepped_down.status_code == 303 and stepped_down.headers["Location"] == "/admin"
        assert newcomer.get(base + "/admin/staff").status_code == 403
        page = admin.get(base + "/admin/staff").text
        assert "$argon2" not in page and PASSWORD not in page
    assert [a for a in actions(site) if a[1].startswith("staff-")] == [
        ("ad@example.org", "staff-add", "New@example.org as editor"),
        ("ad@example.org", "staff-role", "New@example.org: editor -> admin"),
        ("New@example.org", "staff-role", "New@example.org: admin -> approver")]


def test_ten_failed_sign_ins_per_account_then_429(site: Settings) -> None:
    with running(site) as base:
        codes = [attempt(base, "AP@example.org" if n % 2 else "ap@example.org", "guess").status_code
                 for n in range(10)]
        assert codes == [401] * 10
        assert attempt(base, "ap@example.org", PASSWORD).status_code == 429  # even the right password now


def test_ten_failed_sign_ins_per_client_then_429(site: Settings) -> None:
    with running(site) as base:
        for n in range(10):
            assert attempt(base, f"guess{n}@example.org", "guess").status_code == 401
        assert attempt(base, "ed@example.org", PASSWORD).status_code == 429


def test_the_two_limits_apart_behind_a_proxy(make_settings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="", BOT_PROXIES="1")
    with Ledger.open(settings.state_dir) as ledger:
        for email in ("ap@example.org", "ed@example.org"):
            staff.add(ledger, email, "editor", PASSWORD, "test", datetime.now(UTC))
    with running(settings) as base:
        for n in range(10):  # one account from ten places
            assert attempt(base, "ap@example.org", "guess", client=f"198.51.100.{n}").status_code == 401
        assert attempt(base, "ap@example.org", PASSWORD, client="203.0.113.9").status_code == 429
        assert attempt(base, "ed@example.org", PASSWORD, client="203.0.113.9").status_code == 303
        for n in range(10):  # ten accounts from one place
            assert attempt(base, f"guess{n}@example.org", "guess", client="192.0.2.1").status_code == 401
        assert attempt(base, "ed@example.org", PASSWORD, client="192.0.2.1").status_code == 429
        assert attempt(base, "ed@example.org", PASSWORD, client="192.0.2.2").status_code == 303


def test_successful_sign_ins_do_not_count(site: Settings) -> None:
    with running(site) as base:
        for _ in range(9):
            assert attempt(base, "ed@example.org", "guess").status_code == 401
        for _ in range(3):  # the tenth attempt, and more: none of them failed, so none counts
            signed_in(base, "ed@example.org")
        assert attempt(base, "ed@example.org", "guess").status_code == 401  # the tenth failure
        assert attempt(base, "ed@example.org", PASSWORD).status_code == 429


def test_a_wrong_email_and_a_wrong_password_look_and_take_the_same(site: Settings) -> None:
    with running(site) as base:
        timings: dict[str, float] = {}
        for email in ("ed@example.org", "nobody@example.org"):
            answers, spent = [], []
            for _ in range(3):
                started = time.perf_counter()
                answers.append(attempt(base, email, "guess"))
                spent.append(time.perf_counter() - started)
            timings[email] = min(spent)
            assert all(a.status_code == 401 and WRONG in a.text for a in answers)
        # Without the dummy hash an unknown email would answer many times faster than a wrong password.
        assert timings["nobody@example.org"] > 0.5 * timings["ed@example.org"]


def test_bot_admin_password_signs_in_as_admin(make_settings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL="",
                             BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD))
    with running(settings) as base:
        assert attempt(base, "admin", "not the password").status_code == 401
        admin = signed_in(base, "admin")
        assert admin.get(base + "/admin/staff").status_code == 200
        account = admin.get(base + "/admin/account").text
        assert "set in the settings" in account and 'name="current"' not in account
        refused = post(admin, base, "/admin/account/password", {"current": PASSWORD, "new": "x" * 20,
                                                                 "repeat": "x" * 20})
        assert refused.status_code == 400
        added = post(admin, base, "/admin/staff", {"email": "first@example.org", "role": "admin",
                                                    "password": PASSWORD}, "/admin/staff")
        assert added.status_code == 303
        with Ledger.open(settings.state_dir) as ledger:
            assert store.sessions_of(ledger, "admin") == 1
        post(admin, base, "/admin/logout", {})
        with Ledger.open(settings.state_dir) as ledger:
            assert store.sessions_of(ledger, "admin") == 0
    assert actions(settings) == [("admin", "sign-in", ""), ("admin", "staff-add", "first@example.org as admin"),
                                 ("admin", "sign-out", "")]


def test_the_session_id_is_kept_only_as_a_hash(site: Settings) -> None:
    from bot.web import create_app

    app = create_app(site)
    with running(site) as base:
        editor = signed_in(base, "ed@example.org")
        pages = "".join(editor.get(base + path).text for path in ("/admin", "/admin/account"))
        cookie = editor.cookies["herald_session"]
    sid = app.session_interface.get_signing_serializer(app).loads(cookie)["sid"]  # what the browser holds
    with Ledger.open(site.state_dir) as ledger:
        assert store.find_session(ledger, hashlib.sha256(sid.encode()).hexdigest()).actor == "ed@example.org"
    assert sid not in pages and sid.encode() not in (site.state_dir / "herald.sqlite3").read_bytes()


@pytest.mark.browser
def test_staff_pages_in_a_browser_at_phone_and_desktop_widths(site: Settings) -> None:
    with running(site) as base, browser() as chromium:
        page = chromium.new_page()
        page.goto(base + "/admin/login")
        page.get_by_label("Email").fill("ad@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Agenda").wait_for()
        page.get_by_role("link", name="Staff").click()
        page.get_by_label("Email").fill("lucia.fernandez@example.net")
        page.get_by_label("Role", exact=True).select_option("approver")
        page.get_by_label("Initial password").fill(PASSWORD)
        page.get_by_role("button", name="Add", exact=True).click()
        assert "lucia.fernandez@example.net can now sign in as approver" in page.get_by_role("status").inner_text()
        page.get_by_label("Role of ed@example.org", exact=True).select_option("approver")
        page.get_by_role("button", name="Change the role of ed@example.org").click()
        assert "ed@example.org is now approver" in page.get_by_role("status").inner_text()
        shoot(page, "staff")
        page.get_by_role("button", name="Remove lucia.fernandez@example.net").click()
        assert "is removed" in page.get_by_role("status").inner_text()
        page.goto(base + "/admin/account")
        shoot(page, "account")
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password", exact=True).fill("a brand new long password")
        page.get_by_label("Repeat the new password").fill("a brand new long password")
        page.get_by_role("button", name="Change password").click()
        assert "Your password is changed" in page.get_by_role("status").inner_text()
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Staff sign-in").wait_for()
    with Ledger.open(site.state_dir) as ledger:
        assert store.get(ledger, "ed@example.org").role == "approver"
        assert store.get(ledger, "lucia.fernandez@example.net") is None


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in {"phone": 375, "desktop": 1280}.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
        page.screenshot(path=str(SCREENSHOTS / f"web-admin-{name}-{label}.png"), full_page=True)
