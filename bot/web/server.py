"""`bot serve`: the web app on Waitress, optionally with the scheduler running beside it in the same process."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from ..settings import Settings
from . import create_app

log = logging.getLogger("herald")


def serve(settings: Settings, host: str, port: int, with_scheduler: bool = False,
          ready: Callable[[int], None] | None = None, stopping: threading.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or `stopping` is set); with the scheduler, it stops after the message in flight."""
    from waitress import create_server

    app = create_app(settings)
    # With BOT_PROXIES the app's ProxyFix decides which forwarded headers to trust; Waitress would otherwise
    # drop them first, and every client would count as the proxy for the rate limits.
    server = create_server(app, host=host, port=port, threads=8, ident="Herald",
                           clear_untrusted_proxy_headers=not settings.proxies)
    stopping = stopping or threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    with ExitStack() as stack:
        scheduler = None
        if with_scheduler:
            from ..report import print_run
            from ..scheduler import run_forever, state_lock

            stack.enter_context(state_lock(settings))
            scheduler = threading.Thread(target=run_forever, name="herald-scheduler", daemon=True,
                                         args=(settings, lambda r: print_run(r, settings, quiet=True)),
                                         kwargs={"stopping": stopping})
            scheduler.start()

        def stop(*_: object) -> None:
            stopping.set()

        if in_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, stop)
        watcher = threading.Thread(target=lambda: (stopping.wait(), _shut(server)), daemon=True)
        watcher.start()
        log.info("serving on http://%s:%s%s", host, server.effective_port,  # type: ignore[attr-defined]
                 " with the scheduler" if with_scheduler else "")
        if ready is not None:
            ready(server.effective_port)  # type: ignore[attr-defined]
        try:
            server.run()
        finally:
            stopping.set()
            server.task_dispatcher.shutdown()  # lets the requests in progress finish
            if scheduler is not None:
                scheduler.join(timeout=60)


def _shut(server: Any) -> None:
    """Stop Waitress's loop from another thread: its sockets may only be closed by the loop itself, so the
    closing is handed to the loop through its trigger; with no socket left, the loop returns."""
    from waitress import trigger, wasyncore

    sockets = getattr(server, "map", None) or server._map
    pull = next(d for d in list(sockets.values()) if isinstance(d, trigger.trigger))
    pull.pull_trigger(lambda: wasyncore.close_all(sockets))
