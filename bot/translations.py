"""Queue reading, after the items: each translation (`<id>.<lang>.md` beside `<id>.md`) checked and given to its item.

A translation may set only the text fields; the rest is its item's. A translation with a problem is reported and
left out, never its item: a broken French file must not stop the English newsletter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import frontmatter as fm
from . import item_fields
from . import queue as q
from .content import Item, Problem, Translation, combined_digest, translation_of
from .frontmatter import Invalid
from .platforms import PLATFORMS
from .settings import Settings

__all__ = ["TEXT_FIELDS", "attach", "split", "with_translations"]

TEXT_FIELDS = ("title", "summary", "link", "image_alt", "image_credit", "social")  # and the body


def split(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the item files, the translation files) among the queue's .md files."""
    items: list[Path] = []
    translations: list[Path] = []
    for path in paths:
        (translations if translation_of(path.name) else items).append(path)
    return items, translations


def attach(queue: q.Queue, item_paths: list[Path], paths: list[Path], settings: Settings) -> None:
    """Read each translation file of `paths` and give it to its item among `queue.items`; its problems and warnings
    go to the queue's. `item_paths`: every item file, valid or not, to tell a missing original from a broken one."""
    files = {(p.parent, p.name.casefold()): p for p in item_paths}
    valid = {item.path: item for item in queue.items}
    found: dict[Path, list[Translation]] = {}
    for path in paths:
        original_name, _ = translation_of(path.name) or ("", "")
        original = files.get((path.parent, original_name.casefold()))
        item = valid.get(original) if original is not None else None
        translation, problems = read(path, original, item, settings, queue.warnings)
        queue.problems.extend(problems)
        if translation is not None and item is not None:
            found.setdefault(item.path, []).append(translation)
    queue.items = [_given(item, found.get(item.path, []), settings) for item in queue.items]
    queue.warnings += [w for w in (_not_posted(item, settings) for item in queue.items) if w is not None]


def _not_posted(item: Item, settings: Settings) -> Problem | None:
    """A warning for an item meant for the platforms that no language of BOT_SOCIAL_LANGUAGES takes: else it would
    silently never be posted."""
    own, listed = item.own_language(settings.language), settings.social_languages
    if own in listed or any(lang in item.translations for lang in listed) or not set(item.channels) & set(PLATFORMS):
        return None
    return Problem(str(item.path), "lang", f"written in {own}, which BOT_SOCIAL_LANGUAGES ({', '.join(listed)}) does "
                   "not list, and not translated into any language it lists: it is not posted", warning=True)


def with_translations(item: Item, settings: Settings) -> Item:
    """`item` with the valid translations beside its file, as the whole queue's reading gives it (for commands that
    read one item: its digest is then the same); their problems are `bot validate`'s to say."""
    kept = []
    for path in sorted(item.path.parent.iterdir(), key=str):  # not a glob: the queue matches names without case
        named = translation_of(path.name)
        if named is None or named[0].casefold() != item.path.name.casefold() or path.name.startswith(".") \
                or not path.is_file():
            continue
        translation, _ = read(path, item.path, item, settings)
        if translation is not None:
            kept.append(translation)
    return _given(item, kept, settings)


def _given(item: Item, translations: list[Translation], settings: Settings) -> Item:
    if not translations:
        return item
    order = {lang: n for n, lang in enumerate(settings.languages)}
    by_language = {t.lang: t for t in sorted(translations, key=lambda t: order.get(t.lang, len(order)))}
    return replace(item, translations=by_language, digest=combined_digest(item.digest, by_language))


@dataclass(slots=True)
class _Reading:
    """One translation file as it is checked: where, in which language, its item (None: missing or invalid)."""

    path: Path
    lang: str
    original: Path | None
    item: Item | None
    problems: list[Problem] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return str(self.path)

    def add(self, name: str, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(self.where, name, message, line))


