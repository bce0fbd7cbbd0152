"""The composer and the approvers' actions over real HTTP (Waitress on 127.0.0.1): what a save writes, what a bad or
stale save refuses to write, what stays fixed once it went out, and which role may do what."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from bot import queue, staff
from bot.ledger import Ledger
from bot.ledger import review as book
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import SAMPLE_QUEUE
from .web_server import form_token, running, staff_session

PASSWORD = "correct horse battery staple"
NOW = datetime(2019, 7, 1, tzinfo=UTC)
RENEWED = "2019-07-12-iesogi-mandate-renewed"
GOOD = {"title": "Forty groups ask the Council to act", "date": "2026-12-02", "publish_at": "2026-12-02 09:30",
        "summary": "Forty groups urge the Council to act. Join #RenewIESOGI today.", "link":
        "https://news.example.org/2026/12/forty-groups", "hashtags": "#HRC61, LGBTI", "campaign": "RenewIESOGI",
        "channels": ["email", "x", "mastodon", "bluesky"], "social_x": "", "social_mastodon": "",
        "social_bluesky": "", "body": "", "image": "", "image_alt": "", "image_credit": "", "lang": ""}


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="")
    with Ledger.open(settings.state_dir) as ledger:
        for email, role in (("ed@example.org", "editor"), ("ana@example.org", "approver")):
            staff.add(ledger, email, role, PASSWORD, "test", NOW)
    return settings


@pytest.fixture
def base(site: Settings) -> Iterator[str]:
    with running(site) as url:
        yield url


token = form_token


def sign_in(base: str, email: str) -> requests.Session:
    return staff_session(base, email, PASSWORD)


def form(session: requests.Session, url: str, **fields: Any) -> dict[str, Any]:
    page = session.get(url).text
    values: dict[str, Any] = dict(GOOD, csrf_token=token(page), action="save")
    version = re.search(r'name="version" value="([^"]*)"', page)
    values["version"] = version.group(1) if version else ""
    values.update(fields)
    return values


def errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', page))


def test_an_editor_writes_an_item_that_validates_and_stays_a_draft(site: Settings, base: str) -> None:
    editor = sign_in(base, "ed@example.org")
    answer = editor.post(base + "/admin/items", data=form(editor, base + "/admin/items/new"), allow_redirects=False)
    assert answer.status_code == 303
    item_id = "2026-12-02-forty-groups-ask-the-council-to-act"
    assert answer.headers["Location"] == f"/admin/items/{item_id}"
    path = site.queue_dir / f"{item_id}.md"
    assert path.read_text() == (
        "---\n"
        "title: Forty groups ask the Council to act\n"
        "date: 2026-12-02\n"
        'summary: "Forty groups urge the Council to act. Join #RenewIESOGI today."\n'
        "publish_at: 2026-12-02 09:30\n"
        "link: https://news.example.org/2026/12/forty-groups\n"
        "hashtags: [HRC61, LGBTI]\n"
        "campaign: RenewIESOGI\n"
        "draft: true\n"
        "---\n")
    loaded = queue.load(site)
    assert loaded.problems == []
    item = next(i for i in loaded.items if i.id == item_id)
    assert item.draft and item.summary == GOOD["summary"]
    page = editor.get(base + answer.headers["Location"]).text
    assert "Saved as " + item_id + ".md: a draft until an approver approves it." in page
    with Ledger.open(site.state_dir) as ledger:
        assert [(a.actor, a.action) for a in book.activity(ledger, item_id=item_id)] == [("ed@example.org", "create")]


def test_a_bad_save_answers_422_writes_nothing_and_keeps_what_was_typed(site: Settings, base: str) -> None:
    editor = sign_in(base, "ed@example.org")
    before = sorted(p.name for p in site.queue_dir.iterdir())
    bad = form(editor, base + "/admin/items/new", title="Line one", date="2026-02-30",
               image="https://news.example.org/photo.jpg", hashtags="Human-Rights", summary="Kept as typed #1")
    answer = editor.post(base + "/admin/items", data=bad)
    assert answer.status_code == 422
    found = errors(answer.text)
    assert set(found) == {"date", "image_alt", "hashtags"}, found
    assert "is not a real date" in found["date"] and "describe the picture" in found["image_alt"]
    assert 'value="Line one"' in answer.text and ">Kept as typed #1</textarea>" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert sorted(p.name for p in site.queue_dir.iterdir()) == before


def test_a_save_after_the_file_changed_on_disk_is_refused_and_the_file_kept(site: Settings, base: str) -> None:
    approver = sign_in(base, "ana@example.org")
    url = f"{base}/admin/items/{RENEWED}"
    values = form(approver, url, title="My edit", date="2019-07-12", summary="Mine.", campaign="", hashtags="",
                  publish_at="2019-07-12 15:30", link="")
    path = site.queue_dir / f"{RENEWED}.md"
    path.write_text(path.read_text().replace("In a defining vote", "In a historic vote"))  # someone else, or git
    on_disk = path.read_bytes()
    answer = approver.post(url, data=values)
    assert answer.status_code == 409
    assert "was changed by someone else" in answer.text and 'value="My edit"' in answer.text
    assert path.read_bytes() == on_disk


def test_what_went_out_is_fixed(site: Settings, base: str) -> None:
    run_once(site, datetime(2019, 7, 12, 15, 30, tzinfo=UTC))  # posted on every platform
    approver = sign_in(base, "ana@example.org")
    url = f"{base}/admin/items/{RENEWED}"
    page = approver.get(url).text
    assert 'id="title-fixed">Fixed: already posted on' in page
    path = site.queue_dir / f"{RENEWED}.md"
    on_disk = path.read_bytes()
    values = form(approver, url)
    values = {k: v for k, v in values.items() if k not in GOOD} | _current(page) | {"title": "A new title"}
    answer = approver.post(url, data=values)
    assert answer.status_code == 422 and "cannot change: already posted on" in errors(answer.text)["title"]
    assert path.read_bytes() == on_disk
    same = {"title": _current(page)["title"]}
    for field, value in (("social_mastodon", "A text that never went out."),  # would describe a post never made
                         ("publish_at", "2019-07-13 09:00")):  # would move it out of its campaign's dates
        refused = approver.post(url, data=values | same | {field: value})
        assert refused.status_code == 422 and "cannot change" in errors(refused.text)[field], field
    assert path.read_bytes() == on_disk
    edited = approver.post(url, data=values | same | {"body": "More in our statement."}, allow_redirects=False)
    assert edited.status_code == 303  # a change that alters nothing that went out is fine
    assert path.read_text().endswith("---\nMore in our statement.\n")


def test_a_post_handed_over_without_an_answer_is_fixed_too(site: Settings, base: str) -> None:
    at = datetime(2019, 7, 12, 13, 30, tzinfo=UTC)
    with Ledger.open(site.state_dir) as ledger:
        post = ledger.add_post(RENEWED, "x", at, at)
        ledger.claim([post.id], at)  # handed over; the answer was lost, so it waits to be reconciled
        ledger.finish([(post.id, "pending", None, "timed out", at)], at)
    page = sign_in(base, "ana@example.org").get(f"{base}/admin/items/{RENEWED}").text
    assert 'id="social_x-fixed">Fixed: already handed over on x' in page  # its own text: reconciled by it


def test_an_untouched_form_saves_even_when_its_body_went_out(site: Settings, base: str) -> None:
    path = site.queue_dir / f"{RENEWED}.md"
    path.write_text(path.read_text() + "First line with a hard break  \n    and an indented line.\n")
    run_once(site, datetime(2019, 7, 19, 8, 0, tzinfo=UTC))  # the next slot: in an edition now
    approver = sign_in(base, "ana@example.org")
    url = f"{base}/admin/items/{RENEWED}"
    page = approver.get(url).text
    assert 'id="body-fixed"' in page
    values = {k: v for k, v in form(approver, url).items() if k not in GOOD} | _current(page)
    assert approver.post(url, data=values, allow_redirects=False).status_code == 303
    assert "hard break  \n    and an indented line." in path.read_text()


def test_no_channel_ticked_is_refused_rather_than_every_channel(site: Settings, base: str) -> None:
    approver = sign_in(base, "ana@example.org")
    values = form(approver, base + "/admin/items/new")
    values.pop("channels")
    answer = approver.post(base + "/admin/items", data=values)
    assert answer.status_code == 422 and "is empty" in errors(answer.text)["channels"]
    assert not list(site.queue_dir.glob("2026-*"))


def _current(page: str) -> dict[str, Any]:
    """The form's values as the page shows them."""
    values: dict[str, Any] = dict(re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="[a-z]+" value="([^"]*)"',
                                             page))
    values.update(re.findall(r'<textarea id="([a-z_]+)"[^>]*>([^<]*)</textarea>', page))
    values["channels"] = re.findall(r'name="channels" value="([a-z]+)" checked', page)
    values["campaign"] = re.search(r'<option value="([^"]*)" selected', page).group(1)
    import html

    return {k: html.unescape(v) if isinstance(v, str) else v for k, v in values.items()}


