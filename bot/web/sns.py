"""Amazon SNS messages for the SES webhook: believed only once SNS's own certificate verifies their signature.

SNS signs the fields of each message it posts, in a fixed order, with SHA1withRSA (SignatureVersion 1) or
SHA256withRSA (2). The certificate is fetched from the message's SigningCertURL only over https and only from SNS's
own hosts (sns.<region>.amazonaws.com, and .com.cn in China), or the hosts of BOT_SNS_CERT_HOSTS, through the
guarded GET (public addresses only, size and time capped, every redirect vetted again); it is kept in memory by
URL. A subscription's SubscribeURL is visited on the same terms.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
import ssl
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..channels import http as guarded
from ..errors import ChannelError, FinalChannelError, TransientChannelError
from ..settings import Settings

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

# The fields SNS signs, in the order it signs them, for each type of message (a Notification's Subject if present).
CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": CONFIRMATION,
    "UnsubscribeConfirmation": CONFIRMATION,
}
SIGNATURE = ("Signature", "SignatureVersion", "SigningCertURL")
# SNS's own hosts are sns.<region>.amazonaws.com (and .com.cn): a region's shape, so that no S3 bucket named "sns"
# (sns.s3.amazonaws.com) passes; its certificates are SimpleNotificationService-<hex>.pem, with no query, so that
# a caller cannot make Herald fetch again and again by varying the address.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-gov)?-[a-z]+-\d{1,2}\.amazonaws\.com(?:\.cn)?")
CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]{1,64}\.pem")
# Fields that are one line in every message SNS sends: a line break in one would let a captured message's signed
# text be read as other fields (its Subject moved into its MessageId, a new id for the same signature).
ONE_LINE = ("MessageId", "Timestamp", "TopicArn", "Type", "Token", "SubscribeURL", "SigningCertURL")
MAX_BYTES = 64 * 1024  # an SNS certificate is some 2 kB of PEM; a confirmation's answer, less than 1 kB of XML
MAX_KEPT = 32  # certificates kept: SNS signs with one at a time, and changes it rarely
HEADERS = {"User-Agent": guarded.USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity", "Connection": "close"}

_kept: dict[str, Certificate] = {}
_kept_lock = threading.Lock()


class Untrusted(Exception):
    """Not SNS's own: unsigned, badly signed, or naming a certificate or an address off SNS's hosts."""


class Unavailable(Exception):
    """What a message names could not be fetched now (SNS's host did not answer): SNS should try again later."""


def parse(body: bytes) -> dict[str, str] | None:
    """The message SNS posted (JSON, though sent as text/plain), or None when it is of another shape."""
    try:
        found: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    kind = found.get("Type") if isinstance(found, dict) else None
    if not isinstance(kind, str) or kind not in SIGNED:
        return None
    message = {name: value for name, value in found.items() if value is not None}
    if any(not isinstance(message.get(name, ""), str) for name in (*SIGNED[kind], *SIGNATURE)):
        return None
    if any(name not in message for name in SIGNED[kind] if name != "Subject") or sent_at(message) is None:
        return None
    if any("\n" in message[name] or "\r" in message[name] for name in ONE_LINE if name in message):
        return None
    return {name: value for name, value in message.items() if isinstance(value, str)}


def sent_at(message: dict[str, Any]) -> float | None:
    """The message's Timestamp (ISO 8601, in UTC) as seconds since the epoch; None when it is not a time."""
    try:
        when = datetime.fromisoformat(str(message.get("Timestamp", "")))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def age(message: dict[str, str]) -> float:
    """Seconds between the message's Timestamp and now, either way."""
    return abs(time.time() - (sent_at(message) or 0.0))


def canonical(message: dict[str, str]) -> bytes:
    """What SNS signs: each signed field present, as its name and its value, each on a line of its own."""
    return "".join(f"{name}\n{message[name]}\n" for name in SIGNED[message["Type"]] if name in message).encode()


def verify(message: dict[str, str], settings: Settings) -> None:
    """Nothing when SNS signed `message`; Untrusted otherwise, Unavailable when its certificate cannot be had now."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm: dict[str, type[hashes.SHA1 | hashes.SHA256]] = {"1": hashes.SHA1, "2": hashes.SHA256}
    version, signature = message.get("SignatureVersion", ""), message.get("Signature", "")
    if version not in algorithm or not signature:
        raise Untrusted("unsigned, or signed otherwise than SNS signs (SignatureVersion 1 or 2)")
    key = certificate(message.get("SigningCertURL", ""), settings).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Untrusted("the signing certificate's key is not an RSA key")
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical(message), padding.PKCS1v15(),
                   algorithm[version]())
    except (InvalidSignature, binascii.Error, ValueError):
        raise Untrusted("the signature does not match the message") from None


def certificate(url: str, settings: Settings) -> Certificate:
    """The certificate at `url`, fetched once and kept; Untrusted unless `url` is https on an SNS host."""
    from cryptography import x509

    parts = urlsplit(url)
    if not allowed(url, settings) or not CERT_PATH.fullmatch(parts.path) or parts.query or parts.fragment:
        raise Untrusted(guarded.excerpt(f"the signing certificate {url} is not at https://sns.<region>.amazonaws.com"
                                        "/SimpleNotificationService-<id>.pem (nor on a host of BOT_SNS_CERT_HOSTS): "
                                        "not fetched"))
    with _kept_lock:
        found = _kept.get(url)
    if found is None:
        try:
            found = x509.load_pem_x509_certificate(fetch(url, settings))
        except ValueError:
            raise Untrusted("the signing certificate is not a PEM certificate") from None
        with _kept_lock:
            if len(_kept) >= MAX_KEPT:
                _kept.clear()
            _kept[url] = found
    if not found.not_valid_before_utc <= datetime.now(UTC) <= found.not_valid_after_utc:
        raise Untrusted("the signing certificate has expired, or is not valid yet")
    return found


def confirm(url: str, settings: Settings) -> None:
    """Visit a SubscriptionConfirmation's SubscribeURL, which confirms the subscription: on SNS's hosts only."""
    if not allowed(url, settings):
        raise Untrusted(guarded.excerpt(f"the SubscribeURL {url} is not at https://sns.<region>.amazonaws.com "
                                        "(nor on a host of BOT_SNS_CERT_HOSTS): not visited"))
    fetch(url, settings)


def allowed(url: str, settings: Settings) -> bool:
    """Whether `url` is https on SNS's own hosts (or those of BOT_SNS_CERT_HOSTS), with no user name in it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and parts.hostname is not None and "@" not in parts.netloc
            and allowed_host(parts.hostname, port or 443, settings))


