"""DKIM: every message of the smtp and outbox backends verifies with dkimpy against the record `bot doctor` prints."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import mail, render, signing, subscribers
from bot.channels import open_channel
from bot.cli import cli
from bot.dispatch import send_notice
from bot.errors import ConfigError
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE
from .smtp_server import SmtpServer
from .test_channel_smtp import SECRET, SLOT

MakeSettings = Callable[..., Settings]
ADDRESSES = ["reader1@example.net", "Reader.Two@example.net", "reader3@example.net"]
SELECTOR = "herald2026"


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
         form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
         encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, encryption or serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KINDS = ["rsa-pkcs8", "rsa-traditional", "ed25519"]


@pytest.fixture(params=KINDS)
def key_file(request: pytest.FixtureRequest, rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> Path:
    """A key file in each form DKIM_PRIVATE_KEY_FILE takes."""
    if request.param == "rsa-pkcs8":
        pem = _pem(rsa_key)
    elif request.param == "rsa-traditional":  # -----BEGIN RSA PRIVATE KEY-----
        pem = _pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)
    else:
        pem = _pem(ed25519.Ed25519PrivateKey.generate())
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    return path


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as running:
        yield running


def dkim_env(key_file: Path) -> dict[str, str]:
    return {"DKIM_DOMAIN": "example.org", "DKIM_SELECTOR": SELECTOR, "DKIM_PRIVATE_KEY_FILE": str(key_file)}


def printed_record(env: dict[str, str]) -> bytes:
    """The TXT record as `bot doctor` tells a person to publish it: the line after the one naming where."""
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"], env={**BASE, **env})
    lines = [line.strip() for line in result.output.splitlines()]
    where = lines.index(f"publish this DNS TXT record at {SELECTOR}._domainkey.example.org:")
    return lines[where + 1].encode()


def verifies(message: bytes, record: bytes) -> bool:
    """dkimpy's own verification, with DNS answered by `record` for our selector alone."""
    name = f"{SELECTOR}._domainkey.example.org.".encode()
    return bool(dkim.verify(message, dnsfunc=lambda asked, timeout=5: record if asked == name else None))


