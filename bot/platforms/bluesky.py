"""Bluesky: how it counts a post (300 graphemes), links and tags as facets, and its backend (BOT_BLUESKY_BACKEND=api).

Dispatch hands the backend each post, which it writes as a record on the PDS.

Each post is an app.bsky.feed.post record under a record key that Herald derives from the item, so a
repeat is recognisable: before a retry (and when a create fails) getRecord says whether it is there.
The login session lives in BOT_STATE_DIR/bluesky-session.json (mode 0600, tokens only): it is refreshed
when its access token expires, and a new login happens only when that fails (logins are rate-limited).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from ..channels import Outcome, Outgoing, OutgoingPost, Sent, each_post, post_of
from ..channels import register as register_channel
from ..channels.http import call, json_body, post_image, session
from ..errors import ChannelAuthError, ChannelError, FinalChannelError, TransientChannelError
from ..platform_languages import ACCOUNT
from ..setting_values import _base_url, _secret, _text
from . import GRAPHEME, HASHTAG, PROSE_URL, Layout, Option, Platform, graphemes, register

if TYPE_CHECKING:
    from ..settings import Settings
    from ..social import Post

log = logging.getLogger("herald")
SESSION_FILE = "bluesky-session.json"
POST = "app.bsky.feed.post"
MAX_BLOB = 1_000_000  # app.bsky.embed.external thumb and app.bsky.embed.images image: maxSize
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
ELLIPSIS = "…"
LINK = "app.bsky.richtext.facet#link"


@dataclass(frozen=True, slots=True)
class BlueskyRules(Platform):
    name = "bluesky"
    title = "Bluesky"
    order = 30
    colour = "#0560c9"
    options = (
        Option("BLUESKY_SERVICE", "service", _base_url, "https://bsky.social"),
        Option("BLUESKY_HANDLE", "handle", _text, required=True),
        Option("BLUESKY_APP_PASSWORD", "app_password", _secret, secret=True, required=True),
    )
    fix = "create an app password at https://bsky.app/settings/app-passwords and check BLUESKY_HANDLE"
    payload_is = ("the `record` of com.atproto.repo.createRecord, sent with the account's `repo` (its DID), "
                  "`collection` app.bsky.feed.post and an `rkey` made from the item and the first attempt")
    reply_field = "reply"
    max_tag = 64  # a tag facet's maxGraphemes
    max_bytes: int = 3000

    def measure(self, text: str) -> int:
        return graphemes(text)

    def fits(self, text: str) -> bool:
        return graphemes(text) <= self.limit and len(text.encode("utf-8")) <= self.max_bytes

    def link_length(self, link: str) -> int:
        return graphemes(self.show_link(link))  # shown shortened, never more than 31 clusters

    def show_link(self, link: str) -> str:
        """The link as shown: no scheme, and long ones shortened; its facet carries the full URI."""
        parts = urlsplit(link)
        host = parts.netloc.removeprefix("www.")
        shown = host + parts.path + (f"?{parts.query}" if parts.query else "")
        shown = shown.rstrip("/") or host
        clusters = GRAPHEME.findall(shown)
        if len(clusters) > 32:
            shown = "".join(clusters[:30]) + ELLIPSIS
        return shown

    def facets(self, text: str, layout: Layout, link: str | None) -> tuple[dict[str, Any], ...]:
        """Rich-text facets: UTF-8 byte ranges for every link and every #tag in the final text."""
        spans: list[tuple[int, int, dict[str, Any]]] = []
        prose_end = len(layout.prose)
        for m in PROSE_URL.finditer(text, 0, prose_end):
            spans.append((m.start(), m.end(), {"$type": LINK, "uri": m.group()}))
        if layout.link_shown and link:
            start = prose_end + (2 if layout.prose else 0)
            spans.append((start, start + len(layout.link_shown), {"$type": LINK, "uri": link}))
        for m in HASHTAG.finditer(text):
            if m.start() >= prose_end or not any(a <= m.start() < b for a, b, _ in spans):
                tag = m.group(1)
                if graphemes(tag) <= self.max_tag and len(tag.encode()) <= 640:
                    spans.append((m.start(), m.end(), {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
        spans.sort(key=lambda s: s[0])
        facets = []
        for start, end, feature in spans:
            byte_start = len(text[:start].encode("utf-8"))
            byte_end = byte_start + len(text[start:end].encode("utf-8"))
            facets.append({"index": {"byteStart": byte_start, "byteEnd": byte_end}, "features": [feature]})
        return tuple(facets)

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        return {  # com.atproto.repo.createRecord's record, an app.bsky.feed.post
            "$type": POST,
            "text": post.text,
            "facets": list(post.facets),
            "createdAt": created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "langs": [language],
        }

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        if link:
            card = "a link card with the item's link, title and summary"
            return [("embed", card + (", the picture as its thumbnail" if image else ""),
                     "app.bsky.embed.external" + ("; the picture uploaded with com.atproto.repo.uploadBlob" if image
                                                  else ""))]
        if image:
            return [("embed", "the picture, with its alt text",
                     "app.bsky.embed.images; uploaded with com.atproto.repo.uploadBlob")]
        return []


register(BlueskyRules(300))


def record_key(item: str, first_attempt: datetime) -> str:
    """A valid TID for the item's post, the same on every try: its time is the first hand-over's (so it reads
    as the real moment of posting), its sub-second digits and clock id come from the item, so two posts first
    tried in the same second still get different keys."""
    digest = int.from_bytes(hashlib.sha256(f"{item}:bluesky".encode()).digest()[:8], "big")
    micros = int(first_attempt.timestamp()) * 1_000_000 + (digest >> 10) % 1_000_000
    value = (micros << 10) | (digest & 0x3FF)  # 53-bit timestamp, 10-bit clock id; the top bit stays 0
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


class ExpiredToken(ChannelAuthError):
    """The PDS says the token has expired: refresh the session and try again."""


class RecordNotFound(FinalChannelError):
    """getRecord: no record under that key."""


class Bluesky:
    name = "api"
    kind = "bluesky"
    batch_size = 1
    limit: int | None = None  # the 300 graphemes social.py already counts

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.service = settings.option("bluesky", "service")
        self.handle = settings.option("bluesky", "handle")
        account = settings.platform_options.get("bluesky", {}).get(ACCOUNT)
        # A language's own account keeps its session beside the first's: taking turns in one file, each would sign
        # in at every run, and sign-ins are rate-limited.
        self.path = settings.state_dir / (f"bluesky-session.{account}.json" if account else SESSION_FILE)
        self.http = session()  # the PDS only: pictures come through post_image's own connections, without a token
        self._session: dict[str, str] | None = None

    # --- the protocol -------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return each_post(messages, self.kind, self._publish)

    def reconcile(self, message: Outgoing) -> Outcome | None:
        post = post_of(message, self.kind)
        try:
            uri = self._existing(self._key(post))
        except ChannelAuthError:
            raise
        except FinalChannelError:
            return None  # cannot be known: a resend under the same key cannot make a second post
        return Sent(uri) if uri else None

    def check(self) -> str:
        found = json_body(self._authed("GET", "com.atproto.server.getSession", "session"), "session")
        if not isinstance(found, dict):
            raise TransientChannelError("session: the answer is not a session")
        return f"@{found.get('handle', '?')} ({found.get('did', '?')})"

    def close(self) -> None:
        self.http.close()

    # --- posting ------------------------------------------------------------------------------------

    def _publish(self, message: OutgoingPost) -> str:
        record = dict(message.payload)
        embed = self._embed(message)
        if embed is not None:
            record["embed"] = embed
        if message.reply_to and message.thread_root:  # a part of a reply thread: its root and the part it answers
            record["reply"] = {"root": self._strong_ref(message.thread_root),
                               "parent": self._strong_ref(message.reply_to)}
        rkey = self._key(message)
        body = {"repo": self._login_session()["did"], "collection": POST, "rkey": rkey, "record": record}
        try:
            response = self._authed("POST", "com.atproto.repo.createRecord", "post", json=body)
        except ChannelAuthError:
            raise
        except (FinalChannelError, TransientChannelError) as exc:
            # A PDS refuses a record key already taken, with a 4xx or a 500: the post may be there from an
            # earlier try. Rate limiting (a wait given) says nothing of the kind.
            if isinstance(exc, TransientChannelError) and exc.retry_after is not None:
                raise
            try:
                uri = self._existing(rkey)
            except ChannelAuthError:
                raise
            except ChannelError:
                uri = None
            if uri:
                return uri
            raise exc from None
        created = json_body(response, "post")
        if not isinstance(created, dict) or not isinstance(created.get("uri"), str):
            raise TransientChannelError("post: the answer holds no record uri")
        return str(created["uri"])

    @staticmethod
    def _key(message: OutgoingPost) -> str:
        # A translation's record is another record: its key holds the language (the item's own keeps the key it had).
        name = f"{message.item}:{message.lang}" if message.lang else message.item
        name = name if message.part == 1 else f"{name}#part{message.part}"
        return record_key(name, message.first_attempt or datetime.now(UTC))

    def _strong_ref(self, uri: str) -> dict[str, str]:
        """{uri, cid} of one of our posts, as a reply names its root and parent: the cid from the PDS itself."""
        did, collection, rkey = uri.removeprefix("at://").split("/", 2)
        response = self._authed("GET", "com.atproto.repo.getRecord", "look-up of the post answered",
                                params={"repo": did, "collection": collection, "rkey": rkey})
        found = json_body(response, "look-up of the post answered")
        if not isinstance(found, dict) or not isinstance(found.get("cid"), str):
            raise TransientChannelError("look-up of the post answered: the answer holds no cid")
        return {"uri": uri, "cid": str(found["cid"])}

    def _existing(self, rkey: str) -> str | None:
        """The uri of our post under `rkey`, or None when there is none."""
        params = {"repo": self._login_session()["did"], "collection": POST, "rkey": rkey}
        try:
            response = self._authed("GET", "com.atproto.repo.getRecord", "look-up", params=params)
        except RecordNotFound:
            return None
        found = json_body(response, "look-up")
        if not isinstance(found, dict) or not isinstance(found.get("uri"), str):
            raise TransientChannelError("look-up: the answer holds no record uri")
        return str(found["uri"])

    def _embed(self, message: OutgoingPost) -> dict[str, Any] | None:
        """A link card (its thumb the item's image when small enough), else the image itself, else nothing."""
        if message.link:
            card: dict[str, Any] = {"uri": message.link, "title": message.title, "description": message.summary}
            if message.image:
                thumb = self._thumb(message)
                if thumb is not None:
                    card["thumb"] = thumb
            return {"$type": "app.bsky.embed.external", "external": card}
        if message.image:
            data, kind = post_image(message, self.settings, MAX_BLOB)
            image = {"alt": message.image_alt or "", "image": self._upload(data, kind)}
            return {"$type": "app.bsky.embed.images", "images": [image]}
        return None

    def _thumb(self, message: OutgoingPost) -> dict[str, Any] | None:
        try:
            data, kind = post_image(message, self.settings, MAX_BLOB)
        except ChannelError as exc:  # the card is worth posting without its picture
            log.warning("bluesky: the link card goes without a thumbnail: %s", exc)
            return None
        return self._upload(data, kind)

    def _upload(self, data: bytes, kind: str) -> dict[str, Any]:
        response = self._authed("POST", "com.atproto.repo.uploadBlob", "image upload", data=data,
                                headers={"Content-Type": kind})
        blob = json_body(response, "image upload")
        blob = blob.get("blob") if isinstance(blob, dict) else None
        if not isinstance(blob, dict):
            raise TransientChannelError("image upload: the answer holds no blob")
        return blob

    # --- XRPC and the session -----------------------------------------------------------------------

    def _xrpc(self, method: str, nsid: str, what: str, token: str | None = None,
              headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """One XRPC call; the error names that change what to do next become their own classes."""
        answers: list[requests.Response] = []
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        try:
            return call(self.http, method, f"{self.service}/xrpc/{nsid}", what, self.settings, headers=sent,
                        hooks={"response": lambda answer, **_: answers.append(answer)}, **kwargs)
        except FinalChannelError as exc:
            name = _error_name(answers[-1]) if answers else ""
            if name == "ExpiredToken":
                raise ExpiredToken(str(exc)) from None
            if name == "RecordNotFound":
                raise RecordNotFound(str(exc)) from None
            raise

    def _authed(self, method: str, nsid: str, what: str, **kwargs: Any) -> requests.Response:
        """A call with the access token; when it has expired, once more after refreshing the session."""
        try:
            try:
                return self._xrpc(method, nsid, what, self._login_session()["accessJwt"], **kwargs)
            except ExpiredToken:
                return self._xrpc(method, nsid, what, self._refresh()["accessJwt"], **kwargs)
        except ChannelAuthError:
            self._forget()  # a session the PDS refuses is worth nothing: the next run signs in again
            raise

    def _login_session(self) -> dict[str, str]:
        if self._session is None:
            self._session = self._stored() or self._login()
        return self._session

    def _login(self) -> dict[str, str]:
        body = {"identifier": self.handle, "password": self.settings.option("bluesky", "app_password").reveal()}
        try:
            response = self._xrpc("POST", "com.atproto.server.createSession", "sign-in", json=body)
        except FinalChannelError as exc:  # wrong password, account taken down: no post can go until fixed
            raise ChannelAuthError(str(exc)) from None
        log.info("bluesky: signed in as %s", self.handle)
        return self._keep(json_body(response, "sign-in"))

    def _refresh(self) -> dict[str, str]:
        refresh = self._login_session()["refreshJwt"]
        try:
            response = self._xrpc("POST", "com.atproto.server.refreshSession", "session refresh", refresh)
        except FinalChannelError:  # the refresh token has expired or was revoked: only now sign in again
            return self._login()
        return self._keep(json_body(response, "session refresh"))

    def _keep(self, answer: Any) -> dict[str, str]:
        """Hold the session and store it, readable by this user only: it grants access to the account."""
        fields = ("did", "accessJwt", "refreshJwt")
        if not isinstance(answer, dict) or not all(isinstance(answer.get(f), str) and answer[f] for f in fields):
            raise TransientChannelError("sign-in: the answer holds no session")
        kept = {"service": self.service, "handle": self.handle,
                **{f: answer[f] for f in fields}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # a leftover temporary file keeps its old mode otherwise
            json.dump(kept, handle)
        os.replace(temporary, self.path)
        self._session = kept
        return kept

    def _stored(self) -> dict[str, str] | None:
        """The stored session, if it belongs to this service and handle."""
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        wanted = {"service": self.service, "handle": self.handle}
        if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in wanted.items()) or \
                not all(isinstance(stored.get(f), str) for f in ("did", "accessJwt", "refreshJwt")):
            return None
        return stored

    def _forget(self) -> None:
        self._session = None
        self.path.unlink(missing_ok=True)


def _error_name(answer: requests.Response) -> str:
    """The XRPC error name of an error answer: {"error": "ExpiredToken", "message": "..."}."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


@register_channel("bluesky", "api")
def open_bluesky(settings: Settings, kind: str) -> Bluesky:
    return Bluesky(settings)
