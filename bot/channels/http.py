"""HTTP for the API backends: one session with timeouts, and the mapping from HTTP answers to Herald's error classes.

Transient (retry later, as late as the server asks): timeouts, connection errors, 408, 425, 429, 5xx.
Credentials refused or lacking a right (the channel stops for the run): 401, 403. Any other 4xx is final.
What an item names (its picture) and a feed are fetched by `guarded_get` alone (through `fetch_image` and
bot.feeds): public addresses only, each redirect vetted again, size and time capped. Whatever a server says
reaches the ledger only as `excerpt`: short, plain, one line.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import nh3
import requests
from certifi import where as ca_bundle  # requests' own CA bundle (a dependency of requests)

from .. import media
from ..addresses import public_address, shown
from ..errors import ChannelAuthError, ChannelError, FinalChannelError, TransientChannelError
from ..settings import Settings
from . import OutgoingPost

USER_AGENT = "Herald/0.1 (+https://github.com/herald-bot)"
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_ERROR_TEXT = 200  # characters of a server's words (or of any error) kept in the ledger and shown
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
CHUNK = 65536
ERROR_BODY = 16384  # bytes of an image host's error page read, for the excerpt of what it says
REFUSED = "is not a public address: refused (BOT_FETCH_ALLOW_PRIVATE=1 allows it on an intranet)"

Vet = Callable[[str, int], list[str]]  # (host, port) -> the addresses checked, the only ones connected to

_TAG = re.compile(r"<[^>]*>")


def session() -> requests.Session:
    opened = requests.Session()
    opened.headers["User-Agent"] = USER_AGENT
    return opened


def retry_after(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds to wait, from whichever header the server uses: Retry-After (seconds or a date), X's
    x-rate-limit-reset (epoch seconds), Mastodon's X-RateLimit-Reset (ISO 8601), RateLimit-Reset (delta)."""
    return _retry_after(response.headers, now)


class _Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


def _retry_after(headers: _Headers, now: float | None = None) -> float | None:
    now = time.time() if now is None else now
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
    """The server's own words about what went wrong, as a short plain excerpt; never the request."""
    return excerpt(f"HTTP {response.status_code}: {_said(response.text, response.reason or '')}")


def _said(text: str, reason: str) -> str:
    """What an error answer says: the messages of a JSON body, else the body's text (an HTML page's words)."""
    text = text[:ERROR_BODY * 4]  # enough for any message; a huge page is not parsed whole
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
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
    return "; ".join(dict.fromkeys(s.strip() for s in found if s.strip())) or reason


