"""BOT_SECRET: refused when weak wherever it guards something real (`bot serve`, a real backend), and a separate key
derived from it for each purpose (unsubscribe links, confirmation links, staff sessions, calendar feeds)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from bot import calendar_ics, keys, subscribers
from bot.settings import Settings
from bot.web import create_app

from .conftest import BASE, SAMPLE_QUEUE

STRONG = "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V"
MakeSettings = Callable[..., Settings]


def test_bot_serve_refuses_a_weak_bot_secret_before_it_serves_anything(tmp_path: Path) -> None:
    # The attack: BOT_SECRET=changeme was recovered offline from one unsubscribe token in seconds, and a session
    # cookie signed with it opened /admin. Outbox only, so that only the serve command's own check can refuse it.
    env = dict(os.environ, **BASE, BOT_STATE_DIR=str(tmp_path / "var"), BOT_QUEUE_DIR=str(SAMPLE_QUEUE),
               BOT_SECRET="changeme")
    server = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "serve", "--port", "0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    first = ""
    try:
        first = server.stderr.readline()  # the refusal, or the log line saying that it serves
    finally:
        if not first.startswith("error:"):  # it went on to serve: stop it
            server.kill()
        server.wait()
        server.stderr.close()
    assert first == ("error: environment: BOT_SECRET: is 8 characters; use at least 32 random ones, e.g. "
                     "python3 -c \"import secrets; print(secrets.token_urlsafe(48))\"\n")
    assert server.returncode == 3


def test_each_purpose_has_its_own_key_and_none_is_bot_secret_itself(make_settings: MakeSettings) -> None:
    settings = make_settings(BOT_SECRET=STRONG)
    derived = {purpose: keys.derive(settings, purpose) for purpose in keys.PURPOSES}
    assert set(keys.PURPOSES) >= {"unsubscribe", "confirm", "session", "calendar"}
    assert len(set(derived.values())) == len(derived) and all(len(k) == 32 for k in derived.values())
    assert STRONG.encode() not in derived.values()
    assert keys.derive(make_settings(BOT_SECRET=STRONG), "session") == derived["session"]  # stable across runs
    with pytest.raises(ValueError):
        keys.derive(settings, "unsubscribe ")  # a purpose is one of the known names, never free text

    # Staff sessions: Flask signs its cookie with the session key alone.
    assert create_app(settings).secret_key == derived["session"].hex()
    # Calendar feeds: the feed secret is an HMAC under the calendar key.
    mac = hmac.new(derived["calendar"], b"ed@example.org\x001", hashlib.sha256).digest()
    assert calendar_ics.token(settings, "ed@example.org", 1) == base64.urlsafe_b64encode(mac[:24]).decode()
    # Confirmation links: one signed with BOT_SECRET itself (how they were made before) is refused.
    root = subscribers.secret_key(settings)
    bare = URLSafeTimedSerializer(STRONG.encode(), salt="herald-confirm").dumps(["a@example.org", "A"])
    assert subscribers.read_confirm_token(root, bare, 3600) is None
    made = subscribers.make_confirm_token(root, "a@example.org", "A")
    assert subscribers.read_confirm_token(root, made, 3600) == ("a@example.org", "A", None)
    chosen = subscribers.make_confirm_token(root, "a@example.org", "A", "fr")
    assert subscribers.read_confirm_token(root, chosen, 3600) == ("a@example.org", "A", "fr")
    assert URLSafeTimedSerializer(derived["confirm"], salt="herald-confirm").loads(made) == ["a@example.org", "A"]


def test_without_bot_secret_the_outbox_keeps_a_random_root_key(make_settings: MakeSettings, tmp_path: Path) -> None:
    first = make_settings(BOT_STATE_DIR=str(tmp_path / "a"))
    second = make_settings(BOT_STATE_DIR=str(tmp_path / "b"))
    assert keys.derive(first, "unsubscribe") == keys.derive(first, "unsubscribe")
    assert keys.derive(first, "unsubscribe") != keys.derive(second, "unsubscribe")
    assert (tmp_path / "a" / "secret.key").stat().st_mode & 0o777 == 0o600
