"""Subscribers' languages as people give and read them: checked against BOT_LANGUAGES on the way in (the command
line, imports), named in words on the way out; the ledger keeps them (ledger.langs), NULL for the default."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .content import Problem
from .errors import quoted

# The word `bot subscribers set-lang` takes for "no choice of theirs": the default language, whatever it becomes.
DEFAULT = "default"


def code(raw: str) -> str:
    """The language of a value as tools write it: `fr`, `FR`, Mailchimp's `fr_CA` or a browser's `pt-BR` (the
    region is not kept: editions are per language); empty for an empty value."""
    return re.split(r"[_-]", raw.strip(), maxsplit=1)[0].lower()


def check(raw: str, languages: Sequence[str]) -> str:
    """The language code of `raw` if it is one of BOT_LANGUAGES, else ValueError saying which are."""
    found = code(raw)
    if found not in languages:
        raise ValueError(f"{quoted(raw.strip())} is not one of BOT_LANGUAGES ({', '.join(languages)})")
    return found


def label(lang: str | None, languages: Sequence[str]) -> str:
    """A recorded language as people read it: `fr`, `en (default)` for those who never chose, and one that
    BOT_LANGUAGES no longer lists said so."""
    if lang is None:
        return f"{languages[0]} (default)"
    return lang if lang in languages else f"{lang} (not in BOT_LANGUAGES)"


def summary(counts: dict[str | None, int], languages: Sequence[str]) -> str:
    """`en (default): 3  fr: 1  es: 0`: the default language, every other of BOT_LANGUAGES, then any other recorded
    (the default language chosen explicitly only where someone did, beside those who never chose)."""
    shown: dict[str | None, int] = {None: counts.get(None, 0)}
    shown.update({lang: counts.get(lang, 0) for lang in languages if lang != languages[0] or counts.get(lang)})
    shown.update({lang: n for lang, n in counts.items() if lang not in shown})
    return "  ".join(f"{label(lang, languages)}: {n}" for lang, n in shown.items())


def imported(raw: str, languages: Sequence[str], path: str, line: int) -> tuple[str | None, Problem | None]:
    """The language an imported row gives (None: the default language), and the warning when the file names one
    that BOT_LANGUAGES does not list: such a row still goes in, with the default language, rather than be lost."""
    if not raw.strip():
        return None, None
    try:
        return check(raw, languages), None
    except ValueError as exc:
        return None, Problem(path, "lang", f"{exc}: imported with the default language, {languages[0]}", line,
                             warning=True)
