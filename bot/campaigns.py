"""Queue reading, campaigns: read campaigns.yaml, and give each item the campaign it names or say why it must wait.

A problem stays with what it concerns: a campaign with a problem holds back only the items that name it, and a file
that cannot be read at all is reported once, each item it holds back pointing to that one report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import regex
import yaml

from . import frontmatter as fm
from .content import Campaign, Problem
from .errors import quoted
from .frontmatter import Invalid

T = TypeVar("T")

FILE = "campaigns.yaml"
FIELDS = ("name", "hashtags", "start", "end")
KEY = regex.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(slots=True)
class Campaigns:
    """What campaigns.yaml gave: the campaigns items may use, and why any other cannot be used."""

    path: Path
    good: dict[str, Campaign] = field(default_factory=dict)
    broken: dict[str, Problem] = field(default_factory=dict)  # a campaign's key -> its first problem
    unreadable: Problem | None = None  # the file as a whole: broken YAML, too large, not UTF-8, ...
    missing: bool = False
    named_while_missing: set[str] = field(default_factory=set)  # keys items asked for, for the one report

    def missing_problem(self) -> Problem | None:
        """Said once, on the file, when it does not exist but items name a campaign; None otherwise."""
        if not self.missing or not self.named_while_missing:
            return None
        keys = ", ".join(sorted(self.named_while_missing))
        return Problem(str(self.path), "file", f"does not exist, but items name a campaign ({keys}): create it with "
                       "each campaign's name, hashtags, start and end, or take the campaign out of those items")


def read(path: Path, languages: tuple[str, ...]) -> tuple[Campaigns, list[Problem]]:
    """Every campaign of the file at `path`, and the problems found, each reported once; `languages` is
    BOT_LANGUAGES (the default first), which hashtags listed per language must keep to."""
    found = Campaigns(path)
    if not path.exists():
        found.missing = True
        return found, []
    where = str(path)
    try:
        doc = fm.parse_yaml(where, fm.decode(where, fm.read_bytes(path, path.parent)), "", 1, "campaigns",
                            empty_ok=True)
    except Invalid as exc:
        found.unreadable = Problem(where, exc.field, exc.message, exc.line)
    except OSError as exc:
        found.unreadable = Problem(where, "file", f"cannot be read: {exc.strerror}")
    if found.unreadable is not None:
        return found, [found.unreadable]
    problems = []
    for key, node in doc.fields.items():
        line = doc.key_lines[key]
        try:
            notes: list[tuple[str, str, int]] = []
            found.good[key] = _entry(doc, key, node, line, languages, notes)
            problems += [Problem(where, field, message, at, warning=True) for field, message, at in notes]
        except Invalid as exc:
            found.broken[key] = Problem(where, exc.field, exc.message, exc.line or line)
            problems.append(found.broken[key])
    return found, problems


def _entry(doc: fm.Document, key: str, node: yaml.Node, line: int, languages: tuple[str, ...],
           notes: list[tuple[str, str, int]]) -> Campaign:
    if not KEY.fullmatch(key):
        raise Invalid(key, "a campaign key may hold only letters, digits, '-' and '_'", line)
    entries = {k: (v, ln) for k, v, ln in fm.mapping(doc, key, node)}
    for name, (_, ln) in entries.items():
        if name not in FIELDS:
            raise Invalid(f"{key}.{name}", "unknown field" + fm.did_you_mean(name, FIELDS), ln)
    for name in FIELDS:
        if name not in entries:
            raise Invalid(f"{key}.{name}", "is required", line)
    name, names = _per_language(doc, f"{key}.name", entries["name"][0], languages,
                                lambda d, n, v: fm.one_line(d, n, v, 150), "name", notes)
    tags, by_language = _per_language(doc, f"{key}.hashtags", entries["hashtags"][0], languages, fm.hashtags,
                                      "list", notes, " (it may be [])")
    start = fm.day(doc, f"{key}.start", entries["start"][0])
    end = fm.day(doc, f"{key}.end", entries["end"][0])
    if end < start:
        raise Invalid(f"{key}.end", f"{end} is before start {start}", entries["end"][1])
    return Campaign(key, name, tags, start, end, by_language, names)


def _per_language(doc: fm.Document, name: str, node: yaml.Node, languages: tuple[str, ...],
                  read: Callable[[fm.Document, str, yaml.Node], T], what: str, notes: list[tuple[str, str, int]],
                  hint: str = "") -> tuple[T, tuple[tuple[str, T], ...]]:
    """(the default language's value, each listed language's): one value is every language's; a mapping of language
    to value gives each its own, and a language it leaves out takes the default language's. A language BOT_LANGUAGES
    does not list is a warning in `notes` and set aside: languages come and go in the settings, and the campaign's
    items must not wait for the file to follow."""
    if not isinstance(node, yaml.MappingNode):
        return read(doc, name, node), ()
    listed: dict[str, T] = {}
    for lang, value, line in fm.mapping(doc, name, node):
        if lang not in languages:
            notes.append((f"{name}.{lang}", f"{quoted(lang)} is not one of the languages of BOT_LANGUAGES "
                          f"({', '.join(languages)}), so this {what} is not used: add it there, or take it out", line))
            continue
        listed[lang] = read(doc, f"{name}.{lang}", value)
    if languages[0] not in listed:
        raise Invalid(name, f"has no {what} for {languages[0]}, the default language (the first of BOT_LANGUAGES), "
                      f"which every language without a {what} of its own takes: add one{hint}", doc.line(node))
    return listed[languages[0]], tuple(listed.items())


def resolve(doc: fm.Document, node: yaml.Node, known: dict[str, Campaign], found: Campaigns | None) -> Campaign:
    """The campaign an item's `campaign` field names, or Invalid saying why the item waits; `found` None means
    `known` is every campaign there is."""
    key = fm.text(doc, "campaign", node).strip()
    if key in known:
        return known[key]
    line = doc.line(node)
    waits = "this item waits until it is fixed"
    if found is not None and found.missing:
        found.named_while_missing.add(key)
        raise Invalid("campaign", f"'{key}': {found.path} does not exist (see the problem reported for it); "
                      "this item waits until it does", line)
    if found is not None and found.unreadable is not None:
        raise Invalid("campaign", f"'{key}': {found.path} could not be read ({_see(found.unreadable)}); {waits}", line)
    if found is not None and key in found.broken:
        raise Invalid("campaign", f"'{key}' has a problem in {found.path} ({_see(found.broken[key])}); {waits}", line)
    every = sorted({*known, *(found.broken if found is not None else ())})
    raise Invalid("campaign", f"unknown campaign '{key}'{fm.did_you_mean(key, every)}; "
                  f"{found.path.name if found is not None else FILE} has: {', '.join(every) or 'none'}", line)


def _see(problem: Problem) -> str:
    return f"see the problem reported for it at line {problem.line}" if problem.line else \
        "see the problem reported for it"
