"""LinkedIn: an organisation page's posts (3,000 characters of little text), their Posts API body, and its backend."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import regex
import requests

from .. import private
from ..channels import Outcome, Outgoing, OutgoingPost, Sent, each_post, post_of
from ..channels import register as register_channel
from ..channels.http import call, json_body, post_image, session
from ..errors import ChannelAuthError, ChannelError, FinalChannelError, TransientChannelError, quoted
from ..platform_languages import ACCOUNT
from ..setting_values import _base_url, _secret
from . import HASHTAG, Option, Platform, register

if TYPE_CHECKING:
    from ..settings import Settings
    from ..social import Post

log = logging.getLogger("herald")
# learn.microsoft.com/linkedin/marketing/integrations/migrations: each version is served for at least a year;
# 202510 and 202511 were retired in October and November 2026. 202606 is served until mid-2027 at least.
DEFAULT_VERSION = "202606"
VERSIONS = "https://learn.microsoft.com/en-us/linkedin/marketing/versioning"
TOKEN_FILE = "linkedin-token.json"
TOKEN_LIFE = timedelta(days=60)  # LinkedIn's access tokens, as its OAuth docs give them
RECENT = 20  # posts reconcile reads: a retry comes long before the page posts 20 more times
MAX_IMAGE = 10 * 1024 * 1024  # Herald's own cap on a picture it fetches: the Images API counts pixels, not bytes
# The reserved characters of LinkedIn's "little" text format (learn.microsoft.com, "little Text Format"): each
# must be backslash-escaped to stand for itself; LinkedIn accepts a post with a bare one and cuts it there.
RESERVED = "\\|{}@[]()<>#*_~"
_ESCAPE = str.maketrans({c: "\\" + c for c in RESERVED})
_ORGANISATION = re.compile(r"urn:li:organization:[1-9][0-9]*")
_VERSION = re.compile(r"20[2-9][0-9](0[1-9]|1[0-2])")
# What reading a post back may hold: the HashtagTemplate, little's other spelling of a hashtag, and escapes.
_TEMPLATE = regex.compile(r"\{hashtag\|\\?[#＃]\|([^{}|\\]*)\}")
_ESCAPED = regex.compile(r"\\(.)", regex.DOTALL)
_URL = regex.compile(r"https?://\S+")
# A URL runs to a space or a character no URL holds; sentence punctuation and an unmatched bracket at its end are
# the sentence's. (A backslash ends it too: escaped, what follows still reads the same.)
_RUN = regex.compile(r"https?://[^\s<>\"\\]+")
_CLOSING = {")": "(", "]": "["}


def _organisation(raw: str) -> str:
    value = raw.strip()
    if not value:  # required only by the api backend, which says so when it is missing
        return ""
    if value.startswith("urn:li:person:"):
        raise ValueError(f"{quoted(raw)} is a member, not an organisation: Herald posts as an organisation's page, "
                         "urn:li:organization:NUMBER")
    if not _ORGANISATION.fullmatch(value):
        raise ValueError(f"{quoted(raw)} is not an organisation's URN such as urn:li:organization:2414183 (the "
                         "number is in the address of the page's admin view, linkedin.com/company/NUMBER/admin)")
    return value


def _version(raw: str) -> str:
    value = raw.strip() or DEFAULT_VERSION
    if not _VERSION.fullmatch(value) or value < "202206":  # the first versioned release was 202206
        raise ValueError(f"{quoted(raw)} is not a LinkedIn API version as YYYYMM, such as {DEFAULT_VERSION} "
                         f"({VERSIONS})")
    return value


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _overlaps(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


def links(text: str) -> list[tuple[int, int]]:
    """Where the URLs of `text` are."""
    found = []
    for m in _RUN.finditer(text):
        url = m.group()
        while url[-1] in ".,;:!?'\"" or (url[-1] in _CLOSING and url.count(url[-1]) > url.count(_CLOSING[url[-1]])):
            url = url[:-1]
        if "://" in url[:-1]:
            found.append((m.start(), m.start() + len(url)))
    return found


def _kept(text: str, link: str | None) -> list[tuple[int, int]]:
    """The spans that go out as written: URLs (whole, so that they link) and hashtags (`#tag`, little's
    HashtagElement, which the docs give beside the `{hashtag|\\#|tag}` template: the plain form is the one staff
    typed and the one a reader sees)."""
    urls: list[tuple[int, int]] = []
    if link and "\\" not in link:  # the item's link, where compose put it: whole, whatever it ends with
        urls += [m.span() for m in re.finditer(rf"(?<!\S){re.escape(link)}(?!\S)", text)]
    urls += [span for span in links(text) if not _overlaps(span, urls)]
    tags = [m.span() for m in HASHTAG.finditer(text) if not _overlaps(m.span(), urls)]
    return sorted(urls + tags)


def little(text: str, link: str | None = None) -> str:
    """`text` as the Posts API's `commentary`: every reserved character escaped, but in URLs and hashtags."""
    out, pos = [], 0
    for start, end in _kept(text, link):
        out += [text[pos:start].translate(_ESCAPE), text[start:end]]
        pos = end
    out.append(text[pos:].translate(_ESCAPE))
    return "".join(out)


