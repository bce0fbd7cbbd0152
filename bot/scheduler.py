"""The scheduler: decide what is due at an instant, then have it dispatched; once, in a loop, or on a simulated clock.

Everything takes `now` as an argument: the real clock, `--now`, the demo's stepping clock and the tests'
fixed clock all go through the same code.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from . import alerts, i18n, mail, private, queue, signing, social
from .approval import Gate
from .channels import Channels, OutgoingMail, Sent
from .clock import from_utc_iso, human_duration, next_slot, previous_slot, slots_between
from .content import Item
from .dispatch import Dispatcher, Progress, RunReport, said_in
from .errors import ConfigError, HeraldError
from .ledger import Ledger, Version
from .ledger import stale as stale_book
from .platforms import PLATFORMS
from .render import Newsletter, render_newsletter
from .settings import Settings

log = logging.getLogger("herald")
WAKE_EVERY = 30  # seconds: a post leaves at most this long after its time
TEST_TOKEN = "test-copy-token-links-to-nobody0"  # a real token's length; names no subscriber


# --- the lock: one runner per state folder ---------------------------------------------------------------


@contextmanager
def state_lock(settings: Settings) -> Iterator[None]:
    """Hold BOT_STATE_DIR/herald.lock for as long as this process dispatches, or refuse to start."""
    path = private.folder(settings.state_dir) / "herald.lock"
    handle = private.open_lock(path)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise HeraldError(f"another Herald ({holder}) is already dispatching from {settings.state_dir}; "
                          "wait for it to finish, or stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    try:
        yield
    finally:
        handle.close()  # closing releases the lock


# --- what is due ------------------------------------------------------------------------------------


def post_languages(item: Item, settings: Settings) -> list[str]:
    """The languages `item` is posted in, each as its posts are recorded, in BOT_SOCIAL_LANGUAGES order: '' for the
    item as written, where its own language is listed; the language for each listed one it is translated into."""
    own = item.own_language(settings.language)
    return ["" if lang == own else lang for lang in settings.social_languages
            if lang == own or lang in item.translations]


def plan_posts(ledger: Ledger, items: list[Item], channels: Channels, settings: Settings, now: datetime,
               report: RunReport, gate: Gate) -> None:
    """Record each post that has come due and may go (not a draft, approved where that is required, not held), in
    each language it goes in; one more than BOT_MAX_LATENESS late is recorded as missed."""
    known = {(d.item_id, d.channel, d.lang) for d in ledger.posts()}
    for item in items:
        if item.publish_at > now:
            continue
        for platform in PLATFORMS:
            if platform not in item.channels or not channels.enabled(platform) or not gate.may_go(item, platform):
                continue
            for lang in post_languages(item, settings):
                if (item.id, platform, lang) not in known:
                    _record_post(ledger, item, platform, lang, settings, now, report)


def _record_post(ledger: Ledger, item: Item, platform: str, lang: str, settings: Settings, now: datetime,
                 report: RunReport) -> None:
    late = now - item.publish_at
    # A reply thread: one record per part, at once, as the language's text has them.
    shown = item.in_language(lang, settings.language) if lang else item
    parts = max(1, len(social.parts_of(shown, platform)))
    if late > settings.max_lateness:
        why = f"{human_duration(late)} late at the first run after its time (BOT_MAX_LATENESS is " \
              f"{human_duration(settings.max_lateness)})"
        for part in range(1, parts + 1):
            ledger.add_post(item.id, platform, item.publish_at, now, status="missed", error=why, part=part, lang=lang)
        report.missed.append((item.id, platform, said_in(lang, why)))
    else:
        for part in range(1, parts + 1):
            ledger.add_post(item.id, platform, item.publish_at, now, part=part, lang=lang)


def edition_items(ledger: Ledger, items: list[Item], until: datetime, gate: Gate, settings: Settings) -> list[Item]:
    """Email items due by `until` that no edition holds yet, that may go out, and that are not too old for an
    edition at `until`. Records nothing: for a test copy, `bot status` and the like."""
    return fresh_for_edition(_waiting(ledger, items, until, gate), until, settings)


def _waiting(ledger: Ledger, items: list[Item], until: datetime, gate: Gate) -> list[Item]:
    taken = ledger.items_in_editions()
    return [i for i in items if "email" in i.channels and i.publish_at <= until and i.id not in taken
            and gate.may_go(i, "email")]


# --- stale news: an email item too old for the edition it would go in ---------------------------------


def too_old(item: Item, slot: datetime, settings: Settings) -> bool:
    """Published more than BOT_MAX_ITEM_AGE before the edition at `slot`: no longer news for a newsletter."""
    return slot - item.publish_at > settings.max_item_age


def unread(item: Item, settings: Settings) -> bool:
    """In no language's version of an edition: with BOT_TRANSLATION_FALLBACK=skip, an item written in a language
    BOT_LANGUAGES does not list and translated into none it lists."""
    return settings.translation_fallback == "skip" and not set(item.languages(settings.language)) & \
        set(settings.languages)


def fresh_for_edition(items: Iterable[Item], slot: datetime, settings: Settings) -> list[Item]:
    """`items` without those too old for an edition at `slot`, and those no version of it would show: every plan of
    an edition (a run, `bot newsletter send`, a test copy, `bot status`, `bot preview`) applies it, so none shows an
    item no run would send."""
    return [i for i in items if not too_old(i, slot, settings) and not unread(i, settings)]


def stale_reason(item: Item, slot: datetime, settings: Settings) -> str:
    tz = settings.timezone
    return (f"published {item.publish_at.astimezone(tz):%Y-%m-%d}, {_age(slot - item.publish_at)} before the "
            f"newsletter of {slot.astimezone(tz):%Y-%m-%d} (BOT_MAX_ITEM_AGE is {_age(settings.max_item_age)})")


def _age(delta: timedelta) -> str:
    return f"{delta.days:,} days" if delta >= timedelta(days=2) else human_duration(delta)


def keep_out_stale(ledger: Ledger, items: list[Item], slot: datetime, settings: Settings, report: RunReport,
                   now: datetime) -> list[Item]:
    """The items fit for an edition at `slot`. Each one too old, or in no language's version, is recorded as missed
    for the newsletter and put in this run's report the first time only; it never goes out (unless its publish_at
    is moved, or a translation is added)."""
    old = [(i.id, stale_reason(i, slot, settings)) for i in items if too_old(i, slot, settings)]
    old += [(i.id, f"it is written in {i18n.language_name(i.own_language(settings.language), 'en')}, which "
                   f"BOT_LANGUAGES does not list, and translated into none of its languages "
                   "(BOT_TRANSLATION_FALLBACK is skip)") for i in items if unread(i, settings)]
    if old:
        first_time = set(stale_book.record(ledger, old, now))
        report.stale += [(item_id, why) for item_id, why in old if item_id in first_time]
    return fresh_for_edition(items, slot, settings)


def in_languages(items: list[Item], settings: Settings) -> dict[str, list[Item]]:
    """The items of an edition as each of BOT_LANGUAGES reads them, the default first: each item translated where it
    has a translation, else as written (or, with BOT_TRANSLATION_FALLBACK=skip, left out); a language left with no
    item has no version."""
    found = {}
    for lang in settings.languages:
        shown = [i.in_language(lang, settings.language) for i in items
                 if settings.translation_fallback == "show" or lang in i.languages(settings.language)]
        if shown:
            found[lang] = shown
    return found


def create_edition(ledger: Ledger, items: list[Item], settings: Settings, slot: datetime | None,
                   now: datetime) -> int:
    """Render the edition once per language (MJML compiled here, never per recipient) and record it with its
    recipients, each in their language."""
    public = settings.effective_public_url
    day = (slot or now).astimezone(settings.timezone).date()

    def render(edition_id: int) -> dict[str, Version]:
        versions = {}
        for lang, shown in in_languages(items, settings).items():
            newsletter = render_newsletter(shown, settings, edition_date=day, lang=lang,
                                           unsubscribe_url=mail.unsubscribe_url(public, mail.TOKEN_PLACEHOLDER),
                                           language_url=mail.language_url(public, mail.TOKEN_PLACEHOLDER),
                                           archive_url=f"{public}/archive/{edition_id}/{lang}")
            versions[lang] = Version(newsletter.subject, newsletter.html, newsletter.text, newsletter.item_ids)
        return versions

    edition_id = ledger.create_edition(slot, [i.id for i in items], now, render,
                                       digests={i.id: i.digest for i in items}, languages=settings.languages)
    edition = ledger.edition(edition_id)
    log.info("edition %d: %d item(s), %d recipient(s)%s", edition_id, len(items), edition.recipients,
             f" in {', '.join(edition.languages)}" if len(settings.languages) > 1 else "")
    return edition_id


def plan_edition(ledger: Ledger, items: list[Item], channels: Channels, settings: Settings, now: datetime,
                 report: RunReport, gate: Gate) -> None:
    """At the latest slot, one edition of what is new, unless it exists, nothing is new, or the slot is stale."""
    if not channels.enabled("email"):
        return
    slot = previous_slot(settings.newsletter_schedule, settings.timezone, now)
    if now - slot > settings.max_lateness or ledger.edition_for_slot(slot) is not None:
        return  # a stale slot is skipped: its items wait for the next one instead of arriving days late
    due = keep_out_stale(ledger, _waiting(ledger, items, slot, gate), slot, settings, report, now)
    if due:
        report.editions.append(create_edition(ledger, due, settings, slot, now))


# --- running ------------------------------------------------------------------------------------------


def run_once(settings: Settings, now: datetime, stop: Callable[[], bool] = lambda: False,
             progress: Progress | None = None, clock: Callable[[], datetime] | None = None,
             poll_feeds: bool = True) -> RunReport:
    """Everything due at `now`: the feeds of BOT_FEEDS not polled within BOT_FEED_INTERVAL (their new entries join
    the queue read next), new posts and their retries, the slot's edition, unfinished editions.

    With `clock` (a live run) deliveries are stamped with the real time; without, with `now` plus any
    waits, so that fixed and simulated clocks give the same results every time."""
    if poll_feeds and settings.feeds:
        from .feeds import poll_due  # feedparser is loaded only where feeds are set

        polled = poll_due(settings, now)  # a feed that fails is logged and waits for the next interval
    else:
        polled = []
    loaded = queue.load(settings)
    signing.check(settings)  # a DKIM key that cannot be used stops the run here, before anything is sent
    report = RunReport(now, invalid=list(loaded.problems))
    # What the feeds brought is said with what went out: the staff look for it there, not in the log.
    report.imported = [f"imported from {done.source}: {path}" + (f" (a draft: {why})" if why else "")
                       for done in polled for path, why in done.written]
    by_id = {i.id: i for i in loaded.items}
    channels = Channels(settings)
    try:
        with Ledger.open(settings.state_dir) as ledger:
            dispatcher = Dispatcher(settings, ledger, channels, report, stop, progress, clock=clock)
            gate = Gate.read(ledger, settings)
            plan_posts(ledger, loaded.items, channels, settings, now, report, gate)
            dispatcher.send_posts(by_id, gate.may_go)
            plan_edition(ledger, loaded.items, channels, settings, now, report, gate)
            dispatcher.send_editions(gate.holds_newsletter)
            ledger.set_meta("last_run", json.dumps(report.summary()))
            alerts.send(report, settings, ledger, channels)
    finally:
        channels.close()
    return report


def send_newsletter_now(settings: Settings, now: datetime, progress: Progress | None = None) -> RunReport:
    """`bot newsletter send`: one edition of every email item due and not yet sent, at once."""
    loaded = queue.load(settings)
    signing.check(settings)
    report = RunReport(now, invalid=list(loaded.problems))
    channels = Channels(settings)
    if not channels.enabled("email"):
        raise ConfigError("BOT_EMAIL_BACKEND is off: there is nothing to send the newsletter with")
    try:
        with Ledger.open(settings.state_dir) as ledger:
            gate = Gate.read(ledger, settings)
            due = keep_out_stale(ledger, _waiting(ledger, loaded.items, now, gate), now, settings, report, now)
            if due:
                report.editions.append(create_edition(ledger, due, settings, None, now))
            Dispatcher(settings, ledger, channels, report, progress=progress).send_editions(gate.holds_newsletter)
    finally:
        channels.close()
    return report


def send_test_copy(settings: Settings, now: datetime, address: str, lang: str | None = None) -> tuple[str, str]:
    """One copy of the next edition (or the last one when nothing is new) to `address`, in `lang` (None: the
    default language); records nothing.

    Returns (subject, where it went)."""
    lang = lang or settings.language
    loaded = queue.load(settings)
    with Ledger.open(settings.state_dir) as ledger:
        slot = next_slot(settings.newsletter_schedule, settings.timezone, now)
        due = edition_items(ledger, loaded.items, slot, Gate.read(ledger, settings), settings)
        if due:
            shown = in_languages(due, settings).get(lang)
            if not shown:
                raise HeraldError(f"nothing to test in {lang}: no item of the next edition is translated into it, "
                                  "and BOT_TRANSLATION_FALLBACK is skip")
            public = settings.effective_public_url
            newsletter = render_newsletter(shown, settings, edition_date=slot.astimezone(settings.timezone).date(),
                                           unsubscribe_url=mail.unsubscribe_url(public, mail.TOKEN_PLACEHOLDER),
                                           language_url=mail.language_url(public, mail.TOKEN_PLACEHOLDER),
                                           subject_prefix="[TEST] ", lang=lang)
        else:
            editions = ledger.editions()
            if not editions:
                raise HeraldError("nothing to test: no email item is due by the next slot and no edition was sent yet")
            last = ledger.edition(editions[-1], lang)
            newsletter = Newsletter("[TEST] " + last.subject, "", last.html, last.text, last.item_ids)
    channels = Channels(settings)
    try:
        channel = channels.get("email")
        if channel is None:
            raise ConfigError("BOT_EMAIL_BACKEND is off: there is nothing to send the test copy with")
        prepared = mail.prepare(newsletter, mail_from=settings.effective_mail_from,
                                public_url=settings.effective_public_url, date=now,
                                signer=signing.for_channel(settings, channel))
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        message = OutgoingMail(f"test-{stamp}", prepared, address, "", TEST_TOKEN,
                               f"<test.{stamp}.{os.getpid()}@{prepared.domain}>")
        outcome = channel.send([message])[0]
    finally:
        channels.close()
    if not isinstance(outcome, Sent):
        raise HeraldError(f"the test copy to {address} failed: {outcome.error}")
    return newsletter.subject, f"{channel.name} ({outcome.remote_id})"


def run_forever(settings: Settings, on_report: Callable[[RunReport], None],
                clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                stopping: threading.Event | None = None) -> None:
    """`bot run`: wake at least every 30 s until SIGINT or SIGTERM (or `stopping` is set, when another part of
    the process owns the signals), which stop it after the message in flight."""
    import schedule

    queue.require_folder(settings)  # a setting to fix ends the command; later, a tick's trouble is retried
    own_signals = stopping is None
    stopping = stopping or threading.Event()

    def ask_to_stop(signum: int, frame: object) -> None:
        log.info("stopping after the message in flight (signal %d)", signum)
        stopping.set()

    previous = {s: signal.signal(s, ask_to_stop) for s in (signal.SIGINT, signal.SIGTERM)} if own_signals else {}
    timer = schedule.Scheduler()

    def tick() -> None:
        try:
            on_report(run_once(settings, clock(), stop=stopping.is_set, clock=clock))
        except HeraldError as exc:  # a bad moment (a file half-saved, a locked database): the next tick retries
            log.error("run failed: %s", exc)

    timer.every(WAKE_EVERY).seconds.do(tick)
    try:
        tick()
        while not stopping.is_set():
            timer.run_pending()
            stopping.wait(timeout=max(0.2, min(1.0, timer.idle_seconds or 1.0)))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- the simulated clock -------------------------------------------------------------------------------


def next_event(settings: Settings, items: list[Item], after: datetime, until: datetime,
               ledger: Ledger | None = None) -> datetime | None:
    """The first instant after `after` at which something becomes due: a post, a slot, a retry."""
    candidates = [i.publish_at for i in items if i.publish_at > after]
    candidates += list(slots_between(settings.newsletter_schedule, settings.timezone, after,
                                     min(until, after + timedelta(days=8))))[:1]
    if ledger is not None:
        candidates += [from_utc_iso(d.next_attempt_at) for d in ledger.deliveries("next_attempt_at IS NOT NULL "
                       "AND status = 'pending'") if d.next_attempt_at and from_utc_iso(d.next_attempt_at) > after]
    due = [c for c in candidates if c <= until]
    return min(due) if due else None


def play(settings: Settings, start: datetime, until: datetime,
         on_report: Callable[[RunReport], None]) -> list[RunReport]:
    """Step a simulated clock from event to event between `start` and `until`, running everything due at each.

    Outbox only: a simulated clock must never reach a real inbox or timeline."""
    if not settings.outbox_only:
        raise ConfigError("the simulated clock works with the outbox only: set every BOT_*_BACKEND to outbox or off")
    reports = []
    now: datetime | None = start
    while now is not None:
        report = run_once(settings, now, poll_feeds=False)  # a simulated clock writes nothing into the queue
        reports.append(report)
        on_report(report)
        items = queue.load(settings).items
        with Ledger.open(settings.state_dir) as ledger:
            now = next_event(settings, items, now, until, ledger)
    return reports
