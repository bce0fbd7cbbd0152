"""Reply threads: `social.<platform>` as a list goes out as parts, each replying to the one before, one ledger row
each, resumed at the next part after a failure or a crash, never a part twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import itemfile, queue, social
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import Settings

from .social_servers import BlueskyServer, Fault, MastodonServer, serving
from .x_server import XServer

ZURICH = ZoneInfo("Europe/Zurich")
AT = datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH)
LATER = datetime(2019, 7, 12, 16, 30, tzinfo=ZURICH)
PARTS = ["The Human Rights Council renewed the mandate of the UN expert on sexual orientation and gender identity.",
         "27 States voted for, 12 against, 7 abstained: a wider margin than in 2016.",
         "Thank you to the 1,300 organisations that campaigned for it."]
LINK = "https://news.example.org/2019/07/iesogi-mandate-renewed"
X_KEYS = {"X_API_KEY": "herald-consumer-key", "X_API_SECRET": "consumer-secret-9f2c",
          "X_ACCESS_TOKEN": "1150000000000000001-access-token", "X_ACCESS_TOKEN_SECRET": "token-secret-51ab"}


def thread_item(queue_dir: Path, platform: str, parts: list[str] = PARTS) -> None:
    listed = "".join(f'\n    - "{p}"' for p in parts)
    (queue_dir / "renewed.md").write_text(
        "---\ntitle: Mandate renewed\ndate: 2019-07-12\nsummary: The Council voted.\npublish_at: 2019-07-12 15:30\n"
        f"link: {LINK}\nhashtags: [RenewIESOGI]\nchannels: [{platform}]\nsocial:\n  {platform}:{listed}\n---\n",
        encoding="utf-8")


def refuse_second(server: Any, handler: str, refusal: Callable[[], tuple[int, Any]]) -> None:
    """The local platform answers its `handler`'s second call (part 2) with `refusal`, every other call as usual."""
    original, calls = getattr(server, handler), {"n": 0}

    def second_refused(*args: Any) -> tuple[int, Any]:
        calls["n"] += 1
        return refusal() if calls["n"] == 2 else original(*args)

    setattr(server, handler, second_refused)


def statuses(settings: Settings, platform: str) -> list[tuple[int, str]]:
    with Ledger.open(settings.state_dir) as ledger:
        return [(d.part, d.status) for d in ledger.thread("renewed", platform)]


# --- composition and validation -----------------------------------------------------------------------


def test_the_link_and_hashtags_go_in_the_first_part_only(settings: Settings, queue_dir: Path) -> None:
    thread_item(queue_dir, "mastodon")
    [item] = queue.load(settings).items
    posts = social.compose_thread(item, "mastodon")
    assert [p.part for p in posts] == [1, 2, 3]
    assert posts[0].text == f"{PARTS[0]}\n\n{LINK}\n\n#RenewIESOGI"
    assert [p.text for p in posts[1:]] == PARTS[1:]


def test_validate_names_the_part_that_does_not_fit(settings: Settings, queue_dir: Path) -> None:
    thread_item(queue_dir, "x", [PARTS[0], "A long second part. " * 20, PARTS[2]])
    loaded = queue.load(settings)
    assert loaded.items == []
    [problem] = loaded.problems
    assert problem.field == "social.x" and problem.message.startswith("part 2 is too long: it counts 399 of 280")


def test_a_platform_without_threads_gets_the_parts_as_one_post(settings: Settings, queue_dir: Path) -> None:
    class NoThreads(social.PLATFORMS["mastodon"].__class__):  # type: ignore[misc,name-defined]
        threads = False

    thread_item(queue_dir, "mastodon")
    [item] = queue.load(settings).items
    original = social.PLATFORMS["mastodon"]
    try:
        social.REGISTRY["mastodon"] = NoThreads(500)
        [post] = social.compose_thread(item, "mastodon")
    finally:
        social.REGISTRY["mastodon"] = original
    assert post.text.startswith("\n\n".join(PARTS))


def test_the_composer_shows_a_thread_with_dashes_and_writes_it_back_as_a_list(settings: Settings,
                                                                              queue_dir: Path) -> None:
    thread_item(queue_dir, "mastodon")
    path = queue_dir / "renewed.md"
    fields = itemfile.read(path, "renewed", path.read_bytes())
    assert fields.social["mastodon"] == "\n---\n".join(PARTS)
    path.write_text(itemfile.to_text(fields), encoding="utf-8")
    [item] = queue.load(settings).items
    assert item.social["mastodon"] == tuple(PARTS)


