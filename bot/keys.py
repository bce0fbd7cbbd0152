"""Keys: the root secret (BOT_SECRET, or the outbox's random key) and, by HKDF, one separate key per purpose from it."""

from __future__ import annotations

import base64
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import private
from .errors import quoted
from .settings import Settings

# Every purpose a key is derived for; a purpose is one of these names, never free text. No token, link or cookie is
# keyed with the root itself (it only checks links mailed before schema 7: subscribers.read_token), so what is
# learnt of one purpose's key (a session cookie, a feed address) opens no other.
PURPOSES = ("unsubscribe", "confirm", "session", "calendar")
KEY_FILE = "secret.key"


def root(settings: Settings) -> bytes:
    """BOT_SECRET, or for the outbox a random key kept in the state folder (never a fixed default)."""
    if settings.secret:
        return settings.secret.reveal().encode()
    path = settings.state_dir / KEY_FILE
    if not path.exists():
        private.folder(settings.state_dir)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private.FILE_MODE)
        except FileExistsError:  # another process (bot serve beside bot run) made it first: theirs is kept
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return path.read_text().strip().encode()


def derive(settings: Settings, purpose: str) -> bytes:
    """The 32-byte key of `purpose` (one of PURPOSES), from the root secret."""
    return expand(root(settings), purpose)


@lru_cache(maxsize=16)
def expand(root_key: bytes, purpose: str) -> bytes:
    """HKDF-SHA256 of the root key for one purpose (kept once computed: an edition makes a token per recipient)."""
    if purpose not in PURPOSES:
        raise ValueError(f"{quoted(purpose)} is not a key purpose ({', '.join(PURPOSES)})")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"herald/" + purpose.encode())
    return hkdf.derive(root_key)
