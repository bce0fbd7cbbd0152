"""Pictures over real HTTP (Waitress on 127.0.0.1): an editor's upload to /admin/media, and /media/NAME as readers
and platforms fetch it; who may upload, CSRF, size caps, and paths that must lead nowhere."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from bot import media, staff
from bot.ledger import Ledger
from bot.settings import Settings

from . import pictures
from .web_server import form_token, running, staff_session

PASSWORD = "correct horse battery staple"
NOW = datetime(2019, 7, 1, tzinfo=UTC)
JSON = {"Accept": "application/json"}


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    (tmp_path / "queue").mkdir()
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="")  # cookies over plain HTTP
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", NOW)
    return settings


@pytest.fixture
def base(site: Settings) -> Iterator[str]:
    with running(site) as url:
        yield url


token = form_token


def editor(base: str) -> tuple[requests.Session, str]:
    """A signed-in editor, and the CSRF token of the upload page."""
    session = staff_session(base, "ed@example.org", PASSWORD)
    return session, token(session.get(base + "/admin/media").text)


def stored_files(site: Settings) -> list[Path]:
    folder = media.folder(site)
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(session: requests.Session, base: str, data: bytes, csrf: str | None, headers: dict[str, str] | None = None,
           alt: str = "", filename: str = "IMG_0815.jpg") -> requests.Response:
    form = {"alt": alt, **({"csrf_token": csrf} if csrf else {})}
    return session.post(base + "/admin/media", data=form, files={"file": (filename, data, "image/jpeg")},
                        headers=headers or {})


def raw_get(base: str, path: str) -> int:
    """GET a path exactly as written: no client normalises its dots or escapes on the way."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_an_editors_upload_is_stored_without_gps_and_served_with_long_cache_headers(site: Settings, base: str) -> None:
    session, csrf = editor(base)
    answer = upload(session, base, pictures.phone_photo(), csrf, JSON)

    assert answer.status_code == 200, answer.text
    found = answer.json()
    [path] = stored_files(site)
    assert found == {"image": f"media/{path.name}", "url": f"http://localhost:8080/media/{path.name}",
                     "width": 200, "height": 300, "bytes": path.stat().st_size}
    assert path.stat().st_size <= media.MAX_BYTES
    with Image.open(path) as stored:
        assert not stored.getexif() and not stored.getexif().get_ifd(0x8825) and "icc_profile" not in stored.info

    served = requests.get(f"{base}/media/{path.name}")  # anyone: readers, mail clients, platforms
    assert served.status_code == 200 and served.content == path.read_bytes()
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    again = requests.get(f"{base}/media/{path.name}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304


def test_the_html_answer_shows_the_picture_and_the_lines_for_the_composer(site: Settings, base: str) -> None:
    session, csrf = editor(base)
    answer = upload(session, base, pictures.transparent_png(), csrf, alt="Our logo: a dove", filename="logo.png")

    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    [path] = stored_files(site)
    page = answer.text
    assert f'<img src="/media/{path.name}" alt="Our logo: a dove" width="400" height="300">' in page
    assert f"image: media/{path.name}\nimage_alt: &#34;Our logo: a dove&#34;" in page
    assert "400 &times; 300 px" in page and 'href="/admin/items/new"' in page
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_upload_without_the_csrf_token_is_refused_and_stores_nothing(site: Settings, base: str) -> None:
    session, _ = editor(base)
    answer = upload(session, base, pictures.phone_photo(), None, JSON)
    assert answer.status_code == 400 and stored_files(site) == []


def test_nobody_signed_in_cannot_upload(site: Settings, base: str) -> None:
    anonymous = requests.Session()
    csrf = token(anonymous.get(base + "/admin/login").text)
    answer = upload(anonymous, base, pictures.phone_photo(), csrf, JSON)
    assert answer.status_code == 401 and "Sign in" in answer.text and stored_files(site) == []


def test_what_is_not_a_picture_is_refused_in_words(site: Settings, base: str) -> None:
    session, csrf = editor(base)
    answer = upload(session, base, b"#!/bin/sh\necho not a picture\n", csrf, JSON, filename="../../evil.jpg")
    assert answer.status_code == 422
    assert answer.json() == {"error": "evil.jpg: file: is not a JPEG, PNG, WebP or GIF picture", "field": "file"}

    page = upload(session, base, pictures.animated_gif()[:200], csrf, filename="anim.gif")
    assert page.status_code == 422 and "anim.gif: file: cannot be read" in page.text
    assert 'class="error"' in page.text and "Traceback" not in page.text
    assert stored_files(site) == []


def test_a_picture_over_20_mb_is_refused_and_a_body_over_the_cap_gets_a_clear_413(site: Settings, base: str) -> None:
    session, csrf = editor(base)
    over_20 = pictures.phone_photo() + bytes(media.MAX_INPUT_BYTES)
    answer = upload(session, base, over_20, csrf, JSON)
    assert answer.status_code == 422 and "a picture may be at most 20 MB" in answer.json()["error"]

    huge = upload(session, base, bytes(21_500_000), csrf, JSON)
    assert huge.status_code == 413
    assert huge.json() == {"error": "the picture is larger than 20 MB: save a smaller copy and upload that",
                           "field": "file"}
    page = upload(session, base, bytes(21_500_000), csrf)
    assert page.status_code == 413 and "larger than 20 MB" in page.text and "Traceback" not in page.text
    assert stored_files(site) == []


def test_other_forms_keep_their_1_mb_cap(site: Settings, base: str) -> None:
    session, csrf = editor(base)
    answer = session.post(base + "/admin/items", data={"csrf_token": csrf, "summary": "x" * 1_500_000})
    assert answer.status_code == 413 and "larger than this form accepts" in answer.text


def test_only_stored_pictures_are_served_and_no_path_leads_out(site: Settings, base: str, tmp_path: Path) -> None:
    folder = media.folder(site)
    folder.mkdir()
    (folder / "notes.txt").write_text("private")
    (folder / "photo.jpg").write_bytes(pictures.phone_photo())  # copied in by hand: not a stored name
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"a file outside the media folder")
    (folder / "0123456789abcdef.jpg").symlink_to(secret)

    for path in ("/media/notes.txt", "/media/photo.jpg", "/media/0123456789abcdef.jpg", "/media/fedcba9876543210.jpg",
                 "/media/../../settings.py", "/media/..%2F..%2Fbot%2Fsettings.py", "/media/%2e%2e/secret.jpg",
                 "/media/", "/media/0123456789ABCDEF.jpg", "/media/0123456789abcdef.jpg%00.png"):
        assert raw_get(base, path) == 404, path
