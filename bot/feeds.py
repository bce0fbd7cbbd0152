"""Feeds in: RSS, Atom and RDF entries, read with feedparser, become queue files through itemfile, each once ever."""

from __future__ import annotations

import calendar
import html
import http.client
import io
import logging
import re
import ssl
import time
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import nh3
from feedparser.namespaces import mediarss

from . import campaigns as campaign_file
from . import itemfile, queue
from .channels import http as guarded
from .clock import parse_instant
from .errors import ChannelError, HeraldError, counted
from .frontmatter import CONTROL
from .ledger import Ledger, review
from .ledger import feeds_in as book
from .platforms import CHANNELS
from .settings import Settings

log = logging.getLogger("herald")
MAX_FEED_BYTES = 5_000_000  # far above any real feed (a few hundred kB), far below what would hurt a small server
TITLE_MAX = queue.TITLE_MAX
SUMMARY_MAX = queue.SUMMARY_LONG  # the longest blurb `bot validate` says nothing about
ALT_MAX, CREDIT_MAX = 1000, 200  # the queue's own limits for image_alt and image_credit
ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, */*;q=0.1"
NO_ALT = "its picture has no description in the feed: write image_alt, then approve it"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# A space before block elements keeps the words of two paragraphs apart once the tags are gone; inline ones
# (<b>, <a>, <abbr>) sit inside words as often as between them.
_BLOCK = re.compile(r"<(?=/?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|blockquote|pre|figure|figcaption|hr|dd|dt)\b)", re.I)
_TAG_LIKE = re.compile(r"</?[A-Za-z!?][^<>]*>")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")
_PICTURE_PATH = re.compile(r"\.(?:jpe?g|png|gif|webp)$", re.I)
_LANGUAGE = re.compile(r"[a-z]{2,3}")


# feedparser reads media:description as the entry's own description, so a picture's alt text would overwrite the
# entry's summary or content (feedparser issue #53, open since 2016). Kept apart instead, as `media_description`,
# the way feedparser keeps media:credit; pop() stores it on the entry.
def _start_media_description(self: Any, attrs: Any) -> None:
    self.push("media_description", 1)


def _end_media_description(self: Any) -> None:
    self.pop("media_description")


mediarss.Namespace._start_media_description = _start_media_description
mediarss.Namespace._end_media_description = _end_media_description


class FeedError(HeraldError):
    """A feed that could not be fetched or read: one line for a person, naming the feed."""


@dataclass(frozen=True, slots=True)
class Options:
    campaign: str = ""
    channels: tuple[str, ...] = CHANNELS
    draft: bool = False  # every item written as a draft
    actor: str = "feed"  # who the activity log names: the operating-system user for `bot feed import`


@dataclass(slots=True)
class Imported:
    """What one import did, for its output and the run's log."""

    source: str
    written: list[tuple[Path, str]] = field(default_factory=list)  # (path, why it is a draft, or "")
    skipped: list[str] = field(default_factory=list)  # titles of the entries imported before
    left_out: list[str] = field(default_factory=list)  # why each unusable entry was not written
    not_modified: bool = False  # the server answered 304

    def lines(self) -> list[str]:
        out = [f"{path}  (draft: {why})" if why else str(path) for path, why in self.written]
        out += [f"already imported, skipped: {title}" for title in self.skipped]
        out += [f"left out: {why}" for why in self.left_out]
        if self.not_modified:
            return [*out, f"{self.source} has not changed since it was last read: nothing new."]
        drafts = sum(1 for _, why in self.written if why)
        return [*out, f"{counted(len(self.written), 'item')} imported from {self.source}"
                + (f" ({drafts:,} as {'a draft' if drafts == 1 else 'drafts'})" if drafts else "")
                + f", {counted(len(self.skipped), 'entry', 'entries')} imported before."]


# --- fetching: the guarded fetch of pictures (channels/http.py), with conditional requests ---------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    url: str  # after redirects: the feed's relative links are read against it
    content_type: str
    validators: tuple[str | None, str | None]  # ETag, Last-Modified


def fetch(url: str, settings: Settings, etag: str | None = None, modified: str | None = None, *,
          vet: guarded.Vet | None = None) -> Fetched | None:
    """The feed at `url`, or None when the server says it has not changed since (304). As a picture is fetched:
    http(s) only, each hop's host vetted (public addresses only unless BOT_FETCH_ALLOW_PRIVATE) and connected to at
    that address, at most MAX_FEED_BYTES, the whole within BOT_HTTP_TIMEOUT. Raises FeedError."""
    vetted: guarded.Vet = vet or (lambda host, port: guarded.resolve_public(host, port, settings.fetch_allow_private))
    budget = settings.http_timeout.total_seconds()
    deadline = time.monotonic() + budget
    headers = {"User-Agent": guarded.USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "identity", "Connection": "close"}
    headers |= {"If-None-Match": etag} if etag else {}
    headers |= {"If-Modified-Since": modified} if modified else {}
    try:
        got = guarded.guarded_get(url, vetted, deadline, MAX_FEED_BYTES, headers)
    except ChannelError as exc:
        raise FeedError(guarded.excerpt(f"{url}: {exc}")) from None
    except TimeoutError:
        raise FeedError(f"{url}: not fetched within {budget:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        raise FeedError(guarded.excerpt(f"{url}: TLS certificate not trusted ({exc.verify_message})")) from None
    except (OSError, http.client.HTTPException) as exc:
        late = time.monotonic() >= deadline
        raise FeedError(f"{url}: " + (f"not fetched within {budget:g} s" if late else
                                      f"no usable answer ({type(exc).__name__})")) from None
    if got.data is None:  # 304: not changed since the validators were kept
        return None
    return Fetched(got.data, got.url, got.content_type, (got.etag, got.last_modified))


# --- reading: feedparser, then plain text -------------------------------------------------------------------------


def parse(data: bytes, source: str, base: str = "", content_type: str = "") -> Any:
    """The parsed feed; FeedError when it is not one (not XML, or XML but neither RSS, Atom nor RDF)."""
    headers = {"content-location": base} if base else {}
    headers |= {"content-type": content_type} if content_type else {}
    # A stream, never bytes: feedparser opens bytes that name a file as that file. Its sanitizer is off: nh3 alone
    # makes the text plain (see `plain`), as everywhere else in Herald.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False, response_headers=headers)
    error = parsed.get("bozo_exception")  # also set for what stops nothing, such as a missing Content-Type
    flaw = f"not well-formed XML (line {error.getLineNumber():,}: {error.getMessage()})" \
        if isinstance(error, xml.sax.SAXParseException) else ""
    if not parsed.get("version"):
        raise FeedError(f"{source}: is not an RSS or Atom feed" + (f": {flaw}" if flaw else ""))
    # A flaw the lenient parser reads past (an HTML entity such as &nbsp;) is forgiven, as every feed reader does; a
    # document it cannot make sense of, with not one entry that can be told apart, is broken.
    if flaw and not any(_key(e) for e in parsed.entries):
        raise FeedError(f"{source}: is a broken feed: {flaw}")
    return parsed


def plain(markup: str) -> str:
    """Markup as one line of plain text: tags, scripts and styles removed (nh3), entities decoded, no control
    characters, whitespace collapsed."""
    text = html.unescape(nh3.clean(_BLOCK.sub(" <", markup), tags=set()))
    text = _TAG_LIKE.sub(" ", text)  # escaped markup in the source (&lt;script&gt;) is markup once decoded
    return " ".join(CONTROL.sub(" ", text).split())


def cut(text: str, limit: int, sentences: bool = False) -> str:
    """`text` within `limit` characters: whole; else, with `sentences`, up to the last sentence that fits (when that
    keeps at least half); else at a word, with …"""
    if len(text) <= limit:
        return text
    if sentences:
        ends = [m.end() for m in _SENTENCE_END.finditer(text[: limit + 1]) if m.end() >= limit // 2]
        if ends:
            return text[: ends[-1]]
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and head.rfind(" ") > limit // 2:
        head = head[: head.rfind(" ")]  # not inside a word
    return head.rstrip(" ,;:-–—") + "…"


def _key(entry: Mapping[str, Any]) -> str:
    """What an entry is known by, ever: its guid (RSS) or id (Atom, RDF), else its link."""
    return str(entry.get("id") or entry.get("link") or "").strip()


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        stamp = entry.get(name)  # feedparser gives UTC
        if stamp:
            try:
                return datetime.fromtimestamp(calendar.timegm(stamp), UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _local_minute(moment: datetime, zone: ZoneInfo) -> str:
    """A queue time as a person writes it; with its offset in the hour the clocks go back, where it names two."""
    local = moment.astimezone(zone).replace(second=0, microsecond=0)
    written = f"{local:%Y-%m-%d %H:%M}"
    # Compared in UTC: between two times of one zone Python ignores `fold`, which is what tells the two apart.
    same = parse_instant(written, zone).astimezone(UTC) == local.astimezone(UTC)
    return written if same else local.isoformat(timespec="minutes")


def _picture(entry: Mapping[str, Any], settings: Settings) -> tuple[str, str, str]:
    """(URL, alt text, credit) of the entry's picture: media:content, media:thumbnail or an image enclosure, the
    first with an http(s) address the queue takes; ("", "", "") when there is none."""
    found: list[tuple[str, str]] = []  # (URL, a description of its own)
    for media in entry.get("media_content") or []:
        url, kind, medium = str(media.get("url", "")), str(media.get("type", "")), str(media.get("medium", ""))
        if medium == "image" or kind.startswith("image/") or (not (kind or medium) and _PICTURE_PATH.search(url)):
            found.append((url, ""))
    found += [(str(t.get("url", "")), "") for t in entry.get("media_thumbnail") or []]
    found += [(str(link.get("href", "")), str(link.get("title", ""))) for link in entry.get("links") or []
              if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")]
    for url, title in found:
        url = url.strip()
        if url and queue.check_url(url, allow_private=settings.fetch_allow_private) is None:
            alt = cut(plain(str(entry.get("media_description") or title)), ALT_MAX)
            credits = entry.get("media_credit") or [{}]
            return url, alt, cut(plain(str(credits[0].get("content", ""))), CREDIT_MAX)
    return "", "", ""


def entry_fields(entry: Mapping[str, Any], feed: Mapping[str, Any], settings: Settings, now: datetime,
                 options: Options) -> itemfile.Fields | None:
    """An entry as the fields of a queue item; None when it has no text at all."""
    contents = entry.get("content") or [{}]
    summary = cut(plain(str(entry.get("summary") or contents[0].get("value") or "")), SUMMARY_MAX, sentences=True)
    title = cut(plain(str(entry.get("title") or "")), TITLE_MAX) or cut(summary, TITLE_MAX)
    if not title:
        return None
    zone = settings.timezone
    when = _published(entry) or now
    link = str(entry.get("link") or "").strip()
    image, alt, credit = _picture(entry, settings)
    tag = str((entry.get("title_detail") or {}).get("language") or feed.get("language") or "")
    lang = tag.split("-")[0].strip().lower()
    return itemfile.Fields(
        title=title, date=f"{when.astimezone(zone):%Y-%m-%d}", summary=summary or title,
        # The entry's own time while it is ahead; otherwise now, so that its posts go out at the next run.
        publish_at=_local_minute(max(when, now), zone),
        link=link if link and queue.check_url(link) is None else "",  # one the queue would refuse is left out
        image=image, image_alt=alt, image_credit=credit if image else "", campaign=options.campaign,
        channels=options.channels, lang=lang if _LANGUAGE.fullmatch(lang) and lang != settings.language else "",
        draft=options.draft or bool(image and not alt))


# --- writing ------------------------------------------------------------------------------------------------------


def import_feed(settings: Settings, source: str, now: datetime, options: Options | None = None, *,
                vet: guarded.Vet | None = None) -> Imported:
    """Write one queue file per entry of the feed at `source` (a URL or a file) never imported before."""
    options = options or Options()
    folder = queue.require_folder(settings)
    result = Imported(source)
    with Ledger.open(settings.state_dir) as ledger:
        if _URL.match(source):
            kept = book.state(ledger, source)
            fetched = fetch(source, settings, kept.etag, kept.last_modified, vet=vet)
            if fetched is None:
                book.polled(ledger, source, now)
                result.not_modified = True
                return result
            parsed = parse(fetched.data, source, fetched.url, fetched.content_type)
        else:
            fetched, parsed = None, parse(_read_file(source), source)
        found, _ = campaign_file.read(folder / queue.CAMPAIGNS_FILE, settings.languages)
        for entry in parsed.entries:
            _import_entry(ledger, entry, parsed.feed, settings, now, options, folder, found, result)
        if fetched is not None:  # its validators are kept only once every entry is written
            book.polled(ledger, source, now, fetched.validators)
    return result


def _read_file(source: str) -> bytes:
    path = Path(source)
    try:
        if not path.is_file():
            raise FeedError(f"{source}: there is no such file" + ("" if not path.exists() else " (it is a folder)"))
        if path.stat().st_size > MAX_FEED_BYTES:
            raise FeedError(f"{source}: larger than {MAX_FEED_BYTES:,} bytes, too large for a feed")
        return path.read_bytes()
    except OSError as exc:
        raise FeedError(f"{source}: cannot be read ({exc.strerror or exc})") from None


def _import_entry(ledger: Ledger, entry: Mapping[str, Any], feed: Mapping[str, Any], settings: Settings,
                  now: datetime, options: Options, folder: Path, campaigns: campaign_file.Campaigns,
                  result: Imported) -> None:
    key = _key(entry)
    fields = entry_fields(entry, feed, settings, now, options)
    if fields is None:
        result.left_out.append("an entry with neither title nor text" + (f" ({key})" if key else ""))
        return
    if not key:
        result.left_out.append(f"an entry with neither id nor link, so never to be told apart: {fields.title}")
        return
    if book.seen(ledger, key) or not book.claim(ledger, key, result.source, now):
        result.skipped.append(fields.title)
        return
    try:
        item_id = itemfile.free_id(folder, itemfile.suggest_id(fields.date, fields.title))
        path = folder / f"{item_id}.md"
        why = NO_ALT if fields.image and not fields.image_alt else ""
        _, problems = queue.read_item(path, settings, campaigns.good, campaigns, data=itemfile.to_text(fields).encode())
        problems = [p for p in problems if not (p.field == "image_alt" and why)]
        if problems:  # written all the same, as a draft, for a person to finish: the entry is not lost
            fields, why = replace(fields, draft=True), why or f"{problems[0].field}: {problems[0].message}"
        itemfile.save(path, itemfile.to_text(fields), None, settings.state_dir)
    except BaseException:
        book.release(ledger, key)
        raise
    book.imported(ledger, key, item_id)
    review.record(ledger, options.actor, "create", now, item_id, f"imported from {result.source}")
    result.written.append((path, why or ("as asked (--draft): approve it when it is ready" if fields.draft else "")))


def poll_due(settings: Settings, now: datetime, *, vet: guarded.Vet | None = None) -> list[Imported]:
    """`bot run`'s part: import from each feed of BOT_FEEDS not polled within BOT_FEED_INTERVAL. Never raises: a feed
    that fails is one logged line, polled again after the interval, and the run goes on."""
    with Ledger.open(settings.state_dir) as ledger:
        due = [(f, book.state(ledger, f).polled_at is None) for f in settings.feeds
               if book.due(ledger, f, now, settings.feed_interval)]
    done = []
    for feed, first in due:
        try:
            # A feed's first poll brings every entry it lists, old news included: drafts, for a person to pick
            # from, rather than a burst of posts; from then on, each new entry goes out at its time.
            done.append(import_feed(settings, feed, now, Options(draft=first), vet=vet))
        except Exception as exc:  # someone else's server and document: nothing it does may stop the posts
            why = str(exc) if isinstance(exc, FeedError) else f"{feed}: {exc}" if isinstance(exc, HeraldError) \
                else f"{feed}: {type(exc).__name__}: {exc}"
            log.warning("feed not imported: %s", " ".join(why.split()))
            with Ledger.open(settings.state_dir) as ledger:
                book.polled(ledger, feed, now)
            continue
        for line in done[-1].lines():
            log.info("feed: %s", line)
    return done
