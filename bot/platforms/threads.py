"""Threads (Meta), between social (composing) and dispatch: its counting rules, its container's parameters, its api."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import regex
import requests
from twitter_text import extract_urls_with_indices  # already imported by the registry, its warning silenced there

from ..channels import Outcome, Outgoing, OutgoingPost, Sent, each_post, post_of
from ..channels import register as register_channel
from ..channels.http import TRANSIENT_STATUSES, call, excerpt, json_body, retry_after, session
from ..errors import ChannelAuthError, ChannelError, FinalChannelError, TransientChannelError, quoted
from ..setting_values import _base_url, _secret
from . import GRAPHEME, HASHTAG, Option, Platform, graphemes, register

if TYPE_CHECKING:
    from ..settings import Settings
    from ..social import Post

log = logging.getLogger("herald")
VERSION = "v1.0"
MAX_LINKS = 5  # since 22 December 2025 a container with more fails: THREADS_API__LINK_LIMIT_EXCEEDED
MAX_TOPIC = 50  # a topic tag has 1 to 50 characters, neither '.' nor '&' (HASHTAG matches neither)
RECENT = 20  # the account's latest posts read to find the id of one published while its answer was lost
# Seconds before each look at an image container (Threads fetches the picture itself, then says FINISHED). Short:
# a container still IN_PROGRESS after them is a transient failure, and the retry looks at that same container again.
STATUS_WAITS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
GONE = "GONE"  # not a Threads status: Threads no longer knows the container
RATE_LIMITED = {4, 17, 32, 613}  # Graph API codes for too many calls (app, user, page, custom)
TEMPORARY = {1, 2}  # Graph API "unknown" and "service": temporary, retried
# Graph API codes for a token refused (190, 102) or without a permission it needs (10, 200-299): nothing posts
# until a person fixes it, so the channel pauses.
REFUSED = {190, 102, 10, *range(200, 300)}
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")
_DIGITS = re.compile(r"[0-9]+")


@lru_cache(maxsize=4096)
def threads_length(text: str) -> int:
    """As Threads counts toward 500: a character is a grapheme cluster (Meta's docs point at grapheme-splitter),
    except that an emoji counts its UTF-8 bytes (a face 4, a flag 8, a family of three 18). A cluster holding any
    pictographic or flag character counts as an emoji: counting more than Threads is safe, less is refused."""
    if text.isascii():  # no emoji, and each character a cluster of its own but CR LF
        return graphemes(text)
    return sum(len(c.encode()) if _EMOJI.search(c) else 1 for c in GRAPHEME.findall(text))


@lru_cache(maxsize=4096)
def threads_links(text: str) -> int:
    """Distinct URLs in the text, each counted once however often it appears, as Threads counts them. twitter-text
    also finds them without a scheme (www.example.org), as Meta's own examples count them."""
    return len({found["url"] for found in extract_urls_with_indices(text)})


def topic_tag(text: str, campaign_tags: tuple[str, ...] = ()) -> str | None:
    """The post's one topic tag: the item's campaign's first hashtag (composing puts the active campaign's tags on
    the post), else the first #hashtag of its text, as long as Threads accepts it as a topic. The hashtag stays in
    the text, as on every other network."""
    candidates = [*campaign_tags[:1], *(m.group(1) for m in HASHTAG.finditer(text))]
    return next((tag for tag in candidates if 0 < len(tag) <= MAX_TOPIC and not set(tag) & {".", "&"}), None)


def _user_id(raw: str) -> str:
    value = raw.strip()
    if value and not _DIGITS.fullmatch(value):
        raise ValueError(f"{quoted(raw)} is not a Threads user id: digits only (the id of GET /v1.0/me)")
    return value


@dataclass(frozen=True, slots=True)
class ThreadsRules(Platform):
    name = "threads"
    title = "Threads"
    order = 50
    colour = "#000000"
    default_backend = "off"
    reply_field = "reply_to_id"
    options = (
        Option("THREADS_USER_ID", "user_id", _user_id, required=True),
        Option("THREADS_ACCESS_TOKEN", "access_token", _secret, secret=True, required=True),
        Option("THREADS_BASE_URL", "base_url", _base_url, "https://graph.threads.net"),
    )
    fix = ("make a long-lived Threads user access token with threads_basic and threads_content_publish (your Meta app, "
           "Threads use case; it lasts 60 days unless refreshed), and check THREADS_USER_ID")
    payload_is = ("the parameters of POST /{user-id}/threads (a container), then published with "
                  "POST /{user-id}/threads_publish")
    max_links: int = MAX_LINKS

    def measure(self, text: str) -> int:
        return threads_length(text)

    def fits(self, text: str) -> bool:
        # Both rules here, so that compose shortens a post with too many links as it does a long one.
        return threads_length(text) <= self.limit and threads_links(text) <= self.max_links

    def why_not(self, text: str) -> str | None:
        links = threads_links(text)
        return f"has {links} different links; Threads takes at most {self.max_links}" if links > self.max_links \
            else None

    def link_length(self, link: str) -> int:
        return threads_length(link)  # a link counts as its characters: Threads shortens none

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"media_type": "TEXT", "text": post.text}
        tag = topic_tag(post.text, post.campaign_tags)
        if tag:
            body["topic_tag"] = tag
        return body

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        if not image:
            return []
        return [("media_type", "IMAGE instead of TEXT", "the post carries the picture"),
                ("image_url", "the picture's public address", "Threads fetches the picture itself from there"),
                ("alt_text", "the picture's alt text", "sent with the container")]


