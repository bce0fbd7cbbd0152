"""Dispatch: hand each due delivery to its channel, marking it in the ledger before and after.

Posts go one by one; an edition goes to its recipients in batches read from the ledger in id order, so
that a list of any length is streamed, and a run that stops (or dies) leaves the rest `pending`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Sequence

from . import mail, social
from .channels import Channel, Channels, Failed, Outcome, OutgoingMail, OutgoingPost, Sent
from .clock import from_utc_iso
from .content import Item, Problem
from .errors import ChannelAuthError, TransientChannelError
from .ledger import Ledger, Recipient
from .render import Newsletter
from .settings import Settings
from .subscribers import make_token, secret_key

log = logging.getLogger("herald")
RETRY_BACKOFF = timedelta(minutes=5)
PAGE = 1000  # recipients read from the ledger at a time

Progress = Callable[[int, int, int], None]  # (edition id, done, total)


@dataclass(slots=True)
class RunReport:
    """What one run did, for the CLI's summary, its exit status and the alert."""

    now: datetime
    posted: list[tuple[str, str, str]] = field(default_factory=list)  # (item, platform, remote id)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (what, channel, error)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (item, platform, why)
    deferred: list[tuple[str, str, str]] = field(default_factory=list)  # transient: retried later
    editions: list[int] = field(default_factory=list)  # created in this run
    emails_sent: int = 0
    emails_failed: int = 0
    emails_deferred: int = 0  # transient failures, left pending for the next run
    emails_dropped: int = 0  # unsubscribed after the edition was made
    invalid: list[Problem] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)  # channel -> why
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """Everything due went out."""
        return not (self.failed or self.missed or self.deferred or self.invalid or self.paused
                    or self.emails_failed or self.emails_deferred or self.stopped)


