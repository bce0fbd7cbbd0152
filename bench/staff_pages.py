"""Staff pages over a queue of 1,000 items: how long each takes to answer, against a baseline measured in the same run.

    python bench/staff_pages.py [--items 1000] [--rounds 15]

`bot serve` runs in this process on 127.0.0.1 (Waitress, the real app); a signed-in approver asks for each page
in turn. The baseline is reading and validating the same queue once (`queue.load`, what `bot validate` does):
a page that must know every item cannot be faster than that, so each page prints its median time and its ratio to
it. Target: every page and every save answers within 1 s at 1,000 items.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import itemfile, queue, staff  # noqa: E402
from bot.ledger import Ledger  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from tests.web_server import running  # noqa: E402

PASSWORD = "benchmark password 1"


def make_queue(folder: Path, count: int) -> str:
    """`count` items, dated a day apart, with campaigns; returns one item's id."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "content_queue" / "campaigns.yaml", folder)
    start = date(2019, 1, 1)
    for n in range(count):
        day = (start + timedelta(days=n)).isoformat()
        fields = itemfile.Fields(title=f"Item {n}: the Council hears {n} defenders", date=day,
                                 summary="The Human Rights Council hears human rights defenders from every region. "
                                 "Join #RenewIESOGI and share the call.", link=f"https://news.example.org/{n}",
                                 hashtags="LGBTI HRC41", campaign="RenewIESOGI" if n % 3 else "")
        (folder / f"{day}-item-{n}.md").write_text(itemfile.to_text(fields), encoding="utf-8")
    return f"{start.isoformat()}-item-0"


def median_ms(action: Callable[[], object], rounds: int) -> float:
    action()  # warm up
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    try:
        one = make_queue(work / "queue", args.items)
        settings = load_settings(environ={"BOT_QUEUE_DIR": str(work / "queue"), "BOT_STATE_DIR": str(work / "var"),
                                          "BOT_TIMEZONE": "Europe/Zurich"}, env_file=None)
        with Ledger.open(settings.state_dir) as ledger:
            staff.add(ledger, "ana@example.org", "approver", PASSWORD, "bench", datetime.now(UTC))
        baseline = median_ms(lambda: queue.load(settings), args.rounds)
        print(f"{args.items} items; baseline, reading and validating the queue once: {baseline:.1f} ms")
        with running(settings) as base:
            web = requests.Session()
            page = web.get(base + "/admin/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            web.post(base + "/admin/login", data={"email": "ana@example.org", "password": PASSWORD,
                                                  "csrf_token": token})
            url = f"{base}/admin/items/{one}"
            form = _form(web, url)

            def save() -> None:
                form["summary"] = form["summary"].rstrip(".") + "." if form["summary"].endswith("..") else \
                    form["summary"] + "."
                answer = web.post(url, data=form, allow_redirects=False)
                assert answer.status_code == 303, answer.status_code
                form["version"] = itemfile.current_digest(work / "queue" / f"{one}.md") or ""

            checks: list[tuple[str, Callable[[], object]]] = [
                ("GET /admin (agenda)", lambda: _ok(web.get(base + "/admin"))),
                ("GET /admin/items (all items)", lambda: _ok(web.get(base + "/admin/items"))),
                ("GET /admin/items/ID (composer)", lambda: _ok(web.get(url))),
                ("POST /admin/compose/preview", lambda: _ok(web.post(base + "/admin/compose/preview",
                                                                     data={**form, "item": one}))),
                ("POST /admin/items/ID (save)", save),
                ("GET /admin/activity", lambda: _ok(web.get(base + "/admin/activity"))),
            ]
            print(f"{'page':<34}{'median':>10}{'ratio':>8}")
            for name, action in checks:
                took = median_ms(action, args.rounds)
                print(f"{name:<34}{took:>8.1f} ms{took / baseline:>7.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ok(answer: requests.Response) -> None:
    assert answer.status_code == 200, answer.status_code


def _form(web: requests.Session, url: str) -> dict[str, Any]:
    import html

    page = web.get(url).text
    values = dict(re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="[a-z]+" value="([^"]*)"', page))
    values.update(re.findall(r'<textarea id="([a-z_]+)"[^>]*>([^<]*)</textarea>', page))
    values = {k: html.unescape(v) for k, v in values.items()}
    values["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    values["version"] = re.search(r'name="version" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    values["campaign"] = ""
    values["action"] = "save"
    return values | {"channels": re.findall(r'name="channels" value="([a-z]+)" checked', page)}


if __name__ == "__main__":
    main()