def plain(commentary: str) -> str:
    """What a reader sees of little text: hashtag templates as `#tag`, escapes undone."""
    return _ESCAPED.sub(r"\1", _TEMPLATE.sub(lambda m: "#" + m.group(1), commentary))


def comparable(commentary: str) -> str:
    """A post's text reduced to what survives a round trip: single spaces, and no URLs (a read may give them
    back otherwise written, as LinkedIn shows them shortened)."""
    return " ".join(_URL.sub(" ", plain(commentary)).split())


@dataclass(frozen=True, slots=True)
class LinkedInRules(Platform):
    name = "linkedin"
    title = "LinkedIn"
    order = 40
    colour = "#0a66c2"  # LinkedIn's blue: 5.7:1 under white text
    options = (
        Option("LINKEDIN_ACCESS_TOKEN", "access_token", _secret, secret=True, required=True),
        Option("LINKEDIN_AUTHOR", "author", _organisation, required=True),
        Option("LINKEDIN_VERSION", "version", _version, DEFAULT_VERSION),
        Option("LINKEDIN_BASE_URL", "base_url", _base_url, "https://api.linkedin.com"),
    )
    default_backend = "off"  # an organisation page is posted to only once its organisation asks for it
    threads = False  # an organisation's post has no reply thread: a list of `social` parts goes out as one post
    fix = ("a LinkedIn access token lasts about 60 days: a page admin makes a new one with w_organization_social "
           "and r_organization_social (https://www.linkedin.com/developers/tools/oauth/token-generator) for "
           "LINKEDIN_ACCESS_TOKEN; check LINKEDIN_AUTHOR, and that LINKEDIN_VERSION is one LinkedIn still serves "
           f"({VERSIONS})")
    payload_is = "the body of POST /rest/posts"

    def measure(self, text: str) -> int:
        # The docs give 3,000 characters and no way of counting: this is the commentary as sent, escapes included,
        # in UTF-16 units (an emoji is two), never less than LinkedIn counts however it does. URLs count whole.
        return _utf16(little(text))

    def link_length(self, link: str) -> int:
        return self.measure(link)

    def payload(self, post: Post, *, language: str, created_at: datetime, options: Mapping[str, Any]) -> dict[str, Any]:
        # The item's link card needs its title and summary, which the post does not carry: the backend adds it.
        return {
            "author": str(options.get("author") or ""),
            "commentary": little(post.text, post.link),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }

    def added_when_sent(self, *, link: str | None, image: str | None) -> list[tuple[str, str, str]]:
        upload = "uploaded with POST /rest/images?action=initializeUpload, then a PUT of its bytes"
        if link:
            card = "an article card with the item's link, title and summary"
            return [("content", card + (", the picture as its thumbnail" if image else ""),
                     "content.article" + (f"; the picture {upload}" if image else ""))]
        if image:
            return [("content", "the picture, with its alt text", f"content.media; {upload}")]
        return []


