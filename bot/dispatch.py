"""Dispatch: hand each due delivery to its channel, marking it in the ledger before and after.

Posts go one by one; an edition goes to its recipients in batches read from the ledger in id order, so
that a list of any length is streamed, and a run that stops (or dies) leaves the rest `pending`.
Transient failures are retried within the run while the server's wait fits in BOT_RETRY_BUDGET, then
left `pending` with a time for the next run; a post handed over before is reconciled before it is retried.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from . import i18n, keys, mail, media, platform_languages, signing, social, utm
from .channels import Channel, Channels, Failed, Outcome, OutgoingMail, OutgoingPost, Sent
from .clock import from_utc_iso, human_duration, utc_iso
from .content import Item, Problem
from .errors import ChannelAuthError, ChannelError, ConfigError, TransientChannelError
from .fanout import BACKOFF, Fanout, results
from .ledger import Delivery, Ledger
from .ledger import sent as sent_book
from .render import Newsletter
from .settings import Settings

log = logging.getLogger("herald")

Progress = Callable[[int, int, int], None]  # (edition id, done, total)


@dataclass(slots=True)
class RunReport:
    """What one run did, for the CLI's summary, its exit status and the alert."""

    now: datetime
    posted: list[tuple[str, str, str]] = field(default_factory=list)  # (item, platform, remote id)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (item, platform, error)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (item, platform, why)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (item, why): too old for the newsletter
    deferred: list[tuple[str, str, str]] = field(default_factory=list)  # transient: retried by the next run
    editions: list[int] = field(default_factory=list)  # created in this run
    emails_sent: int = 0
    emails_failed: int = 0
    emails_deferred: int = 0  # transient failures still pending at the end of the run
    emails_dropped: int = 0  # unsubscribed after the edition was made
    retries: int = 0  # in-run retries after transient failures
    reconciled: int = 0  # posts (and outbox emails) found already there when checked before handing them over again
    in_doubt: int = 0  # found `sending`: handed over by a run that died before the answer was recorded
    invalid: list[Problem] = field(default_factory=list)
    paused: dict[str, str] = field(default_factory=dict)  # channel -> why
    stopped: bool = False
    imported: list[str] = field(default_factory=list)  # feeds in: one line per item a feed's poll wrote
    in_language: dict[str, str] = field(default_factory=dict)  # remote id -> language, of a translation's post

    @property
    def ok(self) -> bool:
        """Everything due went out. (An email item too old for the newsletter was never due in it: it is reported
        and alerted, not counted here.)"""
        return not (self.failed or self.missed or self.deferred or self.invalid or self.paused
                    or self.emails_failed or self.emails_deferred or self.stopped)

    def summary(self) -> dict[str, object]:
        """What `bot status` shows of the last run (counts, and the channels it paused)."""
        return {"at": self.now.isoformat(), "ok": self.ok, "posted": len(self.posted), "failed": len(self.failed),
                "missed": len(self.missed), "stale": len(self.stale), "deferred": len(self.deferred),
                "editions": self.editions, "emails_sent": self.emails_sent, "emails_failed": self.emails_failed,
                "emails_deferred": self.emails_deferred, "retries": self.retries, "reconciled": self.reconciled,
                "in_doubt": self.in_doubt,
                "invalid": len(self.invalid), "paused": self.paused, "stopped": self.stopped}


