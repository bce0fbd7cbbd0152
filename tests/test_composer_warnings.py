"""Warnings in the staff composer: shown with a link to their field, and never stopping a save (a long summary)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from flask.testing import FlaskClient

from bot import queue, staff
from bot.ledger import Ledger
from bot.settings import Settings
from bot.web import create_app

from .conftest import FIXTURES

PASSWORD = "correct horse battery staple"


def _signed_in(settings: Settings) -> FlaskClient:
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ana@example.org", "approver", PASSWORD, "test", datetime(2019, 7, 1, tzinfo=UTC))
    browser = create_app(settings).test_client()
    answer = browser.post("/admin/login", data={"email": "ana@example.org", "password": PASSWORD,
                                                "csrf_token": _token(browser, "/admin/login")})
    assert answer.status_code == 303
    return browser


def _token(browser: FlaskClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(page).get_data(as_text=True))
    assert found
    return found.group(1)


def test_a_long_summary_is_saved_and_its_warning_shown_beside_the_form(make_settings: Callable[..., Settings],
                                                                      tmp_path: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="")
    settings.queue_dir.mkdir()
    shutil.copy(FIXTURES / "campaigns.yaml", settings.queue_dir)
    browser = _signed_in(settings)
    front = (FIXTURES / "warning" / "long_summary.md").read_text(encoding="utf-8").split("---\n")[1]
    summary = yaml.safe_load(front)["summary"]  # the fixture of queue validation's long-summary case
    assert len(summary) == 844

    saved = browser.post("/admin/items", data={
        "csrf_token": _token(browser, "/admin/items/new"), "id": "renewed", "title": "A vote", "date": "2019-07-12",
        "summary": summary, "channels": ["email", "x"], "action": "save"})

    assert saved.status_code == 303 and saved.headers["Location"] == "/admin/items/renewed"
    assert [i.id for i in queue.load(settings).items] == ["renewed"]
    page = browser.get("/admin/items/renewed").get_data(as_text=True)
    warnings = re.search(r'<div class="card" role="status" id="warnings">(.*?)</div>', page, re.S)
    assert warnings, page
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", warnings.group(1))).strip() == (
        "Worth a look (this does not stop a save) Summary: is 844 characters long: the newsletter&#39;s blurb will be "
        "long (the posts are shortened anyway); one to three sentences, at most 600, read best")
    assert '<a href="#summary">Summary</a>' in warnings.group(1)
