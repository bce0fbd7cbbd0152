"""X: how it counts a post (twitter-text, 280), its create call's body, and its backend (BOT_X_BACKEND=api).

Dispatch hands the backend one post at a time; it publishes it through X API v2.

Posts go through tweepy's `Client.create_tweet` with OAuth 1.0a user context. tweepy 4.17 hard-codes the host
https://api.twitter.com, so the client is given a session that sends those requests to X_API_BASE_URL
instead, before requests prepares and signs them: the signature covers the URL really called. tweepy has no
v2 media upload, so images go through a small uploader of our own on the same session. A post whose first
hand-over had no clear answer is looked for among the account's latest posts before it is sent again.
"""

from __future__ import annotations

import email.utils
import html
import logging
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import requests

from ..channels import Outcome, Outgoing, OutgoingPost, Sent, outcome_of, post_of
from ..channels import register as register_channel
from ..channels.http import (
    TRANSIENT_STATUSES,
    USER_AGENT,
    call,
    error_text,
    excerpt,
    json_body,
    post_image,
    retry_after,
)
from ..errors import ChannelAuthError, ChannelError, FinalChannelError, TransientChannelError
from ..setting_values import _base_url, _secret
from . import Option, Platform, register

if TYPE_CHECKING:
    import tweepy

    from ..settings import Settings
    from ..social import Post

log = logging.getLogger("herald")

TWEEPY_HOST = "https://api.twitter.com"  # fixed inside tweepy 4.17's BaseClient.request
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # X's limit for a tweet_image
MAX_ALT_TEXT = 1000  # characters, X's limit for alt text
RECENT_POSTS = 20  # how far back reconcile looks: a retry comes long before the account posts 20 more times
DUPLICATE = "X refused it as a duplicate of an earlier post"
_LINK = "\x00"  # stands for any URL when texts are compared: X shows every link as a t.co address


# twitter-text v3 (X's own counting) weighs a code point 1 in these ranges and 2 elsewhere; an emoji 2, a URL 23. A
# text with neither a heavy character nor © or ® (the emoji among the light ones: every other emoji sequence holds a
# heavy character) is counted here without parse_tweet's emoji scan, a millisecond a text (tests compare the two).
_HEAVY = re.compile("[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]|[\u00a9\u00ae]")
URL_WEIGHT = 23


@lru_cache(maxsize=4096)
def _x_length(text: str) -> int:
    from twitter_text import extract_urls_with_indices, parse_tweet  # imported with the platforms, warning silenced
    from twitter_text.parse_tweet import convert_line_ending

    normal = convert_line_ending(unicodedata.normalize("NFC", text))  # as parse_tweet counts: CR LF is one
    if _HEAVY.search(normal) is None:
        urls: list[tuple[int, int]] = [found["indices"] for found in extract_urls_with_indices(normal)]
        return len(normal) - sum(end - start for start, end in urls) + URL_WEIGHT * len(urls)
    return int(parse_tweet(text).weightedLength)


@dataclass(frozen=True, slots=True)
class X(Platform):
    name = "x"
    title = "X"
    order = 10
    colour = "#111111"
    options = (
        Option("X_API_KEY", "api_key", _secret, secret=True, required=True),
        Option("X_API_SECRET", "api_secret", _secret, secret=True, required=True),
        Option("X_ACCESS_TOKEN", "access_token", _secret, secret=True, required=True),
        Option("X_ACCESS_TOKEN_SECRET", "access_token_secret", _secret, secret=True, required=True),
        Option("X_API_BASE_URL", "api_base_url", _base_url, "https://api.x.com"),
    )
    fix = ("in https://developer.x.com/en/portal/dashboard give the app Read and write permission, then regenerate "
           "the access token and secret (X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET)")
    payload_is = "the body of POST /2/tweets"
    reply_field = "reply.in_reply_to_tweet_id"

    def measure(self, text: str) -> int:
        return _x_length(text)  # twitter-text v3: URLs 23, CJK and emoji 2

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": post.text}

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        if not image:
            return []
        return [("media.media_ids", "the picture, with its alt text",
                 "uploaded with POST /2/media/upload, alt text set with POST /2/media/metadata")]


register(X(280))


