"""Settings: read once from the environment and `.env` into one frozen, typed object passed down the pipeline."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import platform_languages, setting_sources
from .errors import ConfigError
from .setting_values import (
    Secret,
    Slot,
    _aws_region,
    _base_url,
    _count,
    _domain,
    _domains,
    _hosts,
    _language,
    _languages,
    _one_of,
    _optional_address,
    _optional_path,
    _origins,
    _password_hash,
    _path,
    _port,
    _public_url,
    _rate,
    _secret,
    _selector,
    _switch,
    _templates_folder,
    _text,
    _topic_arns,
    _url_list,
    _zone,
    parse_clock,
    parse_duration,
    parse_schedule,
    resolve_languages,
    social_languages,
)

EMAIL_BACKENDS = ("outbox", "off", "smtp", "mailgun", "sendgrid", "ses")


@dataclass(frozen=True, slots=True)
class Spec:
    attr: str  # the field of Settings; for a platform's setting, its key among the platform's options
    parse: Callable[[str], Any]
    default: str
    secret: bool = False
    platform: str = ""  # the platform whose setting it is (bot.platforms declares them), else ""


# The one table of settings: name -> how to parse it, its default. .env.example and the README document each.
SPECS: dict[str, Spec] = {
    "BOT_STATE_DIR": Spec("state_dir", _path, "var"),
    "BOT_QUEUE_DIR": Spec("queue_dir", _path, "content_queue"),
    "BOT_TEMPLATES_DIR": Spec("templates_dir", _templates_folder, ""),
    "BOT_TIMEZONE": Spec("timezone", _zone, "UTC"),
    "BOT_NEWSLETTER_SCHEDULE": Spec("newsletter_schedule", parse_schedule, "fri 10:00"),
    "BOT_DEFAULT_POST_TIME": Spec("default_post_time", parse_clock, "09:00"),
    "BOT_MAX_LATENESS": Spec("max_lateness", parse_duration, "24h"),
    "BOT_MAX_ITEM_AGE": Spec("max_item_age", parse_duration, "14d"),
    "BOT_LANGUAGE": Spec("language", _language, "en"),
    "BOT_LANGUAGES": Spec("languages", _languages, ""),
    "BOT_TRANSLATION_FALLBACK": Spec("translation_fallback", _one_of("show", "skip"), "show"),
    "BOT_SOCIAL_LANGUAGES": Spec("social_languages", _languages, ""),
    "BOT_ORG_NAME": Spec("org_name", _text, "Herald demo"),
    "BOT_ORG_ADDRESS": Spec("org_address", _text, "Rue de l'Exemple 1, 1201 Geneva, Switzerland"),
    "BOT_NEWSLETTER_NAME": Spec("newsletter_name", _text, ""),
    "BOT_PUBLIC_URL": Spec("public_url", _public_url, ""),
    "MAIL_FROM": Spec("mail_from", _text, ""),
    "BOT_SECRET": Spec("secret", _secret, "", secret=True),
    "BOT_EMAIL_BACKEND": Spec("email_backend", _one_of(*EMAIL_BACKENDS), "outbox"),
    "BOT_HTTP_TIMEOUT": Spec("http_timeout", parse_duration, "30s"),
    "BOT_RETRY_BUDGET": Spec("retry_budget", parse_duration, "2m"),
    "BOT_FETCH_ALLOW_PRIVATE": Spec("fetch_allow_private", _switch, "0"),
    "BOT_FEEDS": Spec("feeds", _url_list, ""),
    "BOT_FEED_INTERVAL": Spec("feed_interval", parse_duration, "1h"),
    "BOT_UTM": Spec("utm", _one_of("off", "on"), "off"),
    "BOT_UTM_DOMAINS": Spec("utm_domains", _domains, ""),
    "BOT_ALERT_EMAIL": Spec("alert_email", _optional_address, ""),
    "SMTP_HOST": Spec("smtp_host", _text, "localhost"),
    "SMTP_PORT": Spec("smtp_port", _port, ""),
    "SMTP_SECURITY": Spec("smtp_security", _one_of("starttls", "tls", "none"), "starttls"),
    "SMTP_USERNAME": Spec("smtp_username", _text, ""),
    "SMTP_PASSWORD": Spec("smtp_password", _secret, "", secret=True),
    "SMTP_CONNECTIONS": Spec("smtp_connections", _count(1, 32), "1"),
    "SMTP_RATE": Spec("smtp_rate", _rate, ""),
    "MAILGUN_API_KEY": Spec("mailgun_api_key", _secret, "", secret=True),
    "MAILGUN_DOMAIN": Spec("mailgun_domain", _text, ""),
    "MAILGUN_BASE_URL": Spec("mailgun_base_url", _base_url, "https://api.mailgun.net"),
    "SENDGRID_API_KEY": Spec("sendgrid_api_key", _secret, "", secret=True),
    "SENDGRID_BASE_URL": Spec("sendgrid_base_url", _base_url, "https://api.sendgrid.com"),
    "SES_REGION": Spec("ses_region", _aws_region, ""),
    "SES_ACCESS_KEY_ID": Spec("ses_access_key_id", _text, ""),
    "SES_SECRET_ACCESS_KEY": Spec("ses_secret_access_key", _secret, "", secret=True),
    "SES_CONFIGURATION_SET": Spec("ses_configuration_set", _text, ""),
    "SES_ENDPOINT_URL": Spec("ses_endpoint_url", _public_url, ""),
    "SES_RATE": Spec("ses_rate", _rate, ""),
    "DKIM_DOMAIN": Spec("dkim_domain", _domain, ""),
    "DKIM_SELECTOR": Spec("dkim_selector", _selector, ""),
    "DKIM_PRIVATE_KEY_FILE": Spec("dkim_private_key_file", _optional_path, ""),
    "BOT_ADMIN_PASSWORD": Spec("admin_password", _password_hash, "", secret=True),
    "BOT_APPROVAL": Spec("approval", _one_of("off", "required"), "off"),
    "BOT_PROXIES": Spec("proxies", _count(0, 5), "0"),
    "BOT_CONFIRM_MAX_AGE": Spec("confirm_max_age", parse_duration, "7d"),
    "BOT_SOFT_BOUNCE_LIMIT": Spec("soft_bounce_limit", _count(1, 100), "3"),
    "MAILGUN_WEBHOOK_SIGNING_KEY": Spec("mailgun_webhook_key", _secret, "", secret=True),
    "SENDGRID_WEBHOOK_PUBLIC_KEY": Spec("sendgrid_webhook_public_key", _text, ""),
    "BOT_SNS_CERT_HOSTS": Spec("sns_cert_hosts", _hosts, ""),
    "BOT_SNS_TOPIC_ARNS": Spec("sns_topic_arns", _topic_arns, ""),
    "BOT_EMBED_ORIGINS": Spec("embed_origins", _origins, ""),
}

# What each real backend cannot work without: checked when the settings load, so a run never starts half-set.
REQUIRED_BY_BACKEND: dict[tuple[str, str], tuple[str, ...]] = {
    ("email", "smtp"): ("MAIL_FROM", "BOT_PUBLIC_URL", "BOT_SECRET", "SMTP_HOST"),
    ("email", "mailgun"): ("MAIL_FROM", "BOT_PUBLIC_URL", "BOT_SECRET", "MAILGUN_API_KEY", "MAILGUN_DOMAIN"),
    ("email", "sendgrid"): ("MAIL_FROM", "BOT_PUBLIC_URL", "BOT_SECRET", "SENDGRID_API_KEY"),
    # Credentials may also come from AWS's own chain (AWS_PROFILE, an instance role): only the region is required.
    ("email", "ses"): ("MAIL_FROM", "BOT_PUBLIC_URL", "BOT_SECRET", "SES_REGION"),
}


def specs() -> dict[str, Spec]:
    """Every setting: Herald's own (SPECS), then each platform's backend and options, as bot.platforms declares."""
    from .platforms import BACKENDS, REGISTRY

    found = dict(SPECS)
    for name, platform in REGISTRY.items():
        found[f"BOT_{name.upper()}_BACKEND"] = Spec("backend", _one_of(*BACKENDS), platform.default_backend,
                                                    platform=name)
        for option in platform.options:
            found[option.env] = Spec(option.key, option.parse, option.default, option.secret, platform=name)
    return found


def required_by(kind: str, backend: str) -> tuple[str, ...]:
    """The settings a real backend cannot work without: checked when the settings load, so a run never starts
    half-set."""
    if (kind, backend) in REQUIRED_BY_BACKEND:
        return REQUIRED_BY_BACKEND[(kind, backend)]
    from .platforms import REGISTRY

    platform = REGISTRY.get(kind)
    return tuple(o.env for o in platform.options if o.required) if platform and backend == "api" else ()


@dataclass(frozen=True, slots=True)
class Settings:
    state_dir: Path
    queue_dir: Path
    templates_dir: Path | None
    timezone: ZoneInfo
    newsletter_schedule: tuple[Slot, ...]
    default_post_time: time
    max_lateness: timedelta
    max_item_age: timedelta  # an email item older than this at its edition's slot is missed, not sent
    language: str  # the default language: the first of BOT_LANGUAGES
    languages: tuple[str, ...]  # every language the organisation writes in, the default first
    translation_fallback: str  # `show`: an item not translated is in an edition in its own language; `skip`: not
    social_languages: tuple[str, ...]  # the languages posts go out in (default: the default language alone)
    org_name: str
    org_address: str
    newsletter_name: str
    public_url: str
    mail_from: str
    secret: Secret
    email_backend: str
    http_timeout: timedelta
    retry_budget: timedelta
    fetch_allow_private: bool  # fetch item pictures from private, loopback and link-local addresses too
    feeds: tuple[str, ...]  # RSS/Atom feeds `bot run` imports from, every feed_interval
    feed_interval: timedelta
    utm: str  # `on`: links to utm_domains (default: each item's own link's) gain utm_source, _medium, _campaign
    utm_domains: tuple[str, ...]
    alert_email: str
    smtp_host: str
    smtp_port: int | None
    smtp_security: str
    smtp_username: str
    smtp_password: Secret
    smtp_connections: int
    smtp_rate: float | None
    mailgun_api_key: Secret
    mailgun_domain: str
    mailgun_base_url: str
    sendgrid_api_key: Secret
    sendgrid_base_url: str
    ses_region: str
    ses_access_key_id: str
    ses_secret_access_key: Secret
    ses_configuration_set: str
    ses_endpoint_url: str  # empty: AWS's own endpoint for the region; tests point it at a local server
    ses_rate: float | None  # at most this many messages a second, below the account's own quota
    dkim_domain: str  # with the selector and key: every message of the smtp, ses and outbox backends is signed
    dkim_selector: str
    dkim_private_key_file: Path | None
    admin_password: Secret
    approval: str
    proxies: int
    confirm_max_age: timedelta
    soft_bounce_limit: int
    mailgun_webhook_key: Secret
    sendgrid_webhook_public_key: str
    sns_cert_hosts: tuple[str, ...]  # hosts SNS signing certificates may come from; empty: SNS's own
    sns_topic_arns: tuple[str, ...]  # the SNS topics whose messages /webhooks/ses takes; empty: none
    embed_origins: tuple[str, ...]  # sites whose own form may POST /subscribe without Herald's CSRF token
    # Each platform's backend, and its options by key (bot.platforms declares them; each platform reads its own).
    platform_backends: Mapping[str, str] = field(default_factory=dict)
    platform_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # A platform's options given again for one language's account (MASTODON_ACCESS_TOKEN_FR): bot.platform_languages.
    platform_language_options: platform_languages.PerLanguage = field(default_factory=dict)
    # Where each value came from, for `bot config`; never holds a secret's value.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    # Outbox-safe stand-ins for settings a real backend must be given explicitly.
    @property
    def effective_public_url(self) -> str:
        return self.public_url or "http://localhost:8080"

    @property
    def effective_mail_from(self) -> str:
        return self.mail_from or f"{self.org_name} <newsletter@localhost>"

    @property
    def title(self) -> str:
        return self.newsletter_name or f"{self.org_name} news"

    @property
    def backends(self) -> dict[str, str]:
        return {"email": self.email_backend, **self.platform_backends}

    def option(self, platform: str, key: str) -> Any:
        """One of a platform's settings, as its module declared and typed it."""
        return self.platform_options[platform][key]

    @property
    def outbox_only(self) -> bool:
        return all(name in ("outbox", "off") for name in self.backends.values())

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    def secret_values(self) -> list[str]:
        """Every secret's value, so that output can be scrubbed of them."""
        found = [getattr(self, f.name) for f in fields(self)]
        found += [v for options in self.platform_options.values() for v in options.values()]
        found += [v for _, v in platform_languages.given(self)]
        return [v.reveal() for v in found if isinstance(v, Secret) and v]

    def redact(self, text: str) -> str:
        """`text` with every secret's value replaced by ***: for anything printed, logged or stored. (A value of
        a few characters would turn every message into stars and protects nothing: those are left.)"""
        for secret in self.secret_values():
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        return text


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then `env_file`, then the environment, then `overrides`; unknown or malformed is an error."""
    known = specs()
    raw, sources = setting_sources.read(known, os.environ if environ is None else environ, env_file, overrides or {})
    values: dict[str, Any] = {}
    backends: dict[str, str] = {}
    options: dict[str, dict[str, Any]] = {}
    for name, spec in known.items():
        try:
            value = spec.parse(raw[name])
        except ValueError as exc:
            raise ConfigError(f"{sources[name]}: {name}: {exc}") from None
        if not spec.platform:
            values[spec.attr] = value
        elif spec.attr == "backend":
            backends[spec.platform] = value
        else:
            options.setdefault(spec.platform, {})[spec.attr] = value
    try:
        values["language"], values["languages"] = resolve_languages(values["language"], values["languages"],
                                                                    sources["BOT_LANGUAGE"])
    except ValueError as exc:
        raise ConfigError(f"{sources['BOT_LANGUAGES']}: {exc}") from None
    try:
        values["social_languages"] = social_languages(values["social_languages"], values["languages"])
    except ValueError as exc:
        raise ConfigError(f"{sources['BOT_SOCIAL_LANGUAGES']}: BOT_SOCIAL_LANGUAGES: {exc}") from None
    settings = Settings(**values, platform_backends=backends, platform_options=options, sources=sources,
                        platform_language_options=platform_languages.read(known, raw, sources, values["languages"]))
    _check_backends(settings, raw, sources)
    if not settings.outbox_only:  # something really goes out: its links must not be forgeable
        check_secret(settings)
    return settings


SECRET_MIN_LENGTH = 32
SECRET_MIN_DIFFERENT = 8  # a random hex secret of 32 has about 14; `changeme` four times has 7
MAKE_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'


def check_secret(settings: Settings) -> None:
    """Refuse a BOT_SECRET that can be found offline from one unsubscribe link (every key Herald uses comes from it:
    unsubscribe and confirmation links, staff sessions, calendar feeds). Called whenever a real backend is set, and
    by `bot serve`. Without BOT_SECRET the outbox's random key is used (BOT_STATE_DIR/secret.key): nothing to check."""
    value = settings.secret.reveal()
    if not value:
        return
    different = len(set(value))
    repeated = re.fullmatch(r"(.+?)\1+", value)
    if len(value) < SECRET_MIN_LENGTH:
        why = f"is {len(value)} character{'s' if len(value) != 1 else ''}"
    elif different < SECRET_MIN_DIFFERENT:
        why = f"has only {different} different character{'s' if different != 1 else ''}"
    elif repeated:
        why = f"repeats the same {len(repeated.group(1))} characters"
    else:
        return
    where = settings.sources.get("BOT_SECRET", "environment")
    raise ConfigError(f"{where}: BOT_SECRET: {why}; use at least {SECRET_MIN_LENGTH} random ones, e.g. {MAKE_SECRET}")


