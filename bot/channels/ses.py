"""Amazon SES: dispatch hands it each newsletter message, which goes raw, byte for byte, through SES v2's SendEmail.

The bytes are the prepared message itself (DKIM-signed when DKIM_* are set: `sends_raw`); SES replaces only its
Date and Message-ID, and adds its own Return-Path and signature. The account's sending quota, read once per run
with GetAccount, sets the pace; boto3 signs each call (SigV4) and finds the credentials (the keys set, else AWS's
own chain).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from ..errors import ChannelAuthError, ChannelError, ConfigError, FinalChannelError, TransientChannelError
from ..settings import Settings
from . import Failed, Outcome, Outgoing, OutgoingMail, Sent, one_by_one, register
from .http import USER_AGENT, excerpt

WHAT = "Amazon SES"
# One SendEmail takes some 50-150 ms from a server in the same part of the world: four calls in flight cover the
# 14 messages a second of a new production account, and far more, while the throttle keeps them to `rate`; more
# threads would mostly wait on it, and each would hold a connection of its own in botocore's pool.
CONNECTIONS = 4
SANDBOX_RATE = 1.0  # a sandbox account's rate: the pace when the quota could not be read
# Answers that mean "slow down": SES's own, and the codes botocore's retry logic treats as throttling.
THROTTLING = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException", "ThrottledException",
                        "RequestThrottled", "RequestThrottledException", "RequestLimitExceeded", "SlowDown"})
SERVER_FAULTS = frozenset({"InternalFailure", "InternalServerError", "InternalServerException", "ServiceUnavailable",
                           "ServiceUnavailableException"})
REFUSED_KEYS = frozenset({"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                          "SignatureDoesNotMatch", "IncompleteSignature", "IncompleteSignatureException",
                          "MissingAuthenticationToken", "MissingAuthenticationTokenException", "AuthFailure",
                          "ExpiredToken", "ExpiredTokenException"})
DENIED = frozenset({"AccessDeniedException", "AccessDenied", "NotAuthorized"})
BAD_CLOCK = frozenset({"RequestExpired", "RequestTimeTooSkewed"})
NOT_FOUND = frozenset({"NotFoundException", "ConfigurationSetDoesNotExistException"})
PAUSED_WORDS = ("sending is not enabled", "sending is disabled", "sending paused", "sending is paused")
# What stops every message, whoever it is for: the channel pauses (ChannelAuthError) rather than fail the list.
STOPPING = {
    "AccountSuspendedException": "AWS has stopped the account's sending for good (AccountSuspendedException): see "
                                 "the account dashboard of the SES console",
    "SendingPausedException": "sending is paused (SendingPausedException): resume it in the SES console, for the "
                              "account or for SES_CONFIGURATION_SET",
    "AccountSendingPausedException": "sending is paused for the account (AccountSendingPausedException): resume it "
                                     "in the account dashboard of the SES console",
    "ConfigurationSetSendingPausedException": "sending is paused for SES_CONFIGURATION_SET "
                                              "(ConfigurationSetSendingPausedException): resume it in the SES console",
    "MailFromDomainNotVerifiedException": "the sender's custom MAIL FROM domain is not verified "
                                          "(MailFromDomainNotVerifiedException): fix its MX record (SES console > "
                                          "Identities > Custom MAIL FROM domain)",
}
# One boto3 session for the process: it reads SES's API description once (a tenth of a second), not per channel.
# Each client carries its own credentials; only the credential chain's findings are shared, as AWS's own tools do.
_SESSION: list[Any] = []
_SESSION_LOCK = threading.Lock()


STOPPED = "sending stopped"  # the account may not send now: a quota, a pause, an identity, a setting

class _Unreachable(TransientChannelError):
    """SES could not be reached, or did not answer: nothing of the batch can go now."""


@dataclass(frozen=True, slots=True)
class Quota:
    """What GetAccount says of the account's sending."""

    max_rate: float  # messages a second
    max_day: float  # messages in any 24 hours; -1 for no limit
    sent_day: float
    enabled: bool
    production: bool  # False: the sandbox, where only verified addresses receive mail
    enforcement: str  # HEALTHY, PROBATION or SHUTDOWN

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Quota:
        quota = answer.get("SendQuota") or {}
        return cls(float(quota.get("MaxSendRate") or 0), float(quota.get("Max24HourSend") or 0),
                   float(quota.get("SentLast24Hours") or 0), bool(answer.get("SendingEnabled")),
                   bool(answer.get("ProductionAccessEnabled")), str(answer.get("EnforcementStatus") or ""))


