"""The subscribe snippet of /admin pasted into another site's page (a second local server, on another port), in
Debian's headless Chromium through Playwright: its form from an allowed and from a refused origin, a script's fetch()
with CORS, axe-core on the thanks page, the snippet's section, the page it is pasted into and Herald's own form.

Screenshots at phone and desktop widths land in var/screenshots/web-embed-*.png for a person to look at."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from werkzeug.security import generate_password_hash

from bot import subscribers
from bot.ledger import Ledger, langs
from bot.settings import Settings

from .browser import SCREENSHOTS, browser, serve
from .web_server import running, settle

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
WIDTHS = {"phone": 375, "desktop": 1280}
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Geneva Rights Desk</title></head>
<body>
<main>
<h1>Geneva Rights Desk</h1>
{snippet}</main>
</body>
</html>
"""
# A script on that site, sending the form's fields as a form (no preflight) or as JSON (after a preflight).
FETCH = """async ([action, email, asJson]) => {
  const body = asJson ? JSON.stringify({email}) : new URLSearchParams({email});
  const headers = {Accept: "application/json"};
  if (asJson) headers["Content-Type"] = "application/json";
  try {
    const answer = await fetch(action, {method: "POST", body, headers});
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {failed: String(error)};
  }
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def status_of(settings: Settings, email: str) -> str | None:
    settle()
    with Ledger.open(settings.state_dir) as ledger:
        found = subscribers.get(ledger, email=email)
    return found.status if found else None


def shoot(page: Any, name: str, element: str | None = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
        path = str(SCREENSHOTS / f"web-embed-{name}-{label}.png")
        if element:
            page.locator(element).screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)


def no_violations(axe: Axe, page: Any, name: str, context: str | None = None) -> None:
    found = axe.run(page, context=context, options={"resultTypes": ["violations"], "iframes": False})
    assert found.violations_count == 0, f"{name}: {found.generate_report()}"


def test_the_snippet_on_another_site_allowed_and_refused(make_settings, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    axe = Axe()
    with serve(folder) as allowed_site, serve(folder) as other_site, browser() as chromium:
        port = free_port()
        herald = f"http://127.0.0.1:{port}"
        site = make_settings(BOT_PUBLIC_URL=herald, BOT_EMBED_ORIGINS=allowed_site,
                             BOT_ADMIN_PASSWORD=generate_password_hash(PASSWORD))
        site.queue_dir.mkdir(parents=True)
        with running(site, port=port) as base:
            assert base == herald
            admin = chromium.new_page()
            admin.goto(f"{base}/admin")
            admin.get_by_label("Email").fill("admin")
            admin.get_by_label("Password").fill(PASSWORD)
            admin.get_by_role("button", name="Sign in").click()
            admin.get_by_role("heading", name="Agenda").wait_for()
            snippet = admin.get_by_label("HTML to paste").input_value()
            no_violations(axe, admin, "/admin's snippet section", "#embed-html")
            no_violations(axe, admin, "/admin")
            shoot(admin, "admin")
            (folder / "index.html").write_text(PAGE.format(snippet=snippet), encoding="utf-8")
            admin.goto(f"{base}/subscribe")  # Herald's own form, with its honeypot
            no_violations(axe, admin, "/subscribe")
            assert admin.get_by_role("textbox").count() == 2

            page = chromium.new_page()
            page.goto(f"{allowed_site}/index.html")
            no_violations(axe, page, "the page the snippet is pasted into")
            assert page.get_by_role("textbox").count() == 2  # the honeypot is nobody's field
            trap = page.locator("#herald-website").bounding_box()
            assert trap is not None and trap["x"] + trap["width"] <= 0  # off screen
            page.get_by_label("Email address").focus()
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")  # from the name to the language
            assert page.evaluate("document.activeElement.id") == "herald-lang"
            page.keyboard.press("Tab")  # then straight to the button: the honeypot is out of the tab order
            assert page.evaluate("document.activeElement.textContent") == "Subscribe"
            shoot(page, "site")
            page.get_by_label("Email address").fill("lea@example.ch")
            page.get_by_label("Name (optional)").fill("Léa Muster")
            page.get_by_label("Language").select_option(label="Français")
            page.get_by_role("button", name="Subscribe").click()
            page.wait_for_url(f"{base}/subscribe/thanks?lang=fr")  # in the language she chose
            page.get_by_role("heading", name="Consultez votre boîte de réception").wait_for()
            assert "lea@example.ch" not in page.content()
            assert status_of(site, "lea@example.ch") == "pending"
            with Ledger.open(site.state_dir) as ledger:
                assert langs.of(ledger, "lea@example.ch") == "fr"  # the language she chose on the other site
            no_violations(axe, page, "the thanks page")
            shoot(page, "thanks")

            page.goto(f"{allowed_site}/index.html")
            for n, as_json in enumerate((False, True)):
                sent = page.evaluate(FETCH, [f"{base}/subscribe", f"script{n}@example.ch", as_json])
                assert sent["status"] == 200 and sent["body"]["ok"] is True, sent
                assert sent["body"]["message"].startswith("If the address you gave can receive")
                assert status_of(site, f"script{n}@example.ch") == "pending"

            other = chromium.new_page()
            other.goto(f"{other_site}/index.html")
            other.get_by_label("Email address").fill("mallory@example.ch")
            with other.expect_response(f"{base}/subscribe") as refused:
                other.get_by_role("button", name="Subscribe").click()
            assert refused.value.status == 403
            other.get_by_role("heading", name="Not allowed").wait_for()
            other.goto(f"{other_site}/index.html")
            for n, as_json in enumerate((False, True)):
                sent = other.evaluate(FETCH, [f"{base}/subscribe", f"mallory{n}@example.ch", as_json])
                assert "Failed to fetch" in sent.get("failed", ""), sent  # CORS: the script reads nothing
            for email in ("mallory@example.ch", "mallory0@example.ch", "mallory1@example.ch"):
                assert status_of(site, email) is None
