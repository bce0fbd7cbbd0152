"""Fan-out: one pass of an edition to its recipients, streamed from the ledger, over the channel's connections.

Recipients are read a page at a time, never the whole list. Each connection marks its next message
`sending` and its previous one's outcome in a single commit before it hands the next one over: at any
moment at most one message per connection is in flight, which is all a killed run can send twice. A message
found `sending` by the next run is that one: counted, and asked after before it goes again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import mail
from .channels import Channel, Failed, Outcome, OutgoingMail, Sent
from .errors import ChannelAuthError, TransientChannelError
from .ledger import Recipient, Result
from .subscribers import make_token

if TYPE_CHECKING:
    from .dispatch import Dispatcher

BACKOFF = (5.0, 30.0, 120.0)  # seconds before the next try when the server gives no time, by earlier tries
PAGE = 1000  # recipients read from the ledger at a time


class Throttle:
    """A token bucket of one token: at most `rate` messages a second across all connections, evenly spaced."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self, count: int = 1) -> None:
        with self.lock:
            now = self.clock()
            start = max(now, self.next_at)
            self.next_at = start + count * self.interval
        if start > now:
            self.sleep(start - now)


def results(ids: Sequence[int], outcomes: Sequence[Outcome], tries: Sequence[int], now: datetime,
            redact: Callable[[str], str]) -> list[Result]:
    """What to record for each outcome: transient ones go back to `pending` with a time, later after each
    earlier try (`tries`: hand-overs so far) when the server named none."""
    recorded: list[Result] = []
    for n, (delivery_id, outcome) in enumerate(zip(ids, outcomes, strict=True)):
        if isinstance(outcome, Sent):
            recorded.append((delivery_id, "sent", outcome.remote_id, None, None))
            continue
        error = redact(outcome.error)
        if outcome.transient:
            backoff = BACKOFF[min(tries[n] if tries else 0, len(BACKOFF) - 1)]
            wait = outcome.retry_after if outcome.retry_after is not None else backoff
            recorded.append((delivery_id, "pending", None, error, now + timedelta(seconds=max(wait, 1.0))))
        else:
            recorded.append((delivery_id, "failed", None, error, None))
    return recorded