def test_roles_are_enforced_on_the_server(site: Settings, base: str) -> None:
    editor = sign_in(base, "ed@example.org")
    page = editor.get(f"{base}/admin/items/{RENEWED}").text
    for action in ("approve", "hold", "release", "dismiss"):
        answer = editor.post(f"{base}/admin/items/{RENEWED}/{action}", data={"csrf_token": token(page)})
        assert answer.status_code == 403, action
    assert editor.get(base + "/admin/activity").status_code == 403
    assert "Approve this version" not in page
    nobody = requests.Session()
    assert nobody.get(f"{base}/admin/items/{RENEWED}").status_code == 401
    assert nobody.post(f"{base}/admin/items", data=GOOD).status_code in (400, 401)
    with Ledger.open(site.state_dir) as ledger:
        assert book.holds(ledger) == {} and book.approvals(ledger) == {}


def test_every_composer_form_needs_its_csrf_token(site: Settings, base: str) -> None:
    approver = sign_in(base, "ana@example.org")
    for path in ("/admin/items", f"/admin/items/{RENEWED}", "/admin/compose/preview",
                 f"/admin/items/{RENEWED}/approve", f"/admin/items/{RENEWED}/hold", "/admin/requeue"):
        assert approver.post(base + path, data=dict(GOOD, action="save")).status_code == 400, path


