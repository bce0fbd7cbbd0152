"""Settings, first step: each raw value from the environment or `.env` parsed into its typed value, or ValueError."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import quoted

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Secret:
    """A value that must never be printed: repr, str and f-strings all show stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Slot:
    """One newsletter slot: a weekday (0 = Monday) or None for every day, at a local time."""

    weekday: int | None
    at: time

    def __str__(self) -> str:
        day = "daily" if self.weekday is None else WEEKDAYS[self.weekday]
        return f"{day} {self.at:%H:%M}"


# --- parsers: each takes the raw string and returns the typed value or raises ValueError ----------


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError("must not be empty")
    return Path(raw.strip())


def _optional_path(raw: str) -> Path | None:
    return Path(raw.strip()) if raw.strip() else None


def _templates_folder(raw: str) -> Path | None:
    """A folder of one's own newsletter templates: it must hold email/newsletter.mjml.j2 or email/newsletter.txt.j2
    (the other comes from Herald), or the built-in look would go out without a word."""
    folder = _optional_path(raw)
    if folder is None:
        return None
    if not folder.is_dir():
        raise ValueError(f"{quoted(raw.strip())} is not a folder (relative to {Path.cwd()})")
    if not any((folder / "email" / name).is_file() for name in ("newsletter.mjml.j2", "newsletter.txt.j2")):
        raise ValueError(f"{quoted(raw.strip())} holds no email/newsletter.mjml.j2 or email/newsletter.txt.j2: copy "
                         "them from Herald's templates/email/ and edit them there")
    return folder


def _zone(raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{quoted(raw)} is not an IANA time zone name (such as Europe/Zurich or UTC)") from None


def parse_clock(raw: str) -> time:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw.strip())
    if not m:
        raise ValueError(f"{quoted(raw)} is not a time of day as HH:MM")
    return time(int(m.group(1)), int(m.group(2)))


def parse_schedule(raw: str) -> tuple[Slot, ...]:
    slots = []
    for part in raw.split(","):
        words = part.split()
        if len(words) != 2:
            raise ValueError(f"{quoted(part.strip())} is not 'DAY HH:MM' (DAY is mon..sun or daily)")
        day, clock = words[0].lower(), words[1]
        if day == "daily":
            weekday = None
        elif day in WEEKDAYS or day in FULL_WEEKDAYS:
            weekday = (WEEKDAYS.index(day) if day in WEEKDAYS else FULL_WEEKDAYS.index(day))
        else:
            raise ValueError(f"{quoted(words[0])} is not a weekday (mon..sun) or 'daily'")
        slots.append(Slot(weekday, parse_clock(clock)))
    return tuple(sorted(set(slots), key=lambda s: (s.weekday if s.weekday is not None else -1, s.at)))


def parse_duration(raw: str) -> timedelta:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", raw)
    if not m:
        raise ValueError(f"{quoted(raw)} is not a duration such as 90s, 30m, 24h or 2d")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})


def _public_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{quoted(raw)} is not an absolute http(s) URL without query or fragment")
    return value


def _base_url(raw: str) -> str:
    value = _public_url(raw)
    if not value:
        raise ValueError("must not be empty")
    return value


def _port(raw: str) -> int | None:
    if not raw.strip():
        return None
    if not raw.strip().isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{quoted(raw)} is not a port number")
    return int(raw)


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.strip().isdigit() or not low <= int(raw) <= high:
            raise ValueError(f"{quoted(raw)} is not a whole number from {low} to {high}")
        return int(raw)

    return parse


def _rate(raw: str) -> float | None:
    """Messages per second at most; empty means no limit."""
    if not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{quoted(raw)} is not a number of messages per second (or empty for no limit)") from None
    if not 0 < value <= 100_000:
        raise ValueError(f"{quoted(raw)} must be more than 0")
    return value


def _url_list(raw: str) -> tuple[str, ...]:
    """Addresses separated by commas, each a full http(s) address (a feed's may carry a query)."""
    found = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        parts = urlsplit(part)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{quoted(part)} is not a full web address starting with https:// (or http://)")
        found.append(part)
    return tuple(found)


def _domains(raw: str) -> tuple[str, ...]:
    """Host names separated by commas (news.example.org, example.org), lowercase, without scheme or path."""
    found = []
    for part in (p.strip().lower().rstrip(".") for p in raw.split(",")):
        if not part:
            continue
        if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}", part):
            raise ValueError(f"{quoted(part)} is not a domain such as news.example.org (no https://, no path)")
        found.append(part)
    return tuple(found)


def _origins(raw: str) -> tuple[str, ...]:
    """Web origins separated by commas (https://www.example.org), each written as a browser sends it in `Origin`:
    lowercase, the host in ASCII (bücher.example as xn--bcher-kva.example), no default port, no path."""
    return tuple(_origin(part) for part in (p.strip().rstrip("/") for p in raw.split(",")) if part)


