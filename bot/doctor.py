"""Doctor: check every configured backend with a read-only call and say what works and what to fix; never sends."""

from __future__ import annotations

from dataclasses import dataclass

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


def examine(settings: Settings) -> list[Finding]:
    findings = []
    for kind in kinds():
        backend = settings.backends[kind]
        if backend == "off":
            findings.append(Finding(kind, backend, True, "off: nothing is sent"))
            continue
        fix = _fix(kind, backend)
        channel = None
        try:
            channel = open_channel(settings, kind)
            if channel is None:  # only "off" opens nothing, and that was answered above; said plainly all the same
                findings.append(Finding(kind, backend, True, "off: nothing is sent"))
                continue
            findings.append(Finding(kind, backend, True, channel.check()))
        except ChannelAuthError as exc:
            findings.append(Finding(kind, backend, False, f"credentials refused: {exc}", fix))
        except TransientChannelError as exc:
            findings.append(Finding(kind, backend, False, f"cannot reach the server: {exc}",
                                    "check the address and the network, then try again"))
        except (FinalChannelError, ChannelError, ConfigError) as exc:
            findings.append(Finding(kind, backend, False, str(exc), fix))
        finally:
            if channel is not None:
                channel.close()
    try:
        require_queue_dir(settings)
    except ConfigError as exc:  # said among the findings, so that the backends are checked all the same
        findings.insert(0, Finding("queue", "folder", False, str(exc)))
    if settings.email_backend == "outbox" and not settings.public_url:
        findings.append(Finding("email", "links", True, "unsubscribe links point at http://localhost:8080 "
                                "(set BOT_PUBLIC_URL before real mail goes out)"))
    return [Finding(f.kind, f.backend, f.ok, settings.redact(f.detail), f.fix) for f in findings]
