"""Mail APIs: what the Mailgun and SendGrid backends share between dispatch's batches and each provider's one call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from ..errors import ChannelAuthError, FinalChannelError, TransientChannelError
from ..mail import TOKEN_PLACEHOLDER, PreparedEdition
from ..settings import Settings
from . import Failed, Outcome, Outgoing, OutgoingMail, Sent
from .http import session

Shared = TypeVar("Shared")  # the part of a provider's request that is the same for every recipient of an edition


def with_token_tag(edition: PreparedEdition, tag: str) -> tuple[str, str]:
    """The edition's text and html with each recipient's token slot written as the provider's variable."""
    newsletter = edition.newsletter
    return newsletter.text.replace(TOKEN_PLACEHOLDER, tag), newsletter.html.replace(TOKEN_PLACEHOLDER, tag)


def by_edition(messages: Sequence[OutgoingMail]) -> list[tuple[PreparedEdition, list[int]]]:
    """The positions of `messages` grouped by the edition they belong to, in order of first appearance."""
    groups: dict[int, tuple[PreparedEdition, list[int]]] = {}
    for position, message in enumerate(messages):
        groups.setdefault(id(message.edition), (message.edition, []))[1].append(position)
    return list(groups.values())


class MailApi(Generic[Shared]):
    """A batch mail API: one call per edition in a batch, succeeding or failing as a whole.

    Subclasses give `name`, `_shared` (built once per edition, since a batch of 1,000 must not redo a
    100 kB replacement each time) and `_post` (the call; it returns the provider's id for the batch)."""

    name = "mail-api"
    batch_size = 1000  # both Mailgun and SendGrid take at most 1,000 recipients per call
    limit: int | None = None

    def __init__(self, settings: Settings, kind: str) -> None:
        self.settings = settings
        self.kind = kind
        self.session = session()
        self._cached: tuple[PreparedEdition, Shared] | None = None

    def _shared(self, edition: PreparedEdition) -> Shared:
        raise NotImplementedError

    def _post(self, shared: Shared, edition: PreparedEdition, messages: Sequence[OutgoingMail]) -> str:
        raise NotImplementedError

    def shared(self, edition: PreparedEdition) -> Shared:
        # Dispatch prepares an edition once per run and hands its batches over in a row: one entry is enough,
        # and holding the edition itself (not its id) means a new edition can never be mistaken for it.
        if self._cached is None or self._cached[0] is not edition:
            self._cached = (edition, self._shared(edition))
        return self._cached[1]

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        mails = [m for m in messages if isinstance(m, OutgoingMail)]
        if len(mails) != len(messages):
            raise TypeError(f"{self.name} sends newsletter mail only")
        outcomes: list[Outcome] = [Failed("not sent")] * len(mails)
        sent_any = False
        for edition, positions in by_edition(mails):
            group = [mails[p] for p in positions]
            result: list[Outcome]
            try:
                remote_id = self._post(self.shared(edition), edition, group)
                result = [Sent(remote_id)] * len(group)
                sent_any = True
            except ChannelAuthError:
                if not sent_any:
                    raise  # dispatch pauses the channel and leaves the whole batch pending
                result = [Failed("credentials refused", transient=True)] * len(group)
            except TransientChannelError as exc:
                if not sent_any:
                    raise
                # Raising now would put the groups already accepted back to pending: they would go twice.
                result = [Failed(str(exc), transient=True, retry_after=exc.retry_after)] * len(group)
            except FinalChannelError as exc:
                result = [Failed(str(exc))] * len(group)
            for position, outcome in zip(positions, result, strict=False):
                outcomes[position] = outcome
        return outcomes

    def reconcile(self, message: Outgoing) -> Outcome | None:
        # Neither API can be asked "did this recipient's message arrive?" without the events API and a delay.
        return None

    def close(self) -> None:
        self.session.close()
