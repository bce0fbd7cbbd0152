"""Local servers for tests: a Mastodon instance and a Bluesky PDS, on 127.0.0.1, speaking the documented protocols.

Each keeps state like the real service (statuses and media; sessions, records and blobs) and checks every
request's documented shape: method, path, bearer token, JSON keys and types, $type values, timestamps and
facet byte ranges. A request of the wrong shape is answered 400 and noted in `problems`, which the
fixtures require to be empty at the end of each test. Tests script faults per route (`fault`): an error
answer before or after the call took effect, or an answer held back until the test is over, so that the
client times out after the server acted. Both also serve images, without auth, under /media/, and any
page a test sets (`page`: an error page, a redirect, a slow drip).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import regex
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

HELD_FOR = 30.0  # seconds a held answer waits at most, should a test forget to release it
TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
URL = re.compile(r"https?://[^\s<>\"]+")
HASHTAG = regex.compile(r"(?<![\p{L}\p{N}_#])#([\p{L}\p{M}\p{N}_]+)")


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    args: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # name -> (content, content type)
    endpoint: str = ""  # the handler that served it: create_status, create_record, ... ("" for images)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    """What the next request to an endpoint gets instead of the normal answer."""

    status: int = 500
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False  # let the call take effect first, then answer with the fault
    hold: bool = False  # let the call take effect, then answer only once the test is over (a client timeout)
    raw: bytes | None = None  # a body sent as it is, instead of `body` as JSON (a malformed answer)


class Refused(Exception):
    """An answer the real service would give to this request (a wrong token, an unknown record)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class Service:
    """Routing, request log, scripted faults, images and shape checks shared by both fakes."""

    routes: dict[str, str] = {}  # "METHOD regex-of-path" -> method name

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.url = server.url_for("/").rstrip("/")
        self.requests: list[Seen] = []
        self.problems: list[str] = []
        self.images: dict[str, tuple[bytes, str]] = {}
        self.pages: dict[str, Callable[[], Response]] = {}  # path -> a fresh answer for each GET (a redirect, a drip)
        self.faults: dict[str, list[Fault]] = {}
        self.released = threading.Event()
        self.lock = threading.RLock()
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self.handle)

    def fault(self, endpoint: str, fault: Fault) -> None:
        """Script the next answer of `endpoint`, named as its handler (create_status, create_record, ...)."""
        assert endpoint in self.routes.values(), endpoint
        self.faults.setdefault(endpoint, []).append(fault)

    def image(self, name: str, data: bytes, kind: str = "image/jpeg") -> str:
        self.images[f"/media/{name}"] = (data, kind)
        return f"{self.url}/media/{name}"

    def page(self, path: str, answer: Callable[[], Response]) -> str:
        """Serve GET `path` with whatever `answer` makes (an image host's error page, a redirect, a drip)."""
        self.pages[path] = answer
        return f"{self.url}{path}"

    def calls(self, endpoint: str) -> list[Seen]:
        """The requests `endpoint` received, in order."""
        return [r for r in self.requests if r.endpoint == endpoint]

    def handle(self, request: Request) -> Response:
        seen = Seen(request.method, request.path, dict(request.headers), request.get_data(cache=True),
                    dict(request.args))
        if request.mimetype == "multipart/form-data":
            seen.form = dict(request.form)
            seen.files = {name: (f.read(), f.mimetype) for name, f in request.files.items()}
        with self.lock:
            self.requests.append(seen)
        if request.method == "GET" and request.path in self.pages:
            return self.pages[request.path]()
        if request.method == "GET" and request.path in self.images:
            data, kind = self.images[request.path]
            return Response(data, content_type=kind)
        for pattern, name in self.routes.items():
            method, path = pattern.split(" ", 1)
            match = re.fullmatch(path, request.path)
            if method == request.method and match:
                seen.endpoint = name
                return self._serve(name, seen, match.groups())
        return self._problem(seen, "no such endpoint", 404)

    def _serve(self, endpoint: str, seen: Seen, groups: tuple[str, ...]) -> Response:
        handler: Callable[..., tuple[int, Any]] = getattr(self, endpoint)
        with self.lock:
            fault = self.faults[endpoint].pop(0) if self.faults.get(endpoint) else None
        if fault is not None and not (fault.after or fault.hold):
            return self._faulty(fault)
        try:
            with self.lock:
                status, body = handler(seen, *groups)
        except AssertionError as exc:
            return self._problem(seen, str(exc), 400)
        except Refused as refused:
            return self._json(refused.body, refused.status, refused.headers)
        except Exception as exc:  # a bug in this server: fail the test rather than look like an outage
            return self._problem(seen, f"test server crashed: {exc!r}", 500)
        if fault is not None and fault.hold:
            self.released.wait(HELD_FOR)  # the client gives up first: the call took effect, unanswered
        if fault is not None and fault.after:
            return self._faulty(fault)
        return self._json(body, status)

    def _faulty(self, fault: Fault) -> Response:
        if fault.raw is not None:
            return Response(fault.raw, status=fault.status, headers=fault.headers, content_type="application/json")
        return self._json(fault.body, fault.status, fault.headers)

    def _problem(self, seen: Seen, message: str, status: int) -> Response:
        self.problems.append(f"{seen.method} {seen.path}: {message}")
        return self._json(self.error_body(f"test server: {message}"), status)

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": message}

    @staticmethod
    def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

    @staticmethod
    def bearer(seen: Seen) -> str:
        auth = seen.headers.get("Authorization", "")
        assert auth.startswith("Bearer ") and auth[7:].strip(), f"no bearer token: {auth[:7]!r}"
        return auth[7:]

    @staticmethod
    def json_object(seen: Seen, allowed: set[str], required: set[str]) -> dict[str, Any]:
        assert seen.headers.get("Content-Type", "").split(";")[0] == "application/json", "body is not JSON"
        body = seen.json()
        assert isinstance(body, dict), "body is not a JSON object"
        assert not set(body) - allowed, f"unknown keys {sorted(set(body) - allowed)}"
        assert required <= set(body), f"missing keys {sorted(required - set(body))}"
        return body