class Fanout:
    """One pass over what of an edition may go now; `run` is True when it ended normally (not paused or stopped)."""

    def __init__(self, dispatcher: Dispatcher, channel: Channel, edition_id: int,
                 prepared: Mapping[str, mail.PreparedEdition], key: bytes, instance: str) -> None:
        self.d = dispatcher
        self.ledger = dispatcher.ledger
        self.channel = channel
        self.edition_id = edition_id
        self.prepared = prepared  # by language ('' alone for an edition made before languages)
        self.default = next(iter(prepared.values()))
        self.key = key
        self.instance = instance
        rate = getattr(channel, "rate", None)
        self.throttle = Throttle(rate) if rate else None
        self.lock = threading.Lock()  # the batch stream and the report's counters
        self.interrupted = False
        counts = self.ledger.edition_counts(edition_id)
        self.total = sum(counts.values())
        self.done = sum(counts.get(s, 0) for s in ("sent", "failed", "missed"))
        self.batches = self._batches()

    def run(self) -> bool:
        connections = max(1, int(getattr(self.channel, "connections", 1)))
        if connections == 1:
            self._worker()
        else:
            failures: list[BaseException] = []

            def work() -> None:
                try:
                    self._worker()
                except BaseException as exc:  # a bug must not pass silently in a thread
                    failures.append(exc)
                    self.interrupted = True

            threads = [threading.Thread(target=work, name=f"herald-send-{n}") for n in range(connections)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
        return not self.interrupted

    # --- the stream of batches, shared by the connections ----------------------------------------------

    def _batches(self) -> Iterator[list[Recipient]]:
        size, after = self.channel.batch_size, 0
        while True:
            with self.ledger.lock:
                page = self.ledger.recipients(self.edition_id, after, PAGE, self.d.now())
            if not page:
                return
            after = page[-1].delivery_id
            dropped = [r for r in page if r.subscriber_status != "active"]
            if dropped:
                self.ledger.finish([(r.delivery_id, "missed", None, "unsubscribed before it was sent", None)
                                    for r in dropped], self.d.now())
                self.d.report.emails_dropped += len(dropped)
                self.done += len(dropped)
            active = self._settle_in_doubt([r for r in page if r.subscriber_status == "active"])
            for start in range(0, len(active), size):
                yield active[start : start + size]

    def _settle_in_doubt(self, recipients: list[Recipient]) -> list[Recipient]:
        """`recipients` without those found already delivered. One found `sending` was handed over by a run that
        died before its answer was recorded: the channel is asked whether it arrived (the outbox can tell; SMTP and
        the mail APIs cannot, so it goes again, with the same Message-ID for receivers to drop the copy)."""
        doubtful = [r for r in recipients if r.status == "sending"]
        if not doubtful:
            return recipients
        self.d.report.in_doubt += len(doubtful)
        arrived: list[Result] = []
        for recipient in doubtful:
            message = self._mail(recipient)
            try:
                found = self.channel.reconcile(message)
            except (ChannelAuthError, TransientChannelError):
                found = None  # cannot be known now: sending again is what the Message-ID is there for
            if isinstance(found, Sent):
                arrived.append((recipient.delivery_id, "sent", found.remote_id, None, None))
        if arrived:
            self.ledger.finish(arrived, self.d.now())
            self.d.report.reconciled += len(arrived)
            self.done += len(arrived)
        settled = {delivery_id for delivery_id, *_ in arrived}
        return [r for r in recipients if r.delivery_id not in settled]

    def _next(self) -> list[Recipient] | None:
        with self.lock:
            if self.interrupted or "email" in self.d.report.paused:
                return None
            if self.d.stop():
                self.d.report.stopped = self.interrupted = True
                return None
            return next(self.batches, None)

    # --- one connection -------------------------------------------------------------------------------

    def _worker(self) -> None:
        previous: list[Result] = []
        try:
            while (batch := self._next()) is not None:
                messages = [self._mail(r) for r in batch]
                ids = [r.delivery_id for r in batch]
                if self.throttle:
                    # Record the last outcome before waiting, so no finished message sits `sending` meanwhile.
                    self.ledger.step(previous, (), self.d.now())
                    previous = []
                    self.throttle.wait(len(batch))
                self.ledger.step(previous, ids, self.d.now())
                previous = []
                outcomes = self._send(messages)
                previous = results(ids, outcomes, [r.attempts for r in batch], self.d.now(),
                                   self.d.settings.redact)
                self._count(outcomes)
        finally:
            if previous:
                self.ledger.step(previous, (), self.d.now())

    def _send(self, messages: list[OutgoingMail]) -> list[Outcome]:
        try:
            return self.channel.send(messages)
        except ChannelAuthError as exc:
            with self.lock:
                self.d.pause(self.channel.kind, exc)
                self.interrupted = True
            return [Failed(str(exc), transient=True)] * len(messages)
        except TransientChannelError as exc:
            return [Failed(str(exc), transient=True, retry_after=exc.retry_after)] * len(messages)

    def _count(self, outcomes: list[Outcome]) -> None:
        with self.lock:
            report = self.d.report
            report.emails_sent += sum(isinstance(o, Sent) for o in outcomes)
            report.emails_failed += sum(isinstance(o, Failed) and not o.transient for o in outcomes)
            self.done += len(outcomes)
            if self.d.progress:
                self.d.progress(self.edition_id, self.done, self.total)

    def _mail(self, recipient: Recipient) -> OutgoingMail:
        sid = recipient.subscriber_id
        # The same Message-ID on a resend after a crash lets receivers drop the duplicate.
        prepared = self.prepared.get(recipient.lang, self.default)
        message_id = f"<{self.edition_id}.{sid}.{self.instance}@{prepared.domain}>"
        return OutgoingMail(f"edition-{self.edition_id}-subscriber-{sid}", prepared, recipient.email,
                            recipient.name, make_token(self.key, sid), message_id)