def excerpt(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """`text` as it may be stored and shown: tags, scripts and styles dropped (nh3), entities decoded, no control
    or format characters, one line, at most `limit` characters."""
    # A space before each tag keeps the words of neighbouring elements apart once the tags are gone.
    cleaned = html.unescape(nh3.clean(text[:ERROR_BODY * 4].replace("<", " <"), tags=set()))
    # Decoding may have made markup of escaped text (&lt;script&gt;): that goes too, and any stray bracket.
    cleaned = _TAG.sub(" ", cleaned).replace("<", " ").replace(">", " ")
    words = "".join(c if c.isprintable() else " " for c in cleaned).split()
    line = " ".join(words)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def raise_for(response: requests.Response, what: str) -> None:
    """Nothing for 2xx; otherwise the error class that tells dispatch what to do."""
    if 200 <= response.status_code < 300:
        return
    message = excerpt(f"{what}: {error_text(response)}")
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


# --- what an item names: fetched from public addresses only -----------------------------------------------------


def resolve_public(host: str, port: int, allow_private: bool) -> list[str]:
    """Every address `host` resolves to; refused (final) when any one of them is not public, unless allowed.

    Any, not all: a name that answers with one public and one private address would reach the private one on a
    later lookup. The caller connects to these addresses only, never resolving the name again (DNS rebinding)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TransientChannelError(f"cannot find the host {host}") from None
    addresses = list(dict.fromkeys(str(entry[4][0]) for entry in found))
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not allow_private and not public_address(ip):
            raise FinalChannelError(f"{shown(host, ip)} {REFUSED}")
    return addresses


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of `addresses` that answers: addresses, never a name, so no lookup."""
    failure: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            failure = exc
    raise failure


class _Pinned(http.client.HTTPConnection):
    """Plain HTTP to `host` (its name in the Host header) at addresses vetted beforehand."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses, self.budget = addresses, timeout

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.budget)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to `host` at addresses vetted beforehand: SNI and the certificate check are for `host`, the name."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        # Read per connection, so that SSL_CERT_FILE set before the run applies; requests' bundle too, which is
        # what fetched pictures before, so that no host trusted then fails now.
        self.tls = ssl.create_default_context()
        self.tls.load_verify_locations(cafile=ca_bundle())
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.addresses, self.budget = addresses, timeout

    def connect(self) -> None:
        raw = _connect(self.addresses, self.port, self.budget)
        self.sock = raw  # already, so that the deadline can cut a handshake that drags on
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def _cut(connection: http.client.HTTPConnection) -> None:
    """At the deadline: socket timeouts bound each read, not a server that sends a byte now and then."""
    if connection.sock is not None:
        # socket.socket's own shutdown, also under TLS: it wakes a read blocked in another thread.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(connection.sock, socket.SHUT_RDWR)


def fetch_image(url: str, settings: Settings, max_bytes: int, *, vet: Vet | None = None) -> tuple[bytes, str]:
    """Download a picture that an item names, for upload: (bytes, media type).

    Only http and https; every hop's host resolved and vetted (`resolve_public`, or `vet`), then connected to at
    a vetted address, the name kept for the Host header and TLS; redirects followed here, at most MAX_REDIRECTS,
    each vetted again; no proxy (the address checked is the address connected to); at most `max_bytes`, and the
    whole within BOT_HTTP_TIMEOUT. Refused, too big or not an image is final; network trouble and 5xx transient."""
    what = f"image {url if len(url) <= 100 else url[:99] + '…'}"
    allow = settings.fetch_allow_private
    vetted: Vet = vet or (lambda host, port: resolve_public(host, port, allow))
    budget = settings.http_timeout.total_seconds()
    deadline = time.monotonic() + budget
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity", "Connection": "close"}
    try:
        got = guarded_get(url, vetted, deadline, max_bytes, headers, picture=True)
        if got.data is None:  # only a conditional request is answered 304; this one is not
            raise FinalChannelError("answered 304 Not Modified to a request that asked no such thing")
        return got.data, got.media_type
    except TransientChannelError as exc:
        raise TransientChannelError(excerpt(f"{what}: {exc}"), exc.retry_after) from None
    except ChannelError as exc:  # an image host's 401 or 403 is about the picture, never our platform account
        raise FinalChannelError(excerpt(f"{what}: {exc}")) from None
    except TimeoutError:
        raise TransientChannelError(excerpt(f"{what}: not fetched within {budget:g} s")) from None
    except ssl.SSLCertVerificationError as exc:
        raise TransientChannelError(excerpt(f"{what}: TLS certificate not trusted ({exc.verify_message})")) from None
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise TransientChannelError(excerpt(f"{what}: not fetched within {budget:g} s")) from None
        raise TransientChannelError(excerpt(f"{what}: no usable answer ({type(exc).__name__})")) from None


@dataclass(frozen=True, slots=True)
class Got:
    """What a guarded GET brought: the body (None when a conditional request was answered 304), the address it
    came from after redirects, its media type and its validators."""

    data: bytes | None
    url: str
    content_type: str
    etag: str | None = None
    last_modified: str | None = None

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lowercased: `image/png`."""
        return self.content_type.split(";")[0].strip().lower()


def guarded_get(url: str, vet: Vet, deadline: float, max_bytes: int, headers: Mapping[str, str],
                picture: bool = False) -> Got:
    """GET `url` as pictures and feeds are fetched: http(s) only, each hop's host vetted and connected to at a
    vetted address, redirects followed (at most MAX_REDIRECTS, each vetted again), at most `max_bytes`, all before
    `deadline`; for a `picture`, any other media type is refused before the body is read. Raises ChannelError,
    TimeoutError, OSError or http.client.HTTPException: each caller says them in its own words."""
    for _ in range(MAX_REDIRECTS + 1):
        found = _hop(url, vet, deadline, max_bytes, headers, picture)
        if not isinstance(found, str):
            return found
        url = found
    raise FinalChannelError(f"more than {MAX_REDIRECTS} redirects")


def _hop(url: str, vet: Vet, deadline: float, max_bytes: int, headers: Mapping[str, str],
         picture: bool) -> Got | str:
    """One request: what came, or the next URL to try when the answer is a redirect."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FinalChannelError(f"{scheme or 'an address without a scheme'}: only http and https are fetched")
    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)  # the host IDNA-encoded, the path quoted, as the API calls do
        parts = urlsplit(prepared.url or "")
        host, port = parts.hostname or "", parts.port or (443 if scheme == "https" else 80)
    except (requests.RequestException, ValueError):
        raise FinalChannelError("is not a valid URL") from None
    addresses = vet(host, port)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    kind = _PinnedTLS if scheme == "https" else _Pinned
    connection = kind(host, port, addresses, remaining)
    watchdog = threading.Timer(remaining, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        target = parts.path or "/"
        connection.request("GET", f"{target}?{parts.query}" if parts.query else target, headers=dict(headers))
        response = connection.getresponse()
        location = response.getheader("Location")
        if response.status in REDIRECT_STATUSES and location:
            return urljoin(url, _header_text(location))
        validators = (response.getheader("ETag"), response.getheader("Last-Modified"))
        if response.status == 304 and {"If-None-Match", "If-Modified-Since"} & set(headers):
            return Got(None, url, "", *validators)
        if not 200 <= response.status < 300:
            raise _refusal(response)
        got = Got(None, url, response.getheader("Content-Type") or "", *validators)
        if picture and not got.media_type.startswith("image/"):
            raise FinalChannelError(f"is {got.media_type or 'of no declared type'}, not an image")
        return replace(got, data=_body(response, max_bytes, deadline))
    finally:
        watchdog.cancel()
        connection.close()


def _header_text(value: str) -> str:
    """A header as the server meant it: http.client reads bytes as Latin-1, servers send UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _refusal(response: http.client.HTTPResponse) -> ChannelError:
    """The error class for an image host's error answer, with a short plain excerpt of what it says."""
    try:
        text = response.read(ERROR_BODY).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        text = ""
    words = excerpt(f"HTTP {response.status}: {_said(text, response.reason or '')}")
    if response.status in TRANSIENT_STATUSES or response.status >= 500:
        told = response.status == 429 or response.getheader("Retry-After") is not None
        return TransientChannelError(words, _retry_after(response.headers) if told else None)
    return FinalChannelError(words)


def _body(response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> bytes:
    """The body, refused as soon as it is known to be larger than `max_bytes` (declared, or as it comes)."""
    declared = (response.getheader("Content-Length") or "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise FinalChannelError(f"larger than {max_bytes:,} bytes")
    data = bytearray()
    while chunk := response.read(min(CHUNK, max_bytes + 1 - len(data))):
        data += chunk
        if len(data) > max_bytes:
            raise FinalChannelError(f"larger than {max_bytes:,} bytes")
    if time.monotonic() >= deadline:  # cut off by the deadline: what came is not the whole picture
        raise TimeoutError
    return bytes(data)


def post_image(message: OutgoingPost, settings: Settings, max_bytes: int) -> tuple[bytes, str]:
    """A post's picture: a media-library file's own bytes (no request at all), else downloaded from its URL."""
    if message.image_file is None:
        if message.image is None:
            raise ValueError("post_image: the post has no picture to upload")  # a caller's bug, also under -O
        return fetch_image(message.image, settings, max_bytes)
    what = f"image {media.FOLDER}/{message.image_file.name}"
    try:
        data = media.read_stored(message.image_file)
    except OSError as exc:
        raise FinalChannelError(f"{what}: cannot be read ({exc.strerror or exc}): add it again with "
                                "`bot media add`") from None
    if len(data) > max_bytes:
        raise FinalChannelError(f"{what}: larger than {max_bytes:,} bytes")
    return data, media.media_type(message.image_file.name)
