"""DKIM: mail -> signing -> channels: each message a raw-bytes backend sends carries a signature over those bytes.

dkimpy (the reference RFC 6376 and RFC 8463 code in Python) selects, canonicalises and folds the header fields;
the signature itself is made with cryptography (OpenSSL): dkimpy's own RSA is pure Python, 6 ms a message
against 0.25 ms. The body is handed over as it is, not re-parsed: Herald's messages already have CRLF line
ends, and parsing 70 kB per recipient would cost more than the rest of the send.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import CanonicalizationPolicy, Simple

from .errors import ConfigError
from .settings import Settings

# RFC 8058 wants List-Unsubscribe and List-Unsubscribe-Post signed; From is named twice so that a From added
# on the way breaks the signature rather than showing beside it. A field named but absent (a notice has no
# List-Unsubscribe) is signed as absent: one added later breaks the signature too.
SIGNED = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
          b"list-unsubscribe", b"list-unsubscribe-post", b"from")
# relaxed headers survive a relay's re-folding; a simple body is hashed as sent (it is already CRLF and 7-bit).
CANONICALIZATION = b"relaxed/simple"
_POLICY = CanonicalizationPolicy.from_c_value(CANONICALIZATION)
_MEMO = 64  # remembered canonical fields: an edition's fixed ones, a few times over
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

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"

    @property
    def key_type(self) -> str:
        return "ed25519" if isinstance(self.key, ed25519.Ed25519PrivateKey) else "rsa"

    @property
    def key_description(self) -> str:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return f"RSA {self.key.key_size}"
        return "Ed25519"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def record(self) -> str:
        """The DNS TXT record's value that lets receivers check the signatures (RFC 6376 3.6.1, RFC 8463)."""
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
        headers = self._canonical(dkim.rfc822_parse(message[: end + 4])[0])
        body = Simple.canonicalize_body(message[end + 4 :])
        fields = [(b"v", b"1"), (b"a", self.algorithm), (b"c", CANONICALIZATION), (b"d", self.domain.encode()),
                  (b"s", self.selector.encode()), (b"t", str(int(time.time())).encode()),
                  (b"h", b" : ".join(self.fields)), (b"bh", base64.b64encode(hashlib.sha256(body).digest())),
                  # As dkimpy does: a long stand-in puts b= on a line of its own, so that folding the real value
                  # later cannot move anything before it, which is what was hashed.
                  (b"b", b"0" * 60)]
        unsigned = dkim.RE_BTAG.sub(b"\\1", _folded(fields))
        hasher = hashlib.sha256()
        dkim.hash_headers(hasher, _POLICY, headers, self.fields, (_NAME, b" " + unsigned), None)
        fields[-1] = (b"b", base64.b64encode(self._signature(hasher.digest())))
        return _NAME + b": " + _folded(fields) + b"\r\n"

    def _canonical(self, headers: list[list[bytes]]) -> list[tuple[bytes, bytes]]:
        """The signed fields, canonicalised: an edition's From, Subject, Date and MIME fields are the same for every
        recipient, so each is worked out once and remembered (only To, Message-ID and List-Unsubscribe differ)."""
        found = []
        for name, value in headers:
            if name.lower() not in self.fields:
                continue
            key = (name, value)
            canonical = self._seen.get(key)
            if canonical is None:
                canonical = _POLICY.canonicalize_headers([key])[0]
                if len(self._seen) > _MEMO:
                    self._seen.clear()
                self._seen[key] = canonical
            found.append(canonical)
        return found

    @cached_property
    def _seen(self) -> dict[tuple[bytes, bytes], tuple[bytes, bytes]]:
        return {}

    def _signature(self, digest: bytes) -> bytes:
        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(digest)  # RFC 8463: Ed25519 signs the SHA-256 hash of the headers
        return key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.record_name}, {self.source})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Signer, (self.domain, self.selector, self.pem, self.source, self.replaced))


def _folded(fields: list[tuple[bytes, bytes]]) -> bytes:
    folded: bytes = dkim.fold(b"; ".join(b"=".join(field) for field in fields), namelen=len(_NAME))
    return folded


def _parse_key(pem: bytes, source: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
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