def allowed_host(host: str, port: int, settings: Settings) -> bool:
    host = host.lower().rstrip(".")
    if settings.sns_cert_hosts:
        return f"{host}:{port}" in settings.sns_cert_hosts or (port == 443 and host in settings.sns_cert_hosts)
    return port == 443 and SNS_HOST.fullmatch(host) is not None


def fetch(url: str, settings: Settings) -> bytes:
    """GET `url` through the guarded GET, every hop (redirects too) on an allowed host, and the last one https."""

    def vet(host: str, port: int) -> list[str]:
        if not allowed_host(host, port, settings):
            raise FinalChannelError(f"{host} is not one of SNS's hosts")
        return guarded.resolve_public(host, port, settings.fetch_allow_private)

    budget = settings.http_timeout.total_seconds()
    try:
        got = guarded.guarded_get(url, vet, time.monotonic() + budget, MAX_BYTES, HEADERS)
    except ssl.SSLCertVerificationError as exc:
        raise Untrusted(guarded.excerpt(f"{url}: TLS certificate not trusted ({exc.verify_message})")) from None
    except TransientChannelError as exc:
        raise Unavailable(guarded.excerpt(f"{url}: {exc}")) from None
    except ChannelError as exc:
        raise Untrusted(guarded.excerpt(f"{url}: {exc}")) from None
    except TimeoutError:
        raise Unavailable(guarded.excerpt(f"{url}: no answer within {budget:g} s")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise Unavailable(guarded.excerpt(f"{url}: no usable answer ({type(exc).__name__})")) from None
    if got.data is None or not allowed(got.url, settings):
        raise Untrusted(guarded.excerpt(f"{url}: redirected off SNS's https hosts"))
    return got.data
