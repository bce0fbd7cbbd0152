"""No Python value ever reaches a person: not on a page of `bot serve`, in an outbox message, a post, a preview or
the output of a command (that last one for every test: see tests/conftest.py).

The detector is tests/python_values.py; its own tests come first. Then the README's demo is played (the real
`bot demo`, into a temporary state folder, with the sample queue and demo-subscribers.csv), grown with what the demo
leaves out (invalid items, a missed and a failed post, staff, a subscribe and an unsubscribe), and everything a
person can see of it is read: every page a visitor, a subscriber and an admin reach (the Flask app itself, through
its test client, following every same-site link from /admin), with forms posted wrong on purpose; every outbox file;
every file of `bot preview`.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot import subscribers
from bot.cli import cli
from bot.ledger import Ledger
from bot.settings import Settings, load_settings
from bot.web import create_app
from bot.web.notices import drain_all

from .conftest import FIXTURES, ROOT, SAMPLE_QUEUE
from .pictures import phone_photo
from .python_values import (
    eml_findings,
    eml_texts,
    findings,
    html_findings,
    json_findings,
    report,
    visible_html,
)
from .web_server import form_token

PASSWORD = "correct horse battery staple"
ADMIN = "admin@example.org"
DEMO_ENV = ROOT / "demo.env"
END = "2019-07-29T09:00"  # when the demo's clock stops: a week after its last item
LATE = "2019-07-27-late-statement"  # an item added after the demo, missed on x and bluesky, failed on mastodon
MAX_PAGES = 400  # the crawl's bound; it ends well before (about 120 pages)
MAX_QUERIES = 12  # at most this many query strings per path (the calendar's weeks go on for ever)


# --- the detector ------------------------------------------------------------------------------------------------

SHOWN_PYTHON = [
    "Link: None\r\n",  # an email's text part ends its lines with CRLF
    "retry after: None\r\nnext line",
    "<built-in method items of dict object at 0x7f3a2c1b9e40> updates",  # the archive page, once
    "<bound method Item.summary of Item(id='x')>",
    "<function render at 0x7f00>",
    "<bot.content.Item object at 0x7fe1c2>",
    "<generator object plan.<locals>.gen at 0x10>",
    "<class 'bot.content.Item'>",
    "<Status.SENT: 'sent'>",
    "Approved by None",
    "Approved by None on 2019-07-12 10:00.",
    "publish_at: None",
    "Link: None (none given)",
    "Held on: None.",
    "image_alt=None",
    "draft = True",
    "f(None)",
    "[None, 'x']",
    "x, True, y",
    "None",
    "True",
    "  x            None       0",
    "| x | False | 0 |",
    "the title is 'None'",
    "datetime.datetime(2019, 7, 12, 10, 0, tzinfo=zoneinfo.ZoneInfo(key='Europe/Zurich'))",
    "datetime.date(2019, 7, 12)",
    "due date(2019, 7, 12)",
    "timedelta(seconds=30)",
    "ZoneInfo(key='Europe/Zurich')",
    "at most 1 day, 0:00:00 late",
    "retries for 0:02:00",
    "waits 0:00:30",
    "2 days, 3:04:05.250000",
    "a lateness of 12:00:00",
    "-1 day, 23:59:30",
    "hashtags: ['HRC41', 'LGBTI']",
    "{'x': 'sent', 'mastodon': 'failed'}",
    "\"{'error': 'x'}\"",
    "('x', 'mastodon')",
    "hashtags: []",
    "no holds: set()",
    "Decimal('1.50')",
    "PosixPath('/var/herald/outbox')",
    "in /srv/PosixPath('content_queue')",
    "b'\\x00\\x01'",
    "OrderedDict([('a', 1)])",
    "dict_keys(['x'])",
    "ValueError('day is out of range for month')",
    "Problem(path='a.md', line=3)",
    "Traceback (most recent call last):",
    "mastodon: Secret('')",
    "x: <Response [403]>",
    "HTTPSConnectionPool(host='mastodon.example', port=443): Max retries exceeded",
    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f2b1c>: refused'))",
]

SHOWN_TO_PEOPLE = [  # sentences the app really shows, and look-alikes that are English
    "None of your items are due",
    "None of these items are due.",
    "Note: None of the posts went out.",
    "Nothing to requeue.",
    "True to its word, the Council voted.",
    "CSW63: True equality needs women human rights defenders",
    "The True Cost of Silence",
    "False alarm: the vote is on Friday",
    "NoneType",
    "Approved by ana@example.org on 2019-07-12 10:00.",
    "Scheduled next\n  no post\n  2019-08-02 10:00  newsletter: nothing new, no edition",
    "2019-07-12 &middot; 4 updates",
    "Every Friday at 10:00 (Europe/Zurich)",
    "2019-07-12 10:00:00",
    "2019-07-12T10:00:00+02:00",
    "2019-07-12T13:30:00.000Z",
    "Fri, 12 Jul 2019 10:00:00 +0200",
    "at 10:00 and at 16:30",
    "BOT_MAX_LATENESS=1d  # default",
    "BOT_RETRY_BUDGET=2m  # default",
    "the publish date(s) of an item",
    "must be a datetime.",
    "a date (YYYY-MM-DD) and a time",
    "date: '2019-02-30' is not a real date (day is out of range for month)",
    "campaign: unknown campaign 'RenewIESOG' (did you mean 'RenewIESOGI'?); campaigns.yaml has: CSW63, HRC40",
    "front matter: must be a list of 'field: value' lines",
    "hashtags: must be a list such as [a, b], not a mapping",
    "Write '#RenewIESOGI' without '#'",
    "Bob's update (in 'draft' state)",
    "Sent (to 5 of 5)",
    "x            11        0       0       0",
    "use letters, digits, '-', '_' and '.' only, at most 100 (e.g. 2019-07-12-un-vote)",
    "[Geneva Rights Desk] Newsletter",
    "Join #RenewIESOGI today. https://news.example.org/2019/07/a?b=True",
    "IPv6 ::1 and fe80::10:20:30",
]


@pytest.mark.parametrize("text", SHOWN_PYTHON)
def test_the_detector_finds_each_kind_of_python_value(text: str) -> None:
    assert findings(text), text


@pytest.mark.parametrize("text", SHOWN_TO_PEOPLE)
def test_the_detector_passes_what_people_should_see(text: str) -> None:
    assert findings(text) == [], [str(f) for f in findings(text)]


def test_the_detector_reads_html_as_a_person_sees_it() -> None:
    page = ('<html><head><title>Items</title><style>td::after { content: "None" }</style></head><body>'
            '<p><strong>None</strong> of your items are due.</p>'
            '<table><tr><td>Approved</td><td>None</td></tr></table>'
            '<img src="/x.png" alt="{\'x\': 1}"><input type="hidden" name="v" value="None">'
            '<input name="t" value="False"><button title="datetime.date(2019, 7, 12)">Go</button>'
            '<script>var x = None;</script><textarea>line one\nSent: True\nline three</textarea>'
            '<select><option value="">None</option></select><a href="/admin/items">All</a></body></html>')
    seen = visible_html(page)
    assert "None of your items are due." in seen.text.splitlines()  # inline elements stay on their line
    assert "Items" in seen.text.splitlines() and "var x" not in seen.text and "content" not in seen.text
    assert seen.links == ["/admin/items"]
    found = html_findings("page", page)
    assert any("'Approved None'" in f or "'None'" in f for f in found), found  # the cell alone
    assert any("(attribute)" in f and "{'x'" in f for f in found), found  # alt
    assert any("(attribute)" in f and "False" in f for f in found), found  # a shown input's value
    assert any("datetime.date" in f for f in found), found  # title
    assert any("Sent: True" in f for f in found), found  # a line of a textarea
    assert not any("var x" in f for f in found), found  # scripts are not seen
    assert len(found) == 6, found  # the option "None" too; nothing else (the hidden input is not seen)


def test_a_repr_left_unescaped_in_markup_is_found_too() -> None:
    # Unescaped, a browser takes `<built-in ...>` for a tag and shows nothing: the same bug all the same.
    page = "<p>4 <built-in method items of dict object at 0x7f3a2c1b9e40> updates</p>"
    assert "built-in" not in visible_html(page).text
    assert html_findings("archive", page) == [
        "archive (markup): unescaped repr: '<built-in method items of dict object at 0x7f3a2c1b9e40>'"]
    escaped = "<p>4 &lt;built-in method items of dict object at 0x7f3a2c1b9e40&gt; updates</p>"
    assert len(html_findings("archive", escaped)) == 1  # seen, once


def test_the_detector_reads_both_parts_and_the_headers_of_a_message() -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "News of None"
    message["From"] = "Herald <news@example.org>"
    message.set_content("Hello\nLast edition: None\n")
    message.add_alternative("<p>Items: <b>{'a': 1}</b></p>", subtype="html")
    parts = dict(eml_texts(message.as_bytes()))
    assert set(parts) >= {"Subject", "From", "text/plain", "text/html"}
    found = eml_findings("m.eml", message.as_bytes())
    assert len(found) == 3 and all(f.startswith("m.eml ") for f in found), found


# --- the demo, grown --------------------------------------------------------------------------------------------


@dataclass
class Demo:
    settings: Settings
    env: dict[str, str]
    outputs: list[tuple[str, Result]] = field(default_factory=list)  # (command line, result) of each command run
    previews: list[Path] = field(default_factory=list)

    def bot(self, *args: str, stdin: str | None = None) -> Result:
        result = CliRunner().invoke(cli, ["--env-file", str(DEMO_ENV), *args], env=self.env, input=stdin)
        self.outputs.append(("bot " + " ".join(args), result))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    queue = root / "queue"
    shutil.copytree(SAMPLE_QUEUE, queue)
    env = {"BOT_STATE_DIR": str(root / "var"), "BOT_QUEUE_DIR": str(queue)}
    played = Demo(load_settings(environ=env, env_file=DEMO_ENV), env)
    assert played.bot("demo", "--subscribers", str(ROOT / "demo-subscribers.csv")).exit_code == 0
    # What the demo leaves out: a late item (missed on two platforms, refused by the third, with the server's words),
    # every kind of invalid item, staff of each role.
    (queue / f"{LATE}.md").write_text(
        "---\ntitle: Statement on the closing of the 41st session\ndate: 2019-07-27\n"
        "summary: Our statement on the Council's decisions of the 41st session.\npublish_at: 2019-07-27 09:00\n"
        "hashtags: [HRC41]\n---\nThe full statement is on our site.\n", encoding="utf-8")
    at = datetime(2019, 7, 27, 7, 0, tzinfo=UTC)
    with Ledger.open(played.settings.state_dir) as ledger:
        post = ledger.add_post(LATE, "mastodon", at, at)
        ledger.claim([post.id], at)
        ledger.finish([(post.id, "failed", None, "422 Validation failed: Text character limit of 500 exceeded",
                        None)], at)
    played.bot("run", "--once", "--now", END)
    for invalid in sorted((FIXTURES / "invalid").glob("*.md")):
        shutil.copy(invalid, queue / invalid.name)
    for email, role in ((ADMIN, "admin"), ("ana@example.org", "approver"), ("ed@example.org", "editor")):
        assert played.bot("staff", "add", email, "--role", role, "--password-stdin", stdin=PASSWORD + "\n"
                          ).exit_code == 0
    for args in (("validate",), ("status", "--now", END), ("staff", "list"), ("subscribers", "list"),
                 ("subscribers", "count"), ("subscribers", "export"), ("calendar", "--month", "2019-07", "--now", END),
                 ("calendar", "--week", "2019-W28", "--now", END), ("config",), ("requeue", LATE, "--at", END),
                 ("hold", "2019-07-22-niger-draft-law", "--platform", "email"), ("dismiss", LATE)):
        played.bot(*args)
    for name, now in (("preview-after-demo", END), ("preview-before-july", "2019-07-08T08:00")):
        out = root / name
        played.bot("preview", "--out", str(out), "--now", now)
        played.previews.append(out)
    return played


def test_no_command_of_the_demo_shows_a_python_value(demo: Demo) -> None:
    found = [line for command, result in demo.outputs for line in report(command, result.output)]
    assert demo.outputs and found == [], "\n".join(found)


def test_no_outbox_file_or_preview_shows_a_python_value(demo: Demo) -> None:
    found: list[str] = []
    outbox = demo.settings.outbox_dir
    messages = sorted((outbox / "email").glob("*.eml"))
    posts = sorted(outbox.glob("*/*.json"))
    assert len(messages) >= 25 and len(posts) >= 33, (len(messages), len(posts))
    for message in messages:
        parts = [part for part, _ in eml_texts(message.read_bytes())]
        if message.name.startswith("edition-"):
            assert parts.count("text/plain") == 1 and parts.count("text/html") == 1, (message.name, parts)
        found += eml_findings(message.name, message.read_bytes())
    for post in posts:
        found += json_findings(post.relative_to(outbox).as_posix(), post.read_bytes())
    for preview in demo.previews:
        assert (preview / "index.html").is_file(), preview
        for path in sorted(preview.rglob("*")):
            where = path.relative_to(preview.parent).as_posix()
            if path.suffix == ".html":
                found += html_findings(where, path.read_text(encoding="utf-8"))
            elif path.suffix == ".txt":
                found += report(where, path.read_text(encoding="utf-8"))
            elif path.suffix == ".eml":
                found += eml_findings(where, path.read_bytes())
            elif path.suffix == ".json":
                found += json_findings(where, path.read_bytes())
    assert found == [], "\n".join(found)


# --- the pages ---------------------------------------------------------------------------------------------------


class Reader:
    """Reads each answer as a person sees it and keeps what the detector (and a 500) says."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.found: list[str] = []
        self.places: list[str] = []  # each answer read, as `METHOD URL ...`

    def check(self, where: str, answer: TestResponse, expect: int | tuple[int, ...] | None = None) -> str:
        self.places.append(where)
        body = answer.get_data(as_text=True)
        if answer.status_code >= 500:
            self.found.append(f"{where}: HTTP {answer.status_code}")
        if expect is not None:
            assert answer.status_code in ((expect,) if isinstance(expect, int) else expect), (where, answer.status)
        kind = answer.mimetype or ""
        if kind == "text/html":
            self.found += html_findings(where, body)
        elif kind == "application/json":
            self.found += json_findings(where, body)
        elif kind == "text/calendar":
            self.found += report(where, _ics_text(body))
        elif kind.startswith("text/"):
            self.found += report(where, body)
        return body


