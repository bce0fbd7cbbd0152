"""Settings, per language: a platform's setting given again for one language (MASTODON_ACCESS_TOKEN_FR), for an
organisation that keeps one account per language; a language without its own goes to the one account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .settings import Settings, Spec

# A language code in upper case after a setting's name: the code is what BOT_LANGUAGES lists (two or three letters).
_SUFFIXED = re.compile(r"(?P<base>[A-Z][A-Z0-9_]*)_(?P<lang>[A-Z]{2,3})")
# Among the options a channel is opened with, the language whose account they are: a backend that keeps a file per
# account (a Bluesky session) names it after the language, so that two accounts do not take turns in one file.
ACCOUNT = "account"

PerLanguage = Mapping[str, Mapping[str, Mapping[str, Any]]]  # platform -> language -> its options, by key


def base_of(name: str, known: Mapping[str, Spec]) -> tuple[str, str] | None:
    """(the platform's setting, the language in lower case) when `name` gives that setting for one language, else
    None. Only a platform's options may be given so; its backend is one for all languages."""
    found = _SUFFIXED.fullmatch(name)
    spec = known.get(found["base"]) if found else None
    if found is None or spec is None or not spec.platform or spec.attr == "backend":
        return None
    return found["base"], found["lang"].lower()


def read(known: Mapping[str, Spec], raw: Mapping[str, str], sources: Mapping[str, str],
         languages: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each platform's options given per language, read by the parser of the setting without the language. A
    language that BOT_LANGUAGES does not list makes an unknown setting; an empty value is as if it were not set."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name in sorted(raw):
        named = base_of(name, known) if name not in known else None
        if named is None:
            continue
        base, lang = named
        if lang not in languages:
            listed = ", ".join(f"{base}_{code.upper()}" for code in languages)
            raise ConfigError(f"{sources[name]}: {name}: unknown setting: {lang} is not one of BOT_LANGUAGES "
                              f"({', '.join(languages)}); {base} may be given per language as {listed}")
        if not raw[name].strip():
            continue
        spec = known[base]
        try:
            value = spec.parse(raw[name])
        except ValueError as exc:
            raise ConfigError(f"{sources[name]}: {name}: {exc}") from None
        found.setdefault(spec.platform, {}).setdefault(lang, {})[spec.attr] = value
    return found


def options_for(settings: Settings, platform: str, lang: str) -> Mapping[str, Any]:
    """The platform's options for a post in `lang`: the language's own over the platform's."""
    own = settings.platform_language_options.get(platform, {}).get(lang) if lang else None
    base = settings.platform_options.get(platform, {})
    return {**base, **own} if own else base


def settings_for(settings: Settings, platform: str, lang: str) -> Settings | None:
    """The settings the channel of `lang`'s account on `platform` is opened with; None when the language has no
    setting of its own there, and goes to the one account."""
    if not lang or not settings.platform_language_options.get(platform, {}).get(lang):
        return None
    options = {**options_for(settings, platform, lang), ACCOUNT: lang}
    return replace(settings, platform_options={**settings.platform_options, platform: options})


def accounts(settings: Settings, platform: str) -> tuple[str, ...]:
    """The languages with an account of their own on `platform`, in BOT_LANGUAGES order."""
    own = settings.platform_language_options.get(platform, {})
    return tuple(lang for lang in settings.languages if own.get(lang))


def given(settings: Settings) -> list[tuple[str, Any]]:
    """(name, value) of each setting given per language, for `bot config`."""
    from .platforms import REGISTRY

    rows = []
    for platform, by_language in settings.platform_language_options.items():
        names = {option.key: option.env for option in REGISTRY[platform].options}
        for lang, options in by_language.items():
            rows += [(f"{names[key]}_{lang.upper()}", value) for key, value in options.items()]
    return rows
