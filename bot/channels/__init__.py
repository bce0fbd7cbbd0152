"""Channels: every backend (outbox, SMTP, mail APIs, social APIs) behind one small protocol, registered by name.

Like listmonk's messengers: a channel has a name and a kind, sends a batch of messages of one shape and
says, per message, what became of it; `close` releases its connection. A new backend is one module in this
package that decorates its factory with `@register(kind, name)`. Modules import their SDKs lazily, so
that a run that sends nothing loads none of them.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ChannelAuthError, ConfigError, FinalChannelError, TransientChannelError, quoted
from ..settings import Settings

if TYPE_CHECKING:  # only named here: reading the queue (which asks the platforms) needs no newsletter machinery
    from ..mail import PreparedEdition


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One newsletter message to one recipient: the edition's prepared bytes plus this recipient's parts."""

    key: str  # stable across retries: "edition-<id>-subscriber-<id>" (or "test-..." for test copies)
    edition: PreparedEdition
    address: str
    name: str
    token: str
    message_id: str

    def raw(self) -> bytes:
        return self.edition.message(self.address, self.name, self.token, self.message_id)

    def wire(self) -> bytes:
        """The message as SMTP's DATA carries it (dot-stuffed, ended by the lone dot)."""
        return self.edition.wire(self.address, self.name, self.token, self.message_id)


@dataclass(frozen=True, slots=True)
class OutgoingPost:
    """One post to one platform: the exact API body, plus what a backend may need around it."""

    key: str  # stable across retries: "<item>-<platform>", "<item>-<platform>-<lang>" for a translation's post
    platform: str
    item: str
    payload: dict[str, Any]
    link: str | None = None
    title: str = ""
    summary: str = ""
    image: str | None = None  # the picture's address: BOT_PUBLIC_URL/media/NAME for one in the media library
    image_alt: str | None = None
    first_attempt: datetime | None = None  # when it was first handed over; the same on every retry
    image_file: Path | None = None  # a picture of the media library: uploaded from this file, never fetched
    # A part of a reply thread after the first: the platform's ids of the part it answers and of the first part.
    part: int = 1
    reply_to: str | None = None
    thread_root: str | None = None
    # The translation the post is in ('': the item as written): each platform's own key for the post (Mastodon's
    # Idempotency-Key, Bluesky's record key) holds it, so that the same item in two languages is two posts.
    lang: str = ""
    # A hand-over of several calls (Threads: make a container, then publish it) records what each step made with
    # `record_step(name, value)` before the next; a retry finds it in `steps` and goes on from there.
    steps: dict[str, str] = field(default_factory=dict, compare=False)
    record_step: Callable[[str, str], None] | None = field(default=None, compare=False, repr=False)

    def remember(self, name: str, value: str) -> None:
        """Record a step's result in the ledger (when there is one: not for a preview) and in `steps`."""
        if self.record_step is not None:
            self.record_step(name, value)
        self.steps[name] = value


Outgoing = OutgoingMail | OutgoingPost


@dataclass(frozen=True, slots=True)
class Sent:
    remote_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    """`transient` failures may be retried (after `retry_after` seconds if the server said); others never."""

    error: str
    transient: bool = False
    retry_after: float | None = None


Outcome = Sent | Failed


def outcome_of(publish: Callable[[], str]) -> Outcome:
    """Run one hand-over that returns the remote id: its transient or final error becomes the message's outcome,
    while refused credentials (ChannelAuthError) go up, for dispatch to pause the channel."""
    try:
        return Sent(publish())
    except ChannelAuthError:
        raise
    except TransientChannelError as exc:
        return Failed(str(exc), transient=True, retry_after=exc.retry_after)
    except FinalChannelError as exc:
        return Failed(str(exc))


def one_by_one(messages: Sequence[Outgoing], deliver: Callable[[OutgoingMail], Outcome],
               backend: str) -> list[Outcome]:
    """Hand newsletter messages over one at a time, in order (SMTP, SES). A TransientChannelError before any went
    is the whole batch's (dispatch leaves it pending); after some went, their outcomes are kept and the rest wait
    for a later try with that reason."""
    outcomes: list[Outcome] = []
    for message in messages:
        if not isinstance(message, OutgoingMail):
            raise TypeError(f"the {backend} backend sends email, not {type(message).__name__}")
        try:
            outcomes.append(deliver(message))
        except TransientChannelError as exc:
            if not outcomes:
                raise
            outcomes += [Failed(str(exc), transient=True)] * (len(messages) - len(outcomes))
            break
    return outcomes


def post_of(message: Outgoing, kind: str) -> OutgoingPost:
    """`message` as a post; anything else handed to a social channel is a caller's bug, refused also under -O."""
    if not isinstance(message, OutgoingPost):
        raise TypeError(f"{kind}: a social channel carries posts only, not {type(message).__name__}")
    return message