# --- the outbox -------------------------------------------------------------------------------------------


def test_each_part_is_its_own_outbox_file_and_ledger_row(make_settings: Callable[..., Settings],
                                                         queue_dir: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(queue_dir))
    thread_item(queue_dir, "bluesky")
    report = run_once(settings, AT)
    assert [(i, p) for i, p, _ in report.posted] == [("renewed", "bluesky")] * 3
    folder = settings.outbox_dir / "bluesky"
    names = sorted(p.name for p in folder.glob("*.json"))
    assert names == ["renewed.json", "renewed.part2.json", "renewed.part3.json"]
    records = [json.loads((folder / n).read_text()) for n in names]
    assert [r["part"] for r in records] == [1, 2, 3]
    assert records[1]["payload"]["text"] == PARTS[1] and records[1]["attachments"] == []
    assert records[1]["added_when_sent"] == [
        "reply: the reply to part 1 (the id Bluesky gave part 1 when it was posted)"]
    assert statuses(settings, "bluesky") == [(1, "sent"), (2, "sent"), (3, "sent")]
    assert run_once(settings, LATER).posted == []  # a re-run posts nothing again


# --- the real backends ---------------------------------------------------------------------------------


@pytest.fixture
def mastodon() -> Iterator[MastodonServer]:
    with serving(MastodonServer) as server:
        yield server


@pytest.fixture
def pds() -> Iterator[BlueskyServer]:
    with serving(BlueskyServer) as server:
        yield server


def on_mastodon(make_settings: Callable[..., Settings], queue_dir: Path, server: MastodonServer) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(queue_dir), BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off",
                         BOT_BLUESKY_BACKEND="off", BOT_MASTODON_BACKEND="api", MASTODON_BASE_URL=server.url,
                         MASTODON_ACCESS_TOKEN=server.token, BOT_RETRY_BUDGET="0s")


def test_mastodon_posts_each_part_in_reply_to_the_one_before(make_settings, queue_dir: Path, mastodon) -> None:
    settings = on_mastodon(make_settings, queue_dir, mastodon)
    thread_item(queue_dir, "mastodon")
    run_once(settings, AT)
    posted = list(reversed(mastodon.statuses))  # the server keeps them newest first
    assert [s["in_reply_to_id"] for s in posted] == [None, posted[0]["id"], posted[1]["id"]]
    assert mastodon.problems == []


def test_a_failed_part_holds_back_the_rest_until_requeued_then_the_thread_resumes(
        make_settings, queue_dir: Path, mastodon, tmp_path: Path) -> None:
    settings = on_mastodon(make_settings, queue_dir, mastodon)
    thread_item(queue_dir, "mastodon")
    mastodon.fault("create_status", Fault(status=422, body={"error": "Validation failed: refused by the test"}))
    first = run_once(settings, AT)
    # Part 1 was refused for good: the parts that answer it wait, without being missed or sent.
    assert [(p, s) for p, s in statuses(settings, "mastodon")] == [(1, "failed"), (2, "pending"), (3, "pending")]
    assert first.failed and not first.posted
    with Ledger.open(settings.state_dir) as ledger:
        assert ledger.requeue_posts("renewed", ["mastodon"], LATER, LATER) == ["mastodon"]
    run_once(settings, LATER)
    posted = list(reversed(mastodon.statuses))
    assert [s["in_reply_to_id"] for s in posted] == [None, posted[0]["id"], posted[1]["id"]]
    assert statuses(settings, "mastodon") == [(1, "sent"), (2, "sent"), (3, "sent")]


def test_a_part_refused_in_the_middle_resumes_replying_to_the_last_one_that_went_out(
        make_settings, queue_dir: Path, mastodon) -> None:
    settings = on_mastodon(make_settings, queue_dir, mastodon)
    thread_item(queue_dir, "mastodon")

    refuse_second(mastodon, "create_status", lambda: (422, {"error": "Validation failed: refused by the test"}))
    run_once(settings, AT)
    assert statuses(settings, "mastodon") == [(1, "sent"), (2, "failed"), (3, "pending")]
    with Ledger.open(settings.state_dir) as ledger:
        ledger.requeue_posts("renewed", ["mastodon"], LATER, LATER)
    run_once(settings, LATER)
    posted = list(reversed(mastodon.statuses))
    assert len(posted) == 3  # part 1 never twice
    assert [s["in_reply_to_id"] for s in posted] == [None, posted[0]["id"], posted[1]["id"]]


