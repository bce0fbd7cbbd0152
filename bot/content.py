"""The content model every stage passes along: a queued item, its campaign, and a problem found in either."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

# `<id>.<lang>.md` translates `<id>.md` (Hugo's convention): two lowercase letters, so an id may still hold dots.
_TRANSLATION_NAME = re.compile(r"(?P<stem>.+)\.(?P<lang>[a-z]{2})\.(?i:md)")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one file, reported as `PATH[:LINE]: FIELD: message`; a warning does not stop the item."""

    path: str
    field: str
    message: str
    line: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {'warning: ' if self.warning else ''}{self.message}"

    @property
    def order(self) -> tuple[str, int, str]:
        """Reports list problems by file, then line."""
        return (self.path, self.line or 0, self.field)


@dataclass(frozen=True, slots=True)
class Campaign:
    key: str
    name: str
    hashtags: tuple[str, ...]  # the default language's, which every language without its own list takes
    start: date
    end: date
    # (language, its hashtags) where campaigns.yaml lists them per language; a tuple, so a Campaign stays hashable.
    by_language: tuple[tuple[str, tuple[str, ...]], ...] = ()
    names: tuple[tuple[str, str], ...] = ()  # (language, its name) where campaigns.yaml names it per language

    def active_on(self, day: date) -> bool:
        return self.start <= day <= self.end

    def name_in(self, lang: str | None) -> str:
        """The campaign's name as a newsletter in `lang` shows it: its own, else the default language's."""
        return dict(self.names).get(lang or "", self.name)

    def hashtags_in(self, lang: str | None) -> tuple[str, ...]:
        """The hashtags for posts in `lang` (None: the default language): its own list, else the default's."""
        return dict(self.by_language).get(lang, self.hashtags) if lang is not None else self.hashtags


@dataclass(frozen=True, slots=True)
class Translation:
    """An item's text in another language, from `<id>.<lang>.md` beside it: None (or empty) is the original's."""

    lang: str
    path: Path
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    link: str | None = None
    image_alt: str | None = None
    image_credit: str | None = None
    # The translation's own overrides only: the original's are in the original's language (see Item.in_language).
    social: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    digest: str = ""  # SHA-256 of the translation's file as read


@dataclass(frozen=True, slots=True)
class Item:
    """One queued news item, validated: every field holds a value of its documented type."""

    id: str
    path: Path
    title: str
    date: date
    summary: str
    publish_at: datetime  # aware
    link: str | None = None
    image: str | None = None
    image_alt: str | None = None
    image_credit: str | None = None
    hashtags: tuple[str, ...] = ()
    campaign: Campaign | None = None
    channels: tuple[str, ...] = field(default_factory=lambda: _every_channel())
    # Per platform, the text instead of title and summary; a tuple is a reply thread, its parts in order.
    social: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    body: str = ""
    lang: str | None = None
    draft: bool = False  # never sent while set
    # SHA-256 of the file as read (with its translations', see combined_digest): an approval holds for exactly this
    digest: str = ""
    translations: Mapping[str, Translation] = field(default_factory=dict)  # by language, in BOT_LANGUAGES order

    @property
    def campaign_active(self) -> bool:
        """The campaign's hashtags apply while the item's publication day, local to its zone, is in range."""
        return self.campaign is not None and self.campaign.active_on(self.publish_at.date())

    @property
    def all_hashtags(self) -> tuple[str, ...]:
        """The item's own tags, then its active campaign's, de-duplicated without regard to case."""
        tags = list(self.hashtags)
        if self.campaign is not None and self.campaign_active:
            tags.extend(self.campaign.hashtags_in(self.lang))
        return dedupe_tags(tags)

    def own_language(self, default: str) -> str:
        """The language the item's file is written in: its `lang`, else `default` (BOT_LANGUAGES' first)."""
        return self.lang or default

    def languages(self, default: str) -> tuple[str, ...]:
        """Its own language first, then those it is translated into (in BOT_LANGUAGES order, as the queue read them)."""
        own = self.own_language(default)
        return (own, *(lang for lang in self.translations if lang != own))

    def in_language(self, lang: str, default: str) -> Item:
        """The item as it reads in `lang`: the translation's text over the original's, everything else (dates,
        campaign, image, channels, hashtags, draft) the original's. The item itself in its own language, and in a
        language it has no translation in (the caller decides whether to show it so or leave it out)."""
        found = self.translations.get(lang)
        if found is None or lang == self.own_language(default):
            return self
        # An override replaces title and summary in a post: the original's, in its language, would hide the
        # translated ones, so a translation's posts use only its own overrides.
        return replace(self, title=found.title or self.title, summary=found.summary or self.summary,
                       body=found.body or self.body, link=found.link or self.link,
                       image_alt=found.image_alt or self.image_alt,
                       image_credit=found.image_credit or self.image_credit,
                       social=dict(found.social), lang=lang, translations={})


def dedupe_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept = []
    for tag in tags:
        key = tag.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(tag)
    return tuple(kept)


def translation_of(name: str) -> tuple[str, str] | None:
    """(the file name of the item it translates, its language) for a translation's file name, else None."""
    found = _TRANSLATION_NAME.fullmatch(name)
    return (found["stem"] + name[-3:], found["lang"]) if found else None


def combined_digest(own: str, translations: Mapping[str, Translation]) -> str:
    """An item's digest with its translations': any of them changed, it changes; without any, it is the file's own."""
    if not translations:
        return own
    parts = [own, *(f"{lang} {translations[lang].digest}" for lang in sorted(translations))]
    return hashlib.sha256("\n".join(parts).encode("ascii")).hexdigest()


def _every_channel() -> tuple[str, ...]:
    """An item's channels when it names none: email and every platform (read when needed: platforms come later in
    the pipeline than the content model)."""
    from .platforms import CHANNELS

    return CHANNELS