def amount(value: float) -> str:
    """A number as a person writes it: 14, 0.5, 50,000 (never 14.0)."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _lowest(quota: float, configured: float | None) -> float | None:
    """The pace: SES_RATE when it is below the account's quota (or the quota is unknown), else the quota."""
    if quota <= 0:
        return configured
    return min(quota, configured) if configured else quota


class SesChannel:
    name = "ses"
    sends_raw = True  # the message's bytes go as they are: they can carry a DKIM signature (bot.signing)
    # Fields SES writes anew in raw messages ("Manual DKIM signing in Amazon SES": do not sign them).
    rewrites = ("Date", "Message-ID")
    batch_size = 1  # SendEmail takes one raw message: each recipient's own bytes
    connections = CONNECTIONS
    limit: int | None = None

    def __init__(self, settings: Settings, kind: str) -> None:
        import boto3.session
        from botocore.config import Config

        self.kind = kind
        self.settings = settings
        self.region = settings.ses_region
        self.configuration_set = settings.ses_configuration_set
        self.configured_rate = settings.ses_rate
        self.sender = parseaddr(settings.effective_mail_from)[1].lower()
        key_id, secret = settings.ses_access_key_id, settings.ses_secret_access_key.reveal()
        if bool(key_id) != bool(secret):
            raise ConfigError("SES_ACCESS_KEY_ID and SES_SECRET_ACCESS_KEY go together: set both, or neither to use "
                              "AWS's own credential chain (AWS_PROFILE, the machine's role)")
        self.keys_fix = ("check SES_ACCESS_KEY_ID and SES_SECRET_ACCESS_KEY" if key_id else
                         "check the credentials AWS's own chain finds (AWS_PROFILE, ~/.aws, the machine's role), or "
                         "set SES_ACCESS_KEY_ID and SES_SECRET_ACCESS_KEY")
        self.timeout = settings.http_timeout.total_seconds()
        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout, max_pool_connections=CONNECTIONS,
                        user_agent_extra=USER_AGENT.split(" ")[0],
                        # One attempt per call: dispatch decides when to try again (its backoff, BOT_RETRY_BUDGET,
                        # the next run), as for every other channel; botocore's own retries would hide the wait.
                        retries={"mode": "standard", "total_max_attempts": 1})
        with _SESSION_LOCK:  # a session is not thread-safe, and `bot serve` opens a channel per confirmation
            if not _SESSION:
                _SESSION.append(boto3.session.Session())
            self.client = _SESSION[0].client("sesv2", region_name=self.region, config=config,
                                             endpoint_url=settings.ses_endpoint_url or None,
                                             aws_access_key_id=key_id or None, aws_secret_access_key=secret or None)
        self.host = urlsplit(self.client.meta.endpoint_url).netloc
        self._lock = threading.Lock()
        self._quota: Quota | None = None
        self._refused: ChannelAuthError | None = None

    # --- the account: read once, before the first message --------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Messages a second at most: the account's MaxSendRate, or SES_RATE when lower."""
        try:
            quota = self._account()
        except ChannelAuthError:
            return None  # nothing will go: send() refuses at once, and no connection need wait its turn for that
        except ChannelError:
            # send() asks again before each message; should SES answer then, the slowest pace it ever allows.
            return min(SANDBOX_RATE, self.configured_rate or SANDBOX_RATE)
        return _lowest(quota.max_rate, self.configured_rate)

    def _account(self) -> Quota:
        with self._lock:
            if self._refused is not None:  # refused credentials stay refused for the run: not asked again
                raise self._refused
            if self._quota is None:
                try:
                    self._quota = Quota.of(self._call("get_account"))
                except ChannelAuthError as exc:
                    self._refused = exc
                    raise
            return self._quota

    def _ready(self) -> None:
        """The account may send; otherwise ChannelAuthError (dispatch pauses the channel) or _Unreachable."""
        try:
            quota = self._account()
        except (ChannelAuthError, TransientChannelError):
            raise
        except FinalChannelError as exc:
            raise ChannelAuthError(f"{WHAT}: cannot read the account's sending quota: {exc}") from None
        if not quota.enabled:
            raise ChannelAuthError(f"{WHAT}: {self._disabled(quota)}", what=STOPPED)

    def _disabled(self, quota: Quota) -> str:
        if quota.enforcement == "SHUTDOWN":
            return (f"AWS has shut down sending for the account in {self.region} (enforcement status SHUTDOWN): "
                    "see the account dashboard of the SES console")
        return (f"sending is paused for the account in {self.region}: resume it in the account dashboard of the SES "
                "console (or: aws sesv2 put-account-sending-attributes --sending-enabled)")

    # --- sending -------------------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return one_by_one(messages, self._deliver, self.name)

    def _deliver(self, message: OutgoingMail) -> Outcome:
        self._ready()  # the account may send: else the channel pauses (ChannelAuthError) before this one goes
        # The envelope names the subscriber alone, whatever SES would make of the headers; the bytes stay Herald's.
        request: dict[str, Any] = {"Content": {"Raw": {"Data": message.raw()}},
                                   "Destination": {"ToAddresses": [message.address]}}
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            answer = self._call("send_email", **request)
        except (ChannelAuthError, _Unreachable):
            raise
        except TransientChannelError as exc:  # throttled, or a fault on SES's side: this recipient, later
            return Failed(str(exc), transient=True, retry_after=exc.retry_after)
        except FinalChannelError as exc:  # refused for this recipient: never retried
            return Failed(str(exc))
        remote_id = answer.get("MessageId")
        # Accepted without an id (not documented): record that, rather than send it again.
        return Sent(str(remote_id) if remote_id else f"ses:accepted:{message.key}")

    # --- one call, its errors in Herald's classes ----------------------------------------------------------

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**request)
        except ClientError as exc:
            raise self._refusal(exc.response) from None
        except BotoCoreError as exc:
            raise self._trouble(exc) from None
        return answer

    def _refusal(self, response: dict[str, Any]) -> ChannelError:
        error = response.get("Error") or {}
        code, said = str(error.get("Code") or ""), " ".join(str(error.get("Message") or "").split())
        status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        stopping = self._stopping(code, said)
        if stopping:
            refused = code in REFUSED_KEYS or code in DENIED
            return ChannelAuthError(self.settings.redact(f"{WHAT}: {stopping}"),
                                    what="credentials refused" if refused else STOPPED)
        words = self.settings.redact(excerpt(f"{WHAT}: {code or f'HTTP {status}'}" + (f": {said}" if said else "")))
        lowered = said.lower()
        about_rate = code == "LimitExceededException" and any(w in lowered for w in ("rate", "throttl", "second"))
        if code in THROTTLING or code in SERVER_FAULTS or about_rate or status == 429 or status >= 500:
            return TransientChannelError(words)
        return FinalChannelError(words)

    def _stopping(self, code: str, said: str) -> str | None:
        """Why no message can go until a person acts, or None when the refusal is about this message only."""
        if code in REFUSED_KEYS:
            return f"the access key was refused ({code}): {self.keys_fix}"
        if code in DENIED:
            return (f"the credentials may not do this ({code}): allow ses:SendEmail and ses:GetAccount to them in "
                    "IAM")
        if code in BAD_CLOCK:
            return f"AWS refused the request's time ({code}): set this machine's clock right"
        if code in NOT_FOUND and self.configuration_set:
            return (f"the configuration set {self.configuration_set} does not exist in {self.region}: check "
                    "SES_CONFIGURATION_SET")
        return STOPPING.get(code) or self._stopping_words(code, said.lower())

    def _stopping_words(self, code: str, said: str) -> str | None:
        """The refusals SES tells apart by its words only (in lowercase here)."""
        if "daily" in said and "quota" in said:
            return (f"the account's daily sending quota is used up ({code}): the rest waits for a later run; ask "
                    "AWS for a higher quota (SES console > Account dashboard)")
        if any(words in said for words in PAUSED_WORDS):
            return f"sending is paused ({code}): resume it in the account dashboard of the SES console"
        # In the sandbox SES names every unverified address: the sender among them stops every message.
        if code == "MessageRejected" and "not verified" in said and self.sender in said:
            return (f"the sender {self.sender} is not a verified identity in {self.region} (MessageRejected): "
                    "verify it or its domain (SES console > Identities), or check MAIL_FROM")
        return None

    def _trouble(self, exc: Exception) -> ChannelError:
        from botocore import exceptions as aws

        if isinstance(exc, (aws.NoCredentialsError, aws.PartialCredentialsError, aws.CredentialRetrievalError)):
            return ChannelAuthError(f"{WHAT}: no usable AWS credentials ({type(exc).__name__}): {self.keys_fix}")
        if isinstance(exc, aws.ReadTimeoutError):
            return _Unreachable(f"{WHAT}: no answer from {self.host} within {self.timeout:g} s (it may have gone "
                                "through; SES cannot be asked, so it goes again later)")
        if isinstance(exc, (aws.ConnectionError, aws.HTTPClientError)):
            return _Unreachable(f"{WHAT}: cannot connect to {self.host} ({type(exc).__name__})")
        return FinalChannelError(self.settings.redact(excerpt(f"{WHAT}: {type(exc).__name__}: {exc}")))

    # --- the rest of the protocol --------------------------------------------------------------------------

    def reconcile(self, message: Outgoing) -> Outcome | None:
        return None  # SES cannot be asked whether an earlier hand-over arrived

    def check(self) -> str:
        quota = Quota.of(self._call("get_account"))
        if not quota.enabled:
            raise FinalChannelError(f"{WHAT}: {self._disabled(quota)}")
        messages = "message" if quota.max_rate == 1 else "messages"
        daily = f"{amount(quota.max_day)} a day" if quota.max_day > 0 else "no daily limit"
        text = f"region {self.region}: sending enabled, up to {amount(quota.max_rate)} {messages} a second and {daily}"
        text += " (production access)" if quota.production else ", in the sandbox: only verified addresses receive mail"
        notes = [f"{amount(quota.sent_day)} sent in the last 24 hours"]
        pace = _lowest(quota.max_rate, self.configured_rate)
        if pace is not None and pace < quota.max_rate:
            notes.append(f"Herald sends at most {amount(pace)} a second (SES_RATE)")
        if quota.enforcement == "PROBATION":
            notes.append("AWS has put the account on probation: see the reputation metrics of the SES console")
        if self.configuration_set:
            notes.append(self._configuration_note())
        return "; ".join([text, *notes])

    def _configuration_note(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self.configuration_set
        try:
            answer = self.client.get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            code = str((exc.response.get("Error") or {}).get("Code") or "")
            if code in DENIED:  # sending needs no right to read it: say so, and go on
                return f"configuration set {name} not checked (the credentials may not read it)"
            refusal = self._refusal(exc.response)
            # A name to fix is a setting, not credentials: said as what it is.
            raise (FinalChannelError(str(refusal)) if code in NOT_FOUND else refusal) from None
        except BotoCoreError as exc:
            raise self._trouble(exc) from None
        if (answer.get("SendingOptions") or {}).get("SendingEnabled") is False:
            raise FinalChannelError(f"{WHAT}: sending is paused for the configuration set {name}: resume it in the "
                                    "SES console (Configuration sets)")
        return f"configuration set {name}"

    def close(self) -> None:
        self.client.close()


@register("email", "ses")
def open_ses(settings: Settings, kind: str) -> SesChannel:
    return SesChannel(settings, kind)
