"""Fan-out benchmark: Herald sending an edition, against the ceiling of the same bytes over plain smtplib.

    python bench/fanout.py --subscribers 10000 --connections 1
    python bench/fanout.py --subscribers 10000 --connections 4
    python bench/fanout.py --subscribers 1000000 --connections 4     # flat memory: peak RSS, time per recipient
    python bench/fanout.py --subscribers 10000 --api                 # Mailgun and SendGrid: calls, recipients per call
    python bench/fanout.py --subscribers 2000 --connections 4 --rate 200   # SMTP_RATE honoured within 5 %
    python bench/fanout.py --subscribers 10000 --connections 1 --dkim      # DKIM-signed against unsigned
    python bench/fanout.py --subscribers 10000 --connections 4 --languages # en, fr, es editions against en alone

Everything runs side by side in one process tree against the same local sink (bench/sink.py, its own process):
(a) the ceiling: smtplib sending Herald's first message's bytes over C connections, one thread each (as Herald);
(a') a stricter one: the same bytes already dot-stuffed, sent with the bare SMTP commands, no work per message
     (smtplib.sendmail re-scans each message for line ends and leading dots; Herald does that once an edition);
(a-p) and (a'-p): the same two over C connections of one process each (forked), so that no two senders share an
     interpreter: what C connections can do when nothing waits for another's turn at the interpreter;
(b) Herald: `run_once` at the sample queue's Friday slot, through its SMTP channel, to N subscribers, in a
child process whose peak RSS is read when it ends. The figures printed are messages per second, Herald's ratio
to each ceiling, Herald's peak RSS, and (with --record, the default up to 200,000) messages lost and duplicated.

With --dkim, Herald sends the edition unsigned and then signed (DKIM_DOMAIN, DKIM_SELECTOR and
DKIM_PRIVATE_KEY_FILE set, a key made for the run: Ed25519, and with --rsa also RSA 2048), each to the same sink in
the same run, and the figures printed are the signed rate, the unsigned rate and their ratio per key type.

With --languages, Herald sends the edition with BOT_LANGUAGES=en and every subscriber reading English, and with
BOT_LANGUAGES=en,fr,es and the subscribers in turn English, French and Spanish (three versions rendered, each
recipient given theirs), --rounds times each, in turns, each run to a sink of its own; the figures printed are the
median rates (edition creation included: three MJML compilations against one) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SLOT = datetime(2019, 7, 12, 10, 0, tzinfo=ZoneInfo("Europe/Zurich"))


def environment(state: Path, port: int, connections: int, backend: str = "smtp", api_url: str = "",
                rate: float | None = None) -> dict[str, str]:
    env = {
        "BOT_STATE_DIR": str(state), "BOT_QUEUE_DIR": str(ROOT / "content_queue"), "BOT_TIMEZONE": "Europe/Zurich",
        "BOT_LANGUAGES": "en,fr,es",
        "BOT_EMAIL_BACKEND": backend, "BOT_X_BACKEND": "off", "BOT_MASTODON_BACKEND": "off",
        "BOT_BLUESKY_BACKEND": "off", "MAIL_FROM": "Geneva Rights Desk <newsletter@example.org>",
        "BOT_PUBLIC_URL": "https://news.example.org", "BOT_SECRET": "benchmark-secret-not-for-use-Tq7Wn2Kx",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port or 25), "SMTP_SECURITY": "none",
        "SMTP_CONNECTIONS": str(connections), "BOT_RETRY_BUDGET": "0s",
        "MAILGUN_API_KEY": "key-bench", "MAILGUN_DOMAIN": "mg.example.org", "MAILGUN_BASE_URL": api_url or "http://x",
        "SENDGRID_API_KEY": "SG.bench", "SENDGRID_BASE_URL": api_url or "http://x",
        "SMTP_RATE": f"{rate:g}" if rate else "",
    }
    return env


# --- the sink -------------------------------------------------------------------------------------------


class SinkProcess:
    def __init__(self, record: bool) -> None:
        args = [sys.executable, str(ROOT / "bench" / "sink.py")] + (["--record"] if record else [])
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())  # type: ignore[union-attr]

    def count(self) -> tuple[int, int]:
        with socket.create_connection(("127.0.0.1", self.port)) as conn:
            conn.recv(100)
            conn.sendall(b"XCOUNT\r\n")
            _, messages, duplicates = conn.recv(100).decode().split()
            conn.sendall(b"QUIT\r\n")
        return int(messages), int(duplicates)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


# --- (a) the ceiling ------------------------------------------------------------------------------------


def first_message(state: Path, port: int) -> bytes:
    """The exact bytes Herald sends its first subscriber, built with Herald's own code."""
    from bot import mail, queue
    from bot.render import render_newsletter
    from bot.settings import load_settings
    from bot.subscribers import make_token, secret_key

    settings = load_settings(environ=environment(state, port, 1), env_file=None)
    items = [i for i in queue.load(settings).items if "email" in i.channels and i.publish_at <= SLOT]
    newsletter = render_newsletter(items, settings, edition_date=SLOT.date(),
                                   unsubscribe_url=mail.unsubscribe_url(settings.public_url, mail.TOKEN_PLACEHOLDER),
                                   archive_url=f"{settings.public_url}/archive/1")
    prepared = mail.prepare(newsletter, mail_from=settings.mail_from, public_url=settings.public_url, date=SLOT)
    return prepared.message("subscriber1@example.org", "Subscriber 1", make_token(secret_key(settings), 1),
                            "<1.1.bench@example.org>")


