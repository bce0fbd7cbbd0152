"""Mastodon: how it counts a post (500, links as 23), its status body, and its backend (BOT_MASTODON_BACKEND=api).

Dispatch hands the backend each post, which it publishes on the instance.

One status per post, with its image uploaded first (alt text as the description). Every status carries an
Idempotency-Key derived from the item, the same on every retry, so a retry within Mastodon's hour never
posts twice; after that, `reconcile` looks for the post among the account's recent statuses.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..channels import Outcome, Outgoing, OutgoingPost, Sent, each_post, post_of
from ..channels import register as register_channel
from ..channels.http import call, json_body, post_image, session
from ..errors import ChannelAuthError, FinalChannelError, TransientChannelError
from ..setting_values import _one_of, _public_url, _secret
from . import Option, Platform, graphemes, register

if TYPE_CHECKING:
    from ..settings import Settings
    from ..social import Post

log = logging.getLogger("herald")
DEFAULT_IMAGE_LIMIT = 16 * 1024 * 1024  # Mastodon's default image_size_limit
MEDIA_POLL_WAITS = (0.0, 0.5, 1.0, 2.0)  # seconds before each look at an upload still being processed
RECENT = 40  # statuses searched by reconcile: the most the endpoint returns at once

_BREAK = re.compile(r"<br\s*/?>|</p\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True, slots=True)
class MastodonRules(Platform):
    name = "mastodon"
    title = "Mastodon"
    order = 20
    colour = "#563acc"
    options = (
        Option("MASTODON_BASE_URL", "base_url", _public_url, required=True),
        Option("MASTODON_ACCESS_TOKEN", "access_token", _secret, secret=True, required=True),
        Option("BOT_MASTODON_VISIBILITY", "visibility", _one_of("public", "unlisted", "private"), "public"),
    )
    fix = ("create an access token in <instance>/settings/applications with read:accounts read:statuses "
           "write:statuses write:media, and check MASTODON_BASE_URL")
    payload_is = "the body of POST /api/v1/statuses"
    reply_field = "in_reply_to_id"
    url_length: int = 23

    def measure(self, text: str) -> int:
        from twitter_text import extract_urls_with_indices  # imported with the platforms, its warning silenced there

        # As Mastodon's StatusLengthValidator: grapheme clusters, each http(s) URL counting a fixed length.
        total, pos = 0, 0
        for url in extract_urls_with_indices(text):
            start, end = url["indices"]
            if not url["url"].lower().startswith(("http://", "https://")):
                continue
            total += graphemes(text[pos:start]) + self.url_length
            pos = end
        return total + graphemes(text[pos:])

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        return {"status": post.text, "visibility": options.get("visibility", "public"), "language": language}

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        if not image:
            return []
        return [("media_ids", "the picture, with its alt text", "uploaded first with POST /api/v2/media")]


register(MastodonRules(500))


def idempotency_key(item: str) -> str:
    """The same for every try of one item's status; Mastodon scopes keys to the account."""
    return "herald-" + hashlib.sha256(f"herald:{item}:mastodon".encode()).hexdigest()[:40]


def comparable(text: str, *, markup: bool = False) -> str:
    """Text reduced to what survives Mastodon's rendering: no tags, entities or URLs, single spaces.

    URLs go because Mastodon rewrites them into spans (and may shorten what is shown)."""
    if markup:
        text = html.unescape(_TAG.sub("", _BREAK.sub(" ", text)))
    return " ".join(_URL.sub(" ", text).split())