register(ThreadsRules(500))


def comparable(text: str) -> str:
    return " ".join(text.split())


class Threads:
    """The api backend: each post a container, recorded in the ledger, then published."""

    name = "api"
    kind = "threads"
    batch_size = 1
    limit: int | None = None  # Threads' 500 is fixed: social.py already counts it

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.base = f"{settings.option('threads', 'base_url')}/{VERSION}"
        self.user_id: str = settings.option("threads", "user_id")
        self.http = session()  # Threads only: Herald never fetches the picture, Threads does
        self.sleep = sleep  # between looks at a container: a test gives its own

    # --- the protocol -------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return each_post(messages, self.kind, self._publish)

    def reconcile(self, message: Outgoing) -> Outcome | None:
        post = post_of(message, self.kind)
        container = post.steps.get("container")
        if not container:
            return None  # no container recorded: none was published (publishing comes after the record)
        state, _ = self._status(container)
        # Anything but PUBLISHED is not on Threads yet: the hand-over publishes that container, or a new one.
        return Sent(self._published_id(post, container)) if state == "PUBLISHED" else None

    def check(self) -> str:
        me = self._call("GET", "/me", "reading the account", params={"fields": "id,username"})
        found, username = str(me.get("id", "")), me.get("username", "?")
        if found != self.user_id:  # every post would be refused: say so before a run finds out
            raise FinalChannelError(f"THREADS_USER_ID is {self.user_id}, but the token is @{username}'s ({found})")
        return f"@{username} ({found})"

    def close(self) -> None:
        self.http.close()

    # --- the two steps --------------------------------------------------------------------------------

    def _publish(self, message: OutgoingPost) -> str:
        container = message.steps.get("container")
        state: str | None = None
        if container:  # a retry: this container may be waiting, published, or gone
            state, _ = self._status(container)
            if state == "PUBLISHED":
                return self._published_id(message, container)
            if state in ("EXPIRED", "ERROR", GONE):
                log.info("threads: container %s of %s is %s: making a new one", container, message.item, state)
                container = None
        if not container:
            container = self._create(message)
            # Recorded before publishing: a run that dies now leaves it in the ledger, and the retry publishes it
            # rather than making a second post.
            message.remember("container", container)
            state = None
        if state == "IN_PROGRESS" or (state is None and message.image):
            self._wait_until_finished(container)
        published = self._call("POST", f"/{self.user_id}/threads_publish", "publishing",
                               data={"creation_id": container})
        return self._id_of(published, "publishing")

    def _create(self, message: OutgoingPost) -> str:
        params = dict(message.payload)
        if message.reply_to:  # a part of a reply thread answers the part before it
            params["reply_to_id"] = message.reply_to
        if message.image:  # the item's picture at its public address: Threads fetches it itself
            params.update(media_type="IMAGE", image_url=message.image)
            if message.image_alt:
                params["alt_text"] = message.image_alt
        return self._id_of(self._call("POST", f"/{self.user_id}/threads", "making the container", data=params),
                           "making the container")

    def _status(self, container: str) -> tuple[str, str]:
        """(status, error message) of a container; GONE when Threads says it does not know it."""
        try:
            found = self._call("GET", f"/{container}", "reading the container",
                               params={"fields": "status,error_message"})
        except FinalChannelError:
            return GONE, ""
        return str(found.get("status") or ""), str(found.get("error_message") or "")

    def _wait_until_finished(self, container: str) -> None:
        """A container is published only once FINISHED: Threads has fetched and checked the picture by then."""
        for pause in STATUS_WAITS:
            self.sleep(pause)
            state, error = self._status(container)
            if state == "FINISHED":
                return
            if state != "IN_PROGRESS":  # ERROR (the picture could not be used), EXPIRED or GONE: this one never will
                raise FinalChannelError(self._clean(f"Threads: the container is {state}: {error or 'no reason given'}"))
        raise TransientChannelError(f"Threads: the container is still IN_PROGRESS after {sum(STATUS_WAITS):g} s "
                                    "(the retry publishes the same one)")

    def _published_id(self, message: OutgoingPost, container: str) -> str:
        """The id of the post a PUBLISHED container became, from the account's latest posts: one with our text,
        not older than the first hand-over; the container's own id when it cannot be found."""
        # A minute of leeway for the two clocks; an older post with the same words is another post.
        since = message.first_attempt.timestamp() - 60 if message.first_attempt else None
        try:
            found = self._call("GET", f"/{self.user_id}/threads", "reading the latest posts",
                               params={"fields": "id,text,timestamp", "limit": RECENT})
        except FinalChannelError as exc:
            log.warning("threads: %s is published, but its post cannot be read: %s", message.item, exc)
            return container
        wanted = comparable(str(message.payload.get("text", "")))
        for media in found.get("data") or []:
            if not isinstance(media, dict) or not media.get("id") or comparable(str(media.get("text", ""))) != wanted:
                continue
            posted = _timestamp(media.get("timestamp"))
            if since is None or posted is None or posted >= since:
                return str(media["id"])
        log.warning("threads: %s is published, but not among the %d latest posts: recorded as container %s",
                    message.item, RECENT, container)
        return container

    # --- calls ------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
              data: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Graph API call, the token as a parameter (in the form body of a POST, never in its URL); an error
        answer becomes the class its Graph error code calls for, in Threads' own words without the token."""
        token = self.settings.option("threads", "access_token").reveal()
        if method == "GET":
            params = {**(params or {}), "access_token": token}
        else:
            data = {**(data or {}), "access_token": token}
        answers: list[requests.Response] = []
        try:
            response = call(self.http, method, self.base + path, f"Threads: {what}", self.settings, params=params,
                            data=data, hooks={"response": lambda answer, **_: answers.append(answer)})
        except ChannelError:
            if not answers:  # no answer (a timeout, a refused connection): transient, and it names no parameter
                raise
            raise self._translate(answers[-1], what) from None
        found = json_body(response, f"Threads: {what}")
        if not isinstance(found, dict):  # the Graph API answers objects: anything else is a fault of the moment
            raise TransientChannelError(f"Threads: {what}: the answer is not a JSON object")
        return found

    def _translate(self, answer: requests.Response, what: str) -> ChannelError:
        """Graph API errors travel as HTTP 400 mostly, whatever they mean: the code says what to do."""
        error = _error_of(answer)
        code, status = error.get("code"), answer.status_code
        said = [str(error[k]) for k in ("message", "error_user_title", "error_user_msg") if error.get(k)]
        if isinstance(code, str):  # a named code (THREADS_API__LINK_LIMIT_EXCEEDED) says the most
            said.append(code)
        numbers = ", ".join(f"{k} {error[k]}" for k in ("code", "error_subcode") if isinstance(error.get(k), int))
        words = "; ".join(dict.fromkeys(said)) or answer.reason or "no reason given"
        text = self._clean(excerpt(f"Threads: {what}: HTTP {status}: {words}" + (f" ({numbers})" if numbers else "")))
        if code in REFUSED or status == 401 or (code is None and status == 403):
            return ChannelAuthError(text)
        if code in RATE_LIMITED or status == 429:
            return TransientChannelError(text, retry_after(answer))
        if code in TEMPORARY or error.get("is_transient") is True or status in TRANSIENT_STATUSES or status >= 500:
            return TransientChannelError(text, retry_after(answer) if "Retry-After" in answer.headers else None)
        return FinalChannelError(text)

    def _clean(self, text: str) -> str:
        """No token in what is stored, shown or logged, even should a server repeat it."""
        return self.settings.redact(text)

    @staticmethod
    def _id_of(answer: dict[str, Any], what: str) -> str:
        if not answer.get("id"):
            raise TransientChannelError(f"Threads: {what}: the answer holds no id")
        return str(answer["id"])


def _error_of(answer: requests.Response) -> dict[str, Any]:
    """The `error` object of a Graph API error answer: {"error": {"message", "type", "code", "error_subcode", ...}}."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _timestamp(value: Any) -> float | None:
    """Threads' timestamps, such as 2019-07-12T13:30:05+0000, as epoch seconds."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


@register_channel("threads", "api")
def open_threads(settings: Settings, kind: str) -> Threads:
    return Threads(settings)
