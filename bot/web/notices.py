"""The web side's background work (a subscribe request recorded, its link mailed in the language chosen): one queue
and thread per app."""

# So that no answer waits for the ledger or a mail server, and every address gets the same answer in the same time.
# `bot serve` runs what is queued before it stops.

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

from .. import i18n
from ..channels import Channels
from ..dispatch import send_notice
from ..plaintext import wrap
from ..render import title_in
from ..settings import Settings
from .lang import duration

log = logging.getLogger("herald")
Job = Callable[[], None]
# Jobs waiting at most: past that a request is dropped (and logged) rather than memory growing without end; the
# per-client and per-address limits keep an honest site far below it.
WAITING_AT_MOST = 10_000
_EXTENSION = "herald_notices"
_live: weakref.WeakSet[Notices] = weakref.WeakSet()
_live_lock = threading.Lock()


class Notices:
    """A queue of jobs run one after the other by one thread, started with the first job."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=WAITING_AT_MOST)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        with _live_lock:
            _live.add(self)

    def submit(self, job: Job) -> bool:
        """Queue `job`; False (and logged) when the queue is full or closed: the visitor sees the same page."""
        with self._lock:
            if self._closed:
                log.error("the server is stopping: a subscribe request was not recorded")
                return False
            if self._thread is None:
                # A daemon only so that a process that never closes its app (a test) can still exit; `bot serve`
                # closes it, which runs every job first.
                self._thread = threading.Thread(target=self._work, name="herald-notices", daemon=True)
                self._thread.start()
            try:
                self._jobs.put_nowait(job)
            except queue.Full:
                log.error("%d subscribe requests are waiting: this one was dropped", WAITING_AT_MOST)
                return False
        return True

    def drain(self) -> None:
        """Return once every job queued so far has run."""
        self._jobs.join()

    def close(self) -> None:
        """Run every job queued, then stop the thread; later jobs are refused."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception as exc:  # one failed job must not stop the ones after it; no traceback in the log
                log.error("a subscribe request could not be handled: %s", exc)
            finally:
                self._jobs.task_done()


def install(app: Flask) -> Notices:
    notices = Notices()
    app.extensions[_EXTENSION] = notices
    return notices


def of(app: Flask | None = None) -> Notices:
    """The app's queue (this request's app by default)."""
    found: Notices = (app or current_app).extensions[_EXTENSION]
    return found


def drain_all() -> None:
    """Wait until every app of this process has run what it queued: tests call it before they look at the mail."""
    with _live_lock:
        live = list(_live)
    for notices in live:
        notices.drain()


def confirmation_text(config: Settings, link: str, lang: str | None = None) -> str:
    """The confirmation email in `lang` (default: the default language), wrapped at 72 columns like the
    newsletter's text part (the link whole, alone)."""
    lang = lang or config.language
    _ = i18n.translations(lang, "web").gettext  # a background thread: no request to take the language from
    paragraphs = [
        _("Someone, probably you, asked to receive %(newsletter)s at this address.")
        % {"newsletter": title_in(config, lang)},
        _("To confirm, open this link within %(duration)s and press Confirm:")
        % {"duration": duration(config.confirm_max_age, lang)},
        link,
        _("If you did not ask for it, ignore this message: you will not be subscribed."),
        f"-- {config.org_name}\n{config.org_address}",
    ]
    return wrap("\n\n".join(paragraphs)) + "\n"


def send_confirmation(config: Settings, email: str, link: str, now: datetime, lang: str | None = None) -> None:
    """Mail the link to `email` in `lang`, dated in BOT_TIMEZONE as the newsletter is; a failure is logged, never
    raised."""
    channels = Channels(config)
    lang = lang or config.language
    subject = i18n.translations(lang, "web").gettext("Confirm your subscription to %(newsletter)s")
    try:
        why_not = send_notice(config, channels.get("email"), "confirm", email,
                              subject % {"newsletter": title_in(config, lang)},
                              confirmation_text(config, link, lang), now.astimezone(config.timezone))
    except Exception as exc:  # opening the channel failed: the visitor sees the same page either way
        why_not = config.redact(str(exc))
    finally:
        channels.close()
    if why_not:
        log.error("confirmation link not sent: %s", why_not)
