"""SES bounces and complaints through SNS: messages signed as SNS signs them, its certificate served over HTTPS."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot import subscribers
from bot.ledger import Ledger
from bot.settings import Settings
from bot.web import create_app, sns

TOPIC = "arn:aws:sns:eu-west-1:123456789012:herald-ses-feedback"
NOW = datetime(2019, 7, 1, tzinfo=UTC)
# The fields SNS signs and their order, as its documentation lists them for each type of message.
CONFIRMATION = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
SIGNED = {"Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
          "SubscriptionConfirmation": CONFIRMATION, "UnsubscribeConfirmation": CONFIRMATION}


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey,
                 ca: bool = False, ip: str | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(ip))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class SnsHost:
    """A local stand-in for sns.<region>.amazonaws.com over HTTPS: the signing certificate, and SubscribeURL."""

    server: HTTPServer
    signing_key: rsa.RSAPrivateKey
    ca_file: Path
    requests: list[str] = field(default_factory=list)  # every path asked for, with its query

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def cert_url(self) -> str:
        return f"https://{self.host}/SimpleNotificationService-0123456789abcdef.pem"

    def record(self, request: Request) -> None:
        self.requests.append(request.full_path.rstrip("?"))


@pytest.fixture(scope="module")
def sns_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnsHost]:
    folder = tmp_path_factory.mktemp("sns")
    ca_key, server_key, signing_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                                       for _ in range(3))
    ca = _certificate("Local test CA", ca_key, "Local test CA", ca_key, ca=True)
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "server.pem").write_bytes(_pem(_certificate("127.0.0.1", server_key, "Local test CA", ca_key,
                                                          ip="127.0.0.1")))
    (folder / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    # What SNS signs with: a certificate of its own, not the web server's.
    signing = _pem(_certificate("sns.amazonaws.com", signing_key, "sns.amazonaws.com", signing_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    host = SnsHost(server, signing_key, folder / "ca.pem")

    def certificate(request: Request) -> Response:
        host.record(request)
        return Response(signing, 200, content_type="application/x-pem-file")

    def confirmation(request: Request) -> Response:
        host.record(request)
        return Response(f"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>{TOPIC}:1"
                        "</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>", 200,
                        content_type="text/xml")

    server.expect_request(re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem"),
                          method="GET").respond_with_handler(certificate)
    server.expect_request("/", method="GET").respond_with_handler(confirmation)
    try:
        yield host
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def site(make_settings: Callable[..., Settings], sns_host: SnsHost, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SSL_CERT_FILE", str(sns_host.ca_file))  # the guarded GET trusts the local CA, as it reads it
    settings = make_settings(BOT_SNS_CERT_HOSTS=sns_host.host, BOT_FETCH_ALLOW_PRIVATE="1",
                             BOT_SOFT_BOUNCE_LIMIT="2", BOT_SNS_TOPIC_ARNS=TOPIC)
    with Ledger.open(settings.state_dir) as ledger:
        for email in ("gone@example.net", "full@example.net", "angry@example.net", "other@example.net"):
            subscribers.add(ledger, email, "", NOW)
    return settings


@pytest.fixture
def client(site: Settings) -> FlaskClient:
    return create_app(site).test_client()


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name resolved from now on (a fetch begins with it)."""
    hosts: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return hosts


def status_of(settings: Settings, email: str) -> str:
    with Ledger.open(settings.state_dir) as ledger:
        return subscribers.get(ledger, email=email).status


def stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # as SNS writes it


