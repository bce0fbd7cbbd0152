"""Alerts: after a run that needs a person, one email to BOT_ALERT_EMAIL saying what failed, why, and what fixes it.

The same alert is not repeated for six hours, so a channel whose credentials stay refused does not mail
someone every 30 seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from . import mail
from .channels import Channels, OutgoingMail, Sent
from .clock import from_utc_iso, utc_iso
from .dispatch import RunReport
from .ledger import Ledger
from .settings import Settings

log = logging.getLogger("herald")
QUIET_FOR = timedelta(hours=6)


def needs_a_person(report: RunReport) -> bool:
    return bool(report.failed or report.missed or report.paused or report.emails_failed)


def compose(report: RunReport, settings: Settings) -> tuple[str, str]:
    """(subject, plain text) of the alert: each problem with the command that deals with it."""
    parts = []
    if report.paused:
        parts.append(f"{', '.join(report.paused)} paused")
    if report.failed or report.emails_failed:
        parts.append(f"{len(report.failed) + report.emails_failed} failed")
    if report.missed:
        parts.append(f"{len(report.missed)} missed")
    when = report.now.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"Herald's run of {when} needs a person.", ""]
    for kind, why in report.paused.items():
        lines += [f"* {kind} is paused: its credentials were refused.", f"  {why}",
                  "  Fix the credentials, check them with `bot doctor`; what is pending goes out on the next run.", ""]
    for item, platform, why in report.failed:
        lines += [f"* {item} was not posted to {platform}: {why}",
                  f"  Once the cause is fixed: bot requeue {item} --platform {platform}", ""]
    if report.emails_failed:
        lines += [f"* {report.emails_failed} newsletter message(s) were refused for good (see `bot status` for the "
                  "server's reasons per edition).", ""]
    for item, platform, why in report.missed:
        lines += [f"* {item} was not posted to {platform} ({why}).",
                  f"  To post it anyway: bot requeue {item} --platform {platform}", ""]
    lines += ["`bot status` shows everything that needs a person.", "", f"-- Herald, for {settings.org_name}"]
    return f"[Herald] {', '.join(parts)}", "\n".join(lines)


def send(report: RunReport, settings: Settings, ledger: Ledger, channels: Channels) -> bool:
    """Send the alert if the run needs it, an address is set, and the same alert was not sent lately."""
    if not settings.alert_email or not needs_a_person(report):
        return False
    subject, text = compose(report, settings)
    fingerprint = hashlib.sha256("\n".join(sorted(text.splitlines()[1:])).encode()).hexdigest()[:16]
    previous = _last(ledger)
    if previous and previous["fingerprint"] == fingerprint and \
            report.now - from_utc_iso(previous["at"]) < QUIET_FOR:
        return False
    channel = None if "email" in report.paused else channels.get("email")
    if channel is None:
        log.error("cannot send the alert to %s: the email channel is %s", settings.alert_email,
                  "paused" if "email" in report.paused else "off")
        return False
    notice = mail.prepare_notice(subject, text, mail_from=settings.effective_mail_from, date=report.now)
    stamp = report.now.strftime("%Y%m%dT%H%M%S")
    message = OutgoingMail(f"alert-{stamp}", notice, settings.alert_email, "", "",
                           f"<alert.{stamp}.{fingerprint}@{notice.domain}>")
    try:
        outcome = channel.send([message])[0]
    except Exception as exc:  # an alert must never take the run down with it
        log.error("cannot send the alert to %s: %s", settings.alert_email, settings.redact(str(exc)))
        return False
    if not isinstance(outcome, Sent):
        log.error("cannot send the alert to %s: %s", settings.alert_email, settings.redact(outcome.error))
        return False
    ledger.set_meta("last_alert", json.dumps({"fingerprint": fingerprint, "at": utc_iso(report.now)}))
    log.info("alert sent to %s: %s", settings.alert_email, subject)
    return True


def _last(ledger: Ledger) -> dict[str, str] | None:
    value = ledger.meta("last_alert")
    return json.loads(value) if value else None
