"""DKIM: mail -> signing -> channels: each message a raw-bytes backend sends carries a signature over those bytes.

Written for the fan-out's pace: dkimpy's own sign() re-parses each 70 kB message (0.9 ms a recipient with Ed25519,
6 ms with its pure-Python RSA, against about 0.5 ms for the rest of a send). Here an edition's fixed header fields
are read once (with dkimpy's parser), the body is hashed in the pieces it is filled in, the fields are
canonicalised and hashed after RFC 6376 3.4.2 and 3.7, and OpenSSL (cryptography) signs: 0.1 ms with Ed25519.
Every signature is checked with dkimpy's own verify(): by `bot doctor`, and in the tests for any recipient.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .settings import Settings

if TYPE_CHECKING:  # dkimpy and cryptography are imported when a message is signed: every command imports mail
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

# RFC 8058 wants List-Unsubscribe and List-Unsubscribe-Post signed; From is named twice so that a From added
# on the way breaks the signature rather than showing beside it. A field named but absent (a notice has no
# List-Unsubscribe) is signed as absent: one added later breaks the signature too.
SIGNED = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
          b"list-unsubscribe", b"list-unsubscribe-post", b"from")
# relaxed headers survive a relay's re-folding; a simple body is hashed as sent (it is already CRLF and 7-bit).
CANONICALIZATION = b"relaxed/simple"
_MEMO = 64  # editions' fixed header blocks remembered: a run sends a few
_LINE = 76  # characters a line of the signature field holds, at most, where it can be broken
_NAME = b"DKIM-Signature"
MIN_RSA_BITS = 1024  # RFC 8301: shorter keys are not accepted by verifiers


@dataclass(frozen=True)
class Signer:
    """A domain's DKIM key, loaded once a run; pickled as its PEM, so that sender processes can sign too."""

    domain: str
    selector: str
    pem: bytes
    source: str  # the key file's name, for messages
    # Fields a backend's provider replaces on the way (SES: Date and Message-ID), which a signature must leave out.
    replaced: tuple[bytes, ...] = ()

    @cached_property
    def fields(self) -> tuple[bytes, ...]:
        return tuple(name for name in SIGNED if name not in self.replaced)

    @cached_property
    def key(self) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
        return _parse_key(self.pem, self.source)

    @cached_property
    def key_type(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return "ed25519" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "rsa"

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if self.key_type == "ed25519" else b"rsa-sha256"

    @property
    def key_description(self) -> str:
        return "Ed25519" if self.key_type == "ed25519" else f"RSA {getattr(self.key, 'key_size', 0)}"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def record(self) -> str:
        """The DNS TXT record's value that lets receivers check the signatures (RFC 6376 3.6.1, RFC 8463)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        public = self.key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k={self.key_type}; p={base64.b64encode(raw).decode()}"

    def sign(self, message: bytes) -> bytes:
        """The DKIM-Signature field (folded, CRLF-terminated) to put before `message`, a whole CRLF message."""
        end = message.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError("a message to sign needs a header block and a body")
        return self.sign_parts(message[: end + 4], [message[end + 4 :]])

    def sign_parts(self, head: bytes, body: Sequence[bytes], fixed_head: bytes = b"") -> bytes:
        """The same for a message given in parts, as an edition fills them in per recipient: `head`, header lines;
        `fixed_head`, the lines after them that are the same for every recipient (read once, then remembered);
        `body`, its pieces in order, hashed one after the other rather than joined again."""
        headers = self._canonical(_fields(head)) + self._fixed(fixed_head)
        tags, lines = self._opening(str(int(time.time())).encode())
        body_hash = b"bh=" + base64.b64encode(_body_hash(body)) + b";"
        hasher = hashlib.sha256(self._selected(headers))
        # Then the signature's own field, relaxed, with b= empty and no CRLF (RFC 6376 3.7). Written on one line
        # it is already relaxed; the lines below break only at its spaces (and inside b=, which checking leaves
        # out), and relaxed canonicalisation turns each break back into that space.
        hasher.update(b"dkim-signature:" + tags + b" " + body_hash + b" b=")
        signature = b"b=" + base64.b64encode(self._signature(hasher.digest()))
        chunks = [signature[i : i + _LINE] for i in range(0, len(signature), _LINE)]
        return b"".join((_NAME, b": ", lines, b"\r\n ", body_hash, b"\r\n ", b"\r\n ".join(chunks), b"\r\n"))

    def _opening(self, stamp: bytes) -> tuple[bytes, bytes]:
        """The tags before bh=, on one line and folded, the same for every message signed within a second."""
        opened = self._opened[0]  # read once: another sending thread may put the next second's in its place
        if opened[0] != stamp:
            fields = [(b"v", b"1"), (b"a", self.algorithm), (b"c", CANONICALIZATION), (b"d", self.domain.encode()),
                      (b"s", self.selector.encode()), (b"t", stamp), (b"h", b" : ".join(self.fields))]
            tags = b" ".join(tag + b"=" + value + b";" for tag, value in fields)
            opened = (stamp, tags, _folded(tags.split(b" ")))
            self._opened[0] = opened
        return opened[1], opened[2]

    @cached_property
    def _opened(self) -> list[tuple[bytes, bytes, bytes]]:
        return [(b"", b"", b"")]

    def _fixed(self, head: bytes) -> list[tuple[bytes, bytes]]:
        if not head:
            return []
        found = self._heads.get(head)
        if found is None:
            import dkim

            found = self._canonical(dkim.rfc822_parse(head)[0])
            if len(self._heads) > _MEMO:
                self._heads.clear()
            self._heads[head] = found
        return found

    @cached_property
    def _heads(self) -> dict[bytes, list[tuple[bytes, bytes]]]:
        return {}

    def _canonical(self, headers: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
        """The signed fields, relaxed (RFC 6376 3.4.2). An edition's fixed fields are worked out once and remembered
        with its header block (`_fixed`); a recipient's own (To, Message-ID, List-Unsubscribe) never come again."""
        return [(name.lower().rstrip(), _relaxed(value) + b"\r\n") for name, value in headers
                if name.lower() in self.fields]

    def _selected(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """The signed fields in h= order, each `name:value` as relaxed canonicalisation writes it; a name listed
        again takes the next occurrence up from the bottom, and one with none left adds nothing (RFC 6376 5.4.2),
        as dkimpy's select_headers does."""
        by_name: dict[bytes, list[bytes]] = {}
        for name, value in headers:
            by_name.setdefault(name, []).append(name + b":" + value)
        return b"".join(by_name[name].pop() for name in self.fields if by_name.get(name))

    def _signature(self, digest: bytes) -> bytes:
        return self._sign(digest)

    @cached_property
    def _sign(self) -> Callable[[bytes], bytes]:
        """The key's signing of a header hash, worked out once (this runs for every recipient)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ed25519, padding
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign  # RFC 8463: Ed25519 signs the SHA-256 hash of the headers
        pkcs1, prehashed = padding.PKCS1v15(), Prehashed(hashes.SHA256())
        return lambda digest: key.sign(digest, pkcs1, prehashed)

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.record_name}, {self.source})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Signer, (self.domain, self.selector, self.pem, self.source, self.replaced))


def _body_hash(pieces: Sequence[bytes]) -> bytes:
    """SHA-256 of the body's "simple" canonical form (RFC 6376 3.4.3): as it is, its trailing empty lines but one
    dropped. Only the end can hold those, so only the last piece is canonicalised (all of it, if that is too short
    to be sure)."""
    pieces = [piece for piece in pieces if piece]
    if len(pieces) > 1 and len(pieces[-1].rstrip(b"\r\n")) == 0:
        pieces = [b"".join(pieces)]
    hasher = hashlib.sha256()
    for piece in pieces[:-1]:
        hasher.update(piece)
    from dkim.canonicalization import Simple

    hasher.update(Simple.canonicalize_body(pieces[-1] if pieces else b""))
    return hasher.digest()


_FOLDS = re.compile(rb"\r?\n")
_SPACES = re.compile(rb"[\t ]+")


def _fields(head: bytes) -> list[list[bytes]]:
    """The header fields of `head` as dkimpy's parser gives them ([name, value with its CRLF]); lines that are each
    one whole field, as an edition's per-recipient ones are, are split here without it (a sixth of the cost)."""
    lines = head.split(b"\r\n")
    if any(line[:1] in (b" ", b"\t") or (line and b":" not in line) for line in lines):
        import dkim

        found: list[list[bytes]] = dkim.rfc822_parse(head)[0]
        return found
    return [[name, value + b"\r\n"] for name, _, value in (line.partition(b":") for line in lines if line)]


def _relaxed(value: bytes) -> bytes:
    """A field's value in relaxed canonical form (RFC 6376 3.4.2), as dkimpy's Relaxed writes it, without its CRLF:
    unfolded, each run of spaces and tabs one space, none at either end."""
    return _SPACES.sub(b" ", _FOLDS.sub(b"", value)).strip()


def _folded(words: list[bytes]) -> bytes:
    """Words over lines of at most 78 characters, broken only between them: never inside a tag, as dkimpy's fold
    does with a long d= domain, which receivers would then read as another domain."""
    lines, line = [], b""
    width = len(_NAME) + 2  # "DKIM-Signature: " on the first line
    for word in words:
        if line and width + len(line) + 1 + len(word) > _LINE:
            lines.append(line)
            line, width = b"", 1  # a continuation line starts with one space
        line = line + b" " + word if line else word
    lines.append(line)
    return b"\r\n ".join(lines)


def _parse_key(pem: bytes, source: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    where = f"DKIM_PRIVATE_KEY_FILE: {source}"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ConfigError(f"{where}: the key is protected by a passphrase; Herald needs it without one "
                          "(openssl pkey -in KEY -out PLAIN), kept readable by Herald's user only") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE "
                          "KEY-----); make one with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
                          "-out dkim.pem") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigError(f"{where}: an RSA key of {key.key_size} bits, which receivers refuse; use 2048")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ConfigError(f"{where}: DKIM signs with RSA or Ed25519 keys, not this one")


def for_channel(settings: Settings, channel: object) -> Signer | None:
    """The signer for what `channel` sends: only a channel that hands the message's bytes over as they are
    (`sends_raw`) can carry Herald's signature; a mail API builds its own message and signs it itself. Fields the
    channel's provider replaces (its `rewrites`: SES sets its own Date and Message-ID) are left unsigned."""
    signer = load(settings) if getattr(channel, "sends_raw", False) else None
    replaced = tuple(name.lower().encode() for name in getattr(channel, "rewrites", ()))
    return replace(signer, replaced=replaced) if signer is not None and replaced else signer


def check(settings: Settings) -> None:
    """ConfigError, before anything is sent, when DKIM_* name a key that the email backend would sign with and that
    cannot be used: for `bot run` and `bot serve` (confirmation links) alike. Nothing is asked of a backend that
    signs for itself (Mailgun, SendGrid) or is off."""
    if not settings.dkim_domain:
        return
    from .channels import open_channel

    channel = open_channel(settings, "email")
    try:
        for_channel(settings, channel)
    finally:
        if channel is not None:
            channel.close()


def load(settings: Settings) -> Signer | None:
    """The signer DKIM_* describe, or None when they are not set; ConfigError when the key cannot be used."""
    path: Path | None = settings.dkim_private_key_file
    if path is None or not settings.dkim_domain or not settings.dkim_selector:
        return None
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"DKIM_PRIVATE_KEY_FILE: {path}: cannot be read: {exc.strerror}") from None
    signer = Signer(settings.dkim_domain, settings.dkim_selector, pem, str(path))
    _ = signer.key  # parsed now, so that a bad key stops the run before anything is sent
    return signer