def sign(host: SnsHost, message: dict[str, str], version: str = "2", cert_url: str | None = None) -> dict[str, str]:
    """`message` signed as SNS signs it: `Name\\nvalue\\n` for each signed field present, in SNS's order."""
    message = {**message, "SignatureVersion": version, "SigningCertURL": cert_url or host.cert_url}
    text = "".join(f"{name}\n{message[name]}\n" for name in SIGNED[message["Type"]] if name in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    message["Signature"] = base64.b64encode(host.signing_key.sign(text.encode(), padding.PKCS1v15(), digest)).decode()
    return message


def notification(host: SnsHost, event: dict[str, Any], version: str = "2", message_id: str | None = None,
                 when: datetime | None = None, **extra: str) -> dict[str, str]:
    return sign(host, {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": TOPIC,
                       "Message": json.dumps(event), "Timestamp": stamp(when),
                       "UnsubscribeURL": f"https://{host.host}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:1",
                       **extra}, version)


def bounce(email: str, kind: str = "Permanent", key: str = "notificationType") -> dict[str, Any]:
    """An SES bounce as SES writes it: notificationType for identity notifications, eventType for event publishing."""
    return {key: "Bounce",
            "bounce": {"bounceType": kind, "bounceSubType": "General", "timestamp": stamp(),
                       "feedbackId": "0102018f-bounce-000000", "reportingMTA": "dsn; a27-1.smtp-out.amazonses.com",
                       "bouncedRecipients": [{"emailAddress": email, "action": "failed", "status": "5.1.1",
                                              "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
            "mail": {"timestamp": stamp(), "source": "newsletter@example.org", "messageId": "0102018f-mail-000000",
                     "destination": [email]}}


def post(client: FlaskClient, message: Any) -> tuple[int, str]:
    body = message if isinstance(message, (bytes, str)) else json.dumps(message)
    answer = client.post("/webhooks/ses", data=body, content_type="text/plain; charset=UTF-8",
                         headers={"x-amz-sns-message-type": str(message.get("Type", "")) if isinstance(message, dict)
                                  else ""})
    text = answer.get_data(as_text=True)
    assert "Traceback" not in text
    return answer.status_code, text


# --- what SNS signed is recorded --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_permanent_bounce_suppresses_the_address(client: FlaskClient, site: Settings, sns_host: SnsHost,
                                                   version: str) -> None:
    before = len([r for r in sns_host.requests if r.endswith(".pem")])
    assert post(client, notification(sns_host, bounce("gone@example.net"), version)) == (200, "ok")
    assert status_of(site, "gone@example.net") == "bounced"
    with Ledger.open(site.state_dir) as ledger:
        (row,) = ledger.db.execute("SELECT kind, source, detail FROM bounces").fetchall()
    assert tuple(row) == ("hard", "ses", "smtp; 550 5.1.1 user unknown")
    # With a Subject, which SNS signs between MessageId and Timestamp; the certificate fetched once and kept.
    assert post(client, notification(sns_host, bounce("other@example.net"), version, Subject="Bounce")) == (200, "ok")
    assert status_of(site, "other@example.net") == "bounced"
    assert len([r for r in sns_host.requests if r.endswith(".pem")]) - before <= 1
    assert status_of(site, "full@example.net") == "active"


def test_transient_bounces_count_toward_the_soft_bounce_limit(client: FlaskClient, site: Settings,
                                                             sns_host: SnsHost) -> None:
    assert post(client, notification(sns_host, bounce("full@example.net", "Transient")))[0] == 200
    assert status_of(site, "full@example.net") == "active"
    # From a configuration set's event publishing this time: eventType, not notificationType.
    assert post(client, notification(sns_host, bounce("full@example.net", "Undetermined", "eventType")))[0] == 200
    assert status_of(site, "full@example.net") == "bounced"  # BOT_SOFT_BOUNCE_LIMIT=2


def test_a_complaint_suppresses_the_address_and_other_events_are_ignored(client: FlaskClient, site: Settings,
                                                                        sns_host: SnsHost) -> None:
    complaint = {"notificationType": "Complaint", "mail": {"messageId": "0102018f-mail-000001"},
                 "complaint": {"complainedRecipients": [{"emailAddress": "angry@example.net"}],
                               "complaintFeedbackType": "abuse", "timestamp": stamp()}}
    assert post(client, notification(sns_host, complaint, "1")) == (200, "ok")
    assert status_of(site, "angry@example.net") == "unsubscribed"
    delivery = {"notificationType": "Delivery", "delivery": {"recipients": ["other@example.net"]}}
    assert post(client, notification(sns_host, delivery)) == (200, "ok")
    not_ses = sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                              "Message": "a test message published from the console", "Timestamp": stamp()})
    assert post(client, not_ses) == (200, "ok")
    assert status_of(site, "other@example.net") == "active"


def test_a_subscription_confirmation_visits_subscribe_url(client: FlaskClient, sns_host: SnsHost,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="herald")
    query = f"?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d7"
    confirmation = {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                    "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d7", "Timestamp": stamp(),
                    "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, "
                               "visit the SubscribeURL included in this message.",
                    "SubscribeURL": f"https://{sns_host.host}/{query}"}
    assert post(client, sign(sns_host, confirmation)) == (200, "confirmed")
    assert sns_host.requests[-1] == f"/{query}"
    assert f"ses webhook: confirmed the subscription to {TOPIC}" in caplog.text

    visits = len(sns_host.requests)
    goodbye = {**confirmation, "Type": "UnsubscribeConfirmation", "MessageId": str(uuid.uuid4()),
               "Message": f"You have unsubscribed from the topic {TOPIC}."}
    assert post(client, sign(sns_host, goodbye)) == (200, "ok")
    assert len(sns_host.requests) == visits  # nothing visited: an unsubscription is only noted
    elsewhere = {**confirmation, "MessageId": str(uuid.uuid4()),
                 "SubscribeURL": f"https://sns.eu-west-1.amazonaws.com.evil.example.net/{query}"}
    assert post(client, sign(sns_host, elsewhere))[0] == 403
    assert len(sns_host.requests) == visits


# --- what SNS did not sign changes nothing ----------------------------------------------------------------------


def test_a_bad_signature_or_a_certificate_off_snss_hosts_changes_nothing(
        client: FlaskClient, site: Settings, sns_host: SnsHost, looked_up: list[str]) -> None:
    good = notification(sns_host, bounce("gone@example.net"))
    tampered = {**good, "Message": json.dumps(bounce("other@example.net"))}
    assert post(client, tampered)[0] == 403
    assert post(client, {k: v for k, v in good.items() if k != "Signature"})[0] == 403
    assert post(client, {**good, "SignatureVersion": "3"})[0] == 403
    assert post(client, {**good, "Signature": "not base64!"})[0] == 403
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = notification(SnsHost(sns_host.server, forger, sns_host.ca_file), bounce("gone@example.net"))
    assert post(client, forged)[0] == 403  # signed, but not with the certificate's key

    fetched = len(sns_host.requests)
    for url in ("https://evil.example.net/cert.pem", f"http://{sns_host.host}/SimpleNotificationService-local.pem",
                "https://127.0.0.1:1/SimpleNotificationService-local.pem",
                f"https://user@{sns_host.host}/SimpleNotificationService-local.pem", "file:///etc/ssl/cert.pem"):
        message = sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                                  "Message": json.dumps(bounce("gone@example.net")), "Timestamp": stamp()},
                       cert_url=url)
        assert post(client, message)[0] == 403, url
    assert len(sns_host.requests) == fetched and "evil.example.net" not in looked_up  # not even looked up
    assert status_of(site, "gone@example.net") == status_of(site, "other@example.net") == "active"


