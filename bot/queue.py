"""The queue: read every item and campaigns.yaml from the queue folder, validate each field, keep the valid items.

Every problem names its file and field; an invalid item is reported and left out, never half-used.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import regex
import yaml

from . import frontmatter as fm
from . import media
from .addresses import literal_private
from .clock import at_local, parse_day, parse_instant
from .content import Campaign, Item, Problem, dedupe_tags
from .frontmatter import Invalid
from .settings import CHANNELS, PLATFORMS, Settings
from .social import PLATFORMS as POST_RULES
from .social import graphemes, override_problems

CAMPAIGNS_FILE = "campaigns.yaml"
REQUIRED = ("title", "date", "summary")
OPTIONAL = ("publish_at", "link", "image", "image_alt", "image_credit", "hashtags", "campaign", "channels",
            "social", "lang", "draft")
FIELDS = REQUIRED + OPTIONAL  # the order of the README's field table, which the composer writes too
CAMPAIGN_FIELDS = ("name", "hashtags", "start", "end")
TITLE_MAX = 150
SUMMARY_MAX = 600
ID = regex.compile(r"[\p{L}\p{N}][\p{L}\p{N}._-]{0,99}")
TAG = regex.compile(r"[\p{L}\p{M}\p{N}_]+")
KEY = regex.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_LINE_BREAK = regex.compile(r"[\n\r\u2028\u2029\x85]")
_CONTROL = regex.compile(r"[^\P{Cc}\n\t]")
_SPACE_OR_CONTROL = regex.compile(r"[\s\p{Cc}]")
_LETTER = regex.compile(r"\p{L}")
_LANGUAGE = regex.compile(r"[a-z]{2,3}")
_SCHEME = regex.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(slots=True)
class Queue:
    """What the queue folder holds: the valid items in publication order, and every problem found."""

    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # worth saying, but the item still goes out
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    files: int = 0

    @property
    def invalid_ids(self) -> set[str]:
        return {Path(p.path).stem for p in self.problems if p.path.endswith(".md")}


def load(settings: Settings) -> Queue:
    folder = settings.queue_dir
    queue = Queue()
    if not folder.is_dir():
        queue.problems.append(Problem(str(folder), "folder", "does not exist (set BOT_QUEUE_DIR or create it)"))
        return queue
    campaigns_ok = load_campaigns(folder / CAMPAIGNS_FILE, queue)
    paths = sorted((p for p in folder.rglob("*") if p.suffix.lower() == ".md" and p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)), key=str)
    queue.files = len(paths)
    by_id: dict[str, list[Path]] = {}
    for path in paths:
        by_id.setdefault(path.stem.casefold(), []).append(path)
    for path in paths:
        twins = by_id[path.stem.casefold()]
        if len(twins) > 1:
            others = ", ".join(str(p) for p in twins if p != path)
            queue.problems.append(Problem(str(path), "id", f"{path.stem!r} is also the id of {others}: rename one"))
            continue
        item, problems = read_item(path, settings, queue.campaigns, campaigns_ok)
        queue.problems.extend(problems)
        if item is not None:
            queue.items.append(item)
    queue.items.sort(key=lambda i: (i.publish_at, i.id))
    return queue


def read_file(path: Path, folder: Path) -> bytes:
    """A queue file's bytes, judged before they are read: over the size limit it is refused from its size alone
    (a 400 MB file costs no memory), and a link whose file is outside `folder` (the queue) is refused, never read:
    a queue file is what the queue's writers put there. Raises Invalid (field `file`) or OSError."""
    real = path.resolve()
    if not real.is_relative_to(folder.resolve()):
        raise Invalid("file", "is a link to a file outside the queue folder: copy the file into the queue instead")
    # O_NOFOLLOW: the place checked is the place read; O_NONBLOCK: a FIFO put there cannot hang the run.
    descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise Invalid("file", "is not a regular file")
        if found.st_size > fm.MAX_FILE_BYTES:
            raise Invalid("file", f"is {found.st_size:,} bytes; a queue file may be at most {fm.MAX_FILE_BYTES:,}")
        data = handle.read(fm.MAX_FILE_BYTES + 1)  # never more, should it grow meanwhile
    if len(data) > fm.MAX_FILE_BYTES:
        raise Invalid("file", f"is more than {fm.MAX_FILE_BYTES:,} bytes; a queue file may be at most "
                              f"{fm.MAX_FILE_BYTES:,}")
    return data