def _ics_text(calendar: str) -> str:
    """What a calendar app shows of an iCalendar file: its events' summaries, descriptions and places."""
    unfolded = re.sub(r"\r?\n[ \t]", "", calendar)
    shown = []
    for line in unfolded.splitlines():
        name, _, value = line.partition(":")
        if name.split(";")[0].upper() in ("SUMMARY", "DESCRIPTION", "LOCATION", "X-WR-CALNAME", "CATEGORIES"):
            shown.append(re.sub(r"\\([,;\\])", r"\1", value).replace("\\n", "\n").replace("\\N", "\n"))
    assert shown or "BEGIN:VEVENT" not in unfolded
    return "\n".join(shown)


def _crawl(client: FlaskClient, reader: Reader, starts: list[str], public_url: str) -> set[str]:
    """Breadth first from `starts`, every same-site link (<a href>, <iframe src>, GET forms), bounded."""
    seen: set[str] = set()
    per_path: dict[str, int] = {}
    todo = deque(starts)
    while todo and len(seen) < MAX_PAGES:
        url = todo.popleft()
        if url in seen:
            continue
        path, _, query = url.partition("?")
        if query:
            if per_path.get(path, 0) >= MAX_QUERIES:
                continue
            per_path[path] = per_path.get(path, 0) + 1
        seen.add(url)
        answer = client.get(url)
        body = reader.check(f"GET {url} ({answer.status_code})", answer)
        if answer.mimetype != "text/html":
            continue
        links = visible_html(body).links + re.findall(r"/calendar/[A-Za-z0-9_.-]+\.ics", body)  # the feed
        for link in links:
            found = _same_site(urljoin(url, link), public_url)
            if found and found not in seen:
                todo.append(found)
    assert len(seen) < MAX_PAGES, "the crawl hit its bound: raise MAX_PAGES or bound the new endless links"
    return seen


