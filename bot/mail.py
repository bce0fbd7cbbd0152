"""Newsletter messages: an edition's MIME bytes built once; each recipient gets only its address, token and id.

Building an EmailMessage per recipient costs milliseconds; splicing into prepared bytes costs microseconds.
The unsubscribe token is a fixed-length placeholder in both parts, so the quoted-printable lines keep
their length, and a soft line break that falls inside the placeholder is kept where it falls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import TYPE_CHECKING

from .errors import ConfigError, RenderError, quoted
from .render import Newsletter

if TYPE_CHECKING:  # loaded where a message is signed (bot.signing imports dkimpy and cryptography)
    from .signing import Signer

TOKEN_LENGTH = 32
TOKEN_PLACEHOLDER = "HERALD-TOKEN-" + "x" * (TOKEN_LENGTH - 13)
# RFC 2045 allows 76 characters on a quoted-printable line; policy.SMTP alone would write 78.
_POLICY = policy.SMTP.clone(max_line_length=76)
_HEADER_BREAK = re.compile(r"[\r\n\x00]+")


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url}/unsubscribe/{token}"


def language_url(public_url: str, token: str) -> str:
    """Where a subscriber chooses the language of their newsletter (bot.web.public), by the same token."""
    return f"{public_url}/language/{token}"


def _slot_pattern(placeholder: str) -> re.Pattern[bytes]:
    return re.compile(b"(?:=\r\n)?".join(re.escape(c.encode()) for c in placeholder))


@dataclass(frozen=True, slots=True)
class PreparedEdition:
    """One edition's message, ready for any number of recipients."""

    head: bytes  # From, Subject, Date, MIME and List-Unsubscribe-Post lines, CRLF-terminated
    body: tuple[bytes | tuple[int, ...], ...]  # bytes, or the soft-break offsets inside one token slot
    domain: str
    public_url: str
    # The same edition as parts, for mail APIs that take fields rather than bytes (Mailgun, SendGrid):
    # html and text still hold TOKEN_PLACEHOLDER where each recipient's token goes.
    newsletter: Newsletter
    sender_name: str
    sender_address: str
    date: datetime
    list_unsubscribe: bool = True  # False for one-off notices: alerts, confirmation links
    signer: Signer | None = None  # DKIM, for the backends that send these bytes as they are
    # The same, dot-stuffed for SMTP's DATA: computed once per edition, here.
    wire_head: bytes = b""
    wire_body: tuple[bytes | tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire_head", _stuffed(self.head))
        object.__setattr__(self, "wire_body", _wire_chunks(self.body))

    def unsubscribe_url(self, token: str) -> str:
        return unsubscribe_url(self.public_url, token)

    def message(self, address: str, name: str, token: str, message_id: str) -> bytes:
        """The whole RFC 5322 message for one recipient, CRLF line ends; DKIM-signed when there is a signer."""
        lines = self._recipient_lines(address, name, token, message_id)
        body = _filled(self.body, token)
        data = b"".join((lines, self.head, *body))
        return data if self.signer is None else self.signer.sign_parts(lines, body, fixed_head=self.head) + data

    def wire(self, address: str, name: str, token: str, message_id: str) -> bytes:
        """The same message as SMTP's DATA carries it: dot-stuffed and ended by the lone dot. The stuffing was
        done once per edition (no token, address or header Herald fills in can start a line with a dot)."""
        lines = self._recipient_lines(address, name, token, message_id)
        data = b"".join((lines, self.wire_head, *_filled(self.wire_body, token), b".\r\n"))
        if self.signer is None:
            return data
        # Signed over the message as the receiver un-stuffs it, its body hashed piece by piece (never joined a second
        # time); the signature's own lines never start with a dot.
        return self.signer.sign_parts(lines, _filled(self.body, token), fixed_head=self.head) + data

    def _recipient_lines(self, address: str, name: str, token: str, message_id: str) -> bytes:
        """The header lines that differ per recipient: To, Message-ID and (for list mail) List-Unsubscribe."""
        parts = [
            b"To: ", header_address(address, name).encode("ascii"), b"\r\n",
            b"Message-ID: ", message_id.encode("ascii"), b"\r\n",
        ]
        if self.list_unsubscribe:
            if len(token) != TOKEN_LENGTH:
                raise ValueError("token has the wrong length")
            parts += [b"List-Unsubscribe: <", unsubscribe_url(self.public_url, token).encode("ascii"), b">\r\n"]
        return b"".join(parts)


def _filled(body: tuple[bytes | tuple[int, ...], ...], token: str) -> list[bytes]:
    """The body's pieces with the recipient's token in each slot (its soft line breaks where they fell)."""
    raw_token = token.encode("ascii")
    parts: list[bytes] = []
    for chunk in body:
        if isinstance(chunk, bytes):
            parts.append(chunk)
            continue
        start = 0
        for cut in chunk:
            parts += [raw_token[start:cut], b"=\r\n"]
            start = cut
        parts.append(raw_token[start:])
    return parts


def _stuffed(data: bytes) -> bytes:
    """RFC 5321 dot-stuffing: a line that starts with a dot gets another."""
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _wire_chunks(body: tuple[bytes | tuple[int, ...], ...]) -> tuple[bytes | tuple[int, ...], ...]:
    """The body's chunks dot-stuffed, and ending in CRLF for the terminating dot. A token slot never starts
    a line with a dot nor ends one, so each chunk can be stuffed on its own."""
    chunks = [_stuffed(c) if isinstance(c, bytes) else c for c in body]
    if isinstance(chunks[-1], bytes) and not chunks[-1].endswith(b"\r\n"):
        chunks[-1] += b"\r\n"
    return tuple(chunks)


def header_address(address: str, name: str = "") -> str:
    """`Name <address>` with the name RFC 2047-encoded when needed; no line break can get through."""
    clean_name = _HEADER_BREAK.sub(" ", name).strip()
    clean_address = _HEADER_BREAK.sub("", address).strip()
    return formataddr((clean_name, clean_address), charset="utf-8")


def sender(mail_from: str) -> tuple[str, str]:
    """(display name, address) of MAIL_FROM, or ConfigError."""
    name, address = parseaddr(mail_from)
    if "@" not in address or _HEADER_BREAK.search(mail_from):
        raise ConfigError(f"MAIL_FROM: {quoted(mail_from)} is not an address such as 'News <news@example.org>'")
    return name, address


def prepare(newsletter: Newsletter, *, mail_from: str, public_url: str, date: datetime,
            signer: Signer | None = None) -> PreparedEdition:
    """Encode the edition once: headers shared by all, and both parts quoted-printable with token slots."""
    name, address = sender(mail_from)
    message = _message(newsletter, name, address, date)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(newsletter.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(newsletter.html, subtype="html", charset="utf-8", cte="quoted-printable")
    head, chunks = _slots(message)
    if len(chunks) < 5:  # the footer link of each part, at least
        raise RenderError("the newsletter templates must show the unsubscribe link in both parts")
    return PreparedEdition(head, chunks, address.rpartition("@")[2], public_url, newsletter, name, address, date,
                           signer=signer)


def prepare_notice(subject: str, text: str, *, mail_from: str, date: datetime,
                   signer: Signer | None = None) -> PreparedEdition:
    """A one-off plain-text message to staff or to one person (an alert, a confirmation link): no unsubscribe
    header, since it is not list mail. Channels send it like any other OutgoingMail (with an empty token)."""
    name, address = sender(mail_from)
    newsletter = Newsletter(subject, "", "", text, ())
    message = _message(newsletter, name, address, date)
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    head, chunks = _slots(message)
    return PreparedEdition(head, chunks, address.rpartition("@")[2], "", newsletter, name, address, date,
                           list_unsubscribe=False, signer=signer)


def _message(newsletter: Newsletter, name: str, address: str, date: datetime) -> EmailMessage:
    message = EmailMessage(policy=_POLICY)
    message["From"] = formataddr((name, address), charset="utf-8")
    message["Subject"] = _HEADER_BREAK.sub(" ", newsletter.subject)
    message["Date"] = format_datetime(date)
    return message


def _slots(message: EmailMessage) -> tuple[bytes, tuple[bytes | tuple[int, ...], ...]]:
    """The serialised message split into its header block and body chunks around each token slot."""
    raw = message.as_bytes(policy=_POLICY)
    head, separator, body = raw.partition(b"\r\n\r\n")
    chunks: list[bytes | tuple[int, ...]] = []
    pos = 0
    for m in _slot_pattern(TOKEN_PLACEHOLDER).finditer(body):
        chunks.append(body[pos : m.start()])
        cuts, offset = [], 0
        for piece in m.group().split(b"=\r\n")[:-1]:
            offset += len(piece)
            cuts.append(offset)
        chunks.append(tuple(cuts))
        pos = m.end()
    chunks.append(body[pos:])
    return head + separator, tuple(chunks)