def signature_tags(message: bytes) -> dict[str, str]:
    field = re.search(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", message, re.S | re.M)
    assert field is not None, "the message carries no DKIM-Signature"
    unfolded = re.sub(r"\s+", "", field.group(1).decode())
    return dict(tag.split("=", 1) for tag in unfolded.split(";") if tag)


def without_signature(message: bytes) -> bytes:
    return re.sub(rb"^DKIM-Signature:.*?\r\n(?![ \t])", b"", message, count=1, flags=re.S)


def subscribe(settings: Settings) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        for address in ADDRESSES:
            subscribers.add(ledger, address, "Ünïcode Réader", datetime(2019, 1, 1, tzinfo=UTC))


def test_every_message_sent_over_smtp_verifies_against_the_printed_record(
        make_settings: MakeSettings, server: SmtpServer, key_file: Path) -> None:
    env = {"BOT_QUEUE_DIR": str(SAMPLE_QUEUE), "BOT_EMAIL_BACKEND": "smtp", "BOT_SECRET": SECRET,
           "SMTP_HOST": server.host, "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none",
           "BOT_RETRY_BUDGET": "0s", "BOT_X_BACKEND": "off", "BOT_MASTODON_BACKEND": "off",
           "BOT_BLUESKY_BACKEND": "off", **dkim_env(key_file)}
    settings = make_settings(**env)
    subscribe(settings)
    assert run_once(settings, SLOT).emails_sent == len(ADDRESSES)

    record = printed_record({**env, "BOT_STATE_DIR": str(settings.state_dir)})
    assert len(server.messages) == len(ADDRESSES)
    for received in server.messages:
        assert verifies(received.data, record)
        tags = signature_tags(received.data)
        assert tags["d"] == "example.org" and tags["s"] == SELECTOR
        signed = tags["h"].lower().split(":")
        # RFC 8058: the one-click unsubscribe fields must be covered, and with them what a reader sees.
        for name in ("from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                     "list-unsubscribe", "list-unsubscribe-post"):
            assert name in signed
        assert tags["a"] == ("ed25519-sha256" if b"k=ed25519" in record else "rsa-sha256")


def test_a_changed_unsubscribe_link_subject_or_body_breaks_the_signature(
        make_settings: MakeSettings, key_file: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), **dkim_env(key_file))
    subscribe(settings)
    assert run_once(settings, SLOT).emails_sent == len(ADDRESSES)
    signer = signing.load(settings)
    assert signer is not None
    record = signer.record().encode()
    (first, *_) = sorted((settings.outbox_dir / "email").glob("*.eml"))
    message = first.read_bytes()
    assert verifies(message, record)
    token = re.search(rb"List-Unsubscribe: <[^>]*/unsubscribe/([^>]+)>", message)
    assert token is not None
    for changed in (message.replace(token.group(1), b"A" * len(token.group(1))),
                    re.sub(rb"\r\nSubject: ", b"\r\nSubject: Re: ", message, count=1),
                    message.replace(b"Geneva", b"Zurich", 1)):
        assert changed != message and not verifies(changed, record)


def test_notices_such_as_confirmation_links_are_signed_too(make_settings: MakeSettings, key_file: Path) -> None:
    settings = make_settings(**dkim_env(key_file))
    channel = open_channel(settings, "email")
    assert channel is not None
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert send_notice(settings, channel, "confirm", "someone@example.net", "Confirm your subscription",
                       "Follow this link to confirm.", now) is None
    (written,) = (settings.outbox_dir / "email").glob("confirm-*.eml")
    signer = signing.load(settings)
    assert signer is not None and verifies(written.read_bytes(), signer.record().encode())


def test_without_dkim_settings_nothing_is_signed(make_settings: MakeSettings) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    subscribe(settings)
    assert run_once(settings, SLOT).emails_sent == len(ADDRESSES)
    assert signing.load(settings) is None
    for eml in (settings.outbox_dir / "email").glob("*.eml"):
        assert b"DKIM-Signature" not in eml.read_bytes()


def test_mail_apis_build_and_sign_their_own_messages(make_settings: MakeSettings, key_file: Path) -> None:
    settings = make_settings(BOT_EMAIL_BACKEND="sendgrid", SENDGRID_API_KEY="SG.test-key-0123456789",
                             MAIL_FROM="News <news@example.org>", BOT_PUBLIC_URL="https://news.example.org",
                             BOT_SECRET=SECRET, **dkim_env(key_file))
    channel = open_channel(settings, "email")
    assert channel is not None
    try:
        assert signing.for_channel(settings, channel) is None
        assert signing.for_channel(settings, open_channel(make_settings(**dkim_env(key_file)), "email")) is not None
    finally:
        channel.close()


@pytest.mark.parametrize(("content", "said"), [
    (None, "cannot be read: No such file or directory"),
    (b"not a key\n", "not a PEM private key"),
    ("passphrase", "protected by a passphrase"),
    ("ec", "RSA or Ed25519 keys, not this one"),
])
def test_a_key_that_cannot_be_used_stops_the_run_before_anything_is_sent(
        make_settings: MakeSettings, tmp_path: Path, content: bytes | str | None, said: str) -> None:
    path = tmp_path / "dkim.pem"
    if content == "passphrase":
        path.write_bytes(_pem(ed25519.Ed25519PrivateKey.generate(),
                              encryption=serialization.BestAvailableEncryption(b"a passphrase")))
    elif content == "ec":
        path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), **dkim_env(path))
    subscribe(settings)
    with pytest.raises(ConfigError) as caught:
        run_once(settings, SLOT)
    assert str(caught.value).startswith(f"DKIM_PRIVATE_KEY_FILE: {path}: ") and said in str(caught.value)
    assert not settings.outbox_dir.exists()  # nothing went: no email, and no post either
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "run", "--once", "--now", "2019-07-12T10:00"],
                                env={"BOT_STATE_DIR": str(settings.state_dir), "BOT_QUEUE_DIR": str(SAMPLE_QUEUE),
                                     **dkim_env(path)})
    assert result.exit_code != 0 and said in result.output and "Traceback" not in result.output