def read_item(path: Path, settings: Settings, campaigns: dict[str, Campaign], campaigns_ok: bool = True,
              data: bytes | None = None) -> tuple[Item | None, list[Problem]]:
    """One file into an Item, or None with the problems that stop it; `data` checks content not yet saved."""
    where = str(path)
    problems: list[Problem] = []
    if not ID.fullmatch(path.stem):
        problems.append(Problem(where, "id", f"the file name {path.name!r} is the item's id: use letters, digits, "
                                "'-', '_' and '.' only, at most 100 (e.g. 2019-07-12-un-vote.md)"))
    try:
        data = read_file(path, settings.queue_dir) if data is None else data
        doc = fm.parse(where, data)
    except Invalid as exc:
        return None, problems + [Problem(where, exc.field, exc.message, exc.line)]
    except OSError as exc:
        return None, problems + [Problem(where, "file", f"cannot be read: {exc.strerror}")]

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
            problems.append(Problem(where, name, "unknown field" + _did_you_mean(name, FIELDS), doc.key_lines[name]))
    for name in REQUIRED:
        if name not in doc.fields:
            problems.append(Problem(where, name, "is required", None))

    check("title", lambda n: _line(doc, "title", n, TITLE_MAX))
    check("date", lambda n: _day(doc, "date", n))
    check("summary", lambda n: _summary(doc, n))
    check("link", lambda n: _url(doc, "link", n))
    check("image", lambda n: _image(doc, n, settings))
    check("image_alt", lambda n: _line(doc, "image_alt", n, 1000))
    check("image_credit", lambda n: _line(doc, "image_credit", n, 200))
    check("hashtags", lambda n: _hashtags(doc, "hashtags", n))
    check("channels", lambda n: _channels(doc, n))
    check("social", lambda n: _social(doc, n))
    check("lang", lambda n: _lang(doc, n))
    check("draft", lambda n: _flag(doc, "draft", n))
    check("campaign", lambda n: _campaign(doc, n, campaigns, campaigns_ok))
    if "date" in values:
        default_at = at_local(values["date"], settings.default_post_time, settings.timezone)
        values.setdefault("publish_at", default_at)
    check("publish_at", lambda n: _instant(doc, n, settings))

    if "image" in values and "image_alt" not in doc.fields:
        problems.append(Problem(where, "image_alt", "is required when image is set: describe the picture for "
                                "readers who cannot see it", doc.key_lines["image"]))
    for name in ("image_alt", "image_credit"):
        if name in doc.fields and "image" not in doc.fields:
            problems.append(Problem(where, name, "has no image to go with (set image or remove it)",
                                    doc.key_lines[name]))
    for platform in values.get("social", {}):
        if platform not in values.get("channels", CHANNELS):
            problems.append(Problem(where, f"social.{platform}", f"{platform} is not among this item's channels",
                                    doc.key_lines["social"]))
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
    for name, message in _post_problems(item):
        problems.append(Problem(where, name, message, doc.key_lines.get(name.split(".")[0])))
    return (None, problems) if problems else (item, [])


def _post_problems(item: Item) -> list[tuple[str, str]]:
    found = []
    if item.link:
        for platform in (p for p in PLATFORMS if p in item.channels):
            rules = POST_RULES[platform]
            if rules.link_length(item.link) > rules.limit // 2:
                found.append(("link", f"is too long for {platform}: use a shorter address"))
                break
    return found + override_problems(item)


# --- field readers --------------------------------------------------------------------------------


def _line(doc: fm.Document, name: str, node: yaml.Node, limit: int) -> str:
    value = fm.text(doc, name, node).strip()
    if not value:
        raise Invalid(name, "is empty", doc.line(node))
    if _LINE_BREAK.search(value):
        raise Invalid(name, "contains a line break: keep it on one line", doc.line(node))
    if _CONTROL.search(value):
        raise Invalid(name, "contains a control character", doc.line(node))
    if len(value) > limit and graphemes(value) > limit:  # never more clusters than code points
        raise Invalid(name, f"is {graphemes(value)} characters long; at most {limit}", doc.line(node))
    return value


