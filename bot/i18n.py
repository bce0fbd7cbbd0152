"""Languages, beside render and web: each fixed string from Babel's gettext catalogs, dates and names from CLDR.

The catalogs are the .po files under bot/locales/<lang>/LC_MESSAGES/, one per domain: `email` (the newsletter
and the alert) and `web` (the public pages and the confirmation email). They are compiled in memory when first
used, so that nothing compiled is kept in git and an edited .po file is what runs.
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
DOMAINS = ("email", "web")
# CLDR's plain `en` is American English (July 12, 2019; a, b, and c); the UN and international NGOs write British
# English's: 12 July 2019, a, b and c.
_BRITISH = {"en": "en_GB"}


@lru_cache(maxsize=64)
def translations(lang: str, domain: str) -> gettext.NullTranslations:
    """The catalog of `domain` in `lang`; a language without one shows the strings as written (in English)."""
    path = LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=domain)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out: a guess never reaches a reader
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def _locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def day(value: date, lang: str) -> str:
    """A date as the language writes it: 12 July 2019, 12 juillet 2019, 12 de julio de 2019."""
    return format_date(value, "long", locale=_BRITISH.get(lang, _locale(lang)))


def listed(names: Sequence[str], lang: str) -> str:
    """Names as a sentence lists them: x, mastodon and bluesky; x, mastodon et bluesky."""
    return format_list(list(names), locale=_BRITISH.get(lang, _locale(lang)))


def number(value: int, lang: str) -> str:
    """A count as the language writes it: 1,234 in English, 1 234 in French, 1234 in Spanish."""
    return format_decimal(value, locale=_locale(lang))


def language_name(code: str, in_lang: str | None = None, running: bool = False) -> str:
    """A language's name, in `in_lang` (default: in itself, as a language menu shows it): Français, Español.
    `running`: as written inside a sentence, where French and Spanish write it in lower case (en anglais)."""
    name = _locale(in_lang or code).languages.get(code) or code
    return name if running else name[:1].upper() + name[1:]