def test_a_bad_key_stops_bot_serve_at_once_and_no_run_that_signs_nothing(make_settings: MakeSettings,
                                                                         tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(b"not a key\n")
    env = {**BASE, "BOT_STATE_DIR": str(tmp_path / "var"), "BOT_QUEUE_DIR": str(SAMPLE_QUEUE), **dkim_env(path)}
    served = CliRunner().invoke(cli, ["--env-file", "/dev/null", "serve", "--port", "0"], env=env)
    # Said when it starts, not once per confirmation link that then never goes.
    assert served.exit_code != 0 and "DKIM_PRIVATE_KEY_FILE" in served.output
    assert "not a PEM private key" in served.output and "Traceback" not in served.output
    # With email off nothing is signed: the posts go out, the key is not in the way.
    settings = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_EMAIL_BACKEND="off", **dkim_env(path))
    report = run_once(settings, datetime(2019, 7, 12, 15, 31, tzinfo=SLOT.tzinfo))  # a post is due at 15:30
    assert report.posted and not list(settings.outbox_dir.glob("email/*"))


def test_dkim_settings_come_all_three_or_not_at_all(make_settings: MakeSettings) -> None:
    with pytest.raises(ConfigError, match="DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE not set"):
        make_settings(DKIM_DOMAIN="example.org")


def test_doctor_says_when_the_signing_domain_is_not_mail_froms(make_settings: MakeSettings, key_file: Path) -> None:
    env = {"MAIL_FROM": "News <news@elsewhere.example.net>", **dkim_env(key_file)}
    result = CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"], env=env)
    assert result.exit_code == 1
    assert "signs as example.org, but MAIL_FROM is at elsewhere.example.net" in result.output
    subdomain = CliRunner().invoke(cli, ["--env-file", "/dev/null", "doctor"],
                                   env={**env, "MAIL_FROM": "News <news@news.example.org>"})
    assert "ok  email (dkim)" in subdomain.output and "a test message verifies" in subdomain.output


@pytest.fixture(scope="module")
def edition(rsa_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory) -> mail.PreparedEdition:
    from bot import queue
    from bot.settings import load_settings

    folder = tmp_path_factory.mktemp("sign")
    (folder / "dkim.pem").write_bytes(_pem(rsa_key))
    settings = load_settings(environ={"BOT_STATE_DIR": str(folder / "var"), "BOT_QUEUE_DIR": str(SAMPLE_QUEUE),
                                      **dkim_env(folder / "dkim.pem")}, env_file=None)
    items = [i for i in queue.load(settings).items if "email" in i.channels][:3]
    newsletter = render.render_newsletter(
        items, settings, edition_date=date(2019, 7, 12),
        unsubscribe_url=mail.unsubscribe_url(settings.effective_public_url, mail.TOKEN_PLACEHOLDER))
    return mail.prepare(newsletter, mail_from="Geneva Desk <news@example.org>", public_url="https://news.example.org",
                        date=SLOT, signer=signing.load(settings))


def test_a_long_signing_domain_still_verifies(tmp_path: Path) -> None:
    """A domain too long for a folded line gets cut inside its tag: the signature is then worked out as dkimpy does."""
    domain = "newsletter-and-press-releases.geneva-office." + "international-human-rights-desk.example.org"
    signer = signing.Signer(domain, SELECTOR, _pem(ed25519.Ed25519PrivateKey.generate()), "dkim.pem")
    notice = mail.prepare_notice("A long domain", "Signed all the same.", mail_from=f"News <news@{domain}>",
                                 date=SLOT, signer=signer)
    message = notice.message("someone@example.net", "", "", f"<long@{domain}>")
    record, name = signer.record().encode(), f"{SELECTOR}._domainkey.{domain}.".encode()
    assert dkim.verify(message, dnsfunc=lambda asked, timeout=5: record if asked == name else None)
    assert not dkim.verify(message.replace(b"Signed all", b"Signed half"),
                           dnsfunc=lambda asked, timeout=5: record if asked == name else None)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=60), local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True))
def test_any_recipient_gets_a_message_that_verifies_as_stored_and_on_the_wire(
        edition: mail.PreparedEdition, name: str, local: str) -> None:
    assert edition.signer is not None
    record = edition.signer.record().encode()
    token = "T" * mail.TOKEN_LENGTH
    message = edition.message(f"{local}@example.net", name, token, "<1.2.x@example.org>")
    assert verifies(message, record)
    # SMTP's DATA form, un-stuffed as a receiver does, verifies too, and is the same message (signed a moment
    # later: its t= may differ, so the signature field itself is compared apart).
    wire = edition.wire(f"{local}@example.net", name, token, "<1.2.x@example.org>")
    assert wire.endswith(b"\r\n.\r\n")
    received = wire[:-3].replace(b"\r\n..", b"\r\n.")
    assert verifies(received, record)
    assert without_signature(received) == without_signature(message)
