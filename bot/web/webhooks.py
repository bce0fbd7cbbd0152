"""Provider webhooks: bounces and complaints from Mailgun, SendGrid and Amazon SES (through SNS), verified by
signature, suppress the address.

An unsigned, badly signed, stale or replayed call changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from flask import Blueprint, abort, request

from .. import subscribers
from . import ledger, settings, sns

log = logging.getLogger("herald")
blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")
MAX_AGE = 24 * 3600  # seconds: providers retry failed calls for hours with the original signature


def _now() -> datetime:
    return datetime.now(UTC)


def _record(event_id: str, reports: list[tuple[str, str, str, str]]) -> list[str] | None:
    """A provider's call (or one event of it), whole: marked as seen with what it reports, in one transaction
    (None: seen before). An address that is no address is nobody on the list: 'unknown', nothing recorded."""
    valid: list[tuple[str, str, str, str]] = []
    for email, kind, source, detail in reports:
        try:
            valid.append((subscribers.normalize_address(email), kind, source, detail))
        except ValueError:
            valid.append(("", kind, source, detail))  # matches nobody: recorded as unknown
    return subscribers.record_reports(ledger(), event_id, valid, _now(), settings().soft_bounce_limit)


@blueprint.post("/mailgun")
def mailgun() -> tuple[str, int]:
    config = settings()
    key = config.mailgun_webhook_key.reveal() if config.mailgun_webhook_key else ""
    body = request.get_json(silent=True)
    if not key:
        abort(403)
    # Mailgun's shape, checked before anything is read from it: anything else is a bad request, never a crash.
    signature = body.get("signature", {}) if isinstance(body, dict) else None
    event = body.get("event-data", {}) if isinstance(body, dict) else None
    if not isinstance(signature, dict) or not isinstance(event, dict):
        abort(400)
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    # Bytes: compare_digest refuses str with non-ASCII characters; isascii: "²" is a digit int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit() and token
            and hmac.compare_digest(expected.encode(), given.encode())):
        abort(403)
    if abs(time.time() - int(timestamp)) > MAX_AGE:
        return "already seen", 200
    name, recipient = str(event.get("event", "")), str(event.get("recipient", ""))
    found = event.get("delivery-status")
    status: dict[str, Any] = found if isinstance(found, dict) else {}
    detail = f"{status.get('code', '')} {status.get('message') or status.get('description') or event.get('reason', '')}"
    reported = {"failed": ("hard" if event.get("severity") == "permanent" else "soft", detail.strip()),
                "complained": ("complaint", "marked as spam"),
                "unsubscribed": ("complaint", "unsubscribed at Mailgun")}.get(name)
    outcomes = _record(f"mailgun:{token}", [(recipient, reported[0], "mailgun", reported[1])] if reported else [])
    if outcomes is None:
        return "already seen", 200
    log.info("mailgun webhook: %s for a subscriber: %s", name, outcomes[0] if outcomes else "ignored")
    return "ok", 200


def _sendgrid_signed(public_key: str) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    if not (signature and timestamp.isascii() and timestamp.isdigit()) or abs(time.time() - int(timestamp)) > MAX_AGE:
        return False
    try:
        key = load_der_public_key(base64.b64decode(public_key))
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        log.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key: every SendGrid call is refused")
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):  # SendGrid signs with ECDSA alone
        log.error("SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic-curve key: every SendGrid call is refused")
        return False
    try:
        key.verify(base64.b64decode(signature), timestamp.encode() + request.get_data(), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


@blueprint.post("/sendgrid")
def sendgrid() -> tuple[str, int]:
    public_key = settings().sendgrid_webhook_public_key
    if not public_key or not _sendgrid_signed(public_key):
        abort(403)
    events = request.get_json(silent=True)
    if not isinstance(events, list):
        abort(400)
    for event in events:
        if not isinstance(event, dict):
            continue
        name, email = str(event.get("event", "")), str(event.get("email", ""))
        ident = str(event.get("sg_event_id") or hashlib.sha256(repr(sorted(event.items())).encode()).hexdigest())
        detail = str(event.get("reason") or event.get("response") or "")
        reported = {"bounce": ("soft" if event.get("type") == "blocked" else "hard", detail),
                    "spamreport": ("complaint", "marked as spam"),
                    "unsubscribe": ("complaint", "unsubscribed at SendGrid"),
                    "group_unsubscribe": ("complaint", "unsubscribed at SendGrid")}.get(name)
        outcomes = _record(f"sendgrid:{ident}", [(email, reported[0], "sendgrid", reported[1])] if reported else [])
        if outcomes is not None:
            log.info("sendgrid webhook: %s for a subscriber: %s", name, outcomes[0] if outcomes else "ignored")
    return "ok", 200


@blueprint.post("/ses")
def ses() -> tuple[str, int]:
    """Amazon SES's bounces and complaints, published to an SNS topic this address is subscribed to over HTTPS."""
    message = sns.parse(request.get_data())  # JSON, though SNS says text/plain
    if message is None:
        abort(400)
    # Any AWS account can publish a well-signed message to its own topic, and subscribe this address to it: only the
    # organisation's topics count, checked before anything is fetched or confirmed.
    if message["TopicArn"] not in settings().sns_topic_arns:
        log.warning("ses webhook: refused a message of %s, which is not in BOT_SNS_TOPIC_ARNS", message["TopicArn"])
        abort(403)
    refused = _sns_step(lambda: sns.verify(message, settings()), "SNS will try again")
    if refused:
        return refused
    topic = message["TopicArn"]
    if message["Type"] == "SubscriptionConfirmation":
        # Not marked as seen: should the visit fail, SNS's retry of this same message must be able to confirm.
        # A replayed confirmation only visits SNS's own confirmation address again, which changes nothing.
        return _sns_step(lambda: sns.confirm(message["SubscribeURL"], settings()),
                         f"the subscription to {topic} is not confirmed: SNS will try again, or confirm it in the SNS "
                         "console (Subscriptions > Request confirmation)") or _confirmed(topic)
    if sns.age(message) > MAX_AGE:
        return "already seen", 200
    unsubscribed = message["Type"] == "UnsubscribeConfirmation"
    events = [] if unsubscribed else _ses_events(message["Message"])
    outcomes = _record(f"ses:{message['MessageId']}", [(email, kind, "ses", detail) for email, kind, detail in events])
    if outcomes is None:
        return "already seen", 200
    if unsubscribed:
        log.info("ses webhook: this address no longer receives %s", topic)
    for (_email, kind, _detail), outcome in zip(events, outcomes, strict=True):
        log.info("ses webhook: %s for a subscriber: %s", kind, outcome)
    return "ok", 200