def _same_site(link: str, public_url: str) -> str | None:
    """The path (and query) of a link to this site, without its fragment; None for another site or a file."""
    parts = urlsplit(link)
    public = urlsplit(public_url)
    if parts.scheme not in ("", "http", "https"):
        return None  # mailto:, javascript:
    if parts.netloc and parts.netloc not in ("localhost", public.netloc):
        return None
    if not parts.path.startswith("/") or parts.path.startswith(("/static/", "/media/")):
        return None  # the style sheet and pictures: nothing to read
    if parts.path == "/admin/logout":
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    answer = client.post("/admin/login", data={"email": email, "password": PASSWORD, "csrf_token": form_token(page)})
    assert answer.status_code == 303, answer.status
    return client


GOOD = {"title": "Forty groups ask the Council to act", "summary": "Forty groups urge the Council to act.",
        "link": "https://news.example.org/2019/07/forty-groups", "hashtags": "HRC41, LGBTI", "campaign": "",
        "channels": ["email", "x", "mastodon", "bluesky"], "social_x": "", "social_mastodon": "",
        "social_bluesky": "", "body": "", "image": "", "image_alt": "", "image_credit": "", "lang": "", "id": ""}


class Staff:
    """An admin's browser, posting the staff forms as a person does and reading each answer."""

    def __init__(self, client: FlaskClient, reader: Reader) -> None:
        self.client = client
        self.reader = reader

    def post(self, where: str, url: str, data: dict[str, Any], expect: int | tuple[int, ...], **options: Any) -> str:
        """POST `data` with the session's CSRF token (the one every staff page carries), follow any redirect and read
        every answer."""
        token = form_token(self.client.get("/admin/items/new").get_data(as_text=True))
        answer = self.client.post(url, data={"csrf_token": token, **data}, follow_redirects=True, **options)
        return self.reader.check(f"POST {url} [{where}] ({answer.status_code})", answer, expect)

    def version(self, item: str) -> str:
        found = re.search(r'name="version" value="([0-9a-f]*)"', self.client.get(f"/admin/items/{item}").text)
        return found.group(1) if found else ""


