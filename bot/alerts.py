"""Alerts: after a run that needs a person, one email to BOT_ALERT_EMAIL saying what failed, why, and what fixes it.

A problem already told is not told again for six hours, so a channel whose credentials stay refused does
not mail someone every 30 seconds.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from .channels import Channels
from .clock import from_utc_iso, utc_iso
from .dispatch import RunReport, send_notice
from .errors import counted
from .ledger import Ledger
from .settings import Settings

log = logging.getLogger("herald")
QUIET_FOR = timedelta(hours=6)


def needs_a_person(report: RunReport) -> bool:
    return bool(report.failed or report.missed or report.stale or report.paused or report.emails_failed)


def problems(report: RunReport) -> list[tuple[str, str, list[str]]]:
    """(key, short label, lines) for each problem of the run: the key says whether it was told already."""
    found = []
    for kind, why in report.paused.items():
        found.append((f"paused:{kind}", f"{kind} paused", [
            f"* {kind} is paused: its credentials were refused.", f"  {why}",
            "  Fix the credentials, check them with `bot doctor`; what is pending goes out on the next run."]))
    # One entry per item and reason, its platforms together: an item missed everywhere is one thing to deal with.
    for (item, why), platforms in _by_item(report.failed).items():
        found.append((f"failed:{item}:{','.join(platforms)}", "failed", [
            f"* {item} was not posted to {_listed(platforms)}: {why}",
            f"  Once the cause is fixed: bot requeue {item}" + (f" --platform {platforms[0]}" if len(platforms) == 1
                                                                 else "")]))
    if report.emails_failed:
        found.append(("emails", "newsletter messages refused", [
            f"* {counted(report.emails_failed, 'newsletter message')} refused for good (see `bot status` for the "
            "server's reasons per edition)."]))
    for (item, why), platforms in _by_item(report.missed).items():
        found.append((f"missed:{item}:{','.join(platforms)}", "missed", [
            f"* {item} was not posted to {_listed(platforms)}: {why}.",
            f"  To post it anyway: bot requeue {item}" + (f" --platform {platforms[0]}" if len(platforms) == 1
                                                          else "")]))
    for item, why in report.stale:
        found.append((f"stale:{item}", "missed", [
            f"* {item} was kept out of the newsletter: {why}.",
            "  To send it anyway, give it a new publish_at: it goes in the next edition."]))
    return found


def _by_item(posts: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    grouped: dict[tuple[str, str], list[str]] = {}
    for item, platform, why in posts:
        grouped.setdefault((item, why), []).append(platform)
    return grouped


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def compose(found: list[tuple[str, str, list[str]]], report: RunReport, settings: Settings) -> tuple[str, str]:
    """(subject, plain text) of the alert: each problem with the command that deals with it."""
    labels = [label for _, label, _ in found]
    counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
    subject = ", ".join(label if label.endswith(("paused", "refused")) else f"{counted(n, 'item')} {label}"
                        for label, n in counts.items())
    when = report.now.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"Herald's run of {when} needs a person.", ""]
    for _, _, text in found:
        lines += text + [""]
    lines += ["`bot status` shows everything that needs a person.", "", f"-- Herald, for {settings.org_name}"]
    return f"[Herald] {subject}", "\n".join(lines)


def send(report: RunReport, settings: Settings, ledger: Ledger, channels: Channels) -> bool:
    """Send one alert about the run's problems that were not told in the last six hours, if an address is set."""
    if not settings.alert_email or not needs_a_person(report):
        return False
    told: dict[str, str] = json.loads(ledger.meta("alerted") or "{}")
    fresh = {key: at for key, at in told.items() if report.now - from_utc_iso(at) < QUIET_FOR}
    found = [p for p in problems(report) if p[0] not in fresh]
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
