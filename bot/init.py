"""`bot init`: a new organisation's queue, example draft, campaigns.yaml and .env with a fresh secret; no overwrites."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from . import itemfile, queue
from .errors import HeraldError
from .settings import load_settings

QUEUE_DIR = "content_queue"  # BOT_QUEUE_DIR's default, so the .env written beside it needs no path
CAMPAIGN = "DefendDefenders"

SUMMARY = ("After three years of consultations, a coalition of national organisations has handed the government "
           "a draft law that recognises the work of human rights defenders and sets out how the State must protect "
           "them from reprisals.")
BODY = """The draft says who counts as a defender, what the authorities must do when one is threatened, and how an
independent protection mechanism would be funded and overseen. The coalition asks Parliament to debate it before
the end of the session.

*This is the example item that `bot init` wrote. It is a draft (`draft: true`), so it is never sent: make it your
own news and approve it (`bot approve ITEM`, or Approve in the staff pages), or delete the file.*"""

CAMPAIGNS = """\
# Campaigns: while an item's publish_at falls between start and end (both included), its posts carry the
# campaign's hashtags as well as its own. An item joins one with `campaign: KEY`; the key is the line that
# starts a campaign. This one is an example for the example item: change it, or delete both.
{key}:
  name: Protect human rights defenders
  hashtags: [{key}, HRDs]
  start: {start}
  end: {end}
"""


@dataclass(slots=True)
class Outcome:
    """What `bot init` did: the files it created and those it found and left as they were."""

    created: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)  # (path, why it was left alone)


def init(folder: Path, zone: ZoneInfo, today: date) -> Outcome:
    """Create what a new organisation needs in `folder`; any file that exists already is kept as it is."""
    done = Outcome()
    queue_dir = folder / QUEUE_DIR
    try:
        queue_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HeraldError(f"{queue_dir}: cannot create the folder: {exc.strerror}") from None
    campaigns = queue_dir / queue.CAMPAIGNS_FILE
    _create(campaigns, _campaigns(today), 0o644, done)
    if any(p.is_file() for p in queue_dir.rglob("*.md")):  # its own items need no example (nor a second one)
        done.kept.append((queue_dir, "it holds items already: no example added"))
    else:
        # A campaigns.yaml found there may not hold the example campaign.
        fields = example_item(today, with_campaign=campaigns in done.created)
        _create(queue_dir / f"{itemfile.suggest_id(fields.date, fields.title)}.md", itemfile.to_text(fields), 0o644,
                done)
    _create(folder / ".env", env_text(zone), 0o600, done)
    _check(folder, zone, done)
    return done


def example_item(today: date, with_campaign: bool = True) -> itemfile.Fields:
    return itemfile.Fields(
        title="Civil society hands the government a draft law to protect human rights defenders",
        date=today.isoformat(), summary=SUMMARY, link="https://www.example.org/news/draft-law-on-defenders",
        hashtags="HumanRights", campaign=CAMPAIGN if with_campaign else "", draft=True, body=BODY)


def next_steps(folder: Path) -> list[str]:
    """What to do next, in a few lines a person can follow."""
    here = folder.resolve() == Path.cwd().resolve()
    return ["Next:" if here else f"Next, in {folder} (cd {folder} first):",
            "  edit .env: BOT_ORG_NAME, BOT_ORG_ADDRESS, MAIL_FROM, BOT_PUBLIC_URL, and a backend per channel "
            "(until then all goes to the outbox)",
            "  bot validate checks the queue; bot preview shows what would go out",
            "  bot staff add YOU@EXAMPLE.ORG --role admin, then bot serve: staff pages at http://127.0.0.1:8080/admin",
            "  once a real backend is set: bot doctor, then bot run (or bot serve --with-scheduler)"]


def _campaigns(today: date) -> str:
    return CAMPAIGNS.format(key=CAMPAIGN, start=today.isoformat(), end=(today + timedelta(days=60)).isoformat())


def env_text(zone: ZoneInfo) -> str:
    """The package's copy of .env.example with a new BOT_SECRET and the chosen time zone."""
    text = resources.files("bot").joinpath("env.example").read_text(encoding="utf-8")
    text = ("# Written by `bot init` from .env.example, with a BOT_SECRET made for this organisation alone:\n"
            "# keep this file private and out of version control.\n") + text
    text = _set(text, "BOT_SECRET", secrets.token_urlsafe(48))
    return _set(text, "BOT_TIMEZONE", zone.key)


def _set(text: str, name: str, value: str) -> str:
    line = re.compile(rf"^{name}=.*$", re.MULTILINE)
    if not line.search(text):
        return text.rstrip("\n") + f"\n{name}={value}\n"
    return line.sub(lambda _: f"{name}={value}", text, count=1)


def _create(path: Path, text: str, mode: int, done: Outcome) -> None:
    """Write a new file with `mode`; an existing one (even one made in the same instant) is kept untouched."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        done.kept.append((path, "it exists: left as it was"))
        return
    except OSError as exc:
        raise HeraldError(f"{path}: cannot write: {exc.strerror}") from None
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    done.created.append(path)


def _check(folder: Path, zone: ZoneInfo, done: Outcome) -> None:
    """What was just written must pass `bot validate`: a failure here is a bug in Herald, said plainly."""
    settings = load_settings(environ={"BOT_TIMEZONE": zone.key}, env_file=None,
                             overrides={"BOT_QUEUE_DIR": str(folder / QUEUE_DIR), "BOT_STATE_DIR": str(folder / "var")})
    loaded = queue.load(settings)
    mine = [p for p in loaded.problems if Path(p.path) in done.created]
    if mine:
        raise HeraldError("bot init wrote a file that does not validate (a bug): " + "; ".join(map(str, mine)))
