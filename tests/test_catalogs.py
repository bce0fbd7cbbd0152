"""The gettext catalogs (bot/locales) hold every string the code and templates mark, translated in fr and es."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot import i18n

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = ("fr", "es")  # en is the source language: its catalog lists every string, most as written


def marked(domain: str) -> dict[str, str | tuple[str, ...]]:
    """msgid -> the id as marked (a tuple for a plural), from the sources the domain's .cfg names."""
    with (i18n.LOCALES / f"{domain}.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, str | tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        found[message[0] if isinstance(message, tuple) else message] = message
    return found


def catalog(lang: str, domain: str) -> Catalog:
    path = i18n.LOCALES / lang / "LC_MESSAGES" / f"{domain}.po"
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run scripts/catalogs and translate it"
    with path.open("rb") as po:
        return read_po(po, locale=lang, domain=domain)


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_the_sources_mark_strings(domain: str) -> None:
    assert len(marked(domain)) >= 10, f"no strings marked for {domain}: the .cfg names the wrong files"


@pytest.mark.parametrize("lang", ("en", *TRANSLATED))
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_marked_string_is_in_the_catalog(domain: str, lang: str) -> None:
    strings, held = marked(domain), catalog(lang, domain)
    missing = [m for m in strings if m not in held]
    assert not missing, f"{lang}/{domain}.po lacks {missing}: run scripts/catalogs, then translate them"


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_string_is_translated(domain: str, lang: str) -> None:
    held = catalog(lang, domain)
    untranslated = [m.id for m in held if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple)
                                                                         else (m.string,)))]
    assert not untranslated, f"{lang}/{domain}.po: not translated (or fuzzy): {untranslated}"


@pytest.mark.parametrize("lang", ("en", *TRANSLATED))
@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_translations_keep_their_placeholders(domain: str, lang: str) -> None:
    """Babel's own checks: the same %(name)s placeholders as the original, the plural forms the language has."""
    problems = [f"{m.id!r}: {'; '.join(map(str, errors))}" for m, errors in catalog(lang, domain).check()]
    assert not problems, f"{lang}/{domain}.po: {problems}"


def test_a_translated_string_reaches_a_reader() -> None:
    assert i18n.translations("fr", "email").gettext("Read more") != "Read more"
