"""Run `bot serve` for a test: the real app on Waitress, on 127.0.0.1 and a free port, in a thread or in a process."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bot.settings import Settings
from bot.web.server import serve


@contextmanager
def running(settings: Settings, with_scheduler: bool = False, port: int = 0) -> Iterator[str]:
    """Yields the base URL; stops the server (and its scheduler) at the end. `port` 0: any free one."""
    stopping = threading.Event()
    bound_port: queue.Queue[int] = queue.Queue()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            serve(settings, "127.0.0.1", port, with_scheduler, ready=bound_port.put, stopping=stopping)
        except BaseException as exc:  # surfaced to the test below
            failures.append(exc)
            bound_port.put(0)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    bound = bound_port.get(timeout=60)
    if failures:
        raise failures[0]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        stopping.set()
        thread.join(timeout=60)


def settle() -> None:
    """Wait until every server of this process has handed over the mail it was asked for (confirmation links go
    out in the background, so that no answer waits for a mail server)."""
    from bot.web.notices import drain_all

    drain_all()


@contextmanager
def serving_process(environ: dict[str, str], *python_options: str) -> Iterator[str]:
    """`python [OPTIONS] -m bot serve --port 0` in a process of its own, with only `environ` as its settings (no
    .env); yields its base URL and stops it with SIGTERM at the end. `-O` shows what Herald does without asserts."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ}
    command = [sys.executable, *python_options, "-m", "bot", "--env-file", os.devnull, "serve", "--port", "0"]
    process = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:  # until it says where it listens (or dies: the loop ends)
            lines.append(line)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            raise AssertionError("bot serve did not start:\n" + "".join(lines))
        # Keep reading what it logs, so that a full pipe never blocks it.
        threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True).start()
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in "".join(lines), "".join(lines)


def form_token(page: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def staff_session(base: str, email: str, password: str) -> requests.Session:
    """A requests session signed in at /admin/login as `email`."""
    session = requests.Session()
    csrf = form_token(session.get(base + "/admin/login").text)
    answer = session.post(base + "/admin/login", data={"email": email, "password": password, "csrf_token": csrf})
    assert answer.status_code == 200 and answer.url.endswith("/admin"), answer.status_code
    return session