def _post_staff_forms(staff: Staff, settings: Settings) -> None:
    tomorrow = (datetime.now(settings.timezone) + timedelta(days=1)).date()
    new = {**GOOD, "date": tomorrow.isoformat(), "publish_at": f"{tomorrow} 09:30", "action": "save"}
    renewed = "2019-07-12-iesogi-mandate-renewed"
    # The composer: errors of every field at once, a preview, the live preview, a save, an edit of what went out.
    staff.post("bad new item", "/admin/items", {**new, "title": "Line one", "date": "2026-02-30",
                                                "publish_at": "soon", "image": "https://news.example.org/p.jpg",
                                                "hashtags": "Human-Rights", "link": "javascript:alert(1)",
                                                "lang": "English", "campaign": "Nope", "social_x": "x" * 300,
                                                "id": "bad id!"}, 422)
    staff.post("no channel", "/admin/items", {**new, "channels": []}, 422)
    preview = staff.post("preview", "/admin/items", {**new, "action": "preview"}, 200)
    for frame in re.findall(r'src="(/admin/compose/frame/[0-9a-f]+)"', preview):
        staff.reader.check(f"GET {frame} (the preview's newsletter)", staff.client.get(frame), 200)
    staff.post("live preview", "/admin/compose/preview", new, 200)
    staff.post("live preview, invalid", "/admin/compose/preview", {**new, "date": "x", "summary": ""}, 200)
    staff.post("live preview of an item", "/admin/compose/preview", {**new, "item": renewed}, 200)
    staff.post("save", "/admin/items", new, 200)
    staff.post("save the same id again", "/admin/items", {**new, "id": "2019-07-22-niger-draft-law"}, (409, 422))
    staff.post("change what went out", f"/admin/items/{renewed}",
               {**new, "version": staff.version(renewed), "title": "A new title", "date": "2019-07-12",
                "publish_at": "2019-07-13 09:00"}, 422)
    staff.post("stale save", f"/admin/items/{renewed}", {**new, "version": "0" * 64, "date": "2019-07-12"},
               (409, 422))
    # An approver's decisions, and their notices.
    item = "2019-07-11-xinjiang-joint-letter"
    staff.post("approve a stale version", f"/admin/items/{item}/approve", {"version": "0" * 64}, 200)
    created = f"{tomorrow}-forty-groups-ask-the-council-to-act"
    staff.post("approve", f"/admin/items/{created}/approve", {"version": staff.version(created)}, 200)
    for platform in ("x", ""):
        staff.post(f"hold {platform or 'all'}", f"/admin/items/{item}/hold", {"platform": platform}, 200)
        staff.post(f"hold {platform or 'all'} again", f"/admin/items/{item}/hold", {"platform": platform}, 200)
    staff.post("release x", f"/admin/items/{item}/release", {"platform": "x"}, 200)
    staff.post("release what is not held", f"/admin/items/{item}/release", {"platform": "bluesky"}, 200)
    staff.post("dismiss", f"/admin/items/{LATE}/dismiss", {"platform": "x", "back": "agenda"}, 200)
    staff.post("dismiss nothing", f"/admin/items/{item}/dismiss", {}, 200)
    staff.post("requeue", "/admin/requeue", {"item": LATE, "platform": "bluesky"}, 200)
    staff.post("requeue what went out", "/admin/requeue", {"item": renewed, "platform": "x"}, 200)
    staff.post("requeue nothing", "/admin/requeue", {}, 200)
    # Accounts.
    staff.post("add, bad address", "/admin/staff", {"email": "not an address", "role": "editor",
                                                    "password": PASSWORD}, 400)
    staff.post("add, short password", "/admin/staff", {"email": "new@example.org", "role": "editor",
                                                       "password": "short"}, 400)
    staff.post("add, no such role", "/admin/staff", {"email": "new@example.org", "role": "boss",
                                                     "password": PASSWORD}, 400)
    staff.post("add", "/admin/staff", {"email": "new@example.org", "role": "editor", "password": PASSWORD}, 200)
    staff.post("add again", "/admin/staff", {"email": "new@example.org", "role": "editor", "password": PASSWORD},
               400)
    staff.post("role", "/admin/staff/role", {"email": "new@example.org", "role": "approver"}, 200)
    staff.post("same role", "/admin/staff/role", {"email": "new@example.org", "role": "approver"}, 200)
    staff.post("role of nobody", "/admin/staff/role", {"email": "nobody@example.org", "role": "editor"}, 400)
    staff.post("remove", "/admin/staff/remove", {"email": "new@example.org"}, 200)
    staff.post("remove nobody", "/admin/staff/remove", {"email": "nobody@example.org"}, 400)
    staff.post("password, wrong current", "/admin/account/password", {"current": "guess", "new": "x" * 20,
                                                                      "repeat": "x" * 20}, 403)
    staff.post("password, repeated wrong", "/admin/account/password", {"current": PASSWORD, "new": "y" * 20,
                                                                       "repeat": "z" * 20}, 400)
    staff.post("password, too short", "/admin/account/password", {"current": PASSWORD, "new": "short",
                                                                   "repeat": "short"}, 400)
    staff.post("renew the feed", "/admin/account/calendar-feed", {}, 200)
    # Pictures: none, not a picture (as a page and as JSON), a real one (both ways).
    for accept in ("text/html", "application/json"):
        headers = {"Accept": accept}
        staff.post(f"upload nothing, {accept}", "/admin/media", {"alt": "A photo"}, 400,
                   headers=headers)
        staff.post(f"upload a text file, {accept}", "/admin/media",
                   {"alt": "A photo", "file": (_bytes(b"not a picture"), "notes.txt")}, 422,
                   headers=headers, content_type="multipart/form-data")
        staff.post(f"upload, alt too long, {accept}", "/admin/media",
                   {"alt": "a" * 1001, "file": (_bytes(phone_photo()), "photo.jpg")}, 422,
                   headers=headers, content_type="multipart/form-data")
        staff.post(f"upload a photo, {accept}", "/admin/media",
                   {"alt": "Delegates in the Council's room", "file": (_bytes(phone_photo()), "IMG_0001.JPG")}, 200,
                   headers=headers, content_type="multipart/form-data")