def test_bluesky_replies_name_the_root_and_the_parent_by_uri_and_cid(make_settings, queue_dir: Path, pds) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(queue_dir), BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off",
                             BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=pds.url,
                             BLUESKY_HANDLE=pds.handle_name, BLUESKY_APP_PASSWORD=pds.password,
                             BOT_RETRY_BUDGET="0s")
    thread_item(queue_dir, "bluesky")
    run_once(settings, AT)
    assert pds.problems == []
    with Ledger.open(settings.state_dir) as ledger:
        uris = [d.remote_id for d in ledger.thread("renewed", "bluesky")]
    records = {r["uri"]: r for r in pds.records.values()}
    first, second, third = (records[u] for u in uris)
    assert "reply" not in first["value"] and "embed" in first["value"]  # the link card goes with part 1
    assert second["value"]["reply"] == {"root": {"uri": first["uri"], "cid": first["cid"]},
                                        "parent": {"uri": first["uri"], "cid": first["cid"]}}
    assert third["value"]["reply"] == {"root": {"uri": first["uri"], "cid": first["cid"]},
                                       "parent": {"uri": second["uri"], "cid": second["cid"]}}
    assert len({u.rsplit("/", 1)[-1] for u in uris}) == 3  # each part its own record key


def on_x(make_settings: Callable[..., Settings], queue_dir: Path, server: XServer,
         monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    return make_settings(BOT_QUEUE_DIR=str(queue_dir), BOT_EMAIL_BACKEND="off", BOT_MASTODON_BACKEND="off",
                         BOT_BLUESKY_BACKEND="off", BOT_X_BACKEND="api", X_API_BASE_URL=server.url,
                         BOT_RETRY_BUDGET="0s", **X_KEYS)


def test_x_posts_each_part_in_reply_to_the_one_before(make_settings, queue_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with XServer(*X_KEYS.values(), prefix="/x-api") as server:
        settings = on_x(make_settings, queue_dir, server, monkeypatch)
        thread_item(queue_dir, "x")
        run_once(settings, AT)
        tweets = server.tweets
    assert [t["in_reply_to"] for t in tweets] == [None, tweets[0]["id"], tweets[1]["id"]]
    assert [t["sent"] for t in tweets[1:]] == PARTS[1:]


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_a_run_killed_between_parts_resumes_at_the_next_part_and_posts_none_twice(
        queue_dir: Path, mastodon: MastodonServer, pds: BlueskyServer, tmp_path: Path, platform: str) -> None:
    """SIGKILL while part 2 is in flight (the platform took it; the answer never came): the next run asks the
    platform, finds part 2, records it, and part 3 replies to it. Three posts, each answering the one before."""
    from bot.settings import load_settings

    from .conftest import BASE

    thread_item(queue_dir, platform)
    env = {**os.environ, **BASE, "BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path / "var"),
           "BOT_EMAIL_BACKEND": "off", "BOT_X_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off",
           "BOT_MASTODON_BACKEND": "off", f"BOT_{platform.upper()}_BACKEND": "api", "BOT_RETRY_BUDGET": "0s",
           "MASTODON_BASE_URL": mastodon.url, "MASTODON_ACCESS_TOKEN": mastodon.token,
           "BLUESKY_SERVICE": pds.url, "BLUESKY_HANDLE": pds.handle_name, "BLUESKY_APP_PASSWORD": pds.password,
           "BOT_SECRET": "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V"}
    command = [sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once", "--now", "2019-07-12 15:30"]
    server: MastodonServer | BlueskyServer = mastodon if platform == "mastodon" else pds
    handler = "create_status" if platform == "mastodon" else "create_record"
    stored: Callable[[], int] = (lambda: len(mastodon.statuses)) if platform == "mastodon" \
        else (lambda: len(pds.records))
    original = getattr(server, handler)

    def second_held(seen: Any) -> tuple[int, Any]:
        answer = original(seen)
        if stored() == 2:  # part 2 is stored: now the answer never comes
            server.released.wait(60)
        return answer

    setattr(server, handler, second_held)
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while stored() < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert stored() == 2, run.communicate(timeout=5)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    setattr(server, handler, original)
    server.released.set()

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert again.returncode == 0, again.stdout + again.stderr
    assert stored() == 3  # part 2 never twice
    settings = load_settings(environ={k: v for k, v in env.items() if k.startswith(("BOT_", "MASTODON_",
                                                                                     "BLUESKY_", "MAIL_"))},
                             env_file=None)
    assert statuses(settings, platform) == [(1, "sent"), (2, "sent"), (3, "sent")]
    with Ledger.open(settings.state_dir) as ledger:
        ids = [d.remote_id for d in ledger.thread("renewed", platform)]
    if platform == "mastodon":
        by_id = {s["id"]: s for s in mastodon.statuses}
        assert [by_id[i]["in_reply_to_id"] for i in ids] == [None, ids[0], ids[1]]
    else:
        by_uri = {r["uri"]: r["value"] for r in pds.records.values()}
        assert "reply" not in by_uri[ids[0]]
        assert [by_uri[i]["reply"]["parent"]["uri"] for i in ids[1:]] == ids[:2]


def on_bluesky(make_settings: Callable[..., Settings], queue_dir: Path, server: BlueskyServer) -> Settings:
    return make_settings(BOT_QUEUE_DIR=str(queue_dir), BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off",
                         BOT_MASTODON_BACKEND="off", BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=server.url,
                         BLUESKY_HANDLE=server.handle_name, BLUESKY_APP_PASSWORD=server.password,
                         BOT_RETRY_BUDGET="0s")


def test_bluesky_resumes_after_a_refused_second_part(make_settings, queue_dir: Path, pds) -> None:
    settings = on_bluesky(make_settings, queue_dir, pds)
    thread_item(queue_dir, "bluesky")
    refuse_second(pds, "create_record", lambda: (400, {"error": "InvalidRequest", "message": "refused by the test"}))
    run_once(settings, AT)
    assert statuses(settings, "bluesky") == [(1, "sent"), (2, "failed"), (3, "pending")]
    with Ledger.open(settings.state_dir) as ledger:
        ledger.requeue_posts("renewed", ["bluesky"], LATER, LATER)
    run_once(settings, LATER)
    assert statuses(settings, "bluesky") == [(1, "sent"), (2, "sent"), (3, "sent")]
    with Ledger.open(settings.state_dir) as ledger:
        uris = [d.remote_id for d in ledger.thread("renewed", "bluesky")]
    values = {r["uri"]: r["value"] for r in pds.records.values()}
    assert len(values) == 3 and values[uris[2]]["reply"]["parent"]["uri"] == uris[1]
    assert values[uris[1]]["reply"]["parent"]["uri"] == uris[0]


def test_x_resumes_after_a_refused_second_part(make_settings, queue_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with XServer(*X_KEYS.values(), prefix="/x-api") as server:
        settings = on_x(make_settings, queue_dir, server, monkeypatch)
        thread_item(queue_dir, "x")
        earlier = server.seed_tweet(PARTS[1])  # X refuses part 2 as a duplicate of an earlier post
        run_once(settings, AT)
        assert statuses(settings, "x") == [(1, "sent"), (2, "failed"), (3, "pending")]
        server.tweets.remove(earlier)  # a person deletes the old post, then requeues
        with Ledger.open(settings.state_dir) as ledger:
            ledger.requeue_posts("renewed", ["x"], LATER, LATER)
        run_once(settings, LATER)
        tweets = server.tweets
    assert statuses(settings, "x") == [(1, "sent"), (2, "sent"), (3, "sent")]
    assert [t["in_reply_to"] for t in tweets] == [None, tweets[0]["id"], tweets[1]["id"]]


# --- X and Threads: killed between parts, and a refused second part ---------------------------------------------


def _killed_mid_thread(command: list[str], env: dict[str, str], stored: Callable[[], int],
                       release: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    """Run `command` until the platform holds 2 parts (the second's answer is held back), SIGKILL it, let the
    platform go on, and run it again."""
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while stored() < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert stored() == 2, run.communicate(timeout=5)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    release()
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _env(queue_dir: Path, tmp_path: Path, platform: str, **settings: str) -> dict[str, str]:
    from bot.platforms import PLATFORMS

    from .conftest import BASE

    off = {f"BOT_{name.upper()}_BACKEND": "off" for name in PLATFORMS}
    return {**os.environ, **BASE, "BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path / "var"),
            "BOT_EMAIL_BACKEND": "off", **off, f"BOT_{platform.upper()}_BACKEND": "api", "BOT_RETRY_BUDGET": "0s",
            "BOT_SECRET": "Xr4tT9qkPz2vLw8sNm3bYc6dFh1jGa5eKo7uQi0lRs_yWx-V", "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1", **settings}


COMMAND = [sys.executable, "-m", "bot", "--env-file", "/dev/null", "run", "--once", "--now", "2019-07-12 15:30"]


def test_x_killed_between_parts_resumes_at_the_next_part(queue_dir: Path, tmp_path: Path) -> None:
    with XServer(*X_KEYS.values(), prefix="/x-api") as server:
        thread_item(queue_dir, "x")
        env = _env(queue_dir, tmp_path, "x", X_API_BASE_URL=server.url, **X_KEYS)
        hold, original = threading.Event(), server.answer

        def second_held(request: Any) -> Any:
            answer = original(request)
            if request.route == "POST /2/tweets" and len(server.tweets) == 2:
                hold.wait(60)  # part 2 is stored: its answer never comes
            return answer

        server.answer = second_held  # type: ignore[method-assign]
        again = _killed_mid_thread(COMMAND, env, lambda: len(server.tweets), hold.set)
        tweets = list(server.tweets)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(tweets) == 3 and [t["in_reply_to"] for t in tweets] == [None, tweets[0]["id"], tweets[1]["id"]]


def test_threads_killed_between_parts_resumes_at_the_next_part(queue_dir: Path, tmp_path: Path) -> None:
    from .threads_server import ThreadsServer

    with serving(ThreadsServer) as server:
        thread_item(queue_dir, "threads")
        env = _env(queue_dir, tmp_path, "threads", THREADS_BASE_URL=server.url, THREADS_USER_ID=server.user_id,
                   THREADS_ACCESS_TOKEN=server.token)
        original = server.publish

        def second_held(seen: Any, user_id: str) -> tuple[int, Any]:
            answer = original(seen, user_id)
            if len(server.posts) == 2:
                server.released.wait(60)  # part 2 is published: its answer never comes
            return answer

        server.publish = second_held  # type: ignore[method-assign]
        again = _killed_mid_thread(COMMAND, env, lambda: len(server.posts), server.released.set)
        posts = list(reversed(server.posts))
        replies = [c.form.get("reply_to_id") for c in server.calls("create_container")]
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(posts) == 3  # part 2 never twice
    assert replies == [None, posts[0]["id"], posts[1]["id"]]


def test_threads_resumes_after_a_refused_second_part(make_settings, queue_dir: Path) -> None:
    from .threads_server import Refused, ThreadsServer, graph_error

    with serving(ThreadsServer) as server:
        settings = make_settings(**{k: v for k, v in _env(queue_dir, queue_dir.parent, "threads",
                                                          THREADS_BASE_URL=server.url, THREADS_USER_ID=server.user_id,
                                                          THREADS_ACCESS_TOKEN=server.token).items()
                                    if k.startswith(("BOT_", "THREADS_"))})
        thread_item(queue_dir, "threads")
        refused = Refused(400, graph_error(100, "Invalid parameter", error_user_msg="refused by the test"))

        def refuse() -> tuple[int, Any]:
            raise refused

        refuse_second(server, "create_container", refuse)
        run_once(settings, AT)
        assert statuses(settings, "threads") == [(1, "sent"), (2, "failed"), (3, "pending")]
        with Ledger.open(settings.state_dir) as ledger:
            ledger.requeue_posts("renewed", ["threads"], LATER, LATER)
        run_once(settings, LATER)
        posts = list(reversed(server.posts))
        replies = [c.form.get("reply_to_id") for c in server.calls("create_container")]
    assert statuses(settings, "threads") == [(1, "sent"), (2, "sent"), (3, "sent")]
    assert len(posts) == 3 and replies[-2:] == [posts[0]["id"], posts[1]["id"]]


def test_linkedin_gets_a_thread_as_one_post(make_settings, queue_dir: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(queue_dir), BOT_LINKEDIN_BACKEND="outbox")
    thread_item(queue_dir, "linkedin")
    run_once(settings, AT)
    [written] = (settings.outbox_dir / "linkedin").glob("*.json")
    record = json.loads(written.read_text())
    assert written.name == "renewed.json" and record["part"] == 1
    assert all(part.split(":")[0] in record["payload"]["commentary"] for part in PARTS)
