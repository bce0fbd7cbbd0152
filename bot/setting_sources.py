"""Settings, first step: each setting's text and where it came from (its default, the .env file, the environment,
the command line), before bot.settings parses them; a name Herald does not know is an error, never ignored."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import dotenv_values

from . import platform_languages
from .errors import ConfigError, quoted

if TYPE_CHECKING:
    from .settings import Spec

OWN_PREFIXES = ("BOT_",)  # a variable with one of them that Herald does not know is a typo


def read(known: Mapping[str, Spec], environ: Mapping[str, str], env_file: Path | None,
                overrides: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each setting's text and where it came from: its default, then `env_file`, the environment, `overrides`."""
    raw: dict[str, str] = {name: spec.default for name, spec in known.items()}
    sources = {name: "default" for name in known}

    def ours(name: str) -> bool:  # a platform's setting for one language is checked once BOT_LANGUAGES is read
        return name in known or platform_languages.base_of(name, known) is not None

    if env_file is not None and env_file.is_file():
        try:
            _check_env_lines(env_file)
            file_values = dotenv_values(env_file)
        except UnicodeDecodeError:
            raise ConfigError(f"{env_file}: not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(f"{env_file}: cannot be read: {exc.strerror}") from None
        for name, value in file_values.items():
            if not ours(name):
                raise ConfigError(f"{env_file}: {name}: unknown setting{suggest(name, known)}")
            raw[name], sources[name] = value or "", str(env_file)
    for name, value in environ.items():
        if ours(name):
            raw[name], sources[name] = value, "environment"
        elif name.startswith(OWN_PREFIXES):
            raise ConfigError(f"environment: {name}: unknown setting{suggest(name, known)}")
    for name, value in overrides.items():
        if not ours(name):
            raise ConfigError(f"{name}: unknown setting")
        raw[name], sources[name] = value, "command line"
    return raw, sources


def _check_env_lines(env_file: Path) -> None:
    """Refuse what python-dotenv would drop or cut without a word: a line it cannot read (it skips it, and the
    setting silently falls back to its default), and an unquoted value with ` #` in it (the rest is read as a
    comment: `BOT_ORG_ADDRESS=Rue #1, Geneva` would put `Rue` in every newsletter's footer)."""
    from dotenv.parser import parse_stream

    with env_file.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            where = f"{env_file}:{binding.original.line}"
            if binding.error:
                raise ConfigError(f"{where}: this line is not NAME=value (a quote opened and never closed?): "
                                  "put each setting on one line, its value in double quotes if it holds a #")
            line = binding.original.string.strip()
            written = line.split("=", 1)[1].strip() if "=" in line else ""
            if binding.key and written[:1] not in ("'", '"') and " #" in written:
                raise ConfigError(f"{where}: {binding.key}: ' #' starts a comment in a settings file, which cuts the "
                                  f"value to {quoted(binding.value or '')}: put the whole value in double quotes, "
                                  "or a comment on a line of its own")



def suggest(name: str, known: Mapping[str, Spec]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""