def _summary(doc: fm.Document, node: yaml.Node) -> str:
    value = fm.text(doc, "summary", node).strip()
    if not value:
        raise Invalid("summary", "is empty", doc.line(node))
    if _CONTROL.search(value.replace("\n", " ")):
        raise Invalid("summary", "contains a control character", doc.line(node))
    if len(value) > SUMMARY_MAX and graphemes(value) > SUMMARY_MAX:
        raise Invalid("summary", f"is {graphemes(value)} characters long; keep it to one to three sentences "
                      f"(at most {SUMMARY_MAX})", doc.line(node))
    return value


def _day(doc: fm.Document, name: str, node: yaml.Node) -> date:
    try:
        return parse_day(fm.text(doc, name, node))
    except ValueError as exc:
        raise Invalid(name, str(exc), doc.line(node)) from None


def _instant(doc: fm.Document, node: yaml.Node, settings: Settings) -> datetime:
    try:
        return parse_instant(fm.text(doc, "publish_at", node), settings.timezone).astimezone(settings.timezone)
    except ValueError as exc:
        raise Invalid("publish_at", str(exc), doc.line(node)) from None


def check_url(value: str, *, allow_private: bool = False) -> str | None:
    """Why `value` is not an absolute http(s) URL on the public internet, or None when it is.

    Offline and fast: only `localhost` and literal addresses are judged here; a name that resolves to a private
    address is refused when the picture is fetched (bot.channels.http.fetch_image)."""
    if _SPACE_OR_CONTROL.search(value):
        return "contains a space or a control character"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        if not parts.scheme:
            return "must be a whole address starting with https:// (or http://)"
        return f"must be a web address starting with https:// (or http://), not {parts.scheme}:"
    if not parts.hostname or ("." not in parts.hostname.strip(".") and parts.hostname != "localhost"):
        return "has no host name"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    if len(value) > 2000:
        return "is longer than 2,000 characters"
    local = None if allow_private else literal_private(parts.hostname)
    if local:
        return (f"points to {local}, a private or local address: only public internet addresses are allowed "
                "(BOT_FETCH_ALLOW_PRIVATE=1 allows pictures from an intranet)")
    return None


def _url(doc: fm.Document, name: str, node: yaml.Node) -> str:
    value = fm.text(doc, name, node).strip()
    why = check_url(value)
    if why:
        raise Invalid(name, why, doc.line(node))
    return value


def _image(doc: fm.Document, node: yaml.Node, settings: Settings) -> str:
    """An http(s) URL, or media/NAME: a picture stored by `bot media add` in the queue's media folder."""
    value = fm.text(doc, "image", node).strip()
    if _SCHEME.match(value) or value.startswith("//"):
        why = check_url(value, allow_private=settings.fetch_allow_private)  # an intranet's own picture servers
    else:
        why = media.check_local(settings, value)
    if why:
        raise Invalid("image", why, doc.line(node))
    return value


def check_tag(tag: str) -> str | None:
    if tag.startswith("#"):
        return f"write {tag!r} without '#'"
    if not TAG.fullmatch(tag):
        return f"{tag!r} may hold only letters, digits and '_' (no spaces or punctuation)"
    if not _LETTER.search(tag):
        return f"{tag!r} needs at least one letter: networks do not link a tag of digits only"
    if graphemes(tag) > 64:
        return f"{tag!r} is longer than 64 characters (Bluesky's limit)"
    return None


def _hashtags(doc: fm.Document, name: str, node: yaml.Node) -> tuple[str, ...]:
    tags = []
    for tag, line in fm.words(doc, name, node):
        why = check_tag(tag.strip())
        if why:
            raise Invalid(name, why, line)
        tags.append(tag.strip())
    return dedupe_tags(tags)


def _channels(doc: fm.Document, node: yaml.Node) -> tuple[str, ...]:
    chosen = []
    for value, line in fm.words(doc, "channels", node, allow_single=True):
        if value not in CHANNELS:
            raise Invalid("channels", f"unknown channel {value!r}{_did_you_mean(value, CHANNELS)}; "
                          f"choose from {', '.join(CHANNELS)}", line)
        chosen.append(value)
    if not chosen:
        raise Invalid("channels", "is empty: name at least one of " + ", ".join(CHANNELS), doc.line(node))
    return tuple(c for c in CHANNELS if c in chosen)


