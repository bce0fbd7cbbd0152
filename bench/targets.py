"""Speed targets that are not about the wire, each against a baseline measured in the same run.

    python bench/targets.py

- An edition of 50 items rendered (Jinja2, MJML, text): target <= 20 ms; baseline: mjml-python compiling
  the same MJML alone (the floor a renderer on this compiler cannot go under).
- `bot validate` of 10,000 queue files, from process start: target <= 5 s; baseline: a Python process that only
  reads the same files.
- `bot run --once` with nothing due, from process start: target <= 1 s; baseline: `python -c pass`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BOT = [sys.executable, "-m", "bot", "--env-file", "/dev/null"]


def best(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms (median of {len(samples)})"


def render_50() -> None:
    from mjml import mjml2html

    from bot import queue, render
    from bot.settings import load_settings

    settings = load_settings(environ={"BOT_QUEUE_DIR": str(ROOT / "content_queue")}, env_file=None)
    sample = [i for i in queue.load(settings).items if "email" in i.channels]
    items = [dataclasses.replace(sample[n % len(sample)], id=f"item-{n}", date=date(2019, 7, 1) + timedelta(n % 28))
             for n in range(50)]
    kwargs = dict(edition_date=date(2019, 7, 26), unsubscribe_url="https://news.example.org/unsubscribe/T",
                  archive_url="https://news.example.org/archive/1")
    render.render_newsletter(items, settings, **kwargs)  # templates compiled once, as in a long-running bot
    herald, floor = [], []
    for _ in range(30):
        start = time.perf_counter()
        render.render_newsletter(items, settings, **kwargs)
        herald.append(time.perf_counter() - start)
    source, _, _ = render.render_sources(items, settings, **kwargs)
    for _ in range(30):
        start = time.perf_counter()
        mjml2html(source, disable_comments=True, fonts={})
        floor.append(time.perf_counter() - start)
    ratio = statistics.median(herald) / statistics.median(floor)
    print(f"render, 50 items:       Herald {best(herald)}; mjml2html alone {best(floor)}; ratio {ratio:.1f}; "
          f"target 20 ms: {'met' if statistics.median(herald) <= 0.020 else 'MISSED'}")


def translation_of(name: str) -> bool:
    from bot.content import translation_of as named

    return named(name) is not None


def queue_of(folder: Path, count: int) -> None:
    """`count` items like the sample's, each with its own link (links are measured, and cached by text)."""
    sample = sorted(p for p in (ROOT / "content_queue").glob("*.md") if not translation_of(p.name))  # items only
    (folder / "campaigns.yaml").write_bytes((ROOT / "content_queue" / "campaigns.yaml").read_bytes())
    for n in range(count):
        text = sample[n % len(sample)].read_text()
        text = text.replace("link: https://news.example.org/", f"link: https://news.example.org/{n}/")
        (folder / f"item-{n:05d}.md").write_text(text)


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def validate_10k() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "queue"
        folder.mkdir()
        queue_of(folder, 10_000)
        env = dict(os.environ, BOT_QUEUE_DIR=str(folder), BOT_STATE_DIR=str(Path(tmp) / "var"))
        read_only = [sys.executable, "-c", f"import pathlib; [p.read_bytes() for p in pathlib.Path({str(folder)!r})"
                                           ".rglob('*.md')]"]
        herald = [timed(BOT + ["validate"], env) for _ in range(3)]
        floor = [timed(read_only, env) for _ in range(3)]
    print(f"validate, 10,000 files: Herald {best(herald)}; reading them only {best(floor)}; "
          f"ratio {statistics.median(herald) / statistics.median(floor):.1f}; target 5 s: "
          f"{'met' if statistics.median(herald) <= 5 else 'MISSED'}")


def idle_run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, BOT_QUEUE_DIR=str(ROOT / "content_queue"), BOT_STATE_DIR=str(Path(tmp) / "var"),
                   BOT_TIMEZONE="Europe/Zurich")
        # Play the sample once, so that the run measured finds everything done and nothing due.
        subprocess.run(BOT + ["run", "--once", "--now", "2019-07-30T09:00"], env=env, capture_output=True)
        herald = [timed(BOT + ["run", "--once", "--now", "2019-07-30T09:05"], env) for _ in range(5)]
        floor = [timed([sys.executable, "-c", "pass"], env) for _ in range(5)]
    print(f"run --once, nothing due: Herald {best(herald)}; python -c pass {best(floor)}; "
          f"ratio {statistics.median(herald) / statistics.median(floor):.1f}; target 1 s: "
          f"{'met' if statistics.median(herald) <= 1 else 'MISSED'}")


if __name__ == "__main__":
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    render_50()
    validate_10k()
    idle_run()
