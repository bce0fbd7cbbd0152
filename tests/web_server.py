"""Run `bot serve` for a test: the real app on Waitress, on 127.0.0.1 and a free port, in a thread."""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import Iterator

from bot.settings import Settings
from bot.web.server import serve


@contextmanager
def running(settings: Settings, with_scheduler: bool = False) -> Iterator[str]:
    """Yields the base URL; stops the server (and its scheduler) at the end."""
    stopping = threading.Event()
    port: queue.Queue[int] = queue.Queue()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            serve(settings, "127.0.0.1", 0, with_scheduler, ready=port.put, stopping=stopping)
        except BaseException as exc:  # surfaced to the test below
            failures.append(exc)
            port.put(0)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    bound = port.get(timeout=60)
    if failures:
        raise failures[0]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        stopping.set()
        thread.join(timeout=60)