def _bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _visit_as_visitor_and_subscriber(app: Flask, reader: Reader, settings: Settings) -> None:
    visitor = app.test_client()
    for url in ("/", "/subscribe", "/archive", "/unsubscribe", "/no-such-page", "/archive/999", "/archive/0",
                "/unsubscribe/" + "A" * 32, "/confirm/not-a-token", "/calendar/not-a-token.ics", "/media/none.jpg",
                "/admin", "/admin/login", "/admin/items", "/admin/items/nothing"):
        reader.check(f"GET {url} as a visitor", visitor.get(url))
    archive = visitor.get("/archive").get_data(as_text=True)
    editions = sorted(set(re.findall(r'href="(/archive/\d+)"', archive)))
    assert len(editions) >= 5, archive
    for url in editions:
        reader.check(f"GET {url} as a visitor", visitor.get(url), 200)
    reader.check("POST /archive (405)", visitor.post("/archive"), 405)
    reader.check("POST /subscribe without its token (400)", visitor.post("/subscribe", data={"email": "a@b.org"}), 400)
    reader.check("POST /admin/login, wrong password (401)", visitor.post("/admin/login", data={
        "email": ADMIN, "password": "guess", "csrf_token": form_token(visitor.get("/admin/login").text)}), 401)
    for typed in ("not an address", "a@b", "amina@example..org", ""):
        answer = visitor.post("/subscribe", data={"email": typed, "name": "Amina",
                                                  "csrf_token": form_token(visitor.get("/subscribe").text)})
        reader.check(f"POST /subscribe {typed!r}", answer, 400)
    # A new subscriber: the answer, the confirmation mail, the confirm page, the button, the spent link.
    answer = visitor.post("/subscribe", data={"email": "new.reader@example.org", "name": "New Reader",
                                              "csrf_token": form_token(visitor.get("/subscribe").text)})
    reader.check("POST /subscribe (a new reader)", answer, 200)
    drain_all()
    [mail] = (settings.outbox_dir / "email").glob("confirm-*.eml")
    reader.found += eml_findings(mail.name, mail.read_bytes())
    text = "".join(t for part, t in eml_texts(mail.read_bytes()) if part == "text/plain")
    link = re.search(r"https?://[^/\s]+(/confirm/\S+)", text)
    assert link, text
    subscriber = app.test_client()
    page = reader.check("GET the confirm page", subscriber.get(link.group(1)), 200)
    reader.check("HEAD the confirm page", subscriber.head(link.group(1)), 200)
    reader.check("POST the confirm button", subscriber.post(link.group(1), data={"csrf_token": form_token(page)}), 200)
    reader.check("GET the spent confirm link", subscriber.get(link.group(1)), 410)
    # A subscriber of the demo leaves, and comes back to the page.
    with Ledger.open(settings.state_dir) as ledger:
        amina = subscribers.get(ledger, email="amina.diallo@example.org")
    assert amina is not None
    token = subscribers.make_token(subscribers.secret_key(settings), amina.id)
    reader.check("GET the unsubscribe page", subscriber.get(f"/unsubscribe/{token}"), 200)
    reader.check("POST one-click unsubscribe", subscriber.post(
        f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"}), 200)
    reader.check("GET the unsubscribe page, unsubscribed", subscriber.get(f"/unsubscribe/{token}"), 200)


def test_no_page_shows_a_python_value(demo: Demo) -> None:
    began = time.perf_counter()
    settings = demo.settings
    app = create_app(settings)
    reader = Reader(settings)
    _visit_as_visitor_and_subscriber(app, reader, settings)
    admin = Staff(_signed_in(app, ADMIN), reader)
    _post_staff_forms(admin, settings)
    starts = ["/admin", "/admin/items", "/admin/items/new", "/admin/media", "/admin/account", "/admin/staff",
              "/admin/activity", "/admin/calendar", "/admin/calendar?month=2019-07", "/admin/calendar?month=2019-03",
              "/admin/calendar?week=2019-W28", "/admin/calendar?month=1999-13", "/admin/items/no-such-item"]
    crawled = _crawl(admin.client, reader, starts, settings.effective_public_url)
    items = {url for url in crawled if re.fullmatch(r"/admin/items/[^/?]+", url)}
    assert f"/admin/items/{LATE}" in crawled and "/admin/items/title_not_text" in crawled, sorted(crawled)
    assert len(items) >= 60 and any(u.startswith("/calendar/") for u in crawled), sorted(crawled)
    assert any("/admin/compose/frame/" in where for where in reader.places), "no newsletter preview was shown"
    # An editor sees other pages (no approve buttons, a 403 for the activity and staff pages).
    editor = _signed_in(app, "ed@example.org")
    for url in ("/admin", "/admin/activity", "/admin/staff", f"/admin/items/{LATE}", "/admin/account"):
        reader.check(f"GET {url} as an editor", editor.get(url))
    elapsed = time.perf_counter() - began
    print(f"\nread {len(reader.places)} answers ({len(crawled)} crawled) in {elapsed:.2f} s")
    assert reader.found == [], f"{len(reader.found)} Python values shown:\n" + "\n".join(reader.found)


# --- the watch over every command of the test suite (tests/conftest.py) ----------------------------------------


def test_the_watch_over_commands_reads_what_people_read_and_skips_json() -> None:
    import subprocess
    import sys

    import click

    from .python_values import command_findings, watching_commands

    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    def shows(as_json: bool) -> None:
        click.echo('{"due": null}' if as_json else "due: None")
        click.echo("hashtags: ['HRC41']", err=True)

    with watching_commands() as commands:  # inside the suite's own watch, which then sees none of these
        CliRunner().invoke(shows, [])
        CliRunner().invoke(shows, ["--json"])
        subprocess.run([sys.executable, "-m", "bot", "--env-file", "/dev/null", "--version"], capture_output=True,
                       text=True, check=True)
        subprocess.run([sys.executable, "-c", "print(None)"], capture_output=True, check=True)  # not bot
    assert [c.line for c in commands] == ["shows", "shows --json", "bot --env-file /dev/null --version"]
    found = command_findings(commands)
    assert len(found) == 2 and all(f.startswith("`shows`: ") for f in found), found
    assert "'due: None'" in found[0] and "['HRC41']" in found[1]