def ceiling(port: int, data: bytes, total: int, connections: int, wire: bool = False,
            processes: bool = False) -> float:
    """Messages per second that smtplib alone reaches with these bytes over `connections` connections.

    With `wire`, the bytes are already in DATA's form and go out through the same four commands Herald's
    channel sends, with no work at all between messages: the most a Python sender can do on this sink.
    With `processes`, each connection is a forked process of its own rather than a thread; the time counted
    includes the forks, as the threads' includes starting them."""
    share = [total // connections + (1 if n < total % connections else 0) for n in range(connections)]
    stuffed = data.replace(b"\r\n.", b"\r\n..") + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n"

    def send(n: int) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        conn.ehlo()
        for i in range(share[n]):
            if wire:
                conn.docmd("MAIL", "FROM:<newsletter@example.org>")
                conn.docmd("RCPT", f"TO:<ceiling{n}-{i}@example.org>")
                conn.docmd("DATA")
                conn.send(stuffed)
                conn.getreply()
            else:
                conn.sendmail("newsletter@example.org", [f"ceiling{n}-{i}@example.org"], data)
        conn.quit()

    workers: list[threading.Thread] | list[multiprocessing.process.BaseProcess]
    if processes:
        fork = multiprocessing.get_context("fork")  # the closure goes as it is: nothing to pickle
        workers = [fork.Process(target=send, args=(n,)) for n in range(connections)]
    else:
        workers = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if processes and any(w.exitcode for w in workers):  # type: ignore[union-attr]
        raise RuntimeError("a ceiling sender process failed")
    return total / elapsed


# --- (b) Herald, in a child process -----------------------------------------------------------------------


def populate(state: Path, subscribers: int, languages: tuple[str, ...] = ()) -> None:
    """N active subscribers, inserted in one transaction (not timed: that is an import, not a send); with
    `languages`, each given one of them in turn (else none: the default language)."""
    from bot.ledger import Ledger

    with Ledger.open(state) as ledger, ledger.transaction():
        ledger.db.executemany(
            "INSERT INTO subscribers (email, name, created_at, updated_at, lang) VALUES (?, ?, ?, ?, ?)",
            ((f"subscriber{n}@example.org", f"Subscriber {n}", "2019-01-01T00:00:00Z", "2019-01-01T00:00:00Z",
              languages[n % len(languages)] if languages else None) for n in range(1, subscribers + 1)))


def herald_worker(args: argparse.Namespace) -> None:
    from bot.scheduler import run_once
    from bot.settings import load_settings

    state = Path(args.state)
    languages = tuple(args.languages_list.split(",")) if args.languages_list else ()
    populate(state, args.subscribers, languages)
    environ = environment(state, args.port, args.connections, args.backend, args.api_url, args.rate)
    if languages:
        environ["BOT_LANGUAGES"] = ",".join(languages)
    if args.dkim_key:
        environ.update(DKIM_DOMAIN="example.org", DKIM_SELECTOR="bench", DKIM_PRIVATE_KEY_FILE=args.dkim_key)
    settings = load_settings(environ=environ, env_file=None)
    start = time.perf_counter()
    report = run_once(settings, SLOT)
    elapsed = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"elapsed": elapsed, "sent": report.emails_sent, "failed": report.emails_failed,
                      "deferred": report.emails_deferred, "rss_mb": rss_kb / 1024}))


