"""Queue writing: an item's fields into the file a person would write, saved atomically over the version it was read as.

The composer, `bot new` and `bot approve` all write through here, so the web, the CLI and git produce the same
files: front matter in the order of the README's field table, a value quoted only where YAML needs it, then
the Markdown body.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import subprocess
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from . import frontmatter as fm
from . import private
from .errors import HeraldError
from .platforms import CHANNELS, PLATFORMS
from .queue import FIELDS, TAG

log = logging.getLogger("herald")
_SPLIT_TAGS = re.compile(r"[\s,]+")
_LOCK_NAME = "queue-write.lock"

THREAD_BREAK = "\n---\n"  # how the composer shows the parts of a reply thread, one textarea per platform
_PART = re.compile(r"^[ \t]*---[ \t]*$", re.MULTILINE)


class StaleEdit(HeraldError):
    """The file changed on disk since the form (or command) read it: nothing was written."""


@dataclass(frozen=True, slots=True)
class Fields:
    """An item as a person typed it: every value is the text of its field, not yet validated."""

    id: str = ""
    title: str = ""
    date: str = ""
    summary: str = ""
    publish_at: str = ""
    link: str = ""
    image: str = ""
    image_alt: str = ""
    image_credit: str = ""
    hashtags: str = ""  # as typed: separated by spaces or commas, with or without '#'
    campaign: str = ""
    channels: tuple[str, ...] = CHANNELS
    # The channels the form offered (those not `off`, and any the file names): all of them ticked is written as no
    # `channels` field, which means every channel, so that a platform turned on later gets the item too.
    offered: tuple[str, ...] = field(default=CHANNELS, compare=False)
    social: Mapping[str, str] = field(default_factory=dict)
    lang: str = ""
    draft: bool = False
    body: str = ""

    @property
    def tags(self) -> list[str]:
        return [t.lstrip("#") for t in _SPLIT_TAGS.split(self.hashtags) if t.lstrip("#")]


def tidy(text: str, one_line: bool = False) -> str:
    """What a form's text becomes in the file: LF line ends, no trailing spaces on a line, none around it."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if one_line:
        return text.strip()
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def tidy_body(text: str) -> str:
    """A Markdown body from a form: LF line ends and no blank lines around it; indentation and hard breaks kept."""
    return fm.markdown_body(text.replace("\r\n", "\n").replace("\r", "\n"))


def from_form(form: Mapping[str, str], channels: list[str] | None, with_id: bool,
              offered: tuple[str, ...] = CHANNELS) -> Fields:
    """Fields from a submitted form, named as the queue fields (`social_x`, ... for the overrides)."""
    def one(name: str) -> str:
        return tidy(form.get(name, ""), one_line=True)

    social = {p: tidy(form.get(f"social_{p}", "")) for p in PLATFORMS if tidy(form.get(f"social_{p}", ""))}
    return Fields(id=one("id") if with_id else "", title=one("title"), date=one("date"),
                  summary=tidy(form.get("summary", "")), publish_at=one("publish_at"), link=one("link"),
                  image=one("image"), image_alt=one("image_alt"), image_credit=one("image_credit"),
                  hashtags=" ".join(_SPLIT_TAGS.split(one("hashtags"))).strip(), campaign=one("campaign"),
                  channels=tuple(c for c in offered if c in (channels or ())), social=social, lang=one("lang"),
                  draft=form.get("draft", "") in ("1", "on", "true"), body=tidy_body(form.get("body", "")),
                  offered=offered)


