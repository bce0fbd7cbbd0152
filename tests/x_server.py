"""A local X API v2 for tests: the endpoints Herald's X backend calls, on 127.0.0.1, checking what X checks.

Every /2/ call must carry a valid OAuth 1.0a user-context signature (HMAC-SHA1, the configured consumer key
and access token, a fresh nonce), recomputed here from the secrets and the URL actually requested; anything
else gets X's 401. The server keeps state like X: one account, its posts (newest first, links shown as t.co,
identical texts refused as duplicates), uploaded media and their alt text. Tests script faults per route
(an error status, or a dropped connection, before or after the call took effect) and read every request
back. It also serves images without auth, and as an HTTP proxy it only records (and refuses) whatever
tries to go elsewhere: point HTTPS_PROXY at it to catch a call meant for the real api.x.com.
"""

from __future__ import annotations

import email.utils
import hmac
import itertools
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from oauthlib.oauth1.rfc5849 import signature, utils

DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
_URL = re.compile(r"https?://\S+")


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str  # without the base URL's prefix, with the query
    headers: dict[str, str]
    body: bytes
    signed: bool = False  # carried a valid OAuth 1.0a signature

    @property
    def route(self) -> str:
        return f"{self.method} {urlsplit(self.path).path}"

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, tuple[bytes, str | None, str | None]]:
        """A multipart body's fields: name -> (value, filename, content type)."""
        kind = self.headers.get("Content-Type", "")
        boundary = re.search(r'boundary="?([^";]+)"?', kind)
        assert kind.startswith("multipart/form-data") and boundary, f"not multipart: {kind!r}"
        fields = {}
        for part in self.body.split(b"--" + boundary.group(1).encode())[1:-1]:
            head, _, value = part[2:].partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
            disposition = headers["Content-Disposition"]
            name = re.search(r'\bname="([^"]*)"', disposition).group(1)  # type: ignore[union-attr]
            filename = re.search(r'filename="([^"]*)"', disposition)
            fields[name] = (value[:-2], filename.group(1) if filename else None, headers.get("Content-Type"))
        return fields


@dataclass
class Fault:
    """What the next call to `route` gets instead of X's normal answer."""

    route: str
    status: int | None = None  # answer with this status and X's error body for it
    drop: bool = False  # close the connection without answering
    after: bool = False  # first let the call take effect (the post is stored), then fail the answer
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


PROBLEMS = {
    400: ("Invalid Request", "One or more parameters to your request was invalid."),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "Forbidden"),
    404: ("Not Found Error", "Could not find the requested resource."),
    429: ("Too Many Requests", "Too Many Requests"),
    500: ("Internal Server Error", "Internal Server Error"),
    503: ("Service Unavailable", "Service Unavailable"),
}


def problem(status: int, detail: str | None = None) -> dict[str, Any]:
    """X's RFC 7807 error body."""
    title, default = PROBLEMS.get(status, ("Error", "Error"))
    return {"title": title, "detail": detail or default, "type": "about:blank", "status": status}


@dataclass(frozen=True)
class _Secrets:
    """What oauthlib's signing function reads from a client."""

    client_secret: str
    resource_owner_secret: str


