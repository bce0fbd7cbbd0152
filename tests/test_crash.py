"""Nothing lost, nothing twice, on the worst day: `bot run --once` killed with SIGKILL mid-edition, again and again,
then completed; and two runners started together on the same state."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import load_settings

from .conftest import BASE, SAMPLE_QUEUE
from .smtp_server import SmtpServer
from .social_servers import Fault, MastodonServer, serving

SUBSCRIBERS = 1500
NOW = "2019-07-12T10:00"  # the sample's Friday slot
ZURICH = ZoneInfo("Europe/Zurich")
SECRET = "crash-test-secret-7Hq2xVb9LmKe4TzR8wYp3NcJ"


def populate(state: Path, count: int) -> None:
    with Ledger.open(state) as ledger, ledger.transaction():
        ledger.db.executemany(
            "INSERT INTO subscribers (email, name, created_at, updated_at) VALUES (?, '', ?, ?)",
            [(f"reader{n}@example.org", "2019-01-01T00:00:00Z", "2019-01-01T00:00:00Z") for n in range(count)])


def environment(state: Path, server: SmtpServer, connections: int) -> dict[str, str]:
    return dict(os.environ, **BASE, BOT_STATE_DIR=str(state), BOT_QUEUE_DIR=str(SAMPLE_QUEUE),
                BOT_EMAIL_BACKEND="smtp", SMTP_HOST=server.host, SMTP_PORT=str(server.port), SMTP_SECURITY="none",
                SMTP_CONNECTIONS=str(connections), BOT_SECRET=SECRET, BOT_X_BACKEND="off",
                BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="off", BOT_RETRY_BUDGET="0s")


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once", "--now", NOW],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("connections", [1, 2])
def test_an_edition_killed_at_random_points_resumes_with_exactly_the_rest(tmp_path: Path, connections: int) -> None:
    state = tmp_path / "var"
    populate(state, SUBSCRIBERS)
    rng = random.Random(20191207 + connections)
    kills = 0
    with SmtpServer() as server:
        env = environment(state, server, connections)
        # Kill points, as counts of messages the server has received: anywhere in the edition, in order.
        for threshold in sorted(rng.sample(range(1, SUBSCRIBERS - 100), 6)):
            run = start(env)
            while len(server.messages) < threshold and run.poll() is None:
                time.sleep(0.005)  # waiting for an event (the k-th message), not for a duration
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                kills += 1
            run.wait()
        final = start(env)
        _, errors = final.communicate(timeout=600)
        assert final.returncode == 0, errors.decode()
        received = Counter(r for message in server.messages for r in message.recipients)
        ids: dict[str, set[str]] = {}
        for message in server.messages:
            ids.setdefault(message.recipients[0], set()).add(message.parsed()["Message-ID"])

    lost = SUBSCRIBERS - len(received)
    duplicates = sum(n - 1 for n in received.values())
    print(f"\ncrash test, {connections} connection(s): {kills} kills, {len(server.messages)} messages received, "
          f"lost {lost}, duplicates {duplicates} (allowed: {kills * connections})")
    assert kills >= 4
    assert lost == 0
    assert duplicates <= kills * connections
    assert all(len(found) == 1 for found in ids.values())  # a resend carries the same Message-ID
    with Ledger.open(state) as ledger:
        assert ledger.edition_counts(1) == {"sent": SUBSCRIBERS}


def test_two_runners_started_together_never_both_dispatch(tmp_path: Path) -> None:
    for round_ in range(4):
        state = tmp_path / f"var{round_}"
        populate(state, 300)
        with SmtpServer() as server:
            env = environment(state, server, 1)
            runs = [start(env), start(env)]
            outputs = [run.communicate(timeout=300)[1].decode() for run in runs]
            received = Counter(r for message in server.messages for r in message.recipients)
        assert len(received) == 300 and set(received.values()) == {1}, outputs  # exactly one dispatch each
        refused = [out for out in outputs if "is already dispatching from" in out]
        assert len(refused) <= 1 and all("Traceback" not in out for out in outputs)
        with Ledger.open(state) as ledger:
            assert {d.attempts for d in ledger.deliveries("channel = 'email'")} == {1}


# --- `sending`: what a run had in flight when it died, and what the next run does with it --------------------


def test_emails_in_flight_when_a_run_died_are_known_and_sent_again_with_the_same_message_id(tmp_path: Path) -> None:
    state = tmp_path / "var"
    populate(state, 300)
    with SmtpServer() as server:
        env = environment(state, server, 1)
        run = start(env)
        while len(server.messages) < 120 and run.poll() is None:
            time.sleep(0.005)  # waiting for an event (the 120th message), not for a duration
        run.send_signal(signal.SIGKILL)
        run.wait()
        with Ledger.open(state) as ledger:
            in_flight = ledger.edition_counts(1).get("sending", 0)
        report = run_once(load_settings(environ=env, env_file=None), datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH))
        received = Counter(r for message in server.messages for r in message.recipients)
        ids = {(m.recipients[0], m.parsed()["Message-ID"]) for m in server.messages}

    # One connection: exactly one message was handed over without its answer recorded. The next run knows it
    # (it says so), sends it again with the same Message-ID, and sends every other message exactly once.
    assert report.in_doubt == 1 and report.ok
    assert len(received) == 300 and sum(received.values()) - 300 <= 1
    assert len(ids) == 300
    assert in_flight == 1


def test_a_post_in_flight_when_a_run_died_is_looked_for_on_the_platform_not_posted_again(tmp_path: Path) -> None:
    state = tmp_path / "var"
    item = "2019-07-12-iesogi-mandate-renewed"
    with serving(MastodonServer) as mastodon:
        mastodon.fault("create_status", Fault(hold=True))  # Mastodon takes the post; its answer never comes
        env = dict(os.environ, **BASE, BOT_STATE_DIR=str(state), BOT_QUEUE_DIR=str(SAMPLE_QUEUE),
                   BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off", BOT_BLUESKY_BACKEND="off",
                   BOT_MASTODON_BACKEND="api", MASTODON_BASE_URL=mastodon.url,
                   MASTODON_ACCESS_TOKEN=mastodon.token, BOT_RETRY_BUDGET="0s")
        run = subprocess.Popen([sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once", "--now",
                                "2019-07-12T15:30"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not mastodon.statuses and run.poll() is None:
            time.sleep(0.005)  # waiting for an event (the status exists), not for a duration
        run.send_signal(signal.SIGKILL)  # the machine dies while Mastodon's answer is on its way
        run.wait()
        mastodon.released.set()
        with Ledger.open(state) as ledger:
            left = ledger.post(item, "mastodon")
        report = run_once(load_settings(environ=env, env_file=None), datetime(2019, 7, 12, 15, 31, tzinfo=ZURICH))
        [status] = mastodon.statuses

    assert len(mastodon.calls("create_status")) == 1  # found among the recent statuses, not posted again
    assert report.in_doubt == 1 and report.reconciled == 1 and report.posted == [(item, "mastodon", status["id"])]
    assert left is not None and (left.status, left.attempts) == ("sending", 1)
