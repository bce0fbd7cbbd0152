"""`bot serve`: the web app on Waitress, optionally with the scheduler running beside it in the same process."""

from __future__ import annotations

import errno
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from ..errors import ConfigError
from ..settings import Settings
from . import create_app, notices

log = logging.getLogger("herald")


def serve(settings: Settings, host: str, port: int, with_scheduler: bool = False,
          ready: Callable[[int], None] | None = None, stopping: threading.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or `stopping` is set); with the scheduler, it stops after the message in flight."""
    from waitress.server import TcpWSGIServer, create_server

    from .. import signing

    signing.check(settings)  # confirmation links are signed too: a key that cannot be used is said now, not per mail
    app = create_app(settings)
    try:
        server = create_server(app, host=host, port=port, threads=8, ident="Herald",
                               **proxy_options(settings.proxies))
    except OSError as exc:
        raise ConfigError(_cannot_listen(host, port, exc)) from None
    except ValueError:  # Waitress's word for a host that does not resolve
        raise ConfigError(f"cannot listen on {host}: no such address or host name (--host)") from None
    if not isinstance(server, TcpWSGIServer) or server.socket is None:  # one host and port: one TCP socket
        raise ConfigError(f"cannot listen on {host}: it stands for several addresses; give one of them with --host, "
                          "such as 127.0.0.1")
    bound: int = server.socket.getsockname()[1]  # the port the system chose when 0 was asked for
    stopping = stopping or threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    with ExitStack() as stack:
        scheduler = None
        if with_scheduler:
            from ..report import print_run
            from ..scheduler import run_forever, state_lock

            stack.enter_context(state_lock(settings))
            scheduler = threading.Thread(target=run_forever, name="herald-scheduler", daemon=True,
                                         args=(settings, lambda r: print_run(r, settings, quiet=True, stamp=True)),
                                         kwargs={"stopping": stopping})
            scheduler.start()

        def stop(*_: object) -> None:
            stopping.set()

        if in_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, stop)
        def shut_when_asked() -> None:
            stopping.wait()
            _shut(server)

        watcher = threading.Thread(target=shut_when_asked, daemon=True)
        watcher.start()
        log.info("serving on http://%s:%s%s", f"[{host}]" if ":" in host else host, bound,
                 " with the scheduler" if with_scheduler else "")
        if ready is not None:
            ready(bound)
        try:
            server.run()
        finally:
            stopping.set()
            server.task_dispatcher.shutdown()  # lets the requests in progress finish
            notices.of(app).close()  # then mails every confirmation link they asked for
            if scheduler is not None:
                scheduler.join(timeout=60)


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why the address cannot be listened on, in words that say what to change; anything else is a bug, as is."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"cannot listen on {where}: that port is already in use, perhaps by another `bot serve`; stop it, or "
                "choose another port with --port")
    if exc.errno == errno.EACCES:
        return (f"cannot listen on {where}: ports below 1024 need administrator rights; choose a port from 1024 up "
                "with --port and put a reverse proxy in front")
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine (--host)"
    raise exc


def proxy_options(proxies: int) -> dict[str, Any]:
    """Waitress's reading of forwarded headers, the only one in Herald: behind `proxies` proxies, the client is the
    peer that the outermost of them saw (each proxy appends the peer it saw to X-Forwarded-For, so that is the
    `proxies`-th address from the right; whatever stands before it, the visitor wrote), and the scheme is what the
    nearest one says in X-Forwarded-Proto. Every other forwarded header (X-Forwarded-Host, Forwarded, ...) is
    removed, and with no proxy all of them are: a visitor picks neither their address nor the host or scheme, so
    each one has their own rate limits."""
    if not proxies:
        return {"clear_untrusted_proxy_headers": True}
    # "*": whoever connects is the proxy; `bot serve` listens on 127.0.0.1 (the default) so only it can.
    return {"trusted_proxy": "*", "trusted_proxy_count": proxies,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}, "clear_untrusted_proxy_headers": True}


def _shut(server: Any) -> None:
    """Stop Waitress's loop from another thread: its sockets may only be closed by the loop itself, so the
    closing is handed to the loop through its trigger; with no socket left, the loop returns."""
    from waitress import trigger, wasyncore

    sockets = getattr(server, "map", None) or server._map
    pull: Any = next(d for d in list(sockets.values()) if isinstance(d, trigger.trigger))
    # Under the trigger's lock, which the loop holds while it runs what it was handed: otherwise a pull by a
    # request finishing meanwhile could let the loop close the trigger between our hand-over and our write, which
    # would then go to a closed (or another's reused) descriptor.
    with pull.lock:
        if pull._closed:
            return
        pull.thunks.append(lambda: wasyncore.close_all(sockets))
        pull._physical_pull()
