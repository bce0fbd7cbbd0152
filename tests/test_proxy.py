"""`bot serve` behind Debian's nginx with TLS on loopback, as README deploys it: per-client limits, working forms."""

# nginx runs README's own server block. Clients connect from 127.0.0.2, 127.0.0.3, ... (all of 127.0.0.0/8 is this
# machine's loopback on Linux), so nginx sees a different peer for each, as it would for people on the internet;
# BOT_PROXIES=1 must make each their own client, whatever forwarded headers they write themselves, and every form
# must work with the headers Chromium really sends.

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser
from requests.adapters import HTTPAdapter

from bot import staff
from bot.ledger import Ledger
from bot.settings import Settings

from .browser import browser
from .conftest import ROOT, SAMPLE_QUEUE
from .smtp_server import certificate
from .web_server import running, settle

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "correct horse battery staple"


def readme_server_block() -> str:
    """The nginx server block of README's "The web side", as a person would copy it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```nginx\n(server \{.*?\n\})\n```", text, re.S)
    assert found, "README.md has no nginx server block"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_config(folder: Path, port: int, upstream: str) -> str:
    """README's server block on 127.0.0.1:`port` with the test certificate and `upstream`; everything nginx writes
    (pid, logs, buffers) inside `folder`, in the foreground, one process: the same as root or not."""
    cert, key = certificate()
    block = readme_server_block()
    for old, new in (("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                     ("http://127.0.0.1:8080", upstream),
                     ("/etc/letsencrypt/live/news.example.org/fullchain.pem", str(cert)),
                     ("/etc/letsencrypt/live/news.example.org/privkey.pem", str(key))):
        assert old in block, f"README's nginx block no longer has {old!r}: adapt this test"
        block = block.replace(old, new)
    paths = "\n".join(f"    {name}_temp_path {folder / name};" for name in ("client_body", "proxy", "fastcgi",
                                                                                "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            f"events {{ worker_connections 64; }}\nhttp {{\n    access_log {folder / 'access.log'};\n{paths}\n"
            f"{block}\n}}\n")


class _From(HTTPAdapter):
    """Connections from one loopback address: nginx sees that address as the client's."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str) -> requests.Session:
    """A visitor at `address` who trusts the test certificate, as a browser trusts a real one."""
    visitor = requests.Session()
    visitor.trust_env = False  # else REQUESTS_CA_BUNDLE (or a proxy) from the environment would win over these
    visitor.mount("https://", _From(address))
    visitor.verify = str(certificate()[0])
    return visitor


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """`bot serve` with BOT_PROXIES=1 behind nginx with TLS; yields nginx's https base URL and the settings."""
    if not Path(NGINX).exists():
        raise AssertionError("Debian's nginx is not installed: run ./scripts/test, which installs it")
    port = free_port()
    public = f"https://127.0.0.1:{port}"
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_PUBLIC_URL=public, BOT_PROXIES="1")
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", datetime.now(UTC))
    folder = tmp_path / "nginx"
    folder.mkdir()
    with running(settings) as upstream:
        conf = folder / "nginx.conf"
        conf.write_text(nginx_config(folder, port, upstream), encoding="utf-8")
        command = [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        proxy = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            _wait_until_listening(port, proxy, folder / "error.log")
            yield public, settings
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)


def _wait_until_listening(port: int, proxy: subprocess.Popen[bytes], log: Path) -> None:
    """Until nginx accepts connections (it binds within moments); fails at once if it exits instead."""
    for _ in range(3000):
        if proxy.poll() is not None:
            raise AssertionError("nginx stopped: " + (log.read_text() if log.exists() else "no error log"))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proxy.wait(timeout=0.01)
    raise AssertionError("nginx never listened: " + (log.read_text() if log.exists() else ""))


def sign_in(visitor: requests.Session, base: str, email: str, password: str,
            headers: dict[str, str] | None = None) -> requests.Response:
    """Open the sign-in page and send it, with the Referer a browser sends under `Referrer-Policy: same-origin`."""
    page = visitor.get(base + "/admin/login")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    token = found.group(1)
    return visitor.post(base + "/admin/login", allow_redirects=False,
                        headers={"Referer": base + "/admin/login", **(headers or {})},
                        data={"email": email, "password": password, "csrf_token": token})


def test_each_client_behind_nginx_has_its_own_sign_in_limit(site: tuple[str, Settings]) -> None:
    base, _ = site
    attacker = client("127.0.0.2")
    for n in range(10):  # ten accounts guessed from one place, each time claiming to be somewhere else
        answer = sign_in(attacker, base, f"guess{n}@example.org", "guess",
                         headers={"X-Forwarded-For": f"203.0.113.{n}", "Forwarded": f"for=203.0.113.{n}"})
        assert answer.status_code == 401, answer.text
    assert sign_in(attacker, base, "ed@example.org", PASSWORD).status_code == 429
    assert sign_in(client("127.0.0.2"), base, "ed@example.org", PASSWORD,
                   headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 429  # a new session, same place
    colleague = client("127.0.0.3")  # someone else behind the same proxy is not locked out with them
    assert sign_in(colleague, base, "ed@example.org", PASSWORD).status_code == 303
    assert colleague.get(base + "/admin").status_code == 200


def test_a_client_cannot_choose_the_host_the_csrf_check_compares_with(site: tuple[str, Settings]) -> None:
    base, _ = site
    visitor = client("127.0.0.4")
    # A Referer from another site, with the host claimed to be that site: the form must still be refused.
    forged = sign_in(visitor, base, "ed@example.org", PASSWORD, headers={
        "Referer": "https://evil.example/admin/login", "X-Forwarded-Host": "evil.example",
        "Forwarded": "host=evil.example;proto=https"})
    assert forged.status_code == 400
    assert sign_in(visitor, base, "ed@example.org", PASSWORD, headers={"X-Forwarded-Proto": "http"}).status_code == 303


@pytest.mark.browser
def test_every_form_works_through_nginx_with_the_headers_chromium_sends(site: tuple[str, Settings]) -> None:
    base, settings = site
    with browser() as chromium:
        assert isinstance(chromium, Browser)
        context = chromium.new_context(ignore_https_errors=True)  # the test certificate; the rest is real TLS
        page = context.new_page()
        sent: list[dict[str, str]] = []
        page.on("request", lambda r: sent.append(r.all_headers()) if r.method == "POST" else None)
        first = page.goto(base + "/subscribe")
        assert first is not None and first.headers["referrer-policy"] == "same-origin"
        page.get_by_label("Email address").fill("lucia@example.net")
        with page.expect_navigation():
            page.get_by_role("button", name="Subscribe").click()
        assert page.locator("h1").inner_text() == "Check your inbox"
        settle()
        mail = max((settings.outbox_dir / "email").glob("confirm-*.eml"))
        text = message_from_bytes(mail.read_bytes(), policy=policy.default).get_content()
        link = re.search(re.escape(base) + r"/confirm/\S+", text)
        assert link, text
        page.goto(link.group(0))
        with page.expect_navigation():
            page.get_by_role("button", name="Confirm").click()
        assert page.locator("h1").inner_text() == "You are subscribed"
        page.goto(base + "/admin")
        page.get_by_label("Email").fill("ed@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in").click()
        assert page.locator("h1").inner_text() == "Agenda"
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert page.locator("h1").inner_text() == "Staff sign-in"
        context.close()
    assert len(sent) == 4
    for headers in sent:  # what Chromium sent with each form: its own origin, and the page, never "null"
        assert headers["origin"] == base and headers["referer"].startswith(base + "/"), headers