def run_herald(port: int, subscribers: int, connections: int, backend: str = "smtp", api_url: str = "",
               rate: float | None = None, dkim_key: Path | None = None, languages: str = "") -> dict:
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        done = subprocess.run([sys.executable, __file__, "--herald-worker", "--state", tmp, "--port", str(port),
                               "--subscribers", str(subscribers), "--connections", str(connections),
                               "--backend", backend, "--api-url", api_url] + (["--rate", str(rate)] if rate else [])
                              + (["--dkim-key", str(dkim_key)] if dkim_key else [])
                              + (["--languages-list", languages] if languages else []),
                              capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- DKIM: signed against unsigned ----------------------------------------------------------------------


def dkim_keys(folder: Path, rsa_too: bool) -> dict[str, Path]:
    """Fresh private keys for the run, PEM in PKCS#8 (as `openssl genpkey` writes them), by key type."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    made: dict[str, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey] = {"Ed25519": ed25519.Ed25519PrivateKey.generate()}
    if rsa_too:
        made["RSA 2048"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths = {}
    for name, key in made.items():
        path = folder / f"dkim-{name.replace(' ', '-').lower()}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        paths[name] = path
    return paths


def signed_against_unsigned(subscribers: int, connections: int, rsa_too: bool) -> None:
    sink = SinkProcess(False)
    try:
        with tempfile.TemporaryDirectory(prefix="herald-dkim-") as tmp:
            keys = dkim_keys(Path(tmp), rsa_too)
            unsigned = run_herald(sink.port, subscribers, connections)
            signed = {name: run_herald(sink.port, subscribers, connections, dkim_key=path)
                      for name, path in keys.items()}
        got, _ = sink.count()
    finally:
        sink.stop()
    plain = unsigned["sent"] / unsigned["elapsed"]
    print(f"{subscribers:,} subscribers; {connections} connection(s); DKIM: relaxed/simple, d=example.org, s=bench")
    print(f"unsigned:          {plain:,.0f} msg/s ({unsigned['elapsed'] / subscribers * 1e6:.0f} us per recipient)")
    for name, result in signed.items():
        rate = result["sent"] / result["elapsed"]
        print(f"signed, {name + ':':<10} {rate:,.0f} msg/s ({result['elapsed'] / subscribers * 1e6:.0f} us per "
              f"recipient); signed/unsigned {rate / plain:.2f}")
    print(f"sink received {got:,} messages ({len(signed) + 1} editions of {subscribers:,})")


# --- editions in three languages against one ------------------------------------------------------------


def languages_against_one(subscribers: int, connections: int, rounds: int = 3) -> None:
    """Both runs `rounds` times, in turns (which goes first alternates), each to a sink of its own; the medians."""
    import statistics

    runs: dict[str, list[dict]] = {"en": [], "en,fr,es": []}
    lost = duplicated = 0
    for n in range(rounds):
        for languages in (("en", "en,fr,es") if n % 2 == 0 else ("en,fr,es", "en")):
            sink = SinkProcess(True)  # one each: every run mails the same addresses
            try:
                runs[languages].append(run_herald(sink.port, subscribers, connections, languages=languages))
                got, duplicates = sink.count()
            finally:
                sink.stop()
            lost += subscribers - (got - duplicates)
            duplicated += duplicates
    print(f"{subscribers:,} subscribers; {connections} connection(s); edition creation included; median of {rounds} "
          "runs each, in turns")
    rates = {}
    for languages, label in (("en", "en alone"), ("en,fr,es", "en, fr, es (a third each)")):
        rates[languages] = statistics.median(r["sent"] / r["elapsed"] for r in runs[languages])
        each = ", ".join(f"{r['sent'] / r['elapsed']:,.0f}" for r in runs[languages])
        rss = max(r["rss_mb"] for r in runs[languages])
        print(f"{label + ':':<28} {rates[languages]:>6,.0f} msg/s ({each}), peak RSS {rss:.0f} MB")
    print(f"ratio three languages / one: {rates['en,fr,es'] / rates['en']:.2f}")
    print(f"every run: lost {lost}, duplicated {duplicated}")


# --- the mail APIs ---------------------------------------------------------------------------------------


def api_counts(subscribers: int) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.endswith("/mail/send"):
                calls.append(len(json.loads(body)["personalizations"]))
                self.send_response(202)
                self.send_header("X-Message-Id", f"sg-{len(calls)}")
                self.end_headers()
            else:
                calls.append(body.count(b'name="to"'))
                payload = json.dumps({"id": f"<mg-{len(calls)}>", "message": "Queued. Thank you."}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for backend in ("mailgun", "sendgrid"):
        calls.clear()
        result = run_herald(0, subscribers, 1, backend, url)
        print(f"{backend:<9} {subscribers:>9,} recipients: {len(calls)} calls, recipients per call "
              f"{min(calls):,} to {max(calls):,}; {result['sent']:,} recorded sent in {result['elapsed']:.2f} s; "
              f"peak RSS {result['rss_mb']:.0f} MB")
    server.shutdown()


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--api", action="store_true", help="measure the Mailgun and SendGrid backends instead")
    parser.add_argument("--rate", type=float, default=None,
                        help="with SMTP_RATE set to this: how close Herald keeps to it (no ceiling run)")
    parser.add_argument("--record", choices=["auto", "yes", "no"], default="auto",
                        help="have the sink remember recipients to count duplicates (auto: up to 200,000)")
    parser.add_argument("--dkim", action="store_true", help="Herald signed (Ed25519) against unsigned, same run")
    parser.add_argument("--rsa", action="store_true", help="with --dkim: an RSA 2048 key too")
    parser.add_argument("--languages", action="store_true",
                        help="editions in en, fr and es (subscribers spread over them) against en alone, same run")
    parser.add_argument("--rounds", type=int, default=3, help="with --languages: runs of each, in turns")
    parser.add_argument("--herald-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--languages-list", default="", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="smtp", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--dkim-key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.herald_worker:
        herald_worker(args)
        return
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.api:
        api_counts(args.subscribers)
        return
    if args.dkim:
        signed_against_unsigned(args.subscribers, args.connections, args.rsa)
        return
    if args.languages:
        languages_against_one(args.subscribers, args.connections, args.rounds)
        return
    if args.rate:
        sink = SinkProcess(False)
        try:
            result = run_herald(sink.port, args.subscribers, args.connections, rate=args.rate)
        finally:
            sink.stop()
        achieved = result["sent"] / result["elapsed"]
        print(f"SMTP_RATE={args.rate:g}, {args.connections} connection(s), {args.subscribers:,} subscribers: "
              f"{achieved:,.1f} msg/s achieved ({(achieved - args.rate) / args.rate:+.1%}, edition creation "
              "included)")
        return
    record = args.record == "yes" or (args.record == "auto" and args.subscribers <= 200_000)
    n, c = args.subscribers, args.connections
    herald_sink = SinkProcess(record)
    ceiling_sink = SinkProcess(False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = first_message(Path(tmp), ceiling_sink.port)
        top = ceiling(ceiling_sink.port, data, min(n, 20_000), c)
        top_wire = ceiling(ceiling_sink.port, data, min(n, 20_000), c, wire=True)
        top_p = ceiling(ceiling_sink.port, data, min(n, 20_000), c, processes=True)
        top_wire_p = ceiling(ceiling_sink.port, data, min(n, 20_000), c, wire=True, processes=True)
        result = run_herald(herald_sink.port, n, c)
        got, duplicates = herald_sink.count()
    finally:
        herald_sink.stop()
        ceiling_sink.stop()
    rate = result["sent"] / result["elapsed"]
    print(f"message size {len(data):,} bytes; {n:,} subscribers; {c} connection(s)")
    rows = [("(a)", f"ceiling, {c} thread(s), smtplib.sendmail", top),
            ("(a')", f"ceiling, {c} thread(s), bytes ready for DATA, no work", top_wire),
            ("(a-p)", f"ceiling, {c} process(es), smtplib.sendmail", top_p),
            ("(a'-p)", f"ceiling, {c} process(es), bytes ready for DATA, no work", top_wire_p),
            ("(b)", "Herald, run_once", rate)]
    herald = (f" ({result['elapsed']:.2f} s, {result['elapsed'] / n * 1e6:.0f} us per recipient, edition creation "
              "included)")
    for mark, label, value in rows:
        print(f"{mark:<6} {label + ':':<56} {value:>6,.0f} msg/s" + (herald if mark == "(b)" else ""))
    print(f"ratio (b)/(a): {rate / top:.2f}   ratio (b)/(a'): {rate / top_wire:.2f}   (against threads)")
    print(f"ratio (b)/(a-p): {rate / top_p:.2f}   ratio (b)/(a'-p): {rate / top_wire_p:.2f}   (against processes)")
    print(f"Herald peak RSS: {result['rss_mb']:.0f} MB")
    lost = n - (got - duplicates) if record else None
    print(f"sink received {got:,} messages" + (f"; lost {lost}, duplicated {duplicates}" if record else ""))


if __name__ == "__main__":
    main()
