"""A local Threads Graph API on 127.0.0.1: the calls Herald's Threads backend makes, checked as Meta documents them.

One account, its containers and its posts, as graph.threads.net keeps them: POST /v1.0/{user-id}/threads makes a
container (TEXT is FINISHED at once; for IMAGE the server "fetches" the picture from the images it serves, then
answers IN_PROGRESS to `polls_until_finished` looks before FINISHED), GET /v1.0/{container-id}?fields=status,
error_message says where it is, POST /v1.0/{user-id}/threads_publish publishes a FINISHED one once,
GET /v1.0/{user-id}/threads lists the posts, newest first, and GET /v1.0/me names the account. Parameters come as
the Graph API takes them (query string or form body, the token as `access_token`); a wrong token gets error 190 with
HTTP 400, as Graph answers; a text over 500 (emoji counted as their UTF-8 bytes) or with more than 5 distinct links
is refused as Threads refuses it.
`stall_publish` holds the next publish before it takes effect and sets `publish_stalled`, so that a test can kill
the client between the two steps.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import regex
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from .social_servers import HELD_FOR, Refused, Seen, Service

CREATE = {"access_token", "media_type", "text", "image_url", "alt_text", "topic_tag", "reply_to_id", "reply_control",
          "is_carousel_item", "allowlisted_country_codes", "link_attachment", "quote_post_id"}
POST_FIELDS = {"id", "media_product_type", "media_type", "media_url", "permalink", "owner", "username", "text",
               "timestamp", "shortcode", "thumbnail_url", "children", "is_quote_post", "alt_text", "topic_tag"}
LINK = regex.compile(r"(?:https?://|www\.)[^\s<>\"]+?(?=[.,;:!?'\")\]]*(?:\s|$))")
EMOJI = regex.compile(r"\p{Emoji_Presentation}|\p{Extended_Pictographic}|\p{Regional_Indicator}")


def graph_error(code: int, message: str, subcode: int | None = None, **more: Any) -> dict[str, Any]:
    """A Graph API error body: {"error": {message, type, code, error_subcode, fbtrace_id, ...}}."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC1dEf2GhI3"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": {**error, **more}}


def length(text: str) -> int:
    """Threads' count: grapheme clusters, an emoji counting its UTF-8 bytes."""
    return sum(len(c.encode()) if EMOJI.search(c) else 1 for c in regex.findall(r"\X", text))


def links(text: str) -> set[str]:
    return set(LINK.findall(text))


def unknown(what: str, object_id: str) -> Refused:
    return Refused(400, graph_error(100, f"Unsupported {what} request. Object with ID '{object_id}' does not exist, "
                                    "cannot be loaded due to missing permissions, or does not support this "
                                    "operation.", 33))