class Dispatcher:
    def __init__(self, settings: Settings, ledger: Ledger, channels: Channels, report: RunReport,
                 stop: Callable[[], bool] = lambda: False, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.tracking = utm.tracking(settings)  # BOT_UTM: the posts' links tagged as the preview shows them
        self.ledger = ledger
        self.channels = channels
        self.report = report
        self.stop = stop
        self.progress = progress
        self._sleep = sleep
        self._clock = clock
        # id of a channel -> (the account it is, as pauses are kept and told; the language of its own settings)
        self._accounts: dict[int, tuple[str, str]] = {}
        self._started = time.monotonic()
        self._slept = 0.0

    # --- time: the real clock, or (a fixed or simulated run) the run's instant moved on by its waits -----

    def _elapsed(self) -> float:
        return max(time.monotonic() - self._started, self._slept)

    def now(self) -> datetime:
        if self._clock is not None:
            return self._clock()
        return self.report.now + timedelta(seconds=self._slept)

    def _wait(self, seconds: float) -> bool:
        """Wait for a retry if the budget allows; False when it does not (the next run will retry)."""
        if self._elapsed() + seconds > self.settings.retry_budget.total_seconds() or self.stop():
            return False
        self._sleep(seconds)
        self._slept += seconds
        self.report.retries += 1
        return True

    def _channel(self, kind: str, lang: str = "") -> Channel | None:
        """The channel of `kind` for `lang`'s account, unless that account is paused for this run: one language's
        refused token (MASTODON_ACCESS_TOKEN_FR) holds back that account alone, not the platform's others."""
        own = self.channels.account(kind, lang)
        account = f"{kind} in {i18n.language_name(own, 'en')}" if own else kind
        if account in self.report.paused:
            return None
        channel = self.channels.get(kind, lang)
        if channel is not None:
            self._accounts[id(channel)] = (account, own)
        return channel

    def _account(self, channel: Channel) -> str:
        return self._accounts.get(id(channel), (channel.kind, ""))[0]

    def pause(self, channel: Channel | str, exc: ChannelAuthError) -> None:
        """Pause a channel (or a kind, for email) for the rest of the run; a language's own account says which
        settings to check."""
        account, lang = (channel, "") if isinstance(channel, str) else \
            self._accounts.get(id(channel), (channel.kind, ""))
        hint = f" (this language's own account: the settings ending in _{lang.upper()})" if lang else ""
        self.report.paused[account] = self.settings.redact(str(exc)) + hint
        log.error("%s: %s; it is paused for this run: %s", account, exc.what, self.report.paused[account])

    # --- posts ----------------------------------------------------------------------------------------

    def send_posts(self, items: dict[str, Item], may_go: Callable[[Item, str], bool] = lambda i, c: True) -> None:
        """Hand over every post that is due; one whose item was held, or changed and awaits approval, waits. A
        later part of a reply thread goes in the same run as soon as the part it answers is out."""
        waiting = []
        for delivery in self.ledger.posts(("pending", "sending")):
            if self.stop():
                self.report.stopped = True
                return
            if delivery.part > 1 and self._waits_for_its_parent(delivery):
                waiting.append(delivery.id)
                continue
            self._consider(delivery, items, may_go)
        while waiting and not self.stop():
            ready = [d for d in self.ledger.posts(("pending", "sending"))
                     if d.id in waiting and not self._waits_for_its_parent(d)]
            for delivery in ready:
                waiting.remove(delivery.id)
                self._consider(delivery, items, may_go)
            if not ready:
                break

    def _consider(self, delivery: Delivery, items: dict[str, Item], may_go: Callable[[Item, str], bool]) -> None:
        now = self.now()
        if from_utc_iso(delivery.due_at) > now:
            return
        if delivery.next_attempt_at and from_utc_iso(delivery.next_attempt_at) > now:
            self.report.deferred.append((delivery.item_id or "", delivery.channel,
                                         said_in(delivery.lang, delivery.last_error or "")))
            return
        item = items.get(delivery.item_id or "")
        # Lateness runs from the item's time, or from the time a person requeued it for; a later part of a reply
        # thread is never late: it follows the part it answers, whenever that went.
        since = max(item.publish_at, from_utc_iso(delivery.due_at)) if item and delivery.part == 1 else now
        if item is not None and not may_go(item, delivery.channel):
            return
        if item is None:
            self._miss(delivery, "the item is no longer in the queue, or no longer valid")
        elif now - since > self.settings.max_lateness:
            self._miss(delivery, f"{human_duration(now - since)} late, more than BOT_MAX_LATENESS "
                                 f"({human_duration(self.settings.max_lateness)})")
        else:
            # The item as written goes to the account of the language it is written in, a translation to its own's.
            channel = self._channel(delivery.channel, delivery.lang or item.own_language(self.settings.language))
            if channel is not None:
                self._post(channel, delivery, item)

    def _waits_for_its_parent(self, delivery: Delivery) -> bool:
        """A part of a reply thread goes once the part it answers is out: never before, never late because of it
        (a failed or missed part holds back the rest until a person requeues it)."""
        parent = self.ledger.post(delivery.item_id or "", delivery.channel, delivery.part - 1, delivery.lang)
        return parent is None or parent.status != "sent"

    def _miss(self, delivery: Delivery, why: str) -> None:
        self.ledger.finish([(delivery.id, "missed", None, why, None)], self.now())
        self.report.missed.append((delivery.item_id or "", delivery.channel, said_in(delivery.lang, why)))

    def _post(self, channel: Channel, delivery: Delivery, original: Item) -> None:
        platform, lang = delivery.channel, delivery.lang
        if lang and lang not in original.translations:  # never the item as written under another language's name
            self._miss(delivery, "its translation is no longer in the queue, or no longer valid")
            return
        item = original.in_language(lang, self.settings.language) if lang else original
        thread = social.compose_thread(item, platform, limit=getattr(channel, "limit", None), tracking=self.tracking)
        if delivery.part > len(thread):
            self._miss(delivery, f"the item has no part {delivery.part} for {platform} any more")
            return
        post = thread[delivery.part - 1]
        language = item.own_language(self.settings.language)
        body = social.payload(post, language=language, created_at=self.now(),
                              **platform_languages.options_for(self.settings, platform, language))
        message = self._message(delivery, item, body, post.link)
        # In doubt: handed over with no answer recorded (`sending`: the run that handed it over died), or answered
        # with a transient failure, which may come after the platform took it (a timeout). Only such a post is
        # looked for on the platform first; one never handed over, or requeued after a final refusal, is not.
        in_doubt = delivery.status == "sending" or delivery.last_error is not None
        if delivery.status == "sending":
            self.report.in_doubt += 1
            log.warning("%s on %s was in flight when an earlier run stopped: looking for it on %s first",
                        item.id, platform, platform)
        sent_book.record_post(self.ledger, delivery.id, item.digest)  # so a later edit of the file can be told
        error = ""
        for round_ in range(len(BACKOFF) + 1):
            if in_doubt and self._already_there(channel, delivery.id, message):
                return
            outcome = self._hand_over(channel, [delivery.id], [message])[0]
            in_doubt = True  # another round follows only a transient failure, after which either may be true
            if isinstance(outcome, Sent):
                self._posted(message, outcome.remote_id)
                log.info("posted %s%s to %s (%s)", item.id, f" in {lang}" if lang else "", platform, outcome.remote_id)
                return
            if not outcome.transient:
                said = self.settings.redact(outcome.error)  # a server may repeat a token back: never shown or logged
                self.report.failed.append((item.id, platform, said_in(lang, said)))
                log.error("%s: %s failed: %s", platform, item.id, said_in(lang, said))
                return
            error = self.settings.redact(outcome.error)
            if self._account(channel) in self.report.paused or round_ == len(BACKOFF) or \
                    not self._wait(outcome.retry_after if outcome.retry_after is not None else BACKOFF[round_]):
                break
        self.report.deferred.append((item.id, platform, said_in(lang, error)))

    def _posted(self, message: OutgoingPost, remote_id: str) -> None:
        self.report.posted.append((message.item, message.platform, remote_id))
        if message.lang:
            self.report.in_language[remote_id] = message.lang

    def _message(self, delivery: Delivery, item: Item, body: dict[str, Any], link: str | None) -> OutgoingPost:
        """The post to hand over: the first part carries the link card (`link`: the item's, tagged as in the post)
        and the picture; a later part of a reply thread carries the ids of the part it answers and of the first.
        Its key is the item's and the platform's, with the language for a translation's post (a post recorded
        before languages keeps its key), and the part after the first."""
        platform, part, lang = delivery.channel, delivery.part, delivery.lang
        key = f"{item.id}-{platform}-{lang}" if lang else f"{item.id}-{platform}"
        # Stored to the second when first claimed, so the first try and every retry see the same instant.
        first = from_utc_iso(delivery.first_attempt_at or utc_iso(self.now()))
        steps = json.loads(delivery.steps) if delivery.steps else {}
        record = partial(self.ledger.record_step, delivery.id)
        if part > 1:
            parent = self.ledger.post(item.id, platform, part - 1, lang)
            root = self.ledger.post(item.id, platform, 1, lang)
            return OutgoingPost(f"{key}-part{part}", platform, item.id, body, first_attempt=first, part=part,
                                reply_to=parent.remote_id if parent else None,
                                thread_root=root.remote_id if root else None, lang=lang, steps=steps,
                                record_step=record)
        image = media.public_url(self.settings, item.image) if item.image else None
        return OutgoingPost(key, platform, item.id, body, link, item.title, item.summary, image, item.image_alt,
                            first, image_file=media.local_file(self.settings, item.image), lang=lang, steps=steps,
                            record_step=record)

    def _already_there(self, channel: Channel, delivery_id: int, message: OutgoingPost) -> bool:
        """Before re-sending a post whose first hand-over had no clear answer, ask the platform."""
        try:
            found = channel.reconcile(message)
        except ChannelAuthError as exc:
            self.pause(channel, exc)
            return True
        except ChannelError:
            found = None  # the platform's own idempotency (a key, a record name) still guards the resend
        if isinstance(found, Sent):
            self.ledger.finish([(delivery_id, "sent", found.remote_id, None, None)], self.now())
            self._posted(message, found.remote_id)
            self.report.reconciled += 1
            log.info("%s on %s was already published (%s): not posted again", message.item, message.platform,
                     found.remote_id)
            return True
        return False

    # --- editions -------------------------------------------------------------------------------------

    def send_editions(self, held: Callable[[str], bool] = lambda item_id: False) -> None:
        """Send what is left of every unfinished edition; one holding an item that a person has held since waits
        (its other recipients already have it as it is, so it cannot go on without that item)."""
        for edition_id in self.ledger.unfinished_editions():
            channel = self._channel("email")
            if channel is None or self.stop():
                self.report.stopped = self.report.stopped or self.stop()
                return
            kept = [i for i in self.ledger.edition(edition_id).item_ids if held(i)]
            if kept:
                self.report.deferred.append((f"edition {edition_id}", "email", f"held: {', '.join(kept)} is held"))
                continue
            self.send_edition(channel, edition_id)

    def send_edition(self, channel: Channel, edition_id: int) -> None:
        """Every recipient not yet done; then, while the budget allows, another pass for the deferred ones."""
        signer = signing.for_channel(self.settings, channel)
        prepared = {}  # each language's version, prepared once: a recipient only fills in their own parts
        for lang in self.ledger.edition(edition_id).languages or ("",):
            edition = self.ledger.edition(edition_id, lang)
            prepared[lang] = mail.prepare(Newsletter(edition.subject, "", edition.html, edition.text,
                                                     edition.item_ids), mail_from=self.settings.effective_mail_from,
                                          public_url=self.settings.effective_public_url, date=self.now(),
                                          signer=signer)
        key = keys.root(self.settings)  # make_token derives the unsubscribe key from it
        instance = self.ledger.instance
        while Fanout(self, channel, edition_id, prepared, key, instance).run():
            retry_at = self.ledger.next_retry(edition_id)
            if retry_at is None or not self._wait(max(0.0, (retry_at - self.now()).total_seconds())):
                break
        if not self.ledger.finish_edition(edition_id, self.now()):
            counts = self.ledger.edition_counts(edition_id)
            self.report.emails_deferred += counts.get("pending", 0) + counts.get("sending", 0)

    # --- the hand-over, marked before and after --------------------------------------------------------

    def _hand_over(self, channel: Channel, ids: Sequence[int], messages: Sequence[OutgoingMail | OutgoingPost],
                   tries: Sequence[int] | None = None) -> list[Outcome]:
        """Mark `sending`, hand over, mark each outcome: transient ones go back to `pending` with a time, later
        for each earlier try (`tries`: hand-overs so far, per message) when the server named none."""
        self.ledger.claim(ids, self.now())
        try:
            outcomes = channel.send(messages)
        except ChannelAuthError as exc:
            self.pause(channel, exc)
            outcomes = [Failed(str(exc), transient=True)] * len(messages)
        except TransientChannelError as exc:
            outcomes = [Failed(str(exc), transient=True, retry_after=exc.retry_after)] * len(messages)
        if len(outcomes) != len(messages):
            raise AssertionError(f"{channel.name} answered {len(outcomes)} outcomes for {len(messages)} messages")
        self.ledger.finish(results(ids, outcomes, tries or [0] * len(ids), self.now(), self.settings.redact),
                           self.now())
        return outcomes


def said_in(lang: str, text: str) -> str:
    """What is said of a post (why it failed, or was missed), preceded by its language for a translation's post."""
    return f"in {i18n.language_name(lang, 'en')}: {text}" if lang else text


def send_notice(settings: Settings, channel: Channel | None, kind: str, address: str, subject: str, text: str,
                now: datetime) -> str | None:
    """Send one plain-text notice (an alert, a confirmation link): not list mail, and not recorded in the ledger.
    None when it went; otherwise why not, with any secret scrubbed. It never raises: a notice must not take a
    run or a web request down with it."""
    if channel is None:
        return "the email channel is off, or paused for this run"
    try:
        signer = signing.for_channel(settings, channel)
    except ConfigError as exc:
        return str(exc)
    notice = mail.prepare_notice(subject, text, mail_from=settings.effective_mail_from, date=now, signer=signer)
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    digest = hashlib.sha256(f"{address}\n{text}".encode()).hexdigest()[:12]
    message = OutgoingMail(f"{kind}-{stamp}", notice, address, "", "", f"<{kind}.{stamp}.{digest}@{notice.domain}>")
    try:
        outcome = channel.send([message])[0]
    except Exception as exc:
        return settings.redact(str(exc))
    return None if isinstance(outcome, Sent) else settings.redact(outcome.error)
