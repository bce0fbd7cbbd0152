"""The content model every stage passes along: a queued item, its campaign, and a problem found in either."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path


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
    hashtags: tuple[str, ...]
    start: date
    end: date

    def active_on(self, day: date) -> bool:
        return self.start <= day <= self.end


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
    digest: str = ""  # SHA-256 of the file as read: an approval holds for exactly this content

    @property
    def campaign_active(self) -> bool:
        """The campaign's hashtags apply while the item's publication day, local to its zone, is in range."""
        return self.campaign is not None and self.campaign.active_on(self.publish_at.date())

    @property
    def all_hashtags(self) -> tuple[str, ...]:
        """The item's own tags, then its active campaign's, de-duplicated without regard to case."""
        tags = list(self.hashtags)
        if self.campaign is not None and self.campaign_active:
            tags.extend(self.campaign.hashtags)
        return dedupe_tags(tags)


def dedupe_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept = []
    for tag in tags:
        key = tag.casefold()
        if key not in seen:
            seen.add(key)
            kept.append(tag)
    return tuple(kept)


def _every_channel() -> tuple[str, ...]:
    """An item's channels when it names none: email and every platform (read when needed: platforms come later in
    the pipeline than the content model)."""
    from .platforms import CHANNELS

    return CHANNELS