# --- Mastodon ------------------------------------------------------------------------------------------


def mastodon_length(text: str, url_length: int = 23) -> int:
    """As StatusLengthValidator: grapheme clusters, every http(s) URL counting 23."""
    return len(regex.findall(r"\X", URL.sub("x" * url_length, text)))


class MastodonServer(Service):
    """One account on one instance: statuses, media and idempotency keys, as Mastodon 4 answers."""

    routes = {
        r"GET /api/v2/instance": "instance",
        r"GET /api/v1/accounts/verify_credentials": "verify_credentials",
        r"GET /api/v1/accounts/([^/]+)/statuses": "account_statuses",
        r"POST /api/v1/statuses": "create_status",
        r"POST /api/v2/media": "upload_media",
        r"GET /api/v1/media/([^/]+)": "media",
    }
    token = "mastodon-token-Zq81"

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.max_characters: int | None = 500
        self.account = {"id": "109876", "username": "genevarights", "acct": "genevarights",
                        "display_name": "Geneva Rights Desk"}
        self.statuses: list[dict[str, Any]] = []  # newest first
        self.media_items: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}  # Idempotency-Key -> status id
        self.process_async = False  # uploads answer 202 and take `polls_until_ready` looks to be processed
        self.polls_until_ready = 0
        self.polls_left: dict[str, int] = {}
        self._ids = itertools.count(110_000_000_000_000_001)

    def _authorise(self, seen: Seen) -> None:
        if self.bearer(seen) != self.token:
            raise Refused(401, {"error": "The access token is invalid"})

    def instance(self, seen: Seen) -> tuple[int, Any]:
        configuration: dict[str, Any] = {"media_attachments": {"image_size_limit": 16_777_216}}
        if self.max_characters is not None:
            configuration["statuses"] = {"max_characters": self.max_characters, "characters_reserved_per_url": 23}
        return 200, {"domain": "127.0.0.1", "version": "4.3.0", "configuration": configuration}

    def verify_credentials(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        return 200, dict(self.account)

    def account_statuses(self, seen: Seen, account_id: str) -> tuple[int, Any]:
        self._authorise(seen)
        if account_id != self.account["id"]:
            raise Refused(404, {"error": "Record not found"})
        limit = seen.args.get("limit", "20")
        assert limit.isdigit() and 1 <= int(limit) <= 40, f"limit {limit!r} is not 1..40"
        return 200, self.statuses[: int(limit)]

    def upload_media(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        assert "file" in seen.files, f"no multipart 'file' (fields {sorted(seen.form)}, files {sorted(seen.files)})"
        data, kind = seen.files["file"]
        assert data and kind.startswith("image/"), f"file is {kind!r}, {len(data)} bytes"
        assert set(seen.form) <= {"description", "focus"}, f"unknown fields {sorted(seen.form)}"
        media_id = str(next(self._ids))
        ready = not self.process_async
        self.media_items[media_id] = {"id": media_id, "type": "image", "description": seen.form.get("description"),
                                      "url": f"{self.url}/system/{media_id}.jpg" if ready else None}
        self.polls_left[media_id] = 0 if ready else self.polls_until_ready
        return (200 if ready else 202), self.media_items[media_id]

    def media(self, seen: Seen, media_id: str) -> tuple[int, Any]:
        self._authorise(seen)
        if media_id not in self.media_items:
            raise Refused(404, {"error": "Record not found"})
        media = self.media_items[media_id]
        if media["url"] is None:
            if self.polls_left[media_id] > 0:
                self.polls_left[media_id] -= 1
                return 206, media
            media["url"] = f"{self.url}/system/{media_id}.jpg"
        return 200, media

    def create_status(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        key = seen.headers.get("Idempotency-Key", "")
        assert key, "no Idempotency-Key header"
        if key in self.keys:  # within the hour Mastodon answers the first status again
            return 200, next(s for s in self.statuses if s["id"] == self.keys[key])
        body = self.json_object(seen, {"status", "visibility", "language", "media_ids", "in_reply_to_id"}, {"status"})
        text = body["status"]
        parent = body.get("in_reply_to_id")
        if parent is not None and not any(s["id"] == parent for s in self.statuses):
            raise Refused(404, {"error": "Record not found"})
        assert isinstance(text, str) and text.strip(), "status is not a non-empty string"
        assert body.get("visibility", "public") in ("public", "unlisted", "private", "direct"), "bad visibility"
        assert re.fullmatch(r"[a-z]{2,3}", str(body.get("language", "en"))), "language is not ISO 639"
        media_ids = body.get("media_ids", [])
        assert isinstance(media_ids, list) and all(isinstance(m, str) for m in media_ids), \
            "media_ids is not a list of strings"
        attachments = []
        for media_id in media_ids:
            media = self.media_items.get(media_id)
            if media is None:
                raise Refused(422, {"error": "Validation failed: Media attachments is invalid"})
            if media["url"] is None:
                raise Refused(422, {"error": "Cannot attach files that have not finished processing. "
                                             "Try again in a moment!"})
            attachments.append(media)
        limit = self.max_characters or 500
        if mastodon_length(text) > limit:
            raise Refused(422, {"error": f"Validation failed: Text character limit of {limit} exceeded"})
        status_id = str(next(self._ids))
        status = {"id": status_id, "uri": f"{self.url}/users/genevarights/statuses/{status_id}",
                  "url": f"{self.url}/@genevarights/{status_id}", "content": self.render(text),
                  "visibility": body.get("visibility", "public"), "language": body.get("language"),
                  "media_attachments": attachments, "account": dict(self.account), "in_reply_to_id": parent}
        self.statuses.insert(0, status)
        self.keys[key] = status_id
        return 200, status

    def render(self, text: str) -> str:
        """The HTML Mastodon stores: paragraphs, <br />, links in invisible/ellipsis spans, hashtag links."""
        def inline(line: str) -> str:
            out, pos = [], 0
            for m in regex.finditer(rf"{URL.pattern}|{HASHTAG.pattern}", line):
                out.append(html.escape(line[pos:m.start()]))
                token = m.group()
                if token.startswith("#"):
                    out.append(f'<a href="{self.url}/tags/{html.escape(token[1:])}" class="mention hashtag" '
                               f'rel="tag">#<span>{html.escape(token[1:])}</span></a>')
                else:
                    scheme, rest = token.split("://", 1)
                    out.append(f'<a href="{html.escape(token)}" target="_blank" rel="nofollow noopener '
                               f'noreferrer"><span class="invisible">{scheme}://</span><span class="ellipsis">'
                               f'{html.escape(rest[:30])}</span><span class="invisible">'
                               f'{html.escape(rest[30:])}</span></a>')
                pos = m.end()
            return "".join(out) + html.escape(line[pos:])

        paragraphs = re.split(r"\n\s*\n", text.strip())
        return "".join("<p>" + "<br />".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


# --- Bluesky -------------------------------------------------------------------------------------------


class BlueskyServer(Service):
    """One account on a PDS: sessions (access tokens that expire, refresh tokens that rotate), records, blobs."""

    routes = {
        r"POST /xrpc/com\.atproto\.server\.createSession": "create_session",
        r"POST /xrpc/com\.atproto\.server\.refreshSession": "refresh_session",
        r"GET /xrpc/com\.atproto\.server\.getSession": "get_session",
        r"POST /xrpc/com\.atproto\.repo\.createRecord": "create_record",
        r"GET /xrpc/com\.atproto\.repo\.getRecord": "get_record",
        r"POST /xrpc/com\.atproto\.repo\.uploadBlob": "upload_blob",
    }
    handle_name = "genevarights.bsky.test"
    did = "did:plc:w4xbqhd2kfplm6nqzyl3ctes"
    password = "abcd-efgh-ijkl-mnop"

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.access: set[str] = set()
        self.expired: set[str] = set()
        self.refresh: set[str] = set()
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {uri, cid, value}
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self.logins = 0
        self.refreshes = 0
        self._tokens = itertools.count(1)

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": "InvalidRequest", "message": message}

    def expire_access_tokens(self) -> None:
        self.expired |= self.access
        self.access.clear()

    def expire_refresh_tokens(self) -> None:
        self.refresh.clear()

    def _tokens_pair(self) -> dict[str, Any]:
        n = next(self._tokens)
        access, refresh = f"eyJ.access-{n}.{hashlib.sha256(str(n).encode()).hexdigest()[:16]}", f"eyJ.refresh-{n}"
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle_name, "did": self.did,
                "active": True}

    def _authorise(self, seen: Seen) -> None:
        token = self.bearer(seen)
        if token in self.expired:
            raise Refused(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if token not in self.access:
            raise Refused(401, {"error": "InvalidToken", "message": "Token could not be verified"})

    def create_session(self, seen: Seen) -> tuple[int, Any]:
        body = self.json_object(seen, {"identifier", "password", "authFactorToken", "allowTakendown"},
                                {"identifier", "password"})
        assert all(isinstance(body[k], str) for k in ("identifier", "password")), "identifier/password not strings"
        self.logins += 1
        if body["identifier"] not in (self.handle_name, self.did) or body["password"] != self.password:
            raise Refused(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
        return 200, self._tokens_pair()

    def refresh_session(self, seen: Seen) -> tuple[int, Any]:
        token = self.bearer(seen)
        assert not seen.body, "refreshSession takes no body"
        if token in self.access:
            raise Refused(400, {"error": "InvalidToken", "message": "Invalid token type"})
        if token not in self.refresh:
            raise Refused(400, {"error": "ExpiredToken", "message": "Token has been revoked"})
        self.refresh.discard(token)  # refresh tokens rotate: each is good once
        self.refreshes += 1
        return 200, self._tokens_pair()

    def get_session(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        return 200, {"handle": self.handle_name, "did": self.did, "active": True}

    def upload_blob(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        kind = seen.headers.get("Content-Type", "")
        assert kind.startswith("image/"), f"Content-Type {kind!r} is not the image's type"
        assert seen.body, "empty blob"
        cid = "bafkrei" + hashlib.sha256(seen.body).hexdigest()[:52]
        self.blobs[cid] = (seen.body, kind)
        return 200, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": kind, "size": len(seen.body)}}

    def get_record(self, seen: Seen) -> tuple[int, Any]:
        if "Authorization" in seen.headers:
            self._authorise(seen)
        args = seen.args
        assert set(args) >= {"repo", "collection", "rkey"}, f"missing parameters in {sorted(args)}"
        assert args["repo"] in (self.did, self.handle_name), f"repo {args['repo']!r} is not the account"
        record = self.records.get(args["rkey"]) if args["collection"] == "app.bsky.feed.post" else None
        if record is None:
            uri = f"at://{self.did}/{args['collection']}/{args['rkey']}"
            raise Refused(400, {"error": "RecordNotFound", "message": f"Could not locate record: {uri}"})
        return 200, record

    def create_record(self, seen: Seen) -> tuple[int, Any]:
        self._authorise(seen)
        body = self.json_object(seen, {"repo", "collection", "rkey", "validate", "record", "swapCommit"},
                                {"repo", "collection", "record"})
        assert body["repo"] == self.did, f"repo {body['repo']!r} is not the session's DID"
        assert body["collection"] == "app.bsky.feed.post", f"collection {body['collection']!r}"
        rkey = body.get("rkey")
        assert isinstance(rkey, str) and TID.fullmatch(rkey), f"rkey {rkey!r} is not a TID"
        self.check_post(body["record"])
        if rkey in self.records:  # as the reference PDS does (bluesky-social/indigo#873): an internal error
            raise Refused(500, {"error": "InternalServerError", "message": "Internal Server Error"})
        uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
        cid = "bafyrei" + hashlib.sha256(json.dumps(body["record"], sort_keys=True).encode()).hexdigest()[:52]
        self.records[rkey] = {"uri": uri, "cid": cid, "value": body["record"]}
        return 200, {"uri": uri, "cid": cid, "commit": {"cid": cid, "rev": "3l5ksxuhyvk2a"},
                     "validationStatus": "valid"}

    def check_post(self, record: Any) -> None:
        """app.bsky.feed.post as its lexicon says, facets and embeds included."""
        assert isinstance(record, dict), "record is not an object"
        assert record.get("$type") == "app.bsky.feed.post", f"$type {record.get('$type')!r}"
        assert not set(record) - {"$type", "text", "facets", "createdAt", "langs", "embed", "reply", "tags",
                                  "labels"}, f"unknown record keys {sorted(record)}"
        text = record.get("text")
        assert isinstance(text, str), "text is not a string"
        assert len(regex.findall(r"\X", text)) <= 300 and len(text.encode()) <= 3000, "text too long"
        assert isinstance(record.get("createdAt"), str) and DATETIME.fullmatch(record["createdAt"]), \
            f"createdAt {record.get('createdAt')!r} is not like 2019-07-12T13:30:00.000Z"
        langs = record.get("langs", [])
        assert isinstance(langs, list) and len(langs) <= 3 and all(isinstance(x, str) for x in langs), "langs"
        encoded, end = text.encode(), -1
        for facet in record.get("facets", []):
            index = facet["index"]
            start, stop = index["byteStart"], index["byteEnd"]
            assert isinstance(start, int) and isinstance(stop, int) and end <= start < stop <= len(encoded), \
                f"facet range {start}..{stop} (text is {len(encoded)} bytes, previous facet ends at {end})"
            end = stop
            shown = encoded[start:stop].decode()  # raises if the range cuts a character
            [feature] = facet["features"]
            if feature["$type"] == "app.bsky.richtext.facet#tag":
                assert shown == "#" + feature["tag"], f"tag facet covers {shown!r}, not #{feature['tag']}"
            else:
                assert feature["$type"] == "app.bsky.richtext.facet#link", f"facet $type {feature['$type']!r}"
                uri = feature["uri"]
                assert URL.fullmatch(uri), f"link facet uri {uri!r}"
                assert shown.removesuffix("…") in uri, f"link facet covers {shown!r}, not part of {uri}"
        if "embed" in record:
            self.check_embed(record["embed"])
        if "reply" in record:  # root and parent, each a strong ref to a record that exists, as the AppView checks
            reply = record["reply"]
            assert isinstance(reply, dict) and set(reply) == {"root", "parent"}, f"reply {reply!r}"
            for ref in reply.values():
                assert isinstance(ref, dict) and set(ref) == {"uri", "cid"}, f"reply ref {ref!r}"
                found = self.records.get(str(ref["uri"]).rsplit("/", 1)[-1])
                assert found is not None and found["uri"] == ref["uri"] and found["cid"] == ref["cid"], \
                    f"reply ref {ref!r} names no record of this repo"

    def check_embed(self, embed: Any) -> None:
        kind = embed.get("$type") if isinstance(embed, dict) else None
        if kind == "app.bsky.embed.external":
            card = embed["external"]
            assert set(card) <= {"uri", "title", "description", "thumb"}, f"card keys {sorted(card)}"
            assert all(isinstance(card.get(k), str) for k in ("uri", "title", "description")), "card fields"
            if "thumb" in card:
                self.check_blob(card["thumb"])
        else:
            assert kind == "app.bsky.embed.images", f"embed $type {kind!r}"
            images = embed["images"]
            assert isinstance(images, list) and 1 <= len(images) <= 4, "1 to 4 images"
            for image in images:
                assert isinstance(image.get("alt"), str), "image without alt text"
                self.check_blob(image["image"])

    def check_blob(self, blob: Any) -> None:
        assert isinstance(blob, dict) and blob.get("$type") == "blob", f"not a blob: {blob!r}"
        cid = blob["ref"]["$link"]
        assert cid in self.blobs, f"blob {cid} was never uploaded"
        data, kind = self.blobs[cid]
        assert blob["mimeType"] == kind and blob["size"] == len(data), "blob ref does not match the upload"
        assert len(data) <= 1_000_000, "blob larger than 1,000,000 bytes"


S = TypeVar("S", bound=Service)


@contextmanager
def serving(kind: type[S]) -> Iterator[S]:
    """A fresh threaded server (a held answer must not block the next request) speaking `kind`'s protocol."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    service = kind(server)
    try:
        yield service
    finally:
        service.released.set()
        server.clear()
        server.stop()
    assert service.problems == [], f"requests of the wrong shape: {service.problems}"
