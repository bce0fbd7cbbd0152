"""Settings as `bot config` shows them: each one's value as .env would write it, secrets masked, and its source."""

from __future__ import annotations

from dataclasses import fields
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from . import platform_languages
from .setting_values import Secret
from .settings import Settings, specs


def duration_text(delta: timedelta) -> str:
    """A duration as BOT_* settings write it: 24h, 30s, 14d, 90m."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, value, source) for every setting, secrets masked, for `bot config`."""
    rows = []
    by_attr = {f.name: getattr(settings, f.name) for f in fields(settings)}
    for name, spec in specs().items():
        if not spec.platform:
            value = by_attr[spec.attr]
        elif spec.attr == "backend":
            value = settings.platform_backends[spec.platform]
        else:
            value = settings.option(spec.platform, spec.attr)
        shown = _shown(value)
        source = settings.sources.get(name, "default")
        if source == "default" and not spec.secret:
            shown = spec.default  # as documented (24h), not as read back (1d)
        if name == "BOT_LANGUAGE" and settings.sources.get("BOT_LANGUAGES", "default") != "default":
            shown, source = settings.language, "the first of BOT_LANGUAGES"
        if not shown and name in _STAND_INS:
            source += f"; empty, so {getattr(settings, _STAND_INS[name])} is used"
        rows.append((name, shown, source))
    # A platform's settings given per language (MASTODON_ACCESS_TOKEN_FR): only those given, secrets masked too.
    return rows + [(name, _shown(value), settings.sources.get(name, "default"))
                   for name, value in platform_languages.given(settings)]


def _shown(value: object) -> str:
    """A setting's value as .env would write it; a secret only as set or not."""
    if isinstance(value, Secret):
        return "(set)" if value else "(not set)"
    if isinstance(value, bool):  # as it is written in .env
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, timedelta):
        return duration_text(value)
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, float):  # SMTP_RATE=10, not 10.0
        return str(int(value)) if value.is_integer() else str(value)
    return "" if value is None else str(value)  # as it would be written in .env: nothing for a value not set


# Settings whose empty value means a value worked out when used, which `bot config` shows beside it.
_STAND_INS = {"BOT_PUBLIC_URL": "effective_public_url", "MAIL_FROM": "effective_mail_from",
              "BOT_NEWSLETTER_NAME": "title"}