def test_a_certificate_server_not_trusted_or_not_answering_changes_nothing(
        make_settings: Callable[..., Settings], site: Settings, client: FlaskClient, sns_host: SnsHost,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certifi.where()))  # the local CA no longer trusted: TLS refuses
    url = f"https://{sns_host.host}/SimpleNotificationService-00000001.pem"  # not kept from an earlier test
    message = sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                              "Message": json.dumps(bounce("gone@example.net")), "Timestamp": stamp()}, cert_url=url)
    assert post(client, message)[0] == 403

    with socket.socket() as bound:  # an allowed host that does not answer: SNS is asked to try again later
        bound.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{bound.getsockname()[1]}"
        silent = create_app(make_settings(BOT_SNS_CERT_HOSTS=host, BOT_FETCH_ALLOW_PRIVATE="1",
                                          BOT_SNS_TOPIC_ARNS=TOPIC)).test_client()
        message = sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                                  "Message": json.dumps(bounce("gone@example.net")), "Timestamp": stamp()},
                       cert_url=f"https://{host}/SimpleNotificationService-0123456789abcdef.pem")
        assert post(silent, message)[0] == 503
    assert status_of(site, "gone@example.net") == "active"


def test_only_the_organisations_own_topics_are_heard(make_settings: Callable[..., Settings], site: Settings,
                                                     client: FlaskClient, sns_host: SnsHost,
                                                     looked_up: list[str]) -> None:
    """Any AWS account can sign SNS messages for its own topic, and subscribe this address to it: a genuinely
    signed bounce or subscription from another topic is refused before any certificate is fetched."""
    other = "arn:aws:sns:eu-west-1:999999999999:someone-elses-topic"
    query = f"?Action=ConfirmSubscription&TopicArn={other}&Token=0123456789abcdef"
    visits = len(sns_host.requests)
    for message in (sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": other,
                                    "Message": json.dumps(bounce("gone@example.net")), "Timestamp": stamp()},
                         cert_url=f"https://{sns_host.host}/SimpleNotificationService-00000002.pem"),
                    sign(sns_host, {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()),
                                    "TopicArn": other, "Token": "0123456789abcdef", "Timestamp": stamp(),
                                    "Message": "You have chosen to subscribe.",
                                    "SubscribeURL": f"https://{sns_host.host}/{query}"},
                         cert_url=f"https://{sns_host.host}/SimpleNotificationService-00000002.pem")):
        assert post(client, message)[0] == 403
    assert len(sns_host.requests) == visits and not looked_up  # no certificate fetched, nothing confirmed
    assert status_of(site, "gone@example.net") == "active"
    # Without BOT_SNS_TOPIC_ARNS, as without a signing key for the other providers, every call is refused.
    unset = create_app(make_settings(BOT_SNS_CERT_HOSTS=sns_host.host, BOT_FETCH_ALLOW_PRIVATE="1")).test_client()
    assert post(unset, notification(sns_host, bounce("gone@example.net")))[0] == 403
    assert status_of(site, "gone@example.net") == "active"