class Mastodon:
    name = "api"
    kind = "mastodon"
    batch_size = 1

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base: str = settings.option("mastodon", "base_url")
        # Only for the instance: pictures come through post_image's own guarded connections, without the token.
        self.http = session()
        self._account: dict[str, Any] | None = None
        self.limit, self.image_limit = self._instance_limits()

    # --- the protocol -------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return each_post(messages, self.kind, self._publish)

    def reconcile(self, message: Outgoing) -> Outcome | None:
        post = post_of(message, self.kind)
        try:
            account_id = self._me()["id"]
            response = call(self.http, "GET", self._url(f"/api/v1/accounts/{account_id}/statuses"),
                            "recent statuses", self.settings, headers=self._auth(), params={"limit": RECENT})
            statuses = json_body(response, "recent statuses")
        except ChannelAuthError:
            raise
        except FinalChannelError:
            return None  # cannot be known: the Idempotency-Key still guards a resend within the hour
        wanted = comparable(str(post.payload.get("status", "")))
        for status in statuses if isinstance(statuses, list) else []:
            if isinstance(status, dict) and status.get("id") and \
                    comparable(str(status.get("content") or ""), markup=True) == wanted:
                return Sent(str(status["id"]))
        return None

    def check(self) -> str:
        return f"@{self._me().get('acct', '?')} on {urlsplit(self.base).netloc}"

    def close(self) -> None:
        self.http.close()

    # --- the calls ----------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.base + path

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.option('mastodon', 'access_token').reveal()}"}

    def _instance_limits(self) -> tuple[int | None, int]:
        """The instance's own status length and image size limits; Mastodon's defaults when it does not say."""
        try:
            response = call(self.http, "GET", self._url("/api/v2/instance"), "instance", self.settings)
            instance = json_body(response, "instance")
        except (FinalChannelError, TransientChannelError) as exc:
            log.warning("mastodon: cannot read the instance's limits, assuming the defaults: %s", exc)
            return None, DEFAULT_IMAGE_LIMIT
        configuration = instance.get("configuration") if isinstance(instance, dict) else None
        return (_setting(configuration, "statuses", "max_characters"),
                _setting(configuration, "media_attachments", "image_size_limit") or DEFAULT_IMAGE_LIMIT)

    def _me(self) -> dict[str, Any]:
        if self._account is None:
            response = call(self.http, "GET", self._url("/api/v1/accounts/verify_credentials"), "account",
                            self.settings, headers=self._auth())
            account = json_body(response, "account")
            if not isinstance(account, dict) or not account.get("id"):
                raise TransientChannelError("account: the answer holds no account id")
            self._account = account
        return self._account

    def _publish(self, message: OutgoingPost) -> str:
        body = dict(message.payload)
        if message.image:
            body["media_ids"] = [self._upload(message)]
        if message.reply_to:  # a part of a reply thread answers the part before it
            body["in_reply_to_id"] = message.reply_to
        # A translation's status is another status: its key holds the language (the item's own keeps the key it had).
        name = f"{message.item}:{message.lang}" if message.lang else message.item
        key = idempotency_key(name if message.part == 1 else f"{name}:part{message.part}")
        headers = {**self._auth(), "Idempotency-Key": key}
        response = call(self.http, "POST", self._url("/api/v1/statuses"), "status", self.settings, json=body,
                        headers=headers)
        status = json_body(response, "status")
        if not isinstance(status, dict) or not status.get("id"):
            raise TransientChannelError("status: the answer holds no status id")
        return str(status["id"])

    def _upload(self, message: OutgoingPost) -> str:
        data, kind = post_image(message, self.settings, self.image_limit)
        filename = urlsplit(message.image or "").path.rsplit("/", 1)[-1] or "image"
        response = call(self.http, "POST", self._url("/api/v2/media"), "image upload", self.settings,
                        headers=self._auth(), files={"file": (filename, data, kind)},
                        data={"description": message.image_alt or ""})
        media = json_body(response, "image upload")
        if not isinstance(media, dict) or not media.get("id"):
            raise TransientChannelError("image upload: the answer holds no media id")
        media_id = str(media["id"])
        if response.status_code == 202 or not media.get("url"):
            self._wait_until_processed(media_id)
        return media_id

    def _wait_until_processed(self, media_id: str) -> None:
        """202: the instance still processes the upload, and a status naming it now would be refused."""
        for pause in MEDIA_POLL_WAITS:
            time.sleep(pause)
            response = call(self.http, "GET", self._url(f"/api/v1/media/{media_id}"), "image processing",
                            self.settings, headers=self._auth())
            media = json_body(response, "image processing")
            if response.status_code == 200 and isinstance(media, dict) and media.get("url"):
                return
        raise TransientChannelError(f"image upload: still being processed after {sum(MEDIA_POLL_WAITS):g} s")


def _setting(configuration: Any, section: str, key: str) -> int | None:
    values = configuration.get(section) if isinstance(configuration, dict) else None
    value = values.get(key) if isinstance(values, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@register_channel("mastodon", "api")
def open_mastodon(settings: Settings, kind: str) -> Mastodon:
    return Mastodon(settings)