def each_post(messages: Sequence[Outgoing], kind: str, publish: Callable[[OutgoingPost], str]) -> list[Outcome]:
    """Each post handed over by `publish` (which returns its remote id), one outcome per message in order, as
    `outcome_of` makes them; anything but a post is TypeError, as `post_of`."""
    posts = [post_of(message, kind) for message in messages]  # all checked before any goes
    return [outcome_of(functools.partial(publish, post)) for post in posts]


class Channel(Protocol):
    name: str  # the backend: outbox, smtp, mailgun, ...
    kind: str  # what it carries: email, or a platform's name (bot.platforms)
    batch_size: int  # how many messages one send() takes
    limit: int | None  # a social backend's own length limit when its server says (Mastodon), else None
    # Optional: `connections` (parallel senders dispatch may run; send() is then called from that many threads)
    # and `rate` (messages a second at most); absent means 1 and no limit. `sends_raw`: True when a message's bytes
    # are handed over as they are, so that they carry Herald's DKIM signature (bot.signing); absent means False.

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """One outcome per message, in order. Raises ChannelAuthError when the credentials are refused and
        TransientChannelError when nothing could be sent (the server is down)."""
        ...

    def reconcile(self, message: Outgoing) -> Outcome | None:
        """For a message handed over before whose outcome is unknown (a timeout, a crash): Sent if it did
        arrive, None if it did not (or cannot be known: then dispatch sends it again). Raises
        ChannelAuthError or TransientChannelError only."""
        ...

    def check(self) -> str:
        """A read-only call for `bot doctor`: a short description of what works ("signed in as @x"), or a
        ChannelError saying what to fix. Never posts or sends."""
        ...

    def close(self) -> None: ...


Factory = Callable[[Settings, str], Channel]
_REGISTRY: dict[tuple[str, str], Factory] = {}


def kinds() -> tuple[str, ...]:
    """What Herald delivers: email, then each platform, in the registry's order."""
    from ..platforms import names

    return ("email", *names())


EVERY_KIND = "*"  # a backend for whatever Herald delivers, the platforms to come included (the outbox)


def register(kinds: str | Sequence[str], name: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            _REGISTRY[(kind, name)] = factory
        return factory

    return decorate


_discovered = False


def _discover() -> None:
    """Import every backend module once, so each registers itself (importing one directly must not stop this)."""
    global _discovered
    if _discovered:
        return
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    importlib.import_module("bot.platforms")  # each platform module registers its own `api` channel
    _discovered = True


def backends(kind: str) -> list[str]:
    _discover()
    return sorted(name for k, name in _REGISTRY if k in (kind, EVERY_KIND)) + ["off"]


def backend_name(settings: Settings, kind: str) -> str:
    return settings.backends[kind]


def open_channel(settings: Settings, kind: str) -> Channel | None:
    """The configured channel for `kind`, or None when it is `off`."""
    name = backend_name(settings, kind)
    if name == "off":
        return None
    _discover()
    factory = _REGISTRY.get((kind, name)) or _REGISTRY.get((EVERY_KIND, name))
    if factory is None:
        raise ConfigError(f"BOT_{kind.upper()}_BACKEND: {quoted(name)} is not a backend for {kind}; "
                          f"choose from {', '.join(backends(kind))}")
    return factory(settings, kind)


@dataclass(slots=True)
class Channels:
    """The open channels of one run, opened on first use and all closed at the end."""

    settings: Settings
    opened: dict[tuple[str, str], Channel | None] = field(default_factory=dict)  # by (kind, account's language)

    def get(self, kind: str, lang: str = "") -> Channel | None:
        """The channel of `kind`; for a post in `lang`, that language's account where the platform has settings of
        its own for it (MASTODON_ACCESS_TOKEN_FR), else the one account's, the same channel as without `lang`."""
        from ..platform_languages import settings_for

        key = (kind, self.account(kind, lang))
        if key not in self.opened:
            own = settings_for(self.settings, kind, key[1]) if key[1] else None
            self.opened[key] = open_channel(own or self.settings, kind)
        return self.opened[key]

    def account(self, kind: str, lang: str = "") -> str:
        """The language of the account a post of `kind` in `lang` goes through: `lang` where the platform has settings
        of its own for it, else '' (the one account)."""
        from ..platform_languages import accounts

        return lang if lang and lang in accounts(self.settings, kind) else ""

    def enabled(self, kind: str) -> bool:
        return backend_name(self.settings, kind) != "off"

    def close(self) -> None:
        for channel in self.opened.values():
            if channel is not None:
                channel.close()
        self.opened.clear()