def test_a_stale_or_replayed_message_changes_nothing(client: FlaskClient, site: Settings, sns_host: SnsHost) -> None:
    stale = notification(sns_host, bounce("gone@example.net"), when=datetime.now(UTC) - timedelta(days=2))
    assert post(client, stale) == (200, "already seen")
    assert status_of(site, "gone@example.net") == "active"

    first = notification(sns_host, bounce("gone@example.net"), message_id="5f3c0a8e-replayed")
    assert post(client, first) == (200, "ok")
    assert post(client, first) == (200, "already seen")
    # Another signed message under the same MessageId: SNS sends a retry under the original's id, so it is dropped.
    again = notification(sns_host, bounce("other@example.net"), message_id="5f3c0a8e-replayed")
    assert post(client, again) == (200, "already seen")
    assert (status_of(site, "gone@example.net"), status_of(site, "other@example.net")) == ("bounced", "active")


def test_a_body_of_another_shape_gets_400(client: FlaskClient, sns_host: SnsHost) -> None:
    good = notification(sns_host, bounce("gone@example.net"))
    for body in (b"not json", b"\xff\xfe", b"[" * 100_000, "[]", json.dumps({**good, "Type": "Other"}),
                 json.dumps({**good, "Type": ["Notification"]}), json.dumps({**good, "Type": {"a": 1}}),
                 json.dumps({**good, "Message": {"notificationType": "Bounce"}}),
                 json.dumps({k: v for k, v in good.items() if k != "MessageId"}),
                 json.dumps({**good, "Timestamp": "yesterday"}), json.dumps({**good, "SigningCertURL": ["x"]})):
        assert post(client, body)[0] == 400, body[:40]


