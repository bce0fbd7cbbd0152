"""The SMTP backend: dispatch hands it each newsletter message, to submit to SMTP_HOST on a kept-open connection.

One connection per dispatching thread is reused across a whole edition; when the server drops it (or says
421) it is reopened and the message tried once more. Certificates are always verified against the system's
trust store (or SSL_CERT_FILE). The messages are already quoted-printable with CRLF line ends: their bytes
go out as they are.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from email.utils import parseaddr

from ..errors import ChannelAuthError, TransientChannelError
from ..settings import Settings
from . import Failed, Outcome, Outgoing, OutgoingMail, Sent, one_by_one, register

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SECURITY_NAMES = {"starttls": "STARTTLS", "tls": "TLS", "none": "no encryption"}
# Refusals of MAIL FROM that mean "sign in (properly) first": every message would meet the same answer.
AUTH_CODES = {530, 534, 535, 538}
MAX_ERROR_TEXT = 300


def _reply(code: int, text: bytes | str) -> str:
    """The server's code and own words on one line."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"[:MAX_ERROR_TEXT]


def _why(exc: BaseException, timeout: float) -> str:
    """A short reason for a network or TLS failure; never the conversation itself."""
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"greeting refused: {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class SmtpChannel:
    name = "smtp"
    sends_raw = True  # the message's bytes go as they are: they can carry a DKIM signature (bot.signing)
    batch_size = 1
    limit: int | None = None

    def __init__(self, settings: Settings, kind: str) -> None:
        self.kind = kind
        self.host = settings.smtp_host
        self.security = settings.smtp_security
        self.port = settings.smtp_port or DEFAULT_PORTS[self.security]
        self.username = settings.smtp_username
        self._password = settings.smtp_password
        self.timeout = settings.http_timeout.total_seconds()
        self.sender = parseaddr(settings.effective_mail_from)[1]
        self.where = f"{self.host}:{self.port}"
        # Dispatch opens this many connections for an edition, and sends at most `rate` messages a second.
        self.connections = settings.smtp_connections
        self.rate = settings.smtp_rate
        # A connection per thread, so that several dispatcher threads can share this channel.
        self._local = threading.local()
        self._opened: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    # --- sending ------------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return one_by_one(messages, self._deliver, self.name)

    def _deliver(self, message: OutgoingMail) -> Outcome:
        made: list[bytes] = []

        def data() -> bytes:  # made once, even when a second connection carries it
            if not made:
                made.append(message.wire())
            return made[0]

        for _ in range(2):
            conn = self._connection()
            try:
                _transact(conn, self.sender, message.address, data)
                return Sent(message.message_id)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(message.address) or next(iter(exc.recipients.values()))
                error = f"recipient refused: {_reply(code, text)}"
            except smtplib.SMTPSenderRefused as exc:
                code, error = exc.smtp_code, f"sender refused: {_reply(exc.smtp_code, exc.smtp_error)}"
                if code in AUTH_CODES:
                    raise ChannelAuthError(f"{self.where}: {error}; check SMTP_USERNAME, SMTP_PASSWORD and "
                                           "SMTP_SECURITY") from None
                if 500 <= code < 600:
                    # The sender, not the recipient: every message would meet the same refusal, so the channel
                    # pauses rather than marking the whole list failed for good.
                    raise ChannelAuthError(f"{self.where}: {error}; check MAIL_FROM, and that SMTP_USERNAME may "
                                           "send as it") from None
            except smtplib.SMTPDataError as exc:
                code, error = exc.smtp_code, f"message refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            except smtplib.SMTPResponseException as exc:
                code, error = exc.smtp_code, f"refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            except smtplib.SMTPServerDisconnected:
                code, error = 421, "the server closed the connection"
            except (smtplib.SMTPException, OSError) as exc:
                # A timeout or reset mid-message: it may have arrived. The next try carries the same Message-ID.
                self._drop(conn)
                return Failed(f"{self.where}: {_why(exc, self.timeout)} while sending", transient=True)
            if code != 421:
                return Failed(error, transient=not 500 <= code < 600)
            self._drop(conn)  # the server is gone or going: once more on a new connection
        return Failed(f"{self.where}: {error}, twice in a row", transient=True)

    # --- connections ----------------------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def _drop(self, conn: smtplib.SMTP) -> None:
        conn.close()
        with self._lock:
            if conn in self._opened:
                self._opened.remove(conn)
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def _open(self) -> smtplib.SMTP:
        """Connect, secure and sign in; TransientChannelError when that fails, ChannelAuthError when refused."""
        context = ssl.create_default_context()  # read here, so that SSL_CERT_FILE set before the run applies
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise TransientChannelError(f"{self.where}: the server does not offer STARTTLS "
                                                "(SMTP_SECURITY=starttls); not sending in the clear")
                conn.starttls(context=context)
                conn.ehlo()
            if self.username:
                self._sign_in(conn)
            return conn
        except (TransientChannelError, ChannelAuthError):
            if conn is not None:
                conn.close()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            if conn is not None:
                conn.close()
            raise TransientChannelError(f"{self.where}: cannot connect: {_why(exc, self.timeout)}") from None

    def _sign_in(self, conn: smtplib.SMTP) -> None:
        try:
            conn.login(self.username, self._password.reveal())
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelAuthError(f"{self.where}: sign-in as {self.username} refused: "
                                   f"{_reply(exc.smtp_code, exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError:
            raise ChannelAuthError(f"{self.where}: the server offers no sign-in (AUTH) here; check "
                                   "SMTP_SECURITY") from None
        except UnicodeEncodeError:
            raise ChannelAuthError(f"{self.where}: SMTP_USERNAME and SMTP_PASSWORD must be ASCII") from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException):
            raise  # trouble on the line, not a refusal: _open makes it transient
        except smtplib.SMTPException as exc:
            # "No suitable authentication method found": the server offers none that smtplib speaks.
            raise ChannelAuthError(f"{self.where}: sign-in failed: {exc}") from None

    # --- the rest of the protocol -----------------------------------------------------------------------

    def reconcile(self, message: Outgoing) -> Outcome | None:
        return None  # SMTP cannot say whether an earlier hand-over arrived

    def check(self) -> str:
        conn = self._open()
        try:
            signed_in = f"signed in as {self.username}" if self.username else "no sign-in"
            return f"{self.where}, {SECURITY_NAMES[self.security]}, {signed_in}"
        finally:
            _quit(conn)

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        self._local = threading.local()
        for conn in opened:
            _quit(conn)