def _sns_step(step: Callable[[], None], unavailable: str) -> tuple[str, int] | None:
    """Run a step that checks with SNS: None when it went; else the answer (403 for what SNS did not sign or an
    address off its hosts, 503 when its host did not answer, so that SNS tries again later)."""
    try:
        step()
    except sns.Untrusted as exc:
        log.warning("ses webhook: refused: %s", exc)
        abort(403)
    except sns.Unavailable as exc:
        log.warning("ses webhook: %s; %s", exc, unavailable)
        return "try again later", 503
    return None


def _confirmed(topic: str) -> tuple[str, int]:
    log.info("ses webhook: confirmed the subscription to %s", topic)
    return "confirmed", 200


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ses_events(text: str) -> list[tuple[str, str, str]]:
    """(address, kind, detail) for each recipient of an SES bounce or complaint (as SES notifications or a
    configuration set's event publishing write them); nothing for any other message."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(event, dict):
        return []
    name = event.get("notificationType") or event.get("eventType")
    found = event.get(str(name).lower())
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    if name == "Bounce":
        # Permanent: the address does not exist; Transient and Undetermined may pass (a full mailbox).
        kind = "hard" if details.get("bounceType") == "Permanent" else "soft"
        default = f"{details.get('bounceType', '')} {details.get('bounceSubType', '')}"
        return [(_address(r), kind, " ".join(str(r.get("diagnosticCode") or r.get("status") or default).split()))
                for r in _objects(details.get("bouncedRecipients"))]
    if name == "Complaint":
        feedback = details.get("complaintFeedbackType")
        detail = f"marked as spam ({feedback})" if isinstance(feedback, str) and feedback else "marked as spam"
        return [(_address(r), "complaint", detail) for r in _objects(details.get("complainedRecipients"))]
    return []


def _address(recipient: dict[str, Any]) -> str:
    return parseaddr(str(recipient.get("emailAddress", "")))[1]
