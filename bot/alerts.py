"""Alerts: after a run that needs a person, one email to BOT_ALERT_EMAIL saying what failed, why, and what fixes it.

A problem already told is not told again for six hours, so a channel whose credentials stay refused does
not mail someone every 30 seconds.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from . import i18n
from .channels import Channels
from .clock import from_utc_iso, utc_iso
from .dispatch import RunReport, send_notice
from .ledger import Ledger
from .settings import Settings

log = logging.getLogger("herald")
QUIET_FOR = timedelta(hours=6)


def needs_a_person(report: RunReport) -> bool:
    return bool(report.failed or report.missed or report.stale or report.paused or report.emails_failed)


def problems(report: RunReport, lang: str = "en") -> list[tuple[str, str, list[str]]]:
    """(key, what it is in the subject, lines) for each problem of the run, in `lang`: the key says whether it was
    told already, the second is `paused:<channel>`, `failed`, `missed` or `refused`."""
    _ = i18n.translations(lang, "email").gettext
    found = []
    for kind, why in report.paused.items():
        found.append((f"paused:{kind}", f"paused:{kind}", [
            _("* %(channel)s is paused: its credentials were refused.") % {"channel": kind}, f"  {why}",
            _("  Fix the credentials, check them with `bot doctor`; what is pending goes out on the next run.")]))
    # One entry per item and reason, its platforms together: an item missed everywhere is one thing to deal with.
    for (item, why), platforms in _by_item(report.failed).items():
        found.append((f"failed:{item}:{','.join(platforms)}", "failed", [
            _("* %(item)s was not posted to %(platforms)s: %(why)s")
            % {"item": item, "platforms": i18n.listed(platforms, lang), "why": why},
            _("  Once the cause is fixed: %(command)s") % {"command": _requeue(item, platforms)}]))
    if report.emails_failed:
        found.append(("emails", "refused", [i18n.translations(lang, "email").ngettext(
            "* %(num)s newsletter message refused for good (see `bot status` for the server's reasons per edition).",
            "* %(num)s newsletter messages refused for good (see `bot status` for the server's reasons per edition).",
            report.emails_failed) % {"num": i18n.number(report.emails_failed, lang)}]))
    for (item, why), platforms in _by_item(report.missed).items():
        found.append((f"missed:{item}:{','.join(platforms)}", "missed", [
            _("* %(item)s was not posted to %(platforms)s: %(why)s")
            % {"item": item, "platforms": i18n.listed(platforms, lang), "why": why + "."},
            _("  To post it anyway: %(command)s") % {"command": _requeue(item, platforms)}]))
    for item, why in report.stale:
        found.append((f"stale:{item}", "missed", [
            _("* %(item)s was kept out of the newsletter: %(why)s.") % {"item": item, "why": why},
            _("  To send it anyway, give it a new publish_at: it goes in the next edition.")]))
    return found


def _requeue(item: str, platforms: list[str]) -> str:
    return f"bot requeue {item}" + (f" --platform {platforms[0]}" if len(platforms) == 1 else "")


def _by_item(posts: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for item, platform, why in posts:
        grouped.setdefault((item, why), []).append(platform)
    return grouped


def _subject_part(kind: str, n: int, lang: str) -> str:
    words = i18n.translations(lang, "email")
    if kind.startswith("paused:"):
        return words.gettext("%(channel)s paused") % {"channel": kind.split(":", 1)[1]}
    if kind == "refused":
        return words.gettext("newsletter messages refused")
    if kind == "failed":
        return words.ngettext("%(num)s item failed", "%(num)s items failed", n) % {"num": i18n.number(n, lang)}
    return words.ngettext("%(num)s item missed", "%(num)s items missed", n) % {"num": i18n.number(n, lang)}


def compose(found: list[tuple[str, str, list[str]]], report: RunReport, settings: Settings) -> tuple[str, str]:
    """(subject, plain text) of the alert, in the default language: each problem with the command that deals
    with it."""
    lang = settings.language
    _ = i18n.translations(lang, "email").gettext
    kinds = [kind for _key, kind, _lines in found]
    subject = ", ".join(_subject_part(kind, kinds.count(kind), lang) for kind in dict.fromkeys(kinds))
    when = report.now.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [_("Herald's run of %(when)s needs a person.") % {"when": when}, ""]
    for _key, _kind, text in found:
        lines += text + [""]
    lines += [_("`bot status` shows everything that needs a person."), "",
              _("-- Herald, for %(organisation)s") % {"organisation": settings.org_name}]
    return f"[Herald] {subject}", "\n".join(lines)


def send(report: RunReport, settings: Settings, ledger: Ledger, channels: Channels) -> bool:
    """Send one alert about the run's problems that were not told in the last six hours, if an address is set."""
    if not settings.alert_email or not needs_a_person(report):
        return False
    told: dict[str, str] = json.loads(ledger.meta("alerted") or "{}")
    fresh = {key: at for key, at in told.items() if report.now - from_utc_iso(at) < QUIET_FOR}
    found = [p for p in problems(report, settings.language) if p[0] not in fresh]
    if not found:
        return False
    subject, text = compose(found, report, settings)
    channel = None if "email" in report.paused else channels.get("email")
    why_not = send_notice(settings, channel, "alert", settings.alert_email, subject, text, report.now)
    if why_not:
        log.error("cannot send the alert to %s: %s", settings.alert_email, why_not)
        return False
    fresh.update({key: utc_iso(report.now) for key, _, _ in found})
    ledger.set_meta("alerted", json.dumps(fresh))
    log.info("alert sent to %s: %s", settings.alert_email, subject)
    return True
