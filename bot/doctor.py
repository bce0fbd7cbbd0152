"""Doctor: check every configured backend with a read-only call and say what works and what to fix; never sends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from . import i18n, platform_languages
from .channels import kinds, open_channel
from .errors import ChannelAuthError, ChannelError, ConfigError, FinalChannelError, TransientChannelError
from .platforms import REGISTRY
from .settings import Settings, require_queue_dir

# Where a person fixes each email backend's credentials (each platform says its own: bot.platforms).
FIXES: dict[tuple[str, str], str] = {
    ("email", "smtp"): "check SMTP_HOST, SMTP_PORT, SMTP_SECURITY, SMTP_USERNAME and SMTP_PASSWORD with your mail "
                       "provider",
    ("email", "mailgun"): "create a key at https://app.mailgun.com/settings/api_security and check MAILGUN_DOMAIN "
                          "and MAILGUN_BASE_URL (EU accounts: https://api.eu.mailgun.net)",
    ("email", "sendgrid"): "create a key with the Mail Send permission at https://app.sendgrid.com/settings/api_keys",
}


def _fix(kind: str, backend: str) -> str:
    platform = REGISTRY.get(kind)
    return platform.fix if platform is not None and backend == "api" else FIXES.get((kind, backend), "")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    backend: str
    ok: bool
    detail: str
    fix: str = ""
    more: tuple[str, ...] = ()  # lines to show under it as they are (a DNS record to copy)


def examine(settings: Settings) -> list[Finding]:
    findings = []
    for kind in kinds():
        backend = settings.backends[kind]
        if backend == "off":
            unused = [f"{i18n.language_name(lang, 'en')}" for lang in platform_languages.accounts(settings, kind)]
            findings.append(Finding(kind, backend, True, "off: nothing is sent" + (
                f" (the settings given for {i18n.listed(unused, 'en')} are not used)" if unused else "")))
            continue
        findings.append(_check(settings, kind, backend, kind))
        # Each language with an account of its own (MASTODON_ACCESS_TOKEN_FR) is checked too, named as such.
        findings += [_check(own, kind, backend, f"{kind} in {i18n.language_name(lang, 'en')}")
                     for lang in platform_languages.accounts(settings, kind)
                     if (own := platform_languages.settings_for(settings, kind, lang)) is not None]
    try:
        require_queue_dir(settings)
    except ConfigError as exc:  # said among the findings, so that the backends are checked all the same
        findings.insert(0, Finding("queue", "folder", False, str(exc)))
    if settings.dkim_domain:
        findings.append(_dkim(settings))
    if settings.email_backend == "outbox" and not settings.public_url:
        findings.append(Finding("email", "links", True, "unsubscribe links point at http://localhost:8080 "
                                "(set BOT_PUBLIC_URL before real mail goes out)"))
    return [Finding(f.kind, f.backend, f.ok, settings.redact(f.detail), f.fix, f.more) for f in findings]


def _check(settings: Settings, kind: str, backend: str, label: str) -> Finding:
    """One backend checked with its read-only call, as `label` (the kind, or the kind and an account's language)."""
    fix = _fix(kind, backend)
    channel = None
    try:
        channel = open_channel(settings, kind)
        if channel is None:  # only "off" opens nothing, and that was answered before; said plainly all the same
            return Finding(label, backend, True, "off: nothing is sent")
        return Finding(label, backend, True, channel.check())
    except ChannelAuthError as exc:
        return Finding(label, backend, False, f"{exc.what}: {exc}", fix)
    except TransientChannelError as exc:
        return Finding(label, backend, False, f"cannot reach the server: {exc}",
                       "check the address and the network, then try again")
    except (FinalChannelError, ChannelError, ConfigError) as exc:
        return Finding(label, backend, False, str(exc), fix)
    finally:
        if channel is not None:
            channel.close()


def _dkim(settings: Settings) -> Finding:
    """The key readable and usable, a message signed with it passing dkimpy's own check against the record to
    publish, and the signing domain aligned with MAIL_FROM's (DMARC compares them)."""
    import dkim

    from . import mail, signing

    try:
        signer = signing.load(settings)
    except ConfigError as exc:
        return Finding("email", "dkim", False, str(exc),
                       "point DKIM_PRIVATE_KEY_FILE at the key's PEM file, readable by Herald's user")
    assert signer is not None  # DKIM_DOMAIN is set, and the settings refuse a partial DKIM_*
    record = signer.record()
    sample = mail.prepare_notice("DKIM check", "A message signed to check the key.", date=_now(),
                                 mail_from=settings.effective_mail_from, signer=signer)
    signed = sample.message("check@example.org", "", "", f"<dkim-check@{sample.domain}>")
    published = f"{signer.record_name}.".encode()
    if not dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode() if name == published else None):
        return Finding("email", "dkim", False, f"a message signed with {signer.source} does not verify",
                       "check that DKIM_PRIVATE_KEY_FILE holds the whole key")
    sender = sample.domain.lower()
    domain = settings.dkim_domain
    more = (f"publish this DNS TXT record at {signer.record_name}:", record)
    if sender != domain and not sender.endswith(f".{domain}") and not domain.endswith(f".{sender}"):
        return Finding("email", "dkim", False, f"signs as {domain}, but MAIL_FROM is at {sender}: receivers' DMARC "
                       "checks want the two to match",
                       f"send from an address at {domain} (MAIL_FROM), or sign as DKIM_DOMAIN={sender}", more)
    # RFC 8463 is young: receivers that do not check Ed25519 yet see an Ed25519-only message as unsigned.
    caveat = ""
    if signer.key_type == "ed25519":
        caveat = "; not every receiver checks Ed25519 yet: an RSA 2048 key is checked by all"
    elif getattr(signer.key, "key_size", 2048) < 2048:
        caveat = "; a key under 2,048 bits is weak, and some receivers ignore it: make a 2048-bit one"
    return Finding("email", "dkim", True, f"signs as {domain} with selector {signer.selector} "
                   f"({signer.key_description}); a test message verifies{caveat}", more=more)


def _now() -> datetime:
    return datetime.now(UTC)