def _transact(conn: smtplib.SMTP, sender: str, recipient: str, data: Callable[[], bytes]) -> None:
    """One mail transaction, as smtplib's sendmail with one recipient, raising the same exceptions, but with the
    message already in DATA's form: sendmail would scan each 70 kB message for line ends and leading dots,
    work Herald does once per edition. Addresses were validated when stored: no re-parsing here either.
    A server that offers PIPELINING (RFC 2920) gets MAIL, RCPT and DATA in one write and answers them together:
    two round trips a message instead of four, which is most of a send's time to a distant server; and `data`,
    the message's bytes, is made (assembled, signed) while the server reads them, not before."""
    if conn.does_esmtp and conn.has_extn("pipelining"):
        conn.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
        try:
            message = data()
        except BaseException:
            conn.close()  # the server waits for a message that will not come: hung up, it delivers nothing
            raise
        mail, rcpt, ready = conn.getreply(), conn.getreply(), conn.getreply()
    else:
        message = data()
        mail = conn.docmd("MAIL", f"FROM:<{sender}>")
        rcpt = conn.docmd("RCPT", f"TO:<{recipient}>") if mail[0] == 250 else (503, b"")
        ready = conn.docmd("DATA") if rcpt[0] in (250, 251) else (503, b"")
    if mail[0] != 250:
        _abandon(conn, ready[0], mail[0])
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        _abandon(conn, ready[0], rcpt[0])
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    if ready[0] != 354:
        _reset(conn, ready[0])
        raise smtplib.SMTPDataError(*ready)
    conn.send(message)
    code, reply = conn.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _abandon(conn: smtplib.SMTP, ready: int, code: int) -> None:
    """After a refused MAIL or RCPT: a server that still said 354 to the pipelined DATA gets the lone dot that ends
    an empty message (RFC 2920 3.1), then the transaction is reset."""
    if ready == 354:
        conn.send(b".\r\n")
        conn.getreply()
    _reset(conn, code)


def _reset(conn: smtplib.SMTP, code: int) -> None:
    """After a refusal the transaction must be reset before the next one; a closing server needs nothing."""
    if code != 421:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            conn.rset()


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()  # already gone: nothing to say goodbye to


@register("email", "smtp")
def open_smtp(settings: Settings, kind: str) -> SmtpChannel:
    return SmtpChannel(settings, kind)