class ThreadsServer(Service):
    routes = {
        r"POST /v1\.0/(\d+)/threads": "create_container",
        r"POST /v1\.0/(\d+)/threads_publish": "publish",
        r"GET /v1\.0/(\d+)/threads": "user_threads",
        r"GET /v1\.0/me": "me",
        r"GET /v1\.0/(\d+)": "container",
    }
    token = "THAAtoken-5fQ2wZ8kLr3Vx9Nc"
    user_id = "17841400123456789"
    username = "genevarights"

    def __init__(self, server: HTTPServer) -> None:
        super().__init__(server)
        self.containers: dict[str, dict[str, Any]] = {}  # id -> status, error_message, params, polls_left
        self.posts: list[dict[str, Any]] = []  # newest first: id, text, timestamp, media_type, topic_tag, container
        self.fetched: list[str] = []  # pictures Threads fetched itself
        self.polls_until_finished = 0
        self.stall_publish = False
        self.publish_stalled = threading.Event()  # a publish arrived and is held before it takes effect
        self.unstall = threading.Event()
        self._containers = itertools.count(18_045_000_000_000_001)
        self._media = itertools.count(17_990_000_000_000_001)

    def error_body(self, message: str) -> dict[str, Any]:
        return graph_error(100, message)

    def handle(self, request: Request) -> Response:
        if self.stall_publish and request.method == "POST" and request.path.endswith("/threads_publish"):
            self.stall_publish = False
            self.publish_stalled.set()
            self.unstall.wait(HELD_FOR)  # the test kills the client meanwhile; the publish never takes effect
            return self._json(graph_error(2, "Service temporarily unavailable", is_transient=True), 503)
        return super().handle(request)

    # --- what a test changes ----------------------------------------------------------------------------

    def expire(self, container: str) -> None:
        self.containers[container]["status"] = "EXPIRED"  # not published within 24 hours

    def forget(self, container: str) -> None:
        del self.containers[container]

    def published(self) -> list[str]:
        """The containers published, oldest first."""
        return [post["container"] for post in reversed(self.posts)]

    # --- parameters and the token ---------------------------------------------------------------------

    def params(self, seen: Seen, allowed: set[str]) -> dict[str, str]:
        """The request's parameters from the query string and the form body, each given once."""
        form: dict[str, str] = {}
        if seen.body:
            kind = seen.headers.get("Content-Type", "").split(";")[0]
            assert kind == "application/x-www-form-urlencoded", f"body of type {kind!r}, not a form"
            pairs = parse_qsl(seen.body.decode(), keep_blank_values=True, strict_parsing=True)
            assert len(pairs) == len(dict(pairs)), "a form parameter given twice"
            form = dict(pairs)
            seen.form = form
        twice = set(form) & set(seen.args)
        assert not twice, f"given both in the query and the form: {sorted(twice)}"
        found = {**seen.args, **form}
        assert not set(found) - allowed, f"unknown parameters {sorted(set(found) - allowed)}"
        if found.get("access_token") != self.token:
            raise Refused(400, graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
        return found

    def fields(self, found: dict[str, str], allowed: set[str]) -> list[str]:
        asked = [f for f in found.get("fields", "id").split(",") if f]
        assert asked and not set(asked) - allowed, f"fields {asked} not among {sorted(allowed)}"
        return asked

    def user(self, user_id: str, what: str) -> None:
        if user_id != self.user_id:
            raise unknown(what, user_id)

    # --- the endpoints ----------------------------------------------------------------------------------

    def me(self, seen: Seen) -> tuple[int, Any]:
        asked = self.fields(self.params(seen, {"access_token", "fields"}), {"id", "username", "name"})
        account = {"id": self.user_id, "username": self.username, "name": "Geneva Rights Desk"}
        return 200, {f: account[f] for f in ["id", *asked]}

    def create_container(self, seen: Seen, user_id: str) -> tuple[int, Any]:
        found = self.params(seen, CREATE)
        self.user(user_id, "post")
        kind, text = found.get("media_type"), found.get("text", "")
        assert kind in ("TEXT", "IMAGE"), f"media_type {kind!r} (Herald makes TEXT and IMAGE containers only)"
        if kind == "TEXT":
            assert text.strip(), "text is required for media_type=TEXT"
            assert not {"image_url", "alt_text"} & set(found), "image_url or alt_text on a TEXT container"
        else:
            parts = urlsplit(found.get("image_url", ""))
            assert parts.scheme in ("http", "https") and parts.netloc, "image_url is required for media_type=IMAGE"
        tag = found.get("topic_tag")
        if tag is not None and not (1 <= len(tag) <= 50 and "." not in tag and "&" not in tag):
            raise Refused(400, graph_error(100, "Invalid parameter", 2207052,
                                           error_user_msg="A topic tag has 1 to 50 characters, without . or &"))
        if length(text) > 500:
            raise Refused(400, graph_error(100, "Param text must be at most 500 characters long."))
        parent = found.get("reply_to_id")
        if parent is not None and not any(post["id"] == parent for post in self.posts):
            raise Refused(400, graph_error(100, "Invalid parameter", error_user_msg="reply_to_id names no post"))
        if len(links(text)) > 5:
            raise Refused(400, graph_error(100, "THREADS_API__LINK_LIMIT_EXCEEDED", 4279013,
                                           error_user_msg="Posts can't have more than 5 links."))
        container = str(next(self._containers))
        state = {"status": "FINISHED", "error_message": None, "params": found, "polls_left": 0}
        if kind == "IMAGE":  # Threads fetches the picture from its address: here, one this server serves
            parts = urlsplit(found["image_url"])
            if f"{parts.scheme}://{parts.netloc}" == self.url and parts.path in self.images:
                self.fetched.append(found["image_url"])  # checked then: FINISHED after that many looks
                state.update(status="IN_PROGRESS", polls_left=self.polls_until_finished)
            else:
                state.update(status="ERROR", error_message="UNKNOWN")
        self.containers[container] = state
        return 200, {"id": container}

    def container(self, seen: Seen, container: str) -> tuple[int, Any]:
        asked = self.fields(self.params(seen, {"access_token", "fields"}), {"id", "status", "error_message"})
        if container not in self.containers:
            raise unknown("get", container)
        state = self.containers[container]
        if state["status"] == "IN_PROGRESS" and state["polls_left"] > 0:
            state["polls_left"] -= 1
        elif state["status"] == "IN_PROGRESS":
            state["status"] = "FINISHED"
        answer = {"id": container, "status": state["status"], "error_message": state["error_message"]}
        return 200, {f: answer[f] for f in ["id", *asked] if answer[f] is not None}

    def publish(self, seen: Seen, user_id: str) -> tuple[int, Any]:
        found = self.params(seen, {"access_token", "creation_id"})
        self.user(user_id, "post")
        container = found.get("creation_id", "")
        state = self.containers.get(container)
        if state is None:
            raise Refused(400, graph_error(24, "The requested resource does not exist", 4279009,
                                           error_user_title="Media Not Found"))
        if state["status"] == "IN_PROGRESS":
            raise Refused(400, graph_error(9007, "The media is not ready for publishing, please wait for a moment",
                                           2207027))
        if state["status"] != "FINISHED":  # EXPIRED, ERROR, or PUBLISHED already: Herald must never ask
            raise Refused(400, graph_error(100, f"The container is {state['status']} and cannot be published",
                                           4279016))
        media = str(next(self._media))
        params = state["params"]
        self.posts.insert(0, {
            "id": media, "text": params.get("text", ""), "container": container, "topic_tag": params.get("topic_tag"),
            "media_type": "TEXT_POST" if params["media_type"] == "TEXT" else "IMAGE",
            "alt_text": params.get("alt_text"), "username": self.username,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")})
        state["status"] = "PUBLISHED"
        return 200, {"id": media}

    def user_threads(self, seen: Seen, user_id: str) -> tuple[int, Any]:
        found = self.params(seen, {"access_token", "fields", "limit", "since", "until", "before", "after"})
        self.user(user_id, "get")
        asked = self.fields(found, POST_FIELDS)
        limit = found.get("limit", "25")
        assert limit.isdigit() and 1 <= int(limit) <= 100, f"limit {limit!r} is not 1..100"
        data = [{f: post[f] for f in ["id", *asked] if post.get(f) is not None} for post in self.posts[: int(limit)]]
        return 200, {"data": data, "paging": {"cursors": {"before": "QVFIUmxtX0", "after": "QVFIUnpYc2"}}}