def _origin(part: str) -> str:
    wrong = ValueError(f"{quoted(part)} is not a site's origin such as https://www.example.org (scheme and host, "
                       "a port if not the usual one; no path)")
    try:
        parts = urlsplit(part)
        port = parts.port
        name = parts.hostname or ""
        host = f"[{name}]" if ":" in name else name.encode("idna").decode("ascii")  # an IPv6 address in brackets
    except (ValueError, UnicodeError):
        raise wrong from None
    if (parts.scheme not in ("http", "https") or not host or "*" in host or "@" in parts.netloc or parts.path
            or parts.query or parts.fragment):
        raise wrong
    if port is None or port == {"http": 80, "https": 443}[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _hosts(raw: str) -> tuple[str, ...]:
    """Host names, each with an optional :port (sns.eu-west-1.amazonaws.com, 127.0.0.1:8443), lowercase."""
    found = []
    for part in (p.strip().lower().rstrip(".") for p in raw.split(",")):
        if not part:
            continue
        if not re.fullmatch(r"[a-z0-9.-]+(:\d{1,5})?", part) or part.startswith((".", "-")):
            raise ValueError(f"{quoted(part)} is not a host name such as sns.eu-west-1.amazonaws.com")
        found.append(part)
    return tuple(found)


def _topic_arns(raw: str) -> tuple[str, ...]:
    """SNS topics, by ARN, separated by commas: arn:aws:sns:eu-west-1:123456789012:herald-bounces."""
    found = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not re.fullmatch(r"arn:aws(-cn|-us-gov)?:sns:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:[A-Za-z0-9_.-]{1,256}", part):
            raise ValueError(f"{quoted(part)} is not an SNS topic's ARN such as "
                             "arn:aws:sns:eu-west-1:123456789012:herald-bounces")
        found.append(part)
    return tuple(found)


def _aws_region(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", value):
        raise ValueError(f"{quoted(raw)} is not an AWS region such as eu-west-1")
    return value


def _selector(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})", value):
        raise ValueError(f"{quoted(raw)} is not a DKIM selector such as herald2026 (letters, digits, - and .)")
    return value


def _domain(raw: str) -> str:
    found = _domains(raw)
    if len(found) > 1:
        raise ValueError(f"{quoted(raw)} is one domain, such as example.org")
    return found[0] if found else ""


def _optional_address(raw: str) -> str:
    value = raw.strip()
    if value and (not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value)):
        raise ValueError(f"{quoted(raw)} is not an email address")
    return value


# What `bot hash-password` writes (werkzeug's default): scrypt, N = 2**15, r = 8, p = 1, a 16-character salt, a
# 64-byte digest. Anything weaker (pbkdf2:sha256:1, scrypt with a small N) is guessed offline far faster: refused.
_SCRYPT_HASH = re.compile(r"scrypt:(\d{1,8}):(\d{1,3}):(\d{1,3})\$[A-Za-z0-9]{16,64}\$[0-9a-f]{128}")
SCRYPT_AT_LEAST = (2**15, 8, 1)
_RUN_HASH_PASSWORD = "run bot hash-password and set the line it prints"


def _password_hash(raw: str) -> Secret:
    """The admin password as a hash from `bot hash-password` (or a stronger scrypt), never the password itself."""
    value = raw.strip()
    if not value:
        return Secret("")
    found = _SCRYPT_HASH.fullmatch(value)
    if found is None:
        what = "is not a hash as bot hash-password writes it (scrypt)" if "$" in value else \
            "must be a password hash, not the password itself"
        raise ValueError(f"{what}: {_RUN_HASH_PASSWORD}")
    n, r, p = (int(group) for group in found.groups())
    low_n, low_r, low_p = SCRYPT_AT_LEAST
    if n < low_n or n & (n - 1) or r < low_r or p < low_p:
        raise ValueError(f"is a weaker scrypt (N={n}, r={r}, p={p}) than bot hash-password writes (N={low_n}, "
                         f"r={low_r}, p={low_p}): {_RUN_HASH_PASSWORD}")
    if n * r > 2**21 or p > 16:  # 128 * N * r bytes: more than 256 MB, or minutes, at every sign-in
        raise ValueError(f"asks scrypt for more than a sign-in can afford (N={n}, r={r}, p={p}; N*r at most "
                         f"{2**21}, p at most 16): {_RUN_HASH_PASSWORD}")
    return Secret(value)


def _language(raw: str) -> str:
    if not re.fullmatch(r"[a-z]{2,3}", raw.strip()):
        raise ValueError(f"{quoted(raw)} is not an ISO 639-1 language code such as en or fr")
    return raw.strip()


def _languages(raw: str) -> tuple[str, ...]:
    """Language codes separated by commas, the default first (en, fr, es); each once."""
    found: list[str] = []
    for part in (p.strip().lower() for p in raw.split(",")):
        if not part:
            continue
        code = _language(part)
        if code in found:
            raise ValueError(f"{quoted(code)} is listed twice")
        found.append(code)
    return tuple(found)


def resolve_languages(language: str, languages: tuple[str, ...], language_source: str) -> tuple[str, tuple[str, ...]]:
    """(the default language, every language): BOT_LANGUAGES when set, its first the default; else BOT_LANGUAGE
    alone. Both set, they must agree, or the newsletter's language would depend on which one was read."""
    if not languages:
        return language, (language,)
    if language_source != "default" and language != languages[0]:
        raise ValueError(f"BOT_LANGUAGE is {language} but BOT_LANGUAGES starts with {languages[0]}: the first of "
                         "BOT_LANGUAGES is the default language; remove BOT_LANGUAGE")
    return languages[0], languages


def social_languages(listed: tuple[str, ...], languages: tuple[str, ...]) -> tuple[str, ...]:
    """BOT_SOCIAL_LANGUAGES, each one of BOT_LANGUAGES; unset, the default language alone."""
    for code in listed:
        if code not in languages:
            raise ValueError(f"{code} is not one of BOT_LANGUAGES ({', '.join(languages)})")
    return listed or languages[:1]


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"{quoted(raw)} is not one of: {', '.join(choices)}")
        return value

    return parse


def _switch(raw: str) -> bool:
    if raw.strip() not in ("0", "1"):
        raise ValueError(f"{quoted(raw)} is not 0 or 1")
    return raw.strip() == "1"


def _text(raw: str) -> str:
    return raw.strip()


def _secret(raw: str) -> Secret:
    return Secret(raw.strip())