class XServer:
    def __init__(self, api_key: str, api_secret: str, access_token: str, access_token_secret: str, *,
                 username: str = "GenevaRightsDesk", user_id: str = "1150000000000000001", prefix: str = "") -> None:
        self.api_key, self.api_secret = api_key, api_secret
        self.access_token, self.access_token_secret = access_token, access_token_secret
        self.username, self.user_id, self.prefix = username, user_id, prefix.rstrip("/")
        self.tweets: list[dict[str, Any]] = []  # oldest first; each {"id", "text" (as shown), "sent" (as sent), ...}
        self.media: dict[str, dict[str, Any]] = {}
        self.images: dict[str, tuple[bytes, str]] = {}  # path -> (bytes, content type), served without auth
        self.requests: list[Request] = []
        self.escaped: list[str] = []  # requests that went through it as a proxy: meant for another host
        self.faults: list[Fault] = []
        self.clock: datetime | None = None  # the Date it answers with; None: the real time
        self._nonces: set[str] = set()
        self._ids = itertools.count(1150000000000000100)
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.x = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    # --- life ---------------------------------------------------------------------------------------

    def __enter__(self) -> XServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def url(self) -> str:
        """X_API_BASE_URL for this server."""
        return self.origin + self.prefix

    # --- what tests use -----------------------------------------------------------------------------

    def fail_next(self, route: str, status: int | None = None, *, drop: bool = False, after: bool = False,
                  headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        self.faults.append(Fault(route, status, drop, after, headers or {}, body))

    def serve_image(self, path: str, data: bytes, kind: str) -> str:
        self.images[path] = (data, kind)
        return self.origin + path

    def seed_tweet(self, text: str, media: bool = False) -> dict[str, Any]:
        """A post the account made earlier (by hand, or another tool), with an image if `media`."""
        media_ids = []
        if media:
            media_ids = [str(next(self._ids))]
            self.media[media_ids[0]] = {"data": b"", "filename": None, "type": "image/png", "alt_text": None}
        return self._store(text, media_ids)

    def routes(self) -> list[str]:
        return [r.route for r in self.requests]

    def calls(self, route: str) -> list[Request]:
        return [r for r in self.requests if r.route == route]

    # --- the API ------------------------------------------------------------------------------------

    def _store(self, text: str, media_ids: list[str]) -> dict[str, Any]:
        tweet_id = str(next(self._ids))
        # X shows &, < and > as HTML entities, every link as t.co, and appends one more link for attached media.
        shown = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        shown = _URL.sub(lambda m: f"https://t.co/{zlib.crc32(m.group().encode()):010d}", shown)
        if media_ids:
            shown += f" https://t.co/m{tweet_id[-9:]}"
        tweet = {"id": tweet_id, "text": shown, "sent": text, "media_ids": media_ids,
                 "edit_history_tweet_ids": [tweet_id]}
        self.tweets.append(tweet)
        return tweet

    def answer(self, request: Request) -> tuple[int, dict[str, Any] | None]:
        """X's answer to an authenticated call: (status, JSON body)."""
        path, query = urlsplit(request.path).path, parse_qs(urlsplit(request.path).query)
        if request.route == "GET /2/users/me":
            return 200, {"data": {"id": self.user_id, "name": "Geneva Rights Desk", "username": self.username}}
        found = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if found and request.method == "GET":
            count = int(query.get("max_results", ["10"])[0])
            if not 5 <= count <= 100:
                return 400, {"errors": [{"message": "The `max_results` query parameter value is not between 5 "
                                                   "and 100"}], **problem(400)}
            mine = list(reversed(self.tweets))[:count] if found.group(1) == self.user_id else []
            if not mine:
                return 200, {"meta": {"result_count": 0}}
            return 200, {"data": [{k: t[k] for k in ("id", "text", "edit_history_tweet_ids")} for t in mine],
                         "meta": {"result_count": len(mine), "newest_id": mine[0]["id"], "oldest_id": mine[-1]["id"]}}
        if request.route == "POST /2/tweets":
            if not request.headers.get("Content-Type", "").startswith("application/json"):
                return 400, problem(400, "The request body must be JSON.")
            body = request.json()
            text, media_ids = body.get("text"), body.get("media", {}).get("media_ids", [])
            parent = body.get("reply", {}).get("in_reply_to_tweet_id")
            if parent is not None and not any(t["id"] == parent for t in self.tweets):
                return 400, {"errors": [{"message": "The tweet you are replying to does not exist."}], **problem(400)}
            if not isinstance(text, str) or not text.strip():
                return 400, {"errors": [{"message": "The `text` field is required."}], **problem(400)}
            if any(m not in self.media for m in media_ids):
                return 400, {"errors": [{"message": "Your media IDs are invalid."}], **problem(400)}
            if any(t["sent"] == text for t in self.tweets):
                return 403, problem(403, DUPLICATE)
            tweet = self._store(text, media_ids)
            tweet["in_reply_to"] = parent
            return 201, {"data": {"id": tweet["id"], "text": tweet["text"],
                                  "edit_history_tweet_ids": tweet["edit_history_tweet_ids"]}}
        if request.route == "POST /2/media/upload":
            form = request.form()
            if "media" not in form:
                return 400, {"errors": [{"message": "media is required"}], **problem(400)}
            if form.get("media_category", (b"",))[0] != b"tweet_image":
                return 400, {"errors": [{"message": "media_category must be tweet_image here"}], **problem(400)}
            data, filename, kind = form["media"]
            media_id = str(next(self._ids))
            self.media[media_id] = {"data": data, "filename": filename, "type": kind, "alt_text": None}
            return 200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(data),
                                  "expires_after_secs": 86400, "image": {"image_type": kind}}}
        if request.route == "POST /2/media/metadata":
            body = request.json()
            if body.get("id") not in self.media:
                return 400, {"errors": [{"message": "The media id is not valid."}], **problem(400)}
            alt = body.get("metadata", {}).get("alt_text", {}).get("text")
            if not isinstance(alt, str) or len(alt) > 1000:
                return 400, {"errors": [{"message": "alt_text.text must be at most 1000 characters."}], **problem(400)}
            self.media[body["id"]]["alt_text"] = alt
            return 200, {"data": {"id": body["id"], "associated_metadata": {"alt_text": {"text": alt}}}}
        return 404, problem(404)

    def verify(self, request: Request, uri: str) -> bool:
        """The OAuth 1.0a check X makes: who signs, how, and the signature itself over this exact URL."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return False
        params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        if (params.get("oauth_consumer_key") != self.api_key or params.get("oauth_token") != self.access_token
                or params.get("oauth_signature_method") != "HMAC-SHA1" or not params.get("oauth_timestamp")
                or not params.get("oauth_nonce") or params["oauth_nonce"] in self._nonces):
            return False
        body: list[tuple[str, str]] = []
        if request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = [(k, v) for k, vs in parse_qs(request.body.decode(), keep_blank_values=True).items() for v in vs]
        collected = signature.collect_parameters(uri_query=urlsplit(uri).query, body=body,
                                                 headers={"Authorization": header})
        base = signature.signature_base_string(request.method, signature.base_string_uri(uri),
                                               signature.normalize_parameters(collected))
        expected = signature.sign_hmac_sha1_with_client(base, _Secrets(self.api_secret, self.access_token_secret))
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return False
        self._nonces.add(params["oauth_nonce"])
        return True

    def _fault(self, route: str) -> Fault | None:
        for fault in self.faults:
            if fault.route == route:
                self.faults.remove(fault)
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests pools connections

    @property
    def x(self) -> XServer:
        return self.server.x  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        clock = self.x.clock
        return email.utils.formatdate(clock.timestamp() if clock else time.time(), usegmt=True)

    def do_CONNECT(self) -> None:
        self.x.escaped.append(f"CONNECT {self.path}")
        self._send(403, problem(403, "this test server is not a way out"), close=True)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        x = self.x
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/"):  # an absolute URI: sent here as a proxy, meant for another host
            x.escaped.append(f"{self.command} {self.path}")
            self._send(403, problem(403, "this test server is not a way out"), close=True)
            return
        if self.command == "GET" and self.path in x.images:
            data, kind = x.images[self.path]
            with x._lock:
                x.requests.append(Request(self.command, self.path, dict(self.headers), body))
            self._send_bytes(200, data, kind)
            return
        if not self.path.startswith(x.prefix + "/2/"):
            self._send(404, problem(404))
            return
        request = Request(self.command, self.path[len(x.prefix):], dict(self.headers), body)
        with x._lock:
            x.requests.append(request)
            request.signed = x.verify(request, f"http://{self.headers['Host']}{self.path}")
            if not request.signed:
                self._send(401, problem(401))
                return
            fault = x._fault(request.route)
            if fault is not None and not fault.after:
                self._fail(fault)
                return
            status, answer = x.answer(request)
            if fault is not None:
                self._fail(fault)
                return
        self._send(status, answer)

    def _fail(self, fault: Fault) -> None:
        if fault.drop:
            self.close_connection = True  # no answer at all: the client sees the connection break
            return
        assert fault.status is not None
        self._send(fault.status, fault.body or problem(fault.status), fault.headers)

    def _send(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None,
              close: bool = False) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self._send_bytes(status, data, "application/json; charset=utf-8", headers, close)

    def _send_bytes(self, status: int, data: bytes, kind: str, headers: dict[str, str] | None = None,
                    close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