def test_an_approver_approves_holds_and_releases_and_each_is_on_record(make_settings: Callable[..., Settings],
                                                                      tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    site = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="", BOT_APPROVAL="required")
    with Ledger.open(site.state_dir) as ledger:
        staff.add(ledger, "ana@example.org", "approver", PASSWORD, "test", NOW)
    with running(site) as base:
        approver = sign_in(base, "ana@example.org")
        url = f"{base}/admin/items/{RENEWED}"
        page = approver.get(url).text
        assert "Waits for approval" in page
        version = re.search(r'name="version" value="([0-9a-f]{64})"', page).group(1)
        done = approver.post(url + "/approve", data={"csrf_token": token(page), "version": version})
        assert done.status_code == 200 and "Approved: it goes out from 2019-07-12 15:30." in done.text
        assert "Approved by ana@example.org" in done.text
        approver.post(url + "/hold", data={"csrf_token": token(page), "platform": "x"})
        held = approver.get(url).text
        assert "Held on: x." in held
        approver.post(url + "/release", data={"csrf_token": token(page), "platform": "x"})
        log = approver.get(base + "/admin/activity").text
        agenda = approver.get(base + "/admin").text
    for action in ("approve", "hold", "release", "sign-in"):
        assert f"<td>{action}</td>" in log, action
    assert "To approve" in agenda and "2019-07-05-iesogi-vote-next-week" in agenda  # the others still wait


def test_the_preview_button_and_the_live_preview_show_each_post_against_its_limit(site: Settings, base: str) -> None:
    editor = sign_in(base, "ed@example.org")
    values = form(editor, base + "/admin/items/new", action="preview")
    page = editor.post(base + "/admin/items", data=values)
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert re.search(r'<span class="count">\d+ / 280</span>', page.text)
    assert re.search(r'<span class="count">\d+ / 500</span>', page.text)
    assert not list(site.queue_dir.glob("2026-*"))  # a preview writes nothing
    live = editor.post(base + "/admin/compose/preview", data=dict(values, social_x="x" * 281))
    assert live.status_code == 200 and "social_x" not in errors(live.text)
    assert "The preview appears once the item is valid" in live.text
    frame = re.search(r'src="(/admin/compose/frame/[0-9a-f]+)"', page.text).group(1)
    letter = editor.get(base + frame)
    assert letter.status_code == 200 and "Forty groups ask the Council to act" in letter.text
    assert "frame-ancestors 'self'" in letter.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "cdn" not in page.headers["Content-Security-Policy"]


def test_a_web_save_in_a_git_queue_is_a_commit_by_the_staff_member(site: Settings, base: str) -> None:
    subprocess.run(["git", "init", "-q", str(site.queue_dir)], check=True)
    editor = sign_in(base, "ed@example.org")
    answer = editor.post(base + "/admin/items", data=form(editor, base + "/admin/items/new"), allow_redirects=False)
    assert answer.status_code == 303
    log = subprocess.run(["git", "-C", str(site.queue_dir), "log", "--format=%ae|%s"], capture_output=True, text=True,
                         check=True).stdout
    assert log.strip() == "ed@example.org|Create 2026-12-02-forty-groups-ask-the-council-to-act"


def test_the_list_says_why_each_invalid_file_is_held_and_links_only_those_with_a_page(site: Settings,
                                                                                      base: str) -> None:
    (site.queue_dir / "bad name!.md").write_text("---\ntitle: A vote\ndate: 2019-07-12\nsummary: It passed.\n---\n")
    (site.queue_dir / "2019-07-13-no-date.md").write_text("---\ntitle: A vote\nsummary: It passed.\n---\n")
    session = sign_in(base, "ed@example.org")

    page = session.get(f"{base}/admin/items").text

    assert "<strong>bad name!.md</strong>: id: the file name" in page  # the problem says how to rename it
    assert 'href="/admin/items/bad name!"' not in page
    assert '<a href="/admin/items/2019-07-13-no-date">2019-07-13-no-date</a>: date: is required' in page
    assert session.get(f"{base}/admin/items/2019-07-13-no-date").status_code == 200


def test_the_composer_offers_only_the_channels_that_are_on(site: Settings, base: str) -> None:
    """LinkedIn and Threads are off until an organisation turns them on: no checkbox, no text field for them."""
    page = sign_in(base, "ed@example.org").get(f"{base}/admin/items/new").text
    assert 'name="social_mastodon"' in page and 'value="mastodon"' in page
    assert 'name="social_linkedin"' not in page and 'value="linkedin"' not in page
    assert 'name="social_threads"' not in page and 'value="threads"' not in page
