"""HTTP for the API backends: one session with timeouts, and the mapping from HTTP answers to Herald's error classes.

Transient (retry later, as late as the server asks): timeouts, connection errors, 408, 425, 429, 5xx.
Credentials refused or lacking a right (the channel stops for the run): 401, 403. Any other 4xx is final.
"""

from __future__ import annotations

import email.utils
import json
import time
from datetime import datetime
from typing import Any

import requests

from .. import media
from ..errors import ChannelAuthError, FinalChannelError, TransientChannelError
from ..settings import Settings
from . import OutgoingPost

USER_AGENT = "Herald/0.1 (+https://github.com/herald-bot)"
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_ERROR_TEXT = 300


def session() -> requests.Session:
    opened = requests.Session()
    opened.headers["User-Agent"] = USER_AGENT
    return opened


def retry_after(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds to wait, from whichever header the server uses: Retry-After (seconds or a date), X's
    x-rate-limit-reset (epoch seconds), Mastodon's X-RateLimit-Reset (ISO 8601), RateLimit-Reset (delta)."""
    now = time.time() if now is None else now
    headers = response.headers
    value = headers.get("Retry-After")
    if value:
        if value.strip().isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    for name in ("x-rate-limit-reset", "X-RateLimit-Reset", "RateLimit-Reset"):
        value = headers.get(name)
        if not value:
            continue
        value = value.strip()
        if value.isdigit():
            number = float(value)
            # An epoch timestamp, or (RateLimit-Reset) seconds from now.
            return max(0.0, number - now) if number > 1_000_000_000 else number
        try:
            return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
        except ValueError:
            continue
    return None


def error_text(response: requests.Response) -> str:
    """The server's own words about what went wrong, short; never the request."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key in ("error", "message", "detail", "title", "error_description", "errors"):
                if key in value:
                    collect(value[key])
        elif isinstance(value, list):
            for entry in value[:3]:
                collect(entry)

    collect(body)
    text = "; ".join(dict.fromkeys(s.strip() for s in found if s.strip())) or response.reason or ""
    return f"HTTP {response.status_code}: {text}"[:MAX_ERROR_TEXT]


def raise_for(response: requests.Response, what: str) -> None:
    """Nothing for 2xx; otherwise the error class that tells dispatch what to do."""
    if 200 <= response.status_code < 300:
        return
    message = f"{what}: {error_text(response)}"
    if response.status_code in (401, 403):
        # Refused credentials, or credentials without the right (SendGrid's key without mail.send, a suspended
        # account): nothing this channel sends can succeed until a person fixes it, so it pauses.
        raise ChannelAuthError(message)
    if response.status_code in TRANSIENT_STATUSES or response.status_code >= 500:
        # Rate-limit headers ride on every answer (X sends them always): only a 429, or an explicit
        # Retry-After, means "wait until then"; a 503 without one is retried on the usual backoff.
        told = response.status_code == 429 or "Retry-After" in response.headers
        raise TransientChannelError(message, retry_after(response) if told else None)
    raise FinalChannelError(message)


def call(opened: requests.Session, method: str, url: str, what: str, settings: Settings,
         **kwargs: Any) -> requests.Response:
    """One request with Herald's timeout; network trouble becomes TransientChannelError."""
    try:
        response = opened.request(method, url, timeout=settings.http_timeout.total_seconds(), **kwargs)
    except requests.Timeout:
        raise TransientChannelError(f"{what}: no answer within {settings.http_timeout.total_seconds():g} s "
                                    "(it may have gone through: checked before any retry)") from None
    except requests.ConnectionError as exc:
        raise TransientChannelError(f"{what}: cannot connect ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise TransientChannelError(f"{what}: {type(exc).__name__}") from None
    raise_for(response, what)
    return response


def json_body(response: requests.Response, what: str) -> Any:
    """The JSON a 2xx answer carries; a body that is not JSON is a server fault, worth retrying."""
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        raise TransientChannelError(f"{what}: the server answered HTTP {response.status_code} with a body that "
                                    "is not JSON") from None


def fetch_image(opened: requests.Session, url: str, settings: Settings, max_bytes: int) -> tuple[bytes, str]:
    """Download an item's image for upload; too big or not an image is a final error naming the URL."""
    what = f"image {url}"
    try:
        response = call(opened, "GET", url, what, settings, stream=True)
    except ChannelAuthError as exc:  # the image host's refusal is about the image, not our platform account
        raise FinalChannelError(str(exc)) from None
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not kind.startswith("image/"):
        raise FinalChannelError(f"{what}: is {kind or 'of no declared type'}, not an image")
    data = bytearray()
    for chunk in response.iter_content(65536):
        data += chunk
        if len(data) > max_bytes:
            raise FinalChannelError(f"{what}: larger than {max_bytes:,} bytes")
    return bytes(data), kind


def post_image(opened: requests.Session, message: OutgoingPost, settings: Settings,
               max_bytes: int) -> tuple[bytes, str]:
    """A post's picture: a media-library file's own bytes (no request at all), else downloaded from its URL."""
    if message.image_file is None:
        assert message.image is not None, "a post without a picture has none to upload"
        return fetch_image(opened, message.image, settings, max_bytes)
    what = f"image {media.FOLDER}/{message.image_file.name}"
    try:
        data = media.read_stored(message.image_file)
    except OSError as exc:
        raise FinalChannelError(f"{what}: cannot be read ({exc.strerror or exc}): add it again with "
                                "`bot media add`") from None
    if len(data) > max_bytes:
        raise FinalChannelError(f"{what}: larger than {max_bytes:,} bytes")
    return data, media.media_type(message.image_file.name)