def read(path: Path, item_id: str, data: bytes) -> Fields:
    """The fields of a file as written in it (raises frontmatter.Invalid when it cannot be parsed)."""
    doc = fm.parse(str(path), data)

    def scalar(name: str, node: yaml.Node | None = None) -> str:
        node = node if node is not None else doc.fields.get(name)
        return node.value if isinstance(node, yaml.ScalarNode) and not fm.is_null(node) else ""

    def listed(name: str) -> list[str]:
        node = doc.fields.get(name)
        if isinstance(node, yaml.SequenceNode):
            return [n.value for n in node.value if isinstance(n, yaml.ScalarNode)]
        return [node.value] if isinstance(node, yaml.ScalarNode) and not fm.is_null(node) else []

    social: dict[str, str] = {}
    node = doc.fields.get("social")
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            # A reply thread is shown as its parts with a line of three dashes between them, as it is typed.
            nodes = value.value if isinstance(value, yaml.SequenceNode) else [value]
            parts = [scalar("", v) for v in nodes]
            if isinstance(key, yaml.ScalarNode) and any(parts):
                social[key.value] = THREAD_BREAK.join(p for p in parts if p)
    channels = tuple(listed("channels")) if "channels" in doc.fields else CHANNELS
    return Fields(id=item_id, title=scalar("title"), date=scalar("date"), summary=scalar("summary"),
                  publish_at=scalar("publish_at"), link=scalar("link"), image=scalar("image"),
                  image_alt=scalar("image_alt"), image_credit=scalar("image_credit"),
                  hashtags=" ".join(listed("hashtags")), campaign=scalar("campaign"), channels=channels,
                  social=social, lang=scalar("lang"), draft=scalar("draft").lower() in ("true", "yes"),
                  body=fm.markdown_body(doc.body))


# --- writing ----------------------------------------------------------------------------------------------


def to_text(f: Fields) -> str:
    """The file for `f`: front matter in the README's field order, then the body."""
    values: dict[str, str] = {
        "title": _scalar(f.title), "date": _scalar(f.date), "summary": _folded(f.summary) or _scalar(f.summary),
        "publish_at": _scalar(f.publish_at), "link": _scalar(f.link), "image": _scalar(f.image),
        "image_alt": _scalar(f.image_alt), "image_credit": _scalar(f.image_credit),
        "hashtags": _flow(f.tags), "campaign": _scalar(f.campaign),
        "channels": "" if set(f.channels) in (set(CHANNELS), set(f.offered)) else (_flow(list(f.channels)) or "[]"),
        "social": "".join(_social(p, f.social[p]) for p in PLATFORMS if f.social.get(p)),
        "lang": _scalar(f.lang), "draft": "true" if f.draft else "",
    }
    lines = ["---"]
    for name in FIELDS:
        if values[name]:
            lines.append(f"{name}:{'' if values[name].startswith(chr(10)) else ' '}{values[name]}")
    lines.append("---")
    text = "\n".join(lines) + "\n"
    return text + (f.body + "\n" if f.body else "")


def _social(platform: str, typed: str) -> str:
    """One platform's text, or the parts of a reply thread (typed with a line of three dashes between) as a list."""
    pieces = _PART.split(typed)
    parts = [piece.strip("\n") for piece in pieces]
    # A thread only when the dashes stand between parts that are all there: anything else is kept as typed.
    if len(parts) <= 1 or not all(p.strip() and p == p.strip() for p in parts) \
            or THREAD_BREAK.join(parts) != typed:
        return f"\n  {platform}: {_scalar(typed, indent=4)}"
    return f"\n  {platform}:" + "".join(f"\n    - {_scalar(part, indent=6)}" for part in parts)


def _scalar(value: str, indent: int = 2) -> str:
    """A value as a person would type it: plain when YAML reads it back unchanged, a literal block when it spans
    lines, double quotes otherwise (a ' #' or ': ' inside, a leading '@', a word YAML reads as empty...)."""
    if not value:
        return ""
    if "\n" in value:
        pad = " " * indent
        return "|-\n" + "\n".join(pad + line if line else "" for line in value.split("\n"))
    if _reads_back_plain(value):
        return value
    # YAML reads these as line breaks even inside quotes: escaped, the validator sees what was typed.
    quoted = json.dumps(value, ensure_ascii=False)
    return quoted.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _folded(value: str, width: int = 100) -> str:
    """A long one-line value as a folded block (`>-`), wrapped at single spaces the way the README's example is;
    empty when folding would not read back exactly."""
    if len(value) <= width or "\n" in value:
        return ""
    lines, line = [], ""
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > width and word and not word[0].isspace() and line[-1:].strip():
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line or lines else word
    lines.append(line)
    if len(lines) == 1:
        return ""
    text = ">-\n" + "\n".join("  " + part for part in lines)
    try:
        node = yaml.compose("k: " + text, Loader=fm.Loader)
    except yaml.YAMLError:
        return ""
    read = node.value[0][1].value if isinstance(node, yaml.MappingNode) else None
    return text if read == value else ""