def read(path: Path, original: Path | None, item: Item | None, settings: Settings,
         warnings: list[Problem] | None = None) -> tuple[Translation | None, list[Problem]]:
    """One translation file: the Translation, or None with the problems that keep it out. `original` is its item's
    file (None: there is none), `item` that file read (None: it is invalid, and its own problems say why)."""
    _, lang = translation_of(path.name) or ("", "")
    reading = _Reading(path, lang, original, item)
    _check_name(reading, settings)
    try:
        data = fm.read_bytes(path, settings.queue_dir)
        text = fm.decode(reading.where, data)
        front, body, first = fm.split(reading.where, text)
        doc = fm.parse_yaml(reading.where, front, body, first, "front matter", empty_ok=True)
    except Invalid as exc:
        reading.add(exc.field, exc.message, exc.line)
        return None, reading.problems
    except OSError as exc:
        reading.add("file", f"cannot be read: {exc.strerror}")
        return None, reading.problems
    _read_fields(reading, doc)
    if warnings is not None:
        warnings.extend(q._warnings(reading.where, doc, reading.values))
    if item is None or reading.problems:
        return None, reading.problems
    v = reading.values
    translation = Translation(lang, path, title=v.get("title"), summary=v.get("summary"),
                              body=fm.markdown_body(doc.body) or None, link=v.get("link"),
                              image_alt=v.get("image_alt"), image_credit=v.get("image_credit"),
                              social=v.get("social", {}), digest=hashlib.sha256(data).hexdigest())
    _check_with_item(reading, doc, translation, item, settings)
    return (None, reading.problems) if reading.problems else (translation, [])


def _check_name(reading: _Reading, settings: Settings) -> None:
    """What the file name says: the item it translates must be beside it, its language one Herald writes in."""
    name = reading.path.name
    original_name = name[: -len(".xx.md")] + name[-3:]
    if reading.original is None:
        reading.add("file", f"translates {original_name}, which is not in {reading.path.parent}: a translation sits "
                    f"beside its item and is named after it ({original_name} in {reading.lang}: {name})")
    languages = ", ".join(settings.languages)
    if reading.lang not in settings.languages:
        reading.add("lang", f"{name} is in {reading.lang}, which is not one of the languages of BOT_LANGUAGES "
                    f"({languages}): add {reading.lang} there, or rename the file")
    elif reading.item is not None and reading.lang == reading.item.own_language(settings.language):
        whence = "its lang field" if reading.item.lang else "the default language, the first of BOT_LANGUAGES"
        reading.add("lang", f"{name} is in {reading.lang}, the language {original_name} is written in ({whence}): "
                    "a translation is in another language")


def _read_fields(reading: _Reading, doc: fm.Document) -> None:
    """Each field with the reader the item's same field has; a field a translation may not set, named."""
    comes_from = reading.original.name if reading.original is not None else "the item it translates"
    for name in doc.fields:
        line = doc.key_lines[name]
        if name not in q.FIELDS:
            reading.add(name, "unknown field" + fm.did_you_mean(name, TEXT_FIELDS), line)
        elif name == "lang":
            reading.add(name, f"may not be set in a translation: its language is in its file name "
                        f"({reading.lang})", line)
        elif name not in TEXT_FIELDS:
            reading.add(name, f"may not be set in a translation: it comes from {comes_from}", line)
    readers: dict[str, Callable[[yaml.Node], Any]] = {
        "title": lambda n: fm.one_line(doc, "title", n, q.TITLE_MAX),
        "summary": lambda n: item_fields.summary(doc, n),
        "link": lambda n: item_fields.url(doc, "link", n),
        "image_alt": lambda n: fm.one_line(doc, "image_alt", n, 1000),
        "image_credit": lambda n: fm.one_line(doc, "image_credit", n, 200),
        "social": lambda n: item_fields.social(doc, n),
    }
    for name, read_field in readers.items():
        node = doc.fields.get(name)
        if node is None:
            continue
        try:
            reading.values[name] = read_field(node)
        except Invalid as exc:
            reading.add(exc.field, exc.message, exc.line or doc.key_lines.get(name))


def _check_with_item(reading: _Reading, doc: fm.Document, translation: Translation, item: Item,
                     settings: Settings) -> None:
    """What the translation asks of its item (a picture to describe, the channels of its overrides), and whether
    its text goes out as the item's does: a link's length, each override with the item's link and hashtags."""
    original = item.path.name
    for name in ("image_alt", "image_credit"):
        if name in doc.fields and not item.image:
            reading.add(name, f"has no image to go with: {original} sets none", doc.key_lines[name])
    for platform in translation.social:
        if platform not in item.channels:
            reading.add(f"social.{platform}", f"{platform} is not among the channels of {original}",
                        doc.key_lines["social"])
    if reading.problems:
        return
    merged = replace(item, translations={translation.lang: translation}).in_language(translation.lang,
                                                                                     settings.language)
    for name, message in q._post_problems(merged, settings):
        reading.add(name, message, doc.key_lines.get(name.split(".")[0]))

