"""A local LinkedIn on 127.0.0.1: one organisation page's Posts and Images APIs, as documented, checked strictly.

Every call to the versioned API must carry the bearer token, `Linkedin-Version: YYYYMM` (a retired one is answered
426), `X-Restli-Protocol-Version: 2.0.0` and `Content-Type: application/json`; bodies are checked key by key. The
commentary is read as LinkedIn's little text: a reserved character that is not escaped, and not part of a URL or
a hashtag, is where LinkedIn would cut the published post (it answers 201 all the same), so it is noted in
`problems`, which `serving` requires to be empty. Created posts answer 201 with the URN in `x-restli-id`; the author
finder gives them back newest first, hashtags written as the HashtagTemplate.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import regex
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .social_servers import Refused, Seen, Service

RESERVED = "\\|{}@[]()<>#*_~"  # learn.microsoft.com, "little Text Format"
LINK = regex.compile(r"https?://[^\s<>\"\\]+")
TRAILING = ".,;:!?'\""  # ends a sentence rather than the URL
TAG_BODY = regex.compile(r"[\p{L}\p{M}\p{N}_]+")
NOT_BEFORE_TAG = regex.compile(r"[\p{L}\p{N}_#]")
VERSION = regex.compile(r"\d{6}")
POST_KEYS = {"author", "commentary", "visibility", "distribution", "lifecycleState", "isReshareDisabledByAuthor"}
DISTRIBUTION = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}
MAX_COMMENTARY = 3000


@dataclass
class Reading:
    """A commentary as LinkedIn reads it: what a reader sees, its hashtags and links, and where it would be cut."""

    text: str = ""
    stored: str = ""  # as a read gives it back: hashtags as {hashtag|\#|tag}
    hashtags: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_little(commentary: str) -> Reading:
    """Parse little text from the left: escapes, URLs, hashtags, plain characters; stop at a bare reserved one."""
    seen, stored, reading, i = [], [], Reading(), 0
    while i < len(commentary):
        char = commentary[i]
        if char == "\\":
            escaped = commentary[i + 1:i + 2]
            if not escaped or escaped not in RESERVED:
                reading.problems.append(f"a backslash at {i} escapes nothing: LinkedIn would cut the post there")
                break
            seen.append(escaped)
            stored.append(char + escaped)
            i += 2
            continue
        link = LINK.match(commentary, i)
        url = link.group().rstrip(TRAILING) if link else ""
        if len(url) > len("https://"):
            seen.append(url)
            stored.append(url)
            reading.links.append(url)
            i += len(url)
            continue
        body = TAG_BODY.match(commentary, i + 1) if char == "#" else None
        if body and not (seen and NOT_BEFORE_TAG.match(seen[-1][-1])):
            seen.append("#" + body.group())
            stored.append("{hashtag|\\#|" + body.group() + "}")
            reading.hashtags.append(body.group())
            i = body.end()
            continue
        if char in RESERVED:
            reading.problems.append(f"a bare {char} at {i}: LinkedIn would publish the post cut there")
            break
        seen.append(char)
        stored.append(char)
        i += 1
    reading.text, reading.stored = "".join(seen), "".join(stored)
    return reading


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Created:
    """An answer without a body, its news in headers: 201 and x-restli-id."""

    headers: dict[str, str]


def header(seen: Seen, name: str) -> str:
    return next((v for k, v in seen.headers.items() if k.lower() == name.lower()), "")


class LinkedInServer(Service):
    """An organisation page: its posts (newest first) and its uploaded images."""

    routes = {
        r"POST /rest/posts": "create_post",
        r"GET /rest/posts": "find_posts",
        r"POST /rest/images": "initialize_upload",
        r"PUT /dms-uploads/([A-Za-z0-9]+)": "upload_image",
    }
    token = "AQVhl-linkedin-token-8f3Kq2Zx"
    author = "urn:li:organization:2414183"
    retired_before = "202512"  # as in November 2026: 202511 and older are no longer served

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.posts: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # image URN -> {"key", "data", "kind"}
        self.readings: list[Reading] = []  # each created post's commentary, as read
        self._ids = itertools.count(7_150_000_000_000_000_001)
        self._query = threading.local()  # each request is served in its own thread
        self.upload_base = self.url  # where initializeUpload sends the bytes (LinkedIn: www.linkedin.com)

    def handle(self, request: Request) -> Response:
        self._query.raw = request.query_string.decode("latin-1")
        return super().handle(request)

    def error_body(self, message: str) -> dict[str, Any]:
        return {"status": 400, "code": "BAD_REQUEST", "message": message}

    def _json(self, body: Any, status: int, headers: dict[str, str] | None = None) -> Response:  # type: ignore[override]
        if isinstance(body, Created):
            return Response(b"", status=status, headers={**body.headers, **(headers or {})})
        return Service._json(body, status, headers)

    # --- what every call must carry ---------------------------------------------------------------

    def _api(self, seen: Seen) -> None:
        assert header(seen, "X-Restli-Protocol-Version") == "2.0.0", "no X-Restli-Protocol-Version: 2.0.0"
        assert header(seen, "Content-Type").split(";")[0] == "application/json", "no Content-Type: application/json"
        version = header(seen, "Linkedin-Version")
        assert VERSION.fullmatch(version), f"Linkedin-Version {version!r} is not YYYYMM"
        if self.bearer(seen) != self.token:
            raise Refused(401, {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                                "message": "Invalid access token"})
        if version < self.retired_before:
            raise Refused(426, {"status": 426, "code": "NONEXISTENT_VERSION",
                                "message": f"Requested version {version} is not active"})

    def _page(self, urn: Any) -> None:
        if urn != self.author:
            raise Refused(403, {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
                                "message": f"Not enough permissions to act as {urn}"})

    # --- Posts API --------------------------------------------------------------------------------

    def create_post(self, seen: Seen) -> tuple[int, Any]:
        self._api(seen)
        assert not seen.args, f"query {seen.args}"
        body = self.json_object(seen, POST_KEYS | {"content"}, POST_KEYS)
        self._page(body["author"])
        assert body["visibility"] == "PUBLIC", f"visibility {body['visibility']!r}"
        assert body["distribution"] == DISTRIBUTION, f"distribution {body['distribution']!r}"
        assert body["lifecycleState"] == "PUBLISHED", f"lifecycleState {body['lifecycleState']!r}"
        assert body["isReshareDisabledByAuthor"] is False, "isReshareDisabledByAuthor is not false"
        commentary = body["commentary"]
        assert isinstance(commentary, str) and commentary.strip(), "commentary is not a non-empty string"
        if utf16(commentary) > MAX_COMMENTARY:
            raise Refused(422, {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                                "message": f"/commentary: length {utf16(commentary)} exceeds {MAX_COMMENTARY}"})
        if "content" in body:
            self.check_content(body["content"])
        reading = read_little(commentary)
        self.problems += [f"POST /rest/posts: {problem}" for problem in reading.problems]
        self.readings.append(reading)
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts.insert(0, {"id": urn, "author": body["author"], "commentary": reading.stored,
                              "visibility": "PUBLIC", "distribution": DISTRIBUTION, "lifecycleState": "PUBLISHED",
                              "isReshareDisabledByAuthor": False, **({"content": body["content"]}
                                                                     if "content" in body else {})})
        return 201, Created({"x-restli-id": urn})

    def check_content(self, content: Any) -> None:
        assert isinstance(content, dict) and len(content) == 1, f"content {content!r} is not one kind of content"
        if "article" in content:
            article = content["article"]
            assert isinstance(article, dict) and {"source", "title"} <= set(article) <= \
                {"source", "title", "description", "thumbnail"}, f"article keys {sorted(article)}"
            assert isinstance(article["source"], str) and LINK.fullmatch(article["source"]), "source is not a URL"
            assert all(isinstance(article.get(k, ""), str) for k in ("title", "description")), "title, description"
            if "thumbnail" in article:
                self.check_image(article["thumbnail"])
        else:
            media = content.get("media")
            assert isinstance(media, dict) and "id" in media and set(media) <= {"id", "altText"}, f"content {content}"
            assert isinstance(media.get("altText", ""), str), "altText is not a string"
            self.check_image(media["id"])

    def check_image(self, urn: Any) -> None:
        upload = self.uploads.get(urn) if isinstance(urn, str) else None
        if upload is None or upload["data"] is None:
            raise Refused(422, {"status": 422, "code": "UNPROCESSABLE_ENTITY",
                                "message": f"Image {urn} is not uploaded"})

    def find_posts(self, seen: Seen) -> tuple[int, Any]:
        self._api(seen)
        assert header(seen, "X-RestLi-Method") == "FINDER", "no X-RestLi-Method: FINDER"
        assert seen.args.get("q") == "author" and "author" in seen.args, f"not the author finder: {seen.args}"
        assert set(seen.args) <= {"author", "q", "count", "start", "sortBy"}, f"parameters {sorted(seen.args)}"
        assert "author=urn%3Ali%3Aorganization%3A" in self._query.raw, f"author not encoded: {self._query.raw}"
        count = seen.args.get("count", "10")
        assert count.isdigit() and 1 <= int(count) <= 100, f"count {count!r} is not 1..100"
        self._page(seen.args["author"])
        return 200, {"paging": {"start": 0, "count": int(count), "links": [], "total": len(self.posts)},
                     "elements": self.posts[:int(count)]}

    # --- Images API -------------------------------------------------------------------------------

    def initialize_upload(self, seen: Seen) -> tuple[int, Any]:
        self._api(seen)
        assert seen.args == {"action": "initializeUpload"}, f"query {seen.args}"
        body = self.json_object(seen, {"initializeUploadRequest"}, {"initializeUploadRequest"})
        request = body["initializeUploadRequest"]
        assert isinstance(request, dict) and set(request) == {"owner"}, f"initializeUploadRequest {request!r}"
        self._page(request["owner"])
        key = f"D4E10AQ{next(self._ids)}"
        urn = f"urn:li:image:{key}"
        self.uploads[urn] = {"key": key, "data": None, "kind": ""}
        return 200, {"value": {"uploadUrlExpiresAt": 1_900_000_000_000,
                               "uploadUrl": f"{self.upload_base}/dms-uploads/{key}", "image": urn}}

    def upload_image(self, seen: Seen, key: str) -> tuple[int, Any]:
        if header(seen, "Host") != self.url.removeprefix("http://"):  # another host than the API's own
            assert not header(seen, "Authorization"), "the token went to another host than LinkedIn's"
        elif self.bearer(seen) != self.token:  # the documented upload sends the same bearer token
            raise Refused(401, {"status": 401, "message": "Invalid access token"})
        upload = next((u for u in self.uploads.values() if u["key"] == key), None)
        if upload is None:
            raise Refused(404, {"status": 404, "message": "No such upload"})
        kind = header(seen, "Content-Type")
        assert seen.body and kind.startswith("image/"), f"upload of {len(seen.body)} bytes as {kind!r}"
        upload["data"], upload["kind"] = seen.body, kind
        return 201, Created({})
