"""Real local SMTP servers for the tests (aiosmtpd on 127.0.0.1, a random port): they record what arrives.

    with SmtpServer(security="starttls", users={"newsletter": "pw"}) as server:
        ...  # point SMTP_HOST/SMTP_PORT at server.host/server.port; trust server.cert_file via SSL_CERT_FILE
        server.messages   # [Received(sender, recipients, data, session)], in arrival order
        server.sessions   # connections opened by clients; server.quits: how many of them said QUIT

Options: `pipelining` to offer PIPELINING (RFC 2920; `server.pipelined` counts the MAILs that came with their
RCPT already written); `security` "none", "starttls" or "tls" (implicit TLS) with a self-signed certificate for
127.0.0.1 and localhost generated once per test process; `users` (login -> password) to require AUTH before MAIL;
`refuse(address, reply)` to answer one recipient with a reply such as "550 5.1.1 No such user" at RCPT
(or, with `at="DATA"`, after its message data), `accept(address)` to stop; `drop_after=k` to close the
connection after the k-th message, once: after answering it (the client knows it arrived) or, with
`answer_before_drop=False`, without answering (the client cannot know, and will likely send it again);
`hold()` to keep every message's DATA unanswered until `release()`, so a test can see what a client does while a
mail server is slow (stop() releases it too).
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import ipaddress
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True, slots=True)
class Received:
    sender: str  # the envelope's MAIL FROM
    recipients: tuple[str, ...]  # the envelope's RCPT TOs that were accepted
    data: bytes  # the message as it arrived (dot-stuffing undone)
    session: int  # which connection carried it: 1 for the first one opened
    tls: bool  # it came over TLS (implicit, or after STARTTLS)
    login: str | None  # the user the client signed in as, if it did

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@cache
def certificate() -> tuple[Path, Path]:
    """(certificate PEM, private key PEM): self-signed for 127.0.0.1 and localhost, made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Herald test SMTP server")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        # Its own trust anchor: a CA that may sign, and a server certificate for the names above.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="herald-smtp-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class _Connection(SMTP):
    """One client connection; the handler may ask it to hang up around its next reply."""

    number = 0
    hang_up: str | None = None  # "after" or "before" the next reply

    async def smtp_MAIL(self, arg: str) -> None:
        # A client that pipelines (RFC 2920) has written its RCPT and DATA with this MAIL: they are already here.
        buffered = bytes(getattr(self._reader, "_buffer", b""))
        if b"RCPT" in buffered.upper():
            owner = getattr(self.event_handler, "server", None)
            if owner is not None:
                with owner._lock:
                    owner._pipelined += 1
        await super().smtp_MAIL(arg)

    async def push(self, status: AnyStr) -> None:
        if self.hang_up == "before" and self.transport is not None:
            self.hang_up = None
            self.transport.abort()  # nothing of the reply goes out
            return
        await super().push(status)
        if self.hang_up == "after" and self.transport is not None:
            self.hang_up = None
            self.transport.close()  # the reply already written is flushed first


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_EHLO(self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.server.pipelining:  # aiosmtpd reads pipelined commands one after the other; it only never says so
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if self.server.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.server._replies.get(("RCPT", address.lower()))
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.server._released.is_set():
            # Waited for in a worker thread: the server's loop goes on serving the other connections meanwhile.
            await asyncio.to_thread(self.server._released.wait)
        for address in envelope.rcpt_tos:
            reply = self.server._replies.get(("DATA", address.lower()))
            if reply:
                return reply
        assert isinstance(smtp, _Connection) and isinstance(envelope.original_content, bytes)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        tls = smtp.transport is not None and smtp.transport.get_extra_info("ssl_object") is not None
        count = self.server._record(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos),
                                             envelope.original_content, smtp.number, tls, login))
        if count == self.server.drop_after:
            smtp.hang_up = "after" if self.server.answer_before_drop else "before"
        return "250 2.0.0 Accepted"

    async def handle_QUIT(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        with self.server._lock:
            self.server._quits += 1
        return "221 Bye"

    def authenticate(self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.server.users.get(auth_data.login.decode("utf-8", "replace")) == auth_data.password.decode(
                  "utf-8", "replace"))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _Controller(Controller):
    def __init__(self, server: SmtpServer, **kwargs: Any) -> None:
        super().__init__(_Handler(server), hostname="127.0.0.1", port=0, **kwargs)
        self.owner = server

    def factory(self) -> SMTP:
        return self.owner._connection_made()

    def _create_server(self) -> Any:
        async def listen() -> asyncio.AbstractServer:
            server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0,
                                                   ssl=self.ssl_context)
            self.port = server.sockets[0].getsockname()[1]  # the random port the system chose
            return server

        return listen()


class SmtpServer:
    def __init__(self, *, security: str = "none", users: dict[str, str] | None = None,
                 drop_after: int | None = None, answer_before_drop: bool = True, pipelining: bool = False) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {security!r}")
        self.security = security
        self.users = dict(users or {})
        self.drop_after = drop_after
        self.answer_before_drop = answer_before_drop
        self.pipelining = pipelining  # offer PIPELINING in EHLO
        self._pipelined = 0  # MAIL commands that came with their RCPT already written
        self.host = "127.0.0.1"
        self.port = 0
        self.cert_file: Path | None = certificate()[0] if security != "none" else None
        self._replies: dict[tuple[str, str], str] = {}
        self._messages: list[Received] = []
        self._sessions = 0
        self._quits = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self._tls: ssl.SSLContext | None = None
        if security != "none":
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*certificate())
        self._controller = _Controller(self, ssl_context=self._tls if security == "tls" else None)

    # --- what arrived ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        with self._lock:
            return list(self._messages)

    @property
    def sessions(self) -> int:
        with self._lock:
            return self._sessions

    @property
    def pipelined(self) -> int:
        with self._lock:
            return self._pipelined

    @property
    def quits(self) -> int:
        with self._lock:
            return self._quits

    def received_by(self, address: str) -> list[Received]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.recipients)]

    # --- how it answers -----------------------------------------------------------------------------

    def refuse(self, address: str, reply: str, at: str = "RCPT") -> None:
        """Answer `address` with `reply` ("451 4.2.1 Try later") at RCPT or after its message data (DATA)."""
        if at not in ("RCPT", "DATA"):
            raise ValueError("at must be RCPT or DATA")
        self._replies[(at, address.lower())] = reply

    def accept(self, address: str) -> None:
        for at in ("RCPT", "DATA"):
            self._replies.pop((at, address.lower()), None)

    def hold(self) -> None:
        """Leave every message's DATA unanswered (the client waits) until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> SmtpServer:
        self._controller.start()
        self.port = self._controller.port
        with self._lock:
            self._sessions = 0  # the controller's own check that it is up is no client's
        return self

    def stop(self) -> None:
        self.release()  # a held message would keep the server's loop from stopping
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _connection_made(self) -> SMTP:
        auth = {"authenticator": self._controller.handler.authenticate} if self.users else {}
        connection = _Connection(
            self._controller.handler, hostname="herald-test-smtp", loop=self._controller.loop,
            tls_context=self._tls if self.security == "starttls" else None,
            # Offer AUTH only under TLS for STARTTLS; implicit TLS is TLS from the first byte.
            auth_require_tls=self.security == "starttls", **auth)
        with self._lock:
            self._sessions += 1
            connection.number = self._sessions
        return connection

    def _record(self, received: Received) -> int:
        with self._lock:
            self._messages.append(received)
            return len(self._messages)