def _social(doc: fm.Document, node: yaml.Node) -> dict[str, str]:
    out = {}
    for key, value_node, line in fm.mapping(doc, "social", node):
        if key not in PLATFORMS:
            raise Invalid("social", f"unknown platform {key!r}{_did_you_mean(key, PLATFORMS)}; "
                          f"choose from {', '.join(PLATFORMS)}", line)
        text = fm.text(doc, f"social.{key}", value_node).strip()
        if not text:
            raise Invalid(f"social.{key}", "is empty", line)
        if _CONTROL.search(text):
            raise Invalid(f"social.{key}", "contains a control character", line)
        out[key] = text
    return out


def _flag(doc: fm.Document, name: str, node: yaml.Node) -> bool:
    value = fm.text(doc, name, node).strip().lower()
    if value not in ("true", "false", "yes", "no"):
        raise Invalid(name, f"{value!r} is not true or false", doc.line(node))
    return value in ("true", "yes")


def _lang(doc: fm.Document, node: yaml.Node) -> str:
    value = fm.text(doc, "lang", node).strip()
    if not _LANGUAGE.fullmatch(value):
        raise Invalid("lang", f"{value!r} is not an ISO 639-1 language code such as en or fr", doc.line(node))
    return value


def _campaign(doc: fm.Document, node: yaml.Node, campaigns: dict[str, Campaign], known: bool) -> Campaign:
    key = fm.text(doc, "campaign", node).strip()
    if key not in campaigns:
        if not known:
            raise Invalid("campaign", f"unknown campaign {key!r}: {CAMPAIGNS_FILE} is missing or has problems",
                          doc.line(node))
        raise Invalid("campaign", f"unknown campaign {key!r}{_did_you_mean(key, campaigns)}; "
                      f"{CAMPAIGNS_FILE} has: {', '.join(sorted(campaigns)) or 'none'}", doc.line(node))
    return campaigns[key]


def _did_you_mean(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- campaigns.yaml -------------------------------------------------------------------------------


def load_campaigns(path: Path, queue: Queue) -> bool:
    """Fill queue.campaigns; False when the file is missing or any campaign has a problem."""
    if not path.exists():
        return False
    where = str(path)
    try:
        doc = fm.parse_yaml(where, fm.decode(where, read_file(path, path.parent)), "", 1, "campaigns")
    except Invalid as exc:
        queue.problems.append(Problem(where, exc.field, exc.message, exc.line))
        return False
    except OSError as exc:
        queue.problems.append(Problem(where, "file", f"cannot be read: {exc.strerror}"))
        return False
    ok = True
    for key, node in doc.fields.items():
        line = doc.key_lines[key]
        try:
            campaign = _campaign_entry(doc, key, node, line)
        except Invalid as exc:
            queue.problems.append(Problem(where, exc.field, exc.message, exc.line or line))
            ok = False
            continue
        queue.campaigns[key] = campaign
    return ok


def _campaign_entry(doc: fm.Document, key: str, node: yaml.Node, line: int) -> Campaign:
    if not KEY.fullmatch(key):
        raise Invalid(key, "a campaign key may hold only letters, digits, '-' and '_'", line)
    entries = {k: (v, ln) for k, v, ln in fm.mapping(doc, key, node)}
    for name, (_, ln) in entries.items():
        if name not in CAMPAIGN_FIELDS:
            raise Invalid(f"{key}.{name}", "unknown field" + _did_you_mean(name, CAMPAIGN_FIELDS), ln)
    for name in CAMPAIGN_FIELDS:
        if name not in entries:
            raise Invalid(f"{key}.{name}", "is required", line)
    name = _line(doc, f"{key}.name", entries["name"][0], 150)
    tags = _hashtags(doc, f"{key}.hashtags", entries["hashtags"][0])
    start = _day(doc, f"{key}.start", entries["start"][0])
    end = _day(doc, f"{key}.end", entries["end"][0])
    if end < start:
        raise Invalid(f"{key}.end", f"{end} is before start {start}", entries["end"][1])
    return Campaign(key, name, tags, start, end)