register(LinkedInRules(3000))


class RetiredVersion(ChannelAuthError):
    """426: LinkedIn no longer serves LINKEDIN_VERSION. Nothing can go until a person sets a current one, so the
    channel pauses as for refused credentials."""


class LinkedIn:
    name = "api"
    kind = "linkedin"
    batch_size = 1
    limit: int | None = None  # the 3,000 that social.py already counts

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base: str = settings.option("linkedin", "base_url")
        self.author: str = settings.option("linkedin", "author")
        self.version: str = settings.option("linkedin", "version")
        self.http = session()  # the API only: pictures come through post_image's own connections, without a token

    # --- the protocol -------------------------------------------------------------------------------

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return each_post(messages, self.kind, self._publish)

    def reconcile(self, message: Outgoing) -> Outcome | None:
        # The Posts API takes no idempotency key: the page's latest posts are the only way to know, so look there.
        post = post_of(message, self.kind)
        try:
            elements = self._recent(RECENT)
        except ChannelAuthError:
            raise
        except FinalChannelError:
            return None  # cannot be known: sent again
        wanted = comparable(str(post.payload.get("commentary", "")))
        for element in elements:
            if isinstance(element, dict) and isinstance(element.get("id"), str) and \
                    comparable(str(element.get("commentary") or "")) == wanted:
                return Sent(element["id"])
        return None

    def check(self) -> str:
        try:
            self._recent(1)  # the call reconcile makes: the token, its rights on the page and the version
        except RetiredVersion as exc:  # for bot doctor a setting to change, not credentials refused
            raise FinalChannelError(str(exc)) from None
        return f"organisation {self.author}, Linkedin-Version {self.version}; {self._token_age()}"

    def _token_age(self) -> str:
        """When the token will be about 60 days old. LinkedIn's introspectToken wants the app's client id and
        secret, which Herald does not hold; so Herald notes the day it first saw this token work (a digest of it in
        BOT_STATE_DIR/linkedin-token.json, never the token) and counts from there."""
        account = self.settings.platform_options.get("linkedin", {}).get(ACCOUNT)  # a language's own page's token
        path = self.settings.state_dir / (f"linkedin-token.{account}.json" if account else TOKEN_FILE)
        digest = hashlib.sha256(self._token().encode()).hexdigest()
        now = datetime.now(UTC)
        try:
            seen = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            seen = {}
        if not isinstance(seen, dict) or seen.get("token") != digest or not isinstance(seen.get("since"), str):
            seen = {"token": digest, "since": now.date().isoformat()}
            private.folder(path.parent)
            private.write_atomically(path, json.dumps(seen).encode())
        since = date.fromisoformat(seen["since"])
        renew = since + TOKEN_LIFE
        if renew <= now.date():
            return (f"this token has worked since {_day(since)}: it may stop any day now (LinkedIn tokens last "
                    "about 60 days); make a new one")
        return f"this token has worked since {_day(since)}: make a new one by {_day(renew)} (about 60 days)"

    def close(self) -> None:
        self.http.close()

    # --- the calls ----------------------------------------------------------------------------------

    def _token(self) -> str:
        return f"Bearer {self.settings.option('linkedin', 'access_token').reveal()}"

    def _api(self, method: str, path: str, what: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        """One call to the versioned API, with the headers every call needs."""
        sent = {"Authorization": self._token(), "Linkedin-Version": self.version,
                "X-Restli-Protocol-Version": "2.0.0", "Content-Type": "application/json", **(headers or {})}
        return self._call(method, self.base + path, what, headers=sent, **kwargs)

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """One request; 426 becomes RetiredVersion, and LinkedIn's words go on without the token, should they
        repeat it: they reach logs, the ledger and bot status."""
        answers: list[requests.Response] = []
        try:
            return call(self.http, method, url, what, self.settings,
                        hooks={"response": lambda answer, **_: answers.append(answer)}, **kwargs)
        except ChannelError as exc:
            said = self.settings.redact(str(exc))
            if answers and answers[-1].status_code == 426:
                raise RetiredVersion(f"LinkedIn has retired LINKEDIN_VERSION={self.version}: set a current "
                                     f"version, YYYYMM ({VERSIONS})") from None
            if isinstance(exc, TransientChannelError):
                raise TransientChannelError(said, exc.retry_after) from None
            raise type(exc)(said) from None

    def _recent(self, count: int) -> list[Any]:
        """The page's latest posts (the Posts API's author finder; the URN is encoded, as Rest.li 2.0 wants)."""
        response = self._api("GET", "/rest/posts", "recent posts", headers={"X-RestLi-Method": "FINDER"},
                             params={"author": self.author, "q": "author", "count": count})
        found = json_body(response, "recent posts")
        elements = found.get("elements") if isinstance(found, dict) else None
        if not isinstance(elements, list):
            raise TransientChannelError("recent posts: the answer holds no elements")
        return elements

    def _publish(self, message: OutgoingPost) -> str:
        body = dict(message.payload)
        content = self._content(message)
        if content is not None:
            body["content"] = content
        response = self._api("POST", "/rest/posts", "post", json=body)
        urn = unquote(response.headers.get("x-restli-id", ""))
        if not urn.startswith("urn:li:"):  # it may be there all the same: reconcile looks before the retry
            raise TransientChannelError(f"post: HTTP {response.status_code} without the post's id (x-restli-id)")
        return urn

    def _content(self, message: OutgoingPost) -> dict[str, Any] | None:
        """An article card for the item's link (its thumbnail the picture), else the picture, else nothing.
        The card shows what it is given, the API reading no page: the item's title and summary."""
        if message.link:
            article = {"source": message.link, "title": message.title, "description": message.summary}
            if message.image:
                try:
                    picture = self._picture(message)
                except ChannelError as exc:  # refused, too big, its host down: the card is worth posting without it
                    log.warning("linkedin: the article card goes without a thumbnail: %s", exc)
                else:
                    article["thumbnail"] = self._upload(message, picture)
            return {"article": article}
        if message.image:
            return {"media": {"id": self._upload(message, self._picture(message)), "altText": message.image_alt or ""}}
        return None

    def _picture(self, message: OutgoingPost) -> tuple[bytes, str] | None:
        """The picture's bytes and type, or None when an earlier try of this post has uploaded it already."""
        return None if "image" in message.steps else post_image(message, self.settings, MAX_IMAGE)

    def _upload(self, message: OutgoingPost, picture: tuple[bytes, str] | None) -> str:
        """The picture's image URN: initializeUpload, then its bytes PUT to the URL that gives; kept as a step of
        the post, so that a retry of the post does not upload it again."""
        if picture is None:
            return message.steps["image"]
        answer = json_body(self._api("POST", "/rest/images", "image upload", params={"action": "initializeUpload"},
                                     json={"initializeUploadRequest": {"owner": self.author}}), "image upload")
        value = answer.get("value") if isinstance(answer, dict) else None
        url = value.get("uploadUrl") if isinstance(value, dict) else None
        urn = value.get("image") if isinstance(value, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or \
                not isinstance(urn, str) or not urn.startswith("urn:li:image:"):
            raise TransientChannelError("image upload: the answer holds no uploadUrl and image")
        data, kind = picture
        headers = {"Content-Type": kind}
        if self._ours(url):  # the token goes to LinkedIn only, whatever an answer names
            headers["Authorization"] = self._token()
        self._call("PUT", url, "image upload", data=data, headers=headers)
        message.remember("image", urn)
        return urn

    def _ours(self, url: str) -> bool:
        parts, base = urlsplit(url), urlsplit(self.base)
        host = parts.hostname or ""
        return (parts.scheme, parts.netloc) == (base.scheme, base.netloc) or \
            (parts.scheme == "https" and (host == "linkedin.com" or host.endswith(".linkedin.com")))


@register_channel("linkedin", "api")
def open_linkedin(settings: Settings, kind: str) -> LinkedIn:
    return LinkedIn(settings)