def _check_backends(settings: Settings, raw: dict[str, str], sources: dict[str, str]) -> None:
    """A real backend needs its settings, and one-click unsubscribe needs an https:// public URL."""
    for kind, backend in settings.backends.items():
        missing = [n for n in required_by(kind, backend) if not raw[n].strip()]
        if missing:
            raise ConfigError(f"BOT_{kind.upper()}_BACKEND={backend} needs {', '.join(missing)} "
                              f"(see .env.example)")
    dkim = {"DKIM_DOMAIN": settings.dkim_domain, "DKIM_SELECTOR": settings.dkim_selector,
            "DKIM_PRIVATE_KEY_FILE": settings.dkim_private_key_file}
    if any(dkim.values()) and not all(dkim.values()):
        unset = ", ".join(name for name, value in dkim.items() if not value)
        raise ConfigError(f"DKIM signing needs DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY_FILE together: "
                          f"{unset} not set")
    if settings.email_backend not in ("outbox", "off") and not settings.public_url.startswith("https://"):
        raise ConfigError(f"{sources['BOT_PUBLIC_URL']}: BOT_PUBLIC_URL: must be an https:// URL when mail really "
                          "goes out: mail clients only offer one-click unsubscribe over HTTPS (RFC 8058)")


def require_queue_dir(settings: Settings) -> Path:
    """The queue folder; ConfigError when it is not there, since no command can do its work without it."""
    folder = settings.queue_dir
    if folder.is_dir():
        return folder
    what = "is not a folder" if folder.exists() else "does not exist"
    if folder.is_absolute():
        raise ConfigError(f"the queue folder {folder} {what}: create it, or set BOT_QUEUE_DIR to the folder that "
                          "holds the items")
    raise ConfigError(f"the queue folder {folder} {what} in {Path.cwd()}: run bot from the folder that holds it, "
                      "or set BOT_QUEUE_DIR to where it is")
