"""A local server speaking the Amazon SES v2 REST API that boto3 calls: SendEmail, GetAccount, GetConfigurationSet.

Each request's SigV4 signature is checked as AWS checks it (the Authorization header's shape, X-Amz-Date, the
credential scope, then the signature itself, recomputed with the secret key), and refused with AWS's own error
shape: a 403 with `x-amzn-ErrorType` and a JSON `message`. SendEmail's raw message is decoded and parsed with the
email package and kept; recipients can be made to meet throttling (429) or a rejection (400), and the account's
quota, sandbox and sending switch are attributes. Anything odd about a request is also kept in `problems`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
                           r"(?P<service>[a-z0-9]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
                           r"Signature=(?P<signature>[0-9a-f]{64})")
MAX_SKEW = timedelta(minutes=15)  # how far X-Amz-Date may be from the server's clock, as AWS allows
SERVICE_FAULT = "http://internal.amazon.com/coral/com.amazonaws.sesv2/"
AUTH_FAULT = "http://internal.amazon.com/coral/com.amazon.coral.service/"
BAD_KEY = "The security token included in the request is invalid."
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")


def aws_error(status: int, code: str, message: str, namespace: str = SERVICE_FAULT) -> Response:
    """An error as the SES v2 endpoint answers it: the code in a header, the words in the JSON body."""
    return Response(json.dumps({"message": message}), status, {"x-amzn-ErrorType": f"{code}:{namespace}",
                                                               "x-amzn-RequestId": str(uuid.uuid4())},
                    content_type="application/json")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), 200, {"x-amzn-RequestId": str(uuid.uuid4())}, content_type="application/json")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@dataclass
class Received:
    """One message SES accepted: its recipients, its bytes as sent, and those bytes parsed."""

    recipients: list[str]
    raw: bytes
    message: EmailMessage
    message_id: str
    configuration_set: str | None


@dataclass
class SesApi:
    server: HTTPServer
    key_id: str
    secret: str
    region: str = "eu-west-1"
    max_rate: float = 14.0
    max_day: float = 50_000.0
    enabled: bool = True
    production: bool = True
    enforcement: str = "HEALTHY"
    verified: set[str] = field(default_factory=lambda: {"example.org"})  # identities: addresses or domains
    configuration_sets: dict[str, bool] = field(default_factory=lambda: {"herald-events": True})  # name: sending
    throttled: set[str] = field(default_factory=set)  # recipients answered 429 TooManyRequestsException
    rejected: dict[str, str] = field(default_factory=dict)  # recipient: the words of a 400 MessageRejected
    scripted: list[Response] = field(default_factory=list)  # the next SendEmail answers, once signed correctly
    received: list[Received] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)  # every call correctly signed, by its name
    refused: list[str] = field(default_factory=list)  # the error code of every call refused for its signature
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.clear()
        self.server.expect_request("/v2/email/outbound-emails", method="POST").respond_with_handler(self._send)
        self.server.expect_request("/v2/email/account", method="GET").respond_with_handler(self._account)
        self.server.expect_request(re.compile(r"^/v2/email/configuration-sets/[^/]+$"),
                                   method="GET").respond_with_handler(self._configuration_set)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def answer_next(self, status: int, code: str, message: str) -> None:
        self.scripted.append(aws_error(status, code, message))

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    # --- SigV4, as AWS checks it -------------------------------------------------------------------------

    def _unsigned(self, request: Request) -> Response | None:
        """None when the request is signed with this key for this region; else AWS's 403."""
        found = AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
        stamp = request.headers.get("X-Amz-Date", "")
        if found is None or not re.fullmatch(r"\d{8}T\d{6}Z", stamp):
            self.problems.append(f"{request.path}: Authorization or X-Amz-Date not as SigV4 writes them")
            return self._refuse("IncompleteSignatureException", "Authorization header requires 'Credential', "
                                "'Signature' and 'SignedHeaders' parameters, and an X-Amz-Date header.")
        signed = found["signed"].split(";")
        if not {"host", "x-amz-date"} <= set(signed) or signed != sorted(signed):
            self.problems.append(f"{request.path}: SignedHeaders {found['signed']} without host and x-amz-date")
        if found["key"] != self.key_id:
            return self._refuse("UnrecognizedClientException", BAD_KEY)
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - when) > MAX_SKEW:
            return self._refuse("InvalidSignatureException", f"Signature expired: {stamp} is now earlier than "
                                f"{datetime.now(UTC) - MAX_SKEW:%Y%m%dT%H%M%SZ}.")
        if (found["date"], found["region"], found["service"]) != (stamp[:8], self.region, "ses"):
            self.problems.append(f"{request.path}: credential scope {found['date']}/{found['region']}/"
                                 f"{found['service']}, not {stamp[:8]}/{self.region}/ses")
            return self._refuse("InvalidSignatureException", "Credential should be scoped to a valid region.")
        if not hmac.compare_digest(self._signature(request, signed, stamp), found["signature"]):
            return self._refuse("InvalidSignatureException", BAD_SIGNATURE)
        return None

    def _refuse(self, code: str, message: str) -> Response:
        self.refused.append(code)
        return aws_error(403, code, message, AUTH_FAULT)

    def _signature(self, request: Request, signed: list[str], stamp: str) -> str:
        raw_uri = str(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.path)
        path, _, query = raw_uri.partition("?")
        pairs = sorted(part.split("=", 1) if "=" in part else [part, ""] for part in query.split("&") if part)
        headers = "".join(f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed)
        canonical = "\n".join([request.method, path, "&".join(f"{k}={v}" for k, v in pairs), headers,
                               ";".join(signed), hashlib.sha256(request.get_data()).hexdigest()])
        scope = f"{stamp[:8]}/{self.region}/ses/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = _hmac(_hmac(_hmac(_hmac(f"AWS4{self.secret}".encode(), stamp[:8]), self.region), "ses"),
                    "aws4_request")
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    # --- the operations ------------------------------------------------------------------------------------

    def _account(self, request: Request) -> Response:
        refusal = self._unsigned(request)
        if refusal is not None:
            return refusal
        self.operations.append("GetAccount")
        return _json({"DedicatedIpAutoWarmupEnabled": False, "EnforcementStatus": self.enforcement,
                      "ProductionAccessEnabled": self.production, "SendingEnabled": self.enabled,
                      "SendQuota": {"Max24HourSend": self.max_day, "MaxSendRate": self.max_rate,
                                    "SentLast24Hours": float(len(self.received))},
                      "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]}})

    def _configuration_set(self, request: Request) -> Response:
        refusal = self._unsigned(request)
        if refusal is not None:
            return refusal
        self.operations.append("GetConfigurationSet")
        name = request.path.rsplit("/", 1)[1]
        if name not in self.configuration_sets:
            return aws_error(404, "NotFoundException", f"Configuration set <{name}> does not exist.")
        return _json({"ConfigurationSetName": name, "SendingOptions": {"SendingEnabled": self.configuration_sets[name]},
                      "ReputationOptions": {"ReputationMetricsEnabled": False}})

    def _send(self, request: Request) -> Response:
        refusal = self._unsigned(request)
        if refusal is not None:
            return refusal
        self.operations.append("SendEmail")
        try:
            body = json.loads(request.get_data())
            raw = base64.b64decode(body["Content"]["Raw"]["Data"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            self.problems.append("SendEmail: no Content.Raw.Data in base64")
            return aws_error(400, "BadRequestException", "Raw message data is missing or not base64.")
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        recipients = self._recipients(body, message, raw)
        name = body.get("ConfigurationSetName")
        if name is not None and name not in self.configuration_sets:
            return aws_error(404, "NotFoundException", f"Configuration set <{name}> does not exist.")
        refused = self._refusal(recipients, message)
        if refused is not None:
            return refused
        message_id = f"{secrets.token_hex(8)}-{uuid.uuid4()}-000000"
        self.received.append(Received(recipients, raw, message, message_id, name))
        return _json({"MessageId": message_id})

    def _recipients(self, body: dict[str, Any], message: EmailMessage, raw: bytes) -> list[str]:
        """The envelope: Destination when given (it must then name the To header's addresses), else the headers."""
        if b"\r\n\r\n" not in raw or any(len(line) > 998 for line in raw.split(b"\r\n")):
            self.problems.append("SendEmail: not a header and a body, or a line longer than 998 characters")
        if not message["From"] or not message["To"]:
            self.problems.append("SendEmail: the raw message has no From or no To")
        in_headers = [address.lower() for _, address in getaddresses(message.get_all("To", []))]
        destination = body.get("Destination")
        if destination is None:
            return in_headers
        given = [str(a).lower() for a in destination.get("ToAddresses", [])]
        if sorted(given) != sorted(in_headers) or set(destination) - {"ToAddresses"}:
            self.problems.append(f"SendEmail: Destination {destination} is not the To header's {in_headers}")
        return given

    def _refusal(self, recipients: list[str], message: EmailMessage) -> Response | None:
        if self.scripted:
            return self.scripted.pop(0)
        if not self.enabled:
            return aws_error(400, "SendingPausedException", "Sending is paused for this account.")
        if any(r in self.throttled for r in recipients):
            return aws_error(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
        for recipient in recipients:
            if recipient in self.rejected:
                return aws_error(400, "MessageRejected", self.rejected[recipient])
        sender = getaddresses([str(message["From"])])[0][1].lower()
        unverified = [a for a in ([sender] if self.production else [sender, *recipients])
                      if a not in self.verified and a.rpartition("@")[2] not in self.verified]
        if unverified:
            return aws_error(400, "MessageRejected", "Email address is not verified. The following identities failed "
                             f"the check in region {self.region.upper()}: {', '.join(unverified)}")
        return None