def _reads_back_plain(value: str) -> bool:
    if value in fm.NULLS or value != value.strip():
        return False
    try:
        root = yaml.compose("k: " + value, Loader=fm.Loader)
    except yaml.YAMLError:
        return False
    if not isinstance(root, yaml.MappingNode) or len(root.value) != 1:
        return False
    node = root.value[0][1]
    return isinstance(node, yaml.ScalarNode) and node.style in fm.PLAIN and node.value == value


def _flow(words: list[str]) -> str:
    if not words:
        return ""
    return "[" + ", ".join(w if TAG.fullmatch(w) else json.dumps(w, ensure_ascii=False) for w in words) + "]"


def suggest_id(day: str, title: str) -> str:
    """An id from the date and the first words of the title: `2019-07-12-council-renews-the-mandate`."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", plain)
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > 48:
            break
        slug = f"{slug}-{word}" if slug else word
    return f"{day}-{slug or 'item'}" if day else slug or "item"


def free_id(folder: Path, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `-3`... whichever no file has yet."""
    taken = {p.stem.casefold() for p in folder.rglob("*.md")} if folder.is_dir() else set()
    candidate, n = wanted, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def without_draft(f: Fields) -> Fields:
    return replace(f, draft=False)


def translation_text(f: Fields) -> str:
    """The file of a translation (`<id>.<lang>.md`): only the text fields a translation may set, written as an
    item's are, so that a translation reads like its item; everything else comes from the item."""
    return to_text(Fields(title=f.title, summary=f.summary, link=f.link, image_alt=f.image_alt,
                          image_credit=f.image_credit, social=f.social, body=f.body))


# --- saving -----------------------------------------------------------------------------------------------


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def current_digest(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except FileNotFoundError:
        return None


@contextmanager
def write_lock(state_dir: Path) -> Iterator[None]:
    """One writer of queue files at a time, across the web's threads and any CLI command."""
    with private.open_lock(private.folder(state_dir) / _LOCK_NAME) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save(path: Path, text: str, expected: str | None, state_dir: Path) -> str:
    """Write `text` to `path` atomically (a temporary file, then a rename) if the file is still the version
    `expected` (a digest, or None for a file that must not exist yet); the new digest. Raises StaleEdit."""
    data = text.encode("utf-8")
    with write_lock(state_dir):
        found = current_digest(path)
        if found != expected:
            if expected is None:
                raise StaleEdit(f"{path} already exists: choose another id")
            raise StaleEdit(f"{path} was changed by someone else (or by git, or an editor) after you opened it; "
                            "your change was not saved")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return digest(data)


def commit_to_git(path: Path, author: str, message: str) -> bool:
    """Where the queue folder is a git working tree, commit this one file authored by `author` (an email), so
    history and blame show who changed what; True when committed. A failure is logged, never raised: the file
    on disk is what counts."""
    folder = path.parent
    inside = _git(folder, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.strip() != "true":
        return False
    name = author.split("@", 1)[0] or author
    email = author if "@" in author else f"{author}@herald.invalid"
    env = {**os.environ, "GIT_COMMITTER_NAME": "Herald", "GIT_COMMITTER_EMAIL": "herald@herald.invalid",
           "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    if _git(folder, "add", "--", path.name, env=env) is None:
        return False
    return _git(folder, "commit", "--quiet", "--no-verify", "-m", message, "--", path.name, env=env) is not None


def _git(folder: Path, *args: str, env: Mapping[str, str] | None = None) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30,
                              env=dict(env) if env else None, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("git %s in %s failed: %s", args[0], folder, exc)
        return None
    if done.returncode != 0:
        if args[0] != "rev-parse":
            log.warning("git %s in %s failed: %s", args[0], folder, done.stderr.strip()[:300])
        return None
    return done.stdout