class Dispatcher:
    def __init__(self, settings: Settings, ledger: Ledger, channels: Channels, report: RunReport,
                 stop: Callable[[], bool] = lambda: False, progress: Progress | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        self.channels = channels
        self.report = report
        self.stop = stop
        self.progress = progress

    def _channel(self, kind: str) -> Channel | None:
        if kind in self.report.paused:
            return None
        return self.channels.get(kind)

    def _pause(self, kind: str, exc: ChannelAuthError) -> None:
        self.report.paused[kind] = str(exc)
        log.error("%s: credentials refused, %s is paused for this run: %s", kind, kind, exc)

    # --- posts ----------------------------------------------------------------------------------------

    def send_posts(self, items: dict[str, Item], now: datetime) -> None:
        for delivery in self.ledger.posts(("pending", "sending")):
            if self.stop():
                self.report.stopped = True
                return
            if from_utc_iso(delivery.due_at) > now:
                continue
            if delivery.next_attempt_at and from_utc_iso(delivery.next_attempt_at) > now:
                self.report.deferred.append((delivery.item_id or "", delivery.channel, delivery.last_error or ""))
                continue
            item = items.get(delivery.item_id or "")
            platform = delivery.channel
            if item is None:
                why = "the item is no longer in the queue, or no longer valid"
                self.ledger.finish([(delivery.id, "missed", None, why, None)], now)
                self.report.missed.append((delivery.item_id or "", platform, why))
                continue
            late = now - item.publish_at
            if late > self.settings.max_lateness:
                why = f"{_human(late)} late, more than BOT_MAX_LATENESS ({_human(self.settings.max_lateness)})"
                self.ledger.finish([(delivery.id, "missed", None, why, None)], now)
                self.report.missed.append((item.id, platform, why))
                continue
            channel = self._channel(platform)
            if channel is None:
                continue
            post = social.compose(item, platform)
            body = social.payload(post, language=item.lang or self.settings.language,
                                  visibility=self.settings.mastodon_visibility, created_at=now)
            message = OutgoingPost(f"{item.id}-{platform}", platform, item.id, body, item.link, item.title,
                                   item.summary, item.image, item.image_alt)
            outcome = self._hand_over(channel, [delivery.id], [message], now)[0]
            if isinstance(outcome, Sent):
                self.report.posted.append((item.id, platform, outcome.remote_id))
                log.info("posted %s to %s (%s)", item.id, platform, outcome.remote_id)
            elif outcome.transient:
                self.report.deferred.append((item.id, platform, outcome.error))
            else:
                self.report.failed.append((item.id, platform, outcome.error))
                log.error("%s: %s failed: %s", platform, item.id, outcome.error)

    # --- editions -------------------------------------------------------------------------------------

    def send_editions(self, now: datetime) -> None:
        for edition_id in self.ledger.unfinished_editions():
            channel = self._channel("email")
            if channel is None or self.stop():
                self.report.stopped = self.report.stopped or self.stop()
                return
            self.send_edition(channel, edition_id, now)

    def send_edition(self, channel: Channel, edition_id: int, now: datetime) -> None:
        edition = self.ledger.edition(edition_id)
        prepared = mail.prepare(Newsletter(edition.subject, "", edition.html, edition.text, edition.item_ids),
                                mail_from=self.settings.effective_mail_from,
                                public_url=self.settings.effective_public_url, date=now)
        key = secret_key(self.settings)
        instance = self.ledger.instance
        counts = self.ledger.edition_counts(edition_id)
        total, done = sum(counts.values()), sum(counts.get(s, 0) for s in ("sent", "failed", "missed"))
        after = 0
        while True:
            page = self.ledger.recipients(edition_id, after, PAGE)
            if not page:
                break
            after = page[-1].delivery_id
            dropped = [r for r in page if r.subscriber_status != "active"]
            if dropped:
                self.ledger.finish([(r.delivery_id, "missed", None, "unsubscribed before it was sent", None)
                                    for r in dropped], now)
                self.report.emails_dropped += len(dropped)
                done += len(dropped)
            active = [r for r in page if r.subscriber_status == "active"]
            for start in range(0, len(active), channel.batch_size):
                if self.stop():
                    self.report.stopped = True
                    return
                batch = active[start : start + channel.batch_size]
                messages = [self._mail(prepared, edition_id, r, key, instance) for r in batch]
                outcomes = self._hand_over(channel, [r.delivery_id for r in batch], messages, now)
                if "email" in self.report.paused:
                    return
                self.report.emails_sent += sum(isinstance(o, Sent) for o in outcomes)
                self.report.emails_failed += sum(isinstance(o, Failed) and not o.transient for o in outcomes)
                self.report.emails_deferred += sum(isinstance(o, Failed) and o.transient for o in outcomes)
                done += len(batch)
                if self.progress:
                    self.progress(edition_id, done, total)

    def _mail(self, prepared: mail.PreparedEdition, edition_id: int, recipient: Recipient, key: bytes,
              instance: str) -> OutgoingMail:
        sid = recipient.subscriber_id
        # The same Message-ID on a resend after a crash lets receivers drop the duplicate.
        message_id = f"<{edition_id}.{sid}.{instance}@{prepared.domain}>"
        return OutgoingMail(f"edition-{edition_id}-subscriber-{sid}", prepared, recipient.email, recipient.name,
                            make_token(key, sid), message_id)

    # --- the hand-over, marked before and after --------------------------------------------------------

    def _hand_over(self, channel: Channel, ids: Sequence[int], messages: Sequence[OutgoingMail | OutgoingPost],
                   now: datetime) -> list[Outcome]:
        """Mark `sending`, hand over, mark each outcome: transient ones go back to `pending` with a time."""
        self.ledger.claim(ids, now)
        try:
            outcomes = channel.send(messages)
        except ChannelAuthError as exc:
            self._pause(channel.kind, exc)
            outcomes = [Failed(str(exc), transient=True)] * len(messages)
        except TransientChannelError as exc:
            outcomes = [Failed(str(exc), transient=True, retry_after=exc.retry_after)] * len(messages)
        if len(outcomes) != len(messages):
            raise AssertionError(f"{channel.name} answered {len(outcomes)} outcomes for {len(messages)} messages")
        results = []
        for delivery_id, outcome in zip(ids, outcomes):
            if isinstance(outcome, Sent):
                results.append((delivery_id, "sent", outcome.remote_id, None, None))
            elif outcome.transient:
                wait = timedelta(seconds=outcome.retry_after) if outcome.retry_after else RETRY_BACKOFF
                results.append((delivery_id, "pending", None, outcome.error, now + wait))
            else:
                results.append((delivery_id, "failed", None, outcome.error, None))
        self.ledger.finish(results, now)
        return outcomes


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min"
