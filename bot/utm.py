"""Tracked links (BOT_UTM), between the settings and every output: the one rule by which social and render tag links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus, urlsplit

from .content import Item
from .platforms import PROSE_URL

if TYPE_CHECKING:
    from .settings import Settings

NEWSLETTER = "newsletter"  # utm_source of the newsletter's links; a post's is its platform's name
PARAMETERS = ("utm_source", "utm_medium", "utm_campaign")
# A port written out that is the scheme's own says nothing: https://h:443/ is https://h/.
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Tracking:
    """BOT_UTM=on: links to `domains` (none set: each item's own link's) are tagged, never Herald's own address."""

    domains: tuple[str, ...]
    herald: str  # BOT_PUBLIC_URL's effective address: unsubscribe, confirmation, archive and media live under it


def tracking(settings: Settings) -> Tracking | None:
    """What the settings ask for; None when BOT_UTM is off, which every caller takes as "change nothing"."""
    return Tracking(settings.utm_domains, settings.effective_public_url) if settings.utm == "on" else None


@dataclass(frozen=True, slots=True)
class Tagger:
    """Tags the links of one item in one output (a platform, or the newsletter); with no parameters, none."""

    parameters: tuple[tuple[str, str], ...] = ()
    domains: tuple[str, ...] = ()
    herald: tuple[str, int | None, str] | None = None  # (host, port, path) of Herald's own address

    @property
    def active(self) -> bool:
        return bool(self.parameters and self.domains)

    def url(self, url: str) -> str:
        """`url` with the utm parameters it lacks added at the end of its query, before any fragment: every other
        character stays as written (the parameters' order and encoding), since sites and their analytics may read
        them as they are. A link elsewhere, not http(s), or Herald's own comes back unchanged."""
        if not self.active or not self._tracked(url):
            return url
        base, hash_mark, fragment = url.partition("#")
        _, question_mark, query = base.partition("?")
        present = {unquote_plus(pair.split("=", 1)[0]) for pair in query.split("&")}
        # A parameter already there was set by a person on purpose (a partner's source, say): it is kept as it is.
        added = "&".join(f"{name}={quote(value, safe='')}" for name, value in self.parameters if name not in present)
        if not added:
            return url
        joint = "?" if not question_mark else "" if query == "" or query.endswith("&") else "&"
        return base + joint + added + hash_mark + fragment

    def text(self, text: str) -> str:
        """Every URL in prose tagged, found as the platforms find them (PROSE_URL), so that Bluesky's facets and the
        cutting that never splits a URL see the very same spans."""
        return PROSE_URL.sub(lambda m: self.url(m.group()), text) if self.active else text

    def _tracked(self, url: str) -> bool:
        where = _address(url)
        if where is None:
            return False
        host, port, path = where
        if self.herald is not None and (host, port) == self.herald[:2] and _under(path, self.herald[2]):
            return False
        return any(host == domain or host.endswith("." + domain) for domain in self.domains)


UNTAGGED = Tagger()


def tagger(tracking: Tracking | None, item: Item, source: str) -> Tagger:
    """The tagger of `item`'s links in one output: `source` is a platform's name (medium social) or NEWSLETTER
    (medium email); the campaign is the item's campaign key, else its id, so that every item can be told apart."""
    if tracking is None:
        return UNTAGGED
    own = _address(item.link) if item.link else None
    domains = tracking.domains or ((own[0],) if own else ())
    medium = "email" if source == NEWSLETTER else "social"
    campaign = item.campaign.key if item.campaign is not None else item.id
    return Tagger(tuple(zip(PARAMETERS, (source, medium, campaign), strict=True)), domains, _address(tracking.herald))


def _address(url: str) -> tuple[str, int | None, str] | None:
    """(host, port unless the scheme's own, path) of an http(s) URL; None for any other link, or one that does not
    parse (a bad port), which is then left alone. The scheme is left out: http://h and https://h are one site."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port  # urlsplit lowercases the scheme
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return host.rstrip("."), None if port in (None, _DEFAULT_PORTS[scheme]) else port, parts.path


def _under(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it, segment by segment (/herald holds /herald/archive, not /heraldry)."""
    root = root.rstrip("/")
    return not root or path == root or path.startswith(root + "/")