def test_only_snss_own_https_hosts_are_trusted_by_default(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    trusted = ["https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
               "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
               "https://SNS.us-east-1.amazonaws.com:443/x.pem"]
    refused = ["http://sns.eu-west-1.amazonaws.com/x.pem", "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
               "https://sns.eu-west-1.amazonaws.com.evil.example.net/x.pem", "https://evil.example.net/cert.pem",
               "https://sns.eu-west-1.amazonaws.com@evil.example.net/x.pem", "https://s3.amazonaws.com/x.pem",
               "https://sns.amazonaws.com/x.pem", "https://sns.eu-west-1.amazonaws.com:99999/x.pem", "",
               # S3 buckets named "sns" and other AWS services answer on such names too: not SNS's.
               "https://sns.s3.amazonaws.com/x.pem", "https://sns.s3-us-west-2.amazonaws.com/x.pem",
               "https://sns.s3-accelerate.amazonaws.com/x.pem", "https://sns.execute-api.amazonaws.com/x.pem"]
    assert [sns.allowed(url, settings) for url in trusted] == [True] * len(trusted)
    assert [sns.allowed(url, settings) for url in refused] == [False] * len(refused)


def test_a_certificate_address_off_snss_pattern_is_not_fetched(client: FlaskClient, site: Settings,
                                                               sns_host: SnsHost) -> None:
    """SNS's certificates are SimpleNotificationService-<hex>.pem: another path, or a query that would make each
    call a new address to fetch, is refused before any fetch."""
    fetched = len(sns_host.requests)
    for url in (f"{sns_host.cert_url}?bust=1", f"https://{sns_host.host}/SimpleNotificationService-0123.pem#x",
                f"https://{sns_host.host}/certificate.pem", f"https://{sns_host.host}/SimpleNotificationService-.pem"):
        message = sign(sns_host, {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
                                  "Message": json.dumps(bounce("gone@example.net")), "Timestamp": stamp()},
                       cert_url=url)
        assert post(client, message)[0] == 403, url
    assert len(sns_host.requests) == fetched
    assert status_of(site, "gone@example.net") == "active"


def test_a_subject_moved_into_the_message_id_is_not_a_new_message(client: FlaskClient, site: Settings,
                                                                  sns_host: SnsHost) -> None:
    """SNS signs `name\\nvalue\\n` pairs: folding the Subject into the MessageId keeps the signed text, so a
    captured message would count twice under a new id. One-line fields with a line break are refused."""
    first = notification(sns_host, bounce("full@example.net", "Transient"), Subject="Amazon SES Email Event")
    assert post(client, first) == (200, "ok")
    moved = {k: v for k, v in first.items() if k != "Subject"}
    moved["MessageId"] = f"{first['MessageId']}\nSubject\n{first['Subject']}"
    assert post(client, moved)[0] == 400
    with Ledger.open(site.state_dir) as ledger:
        assert len(ledger.db.execute("SELECT * FROM bounces").fetchall()) == 1


def test_a_confirmation_that_could_not_be_made_is_made_when_sns_tries_again(
        make_settings: Callable[..., Settings], sns_host: SnsHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(sns_host.ca_file))
    with socket.socket() as bound:  # SubscribeURL's host, allowed but not answering yet
        bound.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{bound.getsockname()[1]}"
        settings = make_settings(BOT_SNS_CERT_HOSTS=f"{sns_host.host},{down}", BOT_FETCH_ALLOW_PRIVATE="1",
                                 BOT_SNS_TOPIC_ARNS=TOPIC)
        client = create_app(settings).test_client()
        query = f"?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a5"
        confirmation = sign(sns_host, {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()),
                                       "TopicArn": TOPIC, "Token": "2336412f37fb687f5d51e6e241d09c805a5a5",
                                       "Timestamp": stamp(), "Message": "You have chosen to subscribe.",
                                       "SubscribeURL": f"https://{down}/{query}"})
        assert post(client, confirmation)[0] == 503
    # SNS tries the same message (the same MessageId) again, its host answering now (here: another address, as the
    # first no longer exists); had the first try marked it as seen, the subscription would stay pending for good.
    retried = sign(sns_host, {**{k: v for k, v in confirmation.items() if k not in ("Signature",)},
                              "SubscribeURL": f"https://{sns_host.host}/{query}"})
    assert post(client, retried) == (200, "confirmed")
