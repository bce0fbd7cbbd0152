"""The staff workspace in a real browser (Debian's headless Chromium through Playwright): an editor writes an item,
an approver approves it, `bot run --once` sends it; axe-core finds no violation on any staff page, and each page
is photographed at phone and desktop widths into var/screenshots/staff-*.png for a person to look at."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from click.testing import CliRunner

from bot import queue, staff
from bot.cli import cli
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .browser import SCREENSHOTS, browser
from .conftest import BASE, SAMPLE_QUEUE
from .pictures import phone_photo
from .web_server import running

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
WIDTHS = {"phone": 375, "desktop": 1280}
ITEM_ID = "2019-07-10-a-call-to-renew-the-mandate"
LONG_ID = "2019-07-05-" + "x" * 89  # the longest id allowed (100 characters), with nowhere to break


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    (tmp_path / "queue").mkdir()
    shutil.copy(SAMPLE_QUEUE / "campaigns.yaml", tmp_path / "queue")
    shutil.copy(SAMPLE_QUEUE / "2019-07-05-iesogi-vote-next-week.md", tmp_path / "queue")
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_APPROVAL="required")
    now = datetime(2019, 7, 1, tzinfo=UTC)
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", now)
        staff.add(ledger, "ana@example.org", "approver", PASSWORD, "test", now)
        staff.add(ledger, "root@example.org", "admin", PASSWORD, "test", now)
    return settings


def sign_in(chromium: Any, base: str, email: str) -> Any:
    page = chromium.new_context().new_page()
    page.goto(base + "/admin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Agenda").wait_for()
    return page


def x_count(page: Any) -> str:
    return str(page.locator("article[aria-label='x post'] .count").inner_text())


def test_an_editor_writes_an_approver_approves_and_the_run_sends(site: Settings) -> None:
    with running(site) as base, browser() as chromium:
        editor = sign_in(chromium, base, "ed@example.org")
        editor.get_by_role("link", name="New item").first.click()
        editor.get_by_label("Title").fill("A call to renew the mandate")
        editor.get_by_label("Date").fill("2019-07-10")
        editor.get_by_label("Publish at").fill("2019-07-10 09:00")
        editor.get_by_label("Summary").fill("Over 1,300 groups ask the Council to renew the mandate.")
        editor.get_by_label("Link", exact=True).fill("https://news.example.org/2019/07/call")
        editor.get_by_label("Description of the image").fill("Delegates in the Council chamber in Geneva")
        photo = site.state_dir.parent / "council.jpg"
        photo.write_bytes(phone_photo(1200, 800))  # with GPS, camera serial and an orientation tag
        editor.get_by_label("Upload a picture").set_input_files(str(photo))
        editor.get_by_role("button", name="Upload", exact=True).click()
        editor.wait_for_function("() => document.getElementById('image').value.startsWith('media/')")
        assert "saved as media/" in editor.locator("#upload-status").inner_text()
        editor.locator("#preview figure.picture img").wait_for()
        editor.get_by_label("Campaign").select_option("RenewIESOGI")
        editor.locator("article[aria-label='x post'] .count").wait_for()
        before = x_count(editor)
        editor.get_by_label("Summary").fill("Over 1,300 groups ask the Council to renew the mandate. "
                                            "Add your voice: #RenewIESOGI")
        editor.wait_for_function("before => document.querySelector(\"article[aria-label='x post'] .count\")"
                                 ".textContent !== before", arg=before)  # the counter follows the typing
        after = x_count(editor)
        assert after.endswith("/ 280") and int(after.split()[0]) > int(before.split()[0])
        assert editor.get_by_label("id (the file name)", exact=False).get_attribute("placeholder") == ITEM_ID
        editor.get_by_role("button", name="Save").click()
        editor.locator("p.notice").wait_for()
        assert "a draft until an approver approves it" in editor.locator("p.notice").inner_text()

        path = site.queue_dir / f"{ITEM_ID}.md"
        loaded = queue.load(site)
        assert loaded.problems == []
        item = next(i for i in loaded.items if i.id == ITEM_ID)
        assert item.draft and item.summary.endswith("#RenewIESOGI") and item.campaign is not None
        assert 'summary: "Over 1,300 groups' in path.read_text()

        approver = sign_in(chromium, base, "ana@example.org")
        approver.goto(f"{base}/admin/items/{ITEM_ID}")
        approver.get_by_role("button", name="Approve this version").click()
        approver.locator("p.notice").wait_for()
        assert "Approved" in approver.locator("p.notice").inner_text()

        sent = _run(site, "2019-07-10 09:00")
        assert sent.exit_code == 0, sent.output
        posted = json.loads((site.outbox_dir / "x" / f"{ITEM_ID}.json").read_text())
        assert "#RenewIESOGI" in posted["payload"]["text"]
        stored = item.image or ""
        assert posted["attachments"] == [{"image": f"https://news.example.org/{stored}",
                                          "alt": "Delegates in the Council chamber in Geneva"}]
        assert b"GPS" not in (site.queue_dir / stored).read_bytes()

        editor.goto(f"{base}/admin/items/{ITEM_ID}")
        assert editor.get_by_label("Title").get_attribute("readonly") is not None  # posted: fixed
        editor.get_by_label("Body").fill("More in our statement to the Council.")
        editor.get_by_role("button", name="Save").click()
        editor.locator("p.notice").wait_for()
        approver.goto(f"{base}/admin/items/{ITEM_ID}")
        assert approver.get_by_text("Draft", exact=True).is_visible()  # the edit withdrew the approval
        assert approver.get_by_text("Approved by").count() == 0
    letter = _run(site, "2019-07-12 10:00")  # the newsletter slot: the withdrawn item stays out
    assert letter.exit_code == 0 and not list((site.outbox_dir / "email").glob("*.eml"))


def _run(site: Settings, now: str) -> Any:
    env = dict(BASE, BOT_STATE_DIR=str(site.state_dir), BOT_QUEUE_DIR=str(site.queue_dir), BOT_APPROVAL="required")
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", "run", "--once", "--now", now], env=env)


def test_every_staff_page_passes_axe_and_fits_a_phone_and_a_desktop(site: Settings) -> None:
    run_once(site, datetime(2019, 7, 9, 9, 0, tzinfo=UTC))  # a missed post for the agenda to show
    shutil.copy(SAMPLE_QUEUE / "2019-07-05-iesogi-vote-next-week.md", site.queue_dir / f"{LONG_ID}.md")
    (site.queue_dir / f"{LONG_ID[:-1]}b.md").write_text("not front matter\n")  # listed apart, as invalid
    axe = Axe()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running(site) as base, browser() as chromium:
        login = chromium.new_page()
        login.goto(base + "/admin/login")
        pages = [("sign-in", login)]
        admin = sign_in(chromium, base, "root@example.org")
        for name, path in (("agenda", "/admin"), ("items", "/admin/items"), ("new-item", "/admin/items/new"),
                           ("item", "/admin/items/2019-07-05-iesogi-vote-next-week"), ("activity", "/admin/activity"),
                           ("item-long-id", f"/admin/items/{LONG_ID}"),
                           ("calendar-week", "/admin/calendar?week=2019-W28"),
                           ("calendar-month", "/admin/calendar?month=2019-07"),
                           ("account", "/admin/account"), ("staff", "/admin/staff")):
            page = chromium.new_context(storage_state=admin.context.storage_state()).new_page()
            page.goto(base + path)
            pages.append((name, page))
        bad = chromium.new_context(storage_state=admin.context.storage_state()).new_page()
        bad.goto(base + "/admin/items/new")
        bad.get_by_label("Title").fill("No date and a bad link")
        bad.get_by_label("Date").fill("")
        bad.get_by_label("Link", exact=True).fill("news.example.org")
        bad.get_by_role("button", name="Preview").click()
        bad.get_by_role("alert").wait_for()
        pages.append(("item-problems", bad))
        for name, page in pages:
            found = axe.run(page, options={"resultTypes": ["violations"], "iframes": False})
            assert found.violations_count == 0, f"{name}: {found.generate_report()}"
            for label, width in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": 900})
                assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
                page.screenshot(path=str(SCREENSHOTS / f"staff-{name}-{label}.png"), full_page=True)