class XSession(requests.Session):
    """The session tweepy is given: what tweepy addresses to its fixed host goes to X_API_BASE_URL instead.

    The rewrite happens in `request`, before requests prepares the request and applies the OAuth 1.0a
    auth, so the signature is computed over the URL actually called. tweepy sets no timeout; Herald's is
    the default for every call."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers["User-Agent"] = USER_AGENT

    def request(  # type: ignore[override]
            self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:
        if isinstance(url, bytes):
            url = url.decode()
        if url == TWEEPY_HOST or url.startswith(TWEEPY_HOST + "/"):
            url = self.base_url + url[len(TWEEPY_HOST):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, **kwargs)


class XChannel:
    name = "api"
    kind = "x"
    batch_size = 1
    limit: int | None = None  # X's 280 is fixed: social.py already counts it as twitter-text does

    def __init__(self, settings: Settings) -> None:
        # Loaded here, not at import: a run with nothing to post must not pay for tweepy.
        import tweepy
        from requests_oauthlib import OAuth1

        self.settings = settings
        def option(key: str) -> Any:
            return settings.option("x", key)

        self.base = option("api_base_url").rstrip("/")
        self.session = XSession(self.base, settings.http_timeout.total_seconds())
        key, secret = option("api_key").reveal(), option("api_secret").reveal()
        token, token_secret = option("access_token").reveal(), option("access_token_secret").reveal()
        # Passed per call rather than set on the session, so that fetching an item's image from its own
        # host never carries X's Authorization header.
        self.auth = OAuth1(key, secret, token, token_secret)
        self.client = tweepy.Client(consumer_key=key, consumer_secret=secret, access_token=token,
                                    access_token_secret=token_secret, wait_on_rate_limit=False)
        self.client.session = self.session
        self._tweepy = tweepy
        self._user_id: str | None = None

    # --- posting --------------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: Outgoing) -> Outcome:
        post = post_of(message, self.kind)
        return outcome_of(lambda: self._create(post.payload["text"], [self._upload(post)] if post.image else None,
                                               post.reply_to))

    def _create(self, text: str, media_ids: list[str] | None, reply_to: str | None = None) -> str:
        what = "X: posting"
        try:
            # A part of a reply thread answers the part before it (POST /2/tweets, reply.in_reply_to_tweet_id).
            response = self.client.create_tweet(text=text, media_ids=media_ids, in_reply_to_tweet_id=reply_to,
                                                user_auth=True)
        except self._tweepy.HTTPException as exc:
            raise self._translate(exc, what) from None
        except requests.Timeout:
            raise TransientChannelError(f"{what}: no answer within {self.session.timeout:g} s (it may have gone "
                                        "through: checked before any retry)") from None
        except requests.RequestException as exc:
            # Includes a connection dropped after X received the post, and an answer that is not JSON.
            raise TransientChannelError(f"{what}: no usable answer ({type(exc).__name__}; checked before any "
                                        "retry)") from None
        tweet_id = str((response.data or {}).get("id") or "")
        if not tweet_id:
            raise TransientChannelError(f"{what}: X answered without the new post's id (checked before any retry)")
        return tweet_id

    def _translate(self, exc: tweepy.HTTPException, what: str) -> ChannelError:
        """tweepy's exception for an HTTP answer -> the error class that tells dispatch what to do."""
        tweepy, response = self._tweepy, exc.response
        if isinstance(exc, tweepy.Unauthorized):
            return ChannelAuthError(f"{what}: X refused the credentials ({_says(exc)})")
        if isinstance(exc, tweepy.TooManyRequests):
            # x-rate-limit-reset is a time on X's clock, so the wait is measured from X's own Date.
            return TransientChannelError(f"{what}: rate limited by X ({_says(exc)})",
                                         retry_after(response, _server_time(response)))
        if isinstance(exc, tweepy.TwitterServerError) or response.status_code in TRANSIENT_STATUSES:
            # Only Retry-After counts here: X sends x-rate-limit-reset on every answer, not as advice to wait.
            wait = retry_after(response, _server_time(response)) if response.headers.get("Retry-After") else None
            return TransientChannelError(f"{what}: {_says(exc)} (checked before any retry)", wait)
        if isinstance(exc, tweepy.Forbidden) and any("duplicate" in m.lower() for m in exc.api_messages):
            return FinalChannelError(DUPLICATE)
        return FinalChannelError(f"{what}: {_says(exc)}")

    # --- images ---------------------------------------------------------------------------------------

    def _upload(self, message: OutgoingPost) -> str:
        """Upload the item's image and set its alt text; returns the media id for the post."""
        if message.image is None:
            raise ValueError("X: the post has no picture to upload")  # a caller's bug, also under python -O
        # Not through self.session: the guarded fetch connects itself, never through a proxy, never with X's keys.
        data, kind = post_image(message, self.settings, MAX_IMAGE_BYTES)
        what = "X: uploading the image"
        name = message.image.rsplit("/", 1)[-1].split("?")[0] or "image"
        response = call(self.session, "POST", f"{self.base}/2/media/upload", what, self.settings, auth=self.auth,
                        files={"media": (name, data, kind)}, data={"media_category": "tweet_image"})
        body = json_body(response, what)
        media_id = str(((body.get("data") if isinstance(body, dict) else None) or {}).get("id") or "")
        if not media_id:
            raise TransientChannelError(f"{what}: X answered without a media id")
        alt = " ".join((message.image_alt or "").split())
        if alt:
            if len(alt) > MAX_ALT_TEXT:
                alt = alt[: MAX_ALT_TEXT - 1].rstrip() + "…"
            call(self.session, "POST", f"{self.base}/2/media/metadata", "X: setting the image's alt text",
                 self.settings, auth=self.auth, json={"id": media_id, "metadata": {"alt_text": {"text": alt}}})
        return media_id

    # --- reading --------------------------------------------------------------------------------------

    def _me(self) -> dict[str, Any]:
        what = "X: reading the account"
        response = call(self.session, "GET", f"{self.base}/2/users/me", what, self.settings, auth=self.auth)
        body = json_body(response, what)
        data = (body.get("data") if isinstance(body, dict) else None) or {}
        if not data.get("id"):
            raise TransientChannelError(f"{what}: X answered without the account's id")
        self._user_id = str(data["id"])
        return data

    def reconcile(self, message: Outgoing) -> Outcome | None:
        post = post_of(message, self.kind)
        what = "X: reading the account's latest posts"
        try:
            user_id = self._user_id or self._me()["id"]
            response = call(self.session, "GET", f"{self.base}/2/users/{user_id}/tweets", what, self.settings,
                            auth=self.auth, params={"max_results": RECENT_POSTS})
        except ChannelAuthError:
            raise
        except FinalChannelError as exc:
            # Some access levels may not read timelines. Unknown means "send again": X's own duplicate
            # check then refuses a second copy of the same text.
            log.warning("x: cannot check whether %s was already posted: %s", post.item, exc)
            return None
        body = json_body(response, what)
        wanted = comparable(post.payload["text"])
        for tweet in (body.get("data") if isinstance(body, dict) else None) or []:
            if isinstance(tweet, dict) and tweet.get("id") and comparable(str(tweet.get("text", ""))) == wanted:
                return Sent(str(tweet["id"]))
        return None

    def check(self) -> str:
        return f"@{self._me().get('username', '?')}"

    def close(self) -> None:
        self.session.close()


def comparable(text: str) -> str:
    """A post's text as X may show it back: links (t.co on X) as one marker, entities unescaped, whitespace
    collapsed, and no links at the end, where X appends one for attached media."""
    from twitter_text import extract_urls_with_indices  # the same link detection as X's

    text = unicodedata.normalize("NFC", html.unescape(text))
    for found in reversed(extract_urls_with_indices(text)):
        start, end = found["indices"]
        text = text[:start] + _LINK + text[end:]
    words = text.split()
    while words and words[-1] == _LINK:
        words.pop()
    return " ".join(words)


def _says(exc: tweepy.HTTPException) -> str:
    """X's own words about a refused call, short and plain: never the request, so never a key or a signature."""
    said = "; ".join(dict.fromkeys(str(m).strip() for m in exc.api_messages if str(m).strip()))
    return excerpt(f"HTTP {exc.response.status_code}: {said}") if said else error_text(exc.response)


def _server_time(response: requests.Response) -> float:
    """The answer's Date as epoch seconds, else this machine's clock."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


@register_channel("x", "api")
def open_x(settings: Settings, kind: str) -> XChannel:
    return XChannel(settings)
