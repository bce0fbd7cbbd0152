"""The queue: read every item and campaigns.yaml from the queue folder, validate each field, keep the valid items.

Every problem names its file and field; an invalid item is reported and left out, never half-used. A warning
(`Queue.warnings`) is worth saying but stops nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import regex
import yaml

from . import campaigns as campaign_file
from . import frontmatter as fm
from . import item_fields as fields
from . import media, utm
from .campaigns import Campaigns
from .clock import at_local
from .content import Campaign, Item, Problem, translation_of
from .errors import quoted
from .frontmatter import TAG, Invalid, check_tag
from .item_fields import check_url
from .ledger import Ledger
from .ledger import sent as sent_book
from .platforms import CHANNELS, PLATFORMS, graphemes
from .platforms import REGISTRY as POST_RULES
from .settings import Settings, require_queue_dir
from .social import override_problems

__all__ = ["CAMPAIGNS_FILE", "FIELDS", "ID", "TAG", "Queue", "changed_since_sent", "check_tag", "check_url",
           "load", "load_campaigns", "read_item", "require_folder"]

CAMPAIGNS_FILE = campaign_file.FILE
REQUIRED = ("title", "date", "summary")
OPTIONAL = ("publish_at", "link", "image", "image_alt", "image_credit", "hashtags", "campaign", "channels",
            "social", "lang", "draft")
FIELDS = REQUIRED + OPTIONAL  # the order of the README's field table, which the composer writes too
TITLE_MAX = 150
# Past this a summary is long for a newsletter's blurb: said, never refused (posts are shortened anyway).
SUMMARY_LONG = 600
SKIPPED_LISTED = 10  # file names a warning lists before it counts the rest
ID = regex.compile(r"[\p{L}\p{N}][\p{L}\p{N}._-]{0,99}")


@dataclass(slots=True)
class Queue:
    """What the queue folder holds: the valid items in publication order, and every problem found."""

    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # worth saying, but the item still goes out
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    files: int = 0
    campaign_file: Campaigns | None = None

    @property
    def invalid_ids(self) -> set[str]:
        files = {Path(p.path) for p in self.problems if p.path.endswith(".md")}
        return {path.stem for path in files if not translation_of(path.name)}  # a translation is no item


def require_folder(settings: Settings) -> Path:
    """The queue folder; ConfigError when it is not there, since no command can do its work without it."""
    return require_queue_dir(settings)


def load(settings: Settings) -> Queue:
    """Every item of the queue folder, read and checked; ConfigError when there is no queue folder."""
    folder = require_folder(settings)
    queue = Queue()
    found = load_campaigns(folder / CAMPAIGNS_FILE, queue, settings.languages)
    # Translations are read after the items, with this module's readers: imported here, as it imports this module.
    from .translations import attach, split

    every, skipped = _walk(folder)
    paths, translated = split(every)
    queue.files = len(paths)
    by_id: dict[str, list[Path]] = {}
    for path in paths:
        by_id.setdefault(path.stem.casefold(), []).append(path)
    for path in paths:
        twins = by_id[path.stem.casefold()]
        if len(twins) > 1:
            others = ", ".join(str(p) for p in twins if p != path)
            queue.problems.append(Problem(str(path), "id",
                                          f"{quoted(path.stem)} is also the id of {others}: rename one"))
            continue
        item, problems = read_item(path, settings, queue.campaigns, found, warnings=queue.warnings)
        queue.problems.extend(problems)
        if item is not None:
            queue.items.append(item)
    missing = found.missing_problem()
    if missing is not None:
        queue.problems.append(missing)
    attach(queue, paths, translated, settings)
    if skipped:
        queue.warnings.append(_skipped_warning(folder, skipped))
    queue.items.sort(key=lambda i: (i.publish_at, i.id))
    return queue


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """The item files under `folder`, and the other files a person may have meant as items. Hidden files (editors'
    and git's) are neither, nor campaigns.yaml or the pictures Herald keeps in media/."""
    items, others = [], []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(part.startswith(".") for part in parts) or not path.is_file():
            continue
        if path.suffix.lower() == ".md":
            items.append(path)
        elif parts != (CAMPAIGNS_FILE,) and parts[0] != media.FOLDER:
            others.append(path)
    return sorted(items, key=str), sorted(others, key=str)


def _skipped_warning(folder: Path, skipped: list[Path]) -> Problem:
    names = [str(p.relative_to(folder)) for p in skipped]
    shown = ", ".join(names[:SKIPPED_LISTED]) + (f" and {len(names) - SKIPPED_LISTED} more"
                                                 if len(names) > SKIPPED_LISTED else "")
    return Problem(str(folder), "files", f"not items, so skipped: {shown} (an item is a file whose name ends in .md)",
                   warning=True)


def load_campaigns(path: Path, queue: Queue, languages: tuple[str, ...]) -> Campaigns:
    """Read campaigns.yaml into `queue` (its usable campaigns and its problems); what read_item needs to judge an
    item's campaign. `languages`: BOT_LANGUAGES."""
    found, problems = campaign_file.read(path, languages)
    queue.campaigns.update(found.good)
    queue.problems.extend(problems)
    queue.campaign_file = found
    return found


def read_item(path: Path, settings: Settings, campaigns: dict[str, Campaign], campaigns_ok: Campaigns | bool = True,
              data: bytes | None = None, warnings: list[Problem] | None = None) -> tuple[Item | None, list[Problem]]:
    """One file into an Item, or None with the problems that stop it; `data` checks content not yet saved.

    `campaigns_ok` is what load_campaigns gave (True: `campaigns` is every campaign there is). Warnings, which stop
    nothing, go to `warnings` when given."""
    where = str(path)
    problems: list[Problem] = []
    found = campaigns_ok if isinstance(campaigns_ok, Campaigns) else None if campaigns_ok else \
        Campaigns(settings.queue_dir / CAMPAIGNS_FILE, unreadable=Problem(CAMPAIGNS_FILE, "file", "cannot be read"))
    if not ID.fullmatch(path.stem):
        problems.append(Problem(where, "id", f"the file name '{path.name}' is the item's id: use letters, digits, "
                                "'-', '_' and '.' only, at most 100 (e.g. 2019-07-12-un-vote.md)"))
    try:
        data = fm.read_bytes(path, settings.queue_dir) if data is None else data
        doc = fm.parse(where, data)
    except Invalid as exc:
        return None, problems + [Problem(where, exc.field, exc.message, exc.line)]
    except OSError as exc:
        return None, problems + [Problem(where, "file", f"cannot be read: {exc.strerror}")]

    values = _values(doc, where, settings, campaigns, found, problems)
    problems += _between_fields(where, doc, values)
    if warnings is not None:
        warnings.extend(_warnings(where, doc, values))
    if problems:
        return None, problems

    item = Item(
        id=path.stem, path=path, title=values["title"], date=values["date"], summary=values["summary"],
        publish_at=values["publish_at"], link=values.get("link"), image=values.get("image"),
        image_alt=values.get("image_alt"), image_credit=values.get("image_credit"),
        hashtags=values.get("hashtags", ()), campaign=values.get("campaign"),
        channels=values.get("channels", CHANNELS), social=values.get("social", {}), body=fm.markdown_body(doc.body),
        lang=values.get("lang"), draft=values.get("draft", False), digest=hashlib.sha256(data).hexdigest(),
    )
    for name, message in _post_problems(item, settings):
        problems.append(Problem(where, name, message, doc.key_lines.get(name.split(".")[0])))
    return (None, problems) if problems else (item, [])


def _values(doc: fm.Document, where: str, settings: Settings, campaigns: dict[str, Campaign],
            found: Campaigns | None, problems: list[Problem]) -> dict[str, Any]:
    """Each field's value, read by its reader; what a reader refuses goes to `problems` with its line."""
    values: dict[str, Any] = {}

    def check(name: str, read: Callable[[yaml.Node], Any]) -> None:
        node = doc.fields.get(name)
        if node is None:
            return
        try:
            values[name] = read(node)
        except Invalid as exc:
            problems.append(Problem(where, exc.field, exc.message, exc.line or doc.key_lines.get(name)))

    for name in doc.fields:
        if name not in FIELDS:
            problems.append(Problem(where, name, "unknown field" + fm.did_you_mean(name, FIELDS), doc.key_lines[name]))
    for name in REQUIRED:
        if name not in doc.fields:
            problems.append(Problem(where, name, "is required", None))

    check("title", lambda n: fm.one_line(doc, "title", n, TITLE_MAX))
    check("date", lambda n: fm.day(doc, "date", n))
    check("summary", lambda n: fields.summary(doc, n))
    check("link", lambda n: fields.url(doc, "link", n))
    check("image", lambda n: fields.image(doc, n, settings))
    check("image_alt", lambda n: fm.one_line(doc, "image_alt", n, 1000))
    check("image_credit", lambda n: fm.one_line(doc, "image_credit", n, 200))
    check("hashtags", lambda n: fm.hashtags(doc, "hashtags", n))
    check("channels", lambda n: fields.channels(doc, n))
    check("social", lambda n: fields.social(doc, n))
    check("lang", lambda n: fields.lang(doc, n))
    check("draft", lambda n: fields.flag(doc, "draft", n))
    check("campaign", lambda n: campaign_file.resolve(doc, n, campaigns, found))
    if "date" in values:
        default_at = at_local(values["date"], settings.default_post_time, settings.timezone)
        values.setdefault("publish_at", default_at)
    check("publish_at", lambda n: fields.instant(doc, n, settings))
    return values


def _warnings(where: str, doc: fm.Document, values: dict[str, Any]) -> list[Problem]:
    """What is worth a word but stops nothing: a long summary, pictures in the body."""
    found = []
    long = graphemes(values["summary"]) if "summary" in values else 0
    if long > SUMMARY_LONG:
        found.append(Problem(where, "summary", f"is {long:,} characters long: the newsletter's blurb will be long "
                             f"(the posts are shortened anyway); one to three sentences, at most {SUMMARY_LONG}, "
                             "read best", doc.key_lines["summary"], warning=True))
    return found + fm.body_pictures(where, doc)


def _between_fields(where: str, doc: fm.Document, values: dict[str, Any]) -> list[Problem]:
    """What one field asks of another: a picture's alt text, an alt text's picture, an override's channel."""
    found = []
    if "image" in values and "image_alt" not in doc.fields:
        found.append(Problem(where, "image_alt", "is required when image is set: describe the picture for readers "
                             "who cannot see it", doc.key_lines["image"]))
    for name in ("image_alt", "image_credit"):
        if name in doc.fields and "image" not in doc.fields:
            found.append(Problem(where, name, "has no image to go with (set image or remove it)", doc.key_lines[name]))
    for platform in values.get("social", {}):
        if platform not in values.get("channels", CHANNELS):
            found.append(Problem(where, f"social.{platform}", f"{platform} is not among this item's channels",
                                 doc.key_lines["social"]))
    return found


def _post_problems(item: Item, settings: Settings) -> list[tuple[str, str]]:
    """A link too long for a post, and overrides that do not fit, as they go out (tracked links tagged)."""
    found = []
    if item.link:
        for platform in (p for p in PLATFORMS if p in item.channels):
            rules = POST_RULES[platform]
            if rules.link_length(item.link) > rules.limit // 2:
                found.append(("link", f"is too long for {platform}: use a shorter address"))
                break
    return found + override_problems(item, utm.tracking(settings))


# --- with the ledger: what changed after it went out ---------------------------------------------------------


def changed_since_sent(queue: Queue, ledger: Ledger) -> list[Problem]:
    """A warning for each valid item whose file changed since a post or an edition took it: the change is not sent
    again. Content sent before the ledger kept digests says nothing. Times are in the items' zone (BOT_TIMEZONE)."""
    out = sent_book.went_out(ledger)
    warnings = []
    for item in queue.items:
        taken = [s for s in out.get(item.id, ()) if s.digest != item.digest]
        if not taken:
            continue
        zone = item.publish_at.tzinfo
        posts: dict[str, list[str]] = {}
        for post in (s for s in taken if s.channel != "email"):
            posts.setdefault(_when(post.at.astimezone(zone)), []).append(post.channel)
        places = [f"on {', '.join(channels)} on {when}" for when, channels in posts.items()]
        places += [f"in the newsletter of {_when(s.at.astimezone(zone))}" for s in taken if s.channel == "email"]
        warnings.append(Problem(str(item.path), "file", f"changed since it went out {' and '.join(places)}: the "
                                "change will not be sent again (to send the news again, write it as a new item)",
                                warning=True))
    return warnings


def _when(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y %H:%M}"
