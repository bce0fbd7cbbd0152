"""Feeds in: RSS 2.0, Atom and RDF files and a local feed server become queue files that validate, each entry once,
fetched with the guard of pictures and with conditional requests; `bot run` polls BOT_FEEDS at its interval."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot import feeds, frontmatter, queue
from bot.channels.http import resolve_public
from bot.cli import cli
from bot.feeds import FeedError, Options
from bot.ledger import Ledger, review
from bot.settings import Settings

from .conftest import BASE, SAMPLE_QUEUE

FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"
ZURICH = ZoneInfo("Europe/Zurich")
NOW = datetime(2019, 7, 20, 12, 0, tzinfo=ZURICH)  # after every entry of news.rss but the Niger one (22 July)
ETAG = '"news-v1"'
MODIFIED = "Sat, 20 Jul 2019 10:00:00 GMT"


@pytest.fixture
def newsroom(make_settings: Callable[..., Settings]) -> Settings:
    """A queue folder with the sample's campaigns.yaml and nothing else."""
    settings = make_settings()
    settings.queue_dir.mkdir(parents=True)
    shutil.copy(SAMPLE_QUEUE / queue.CAMPAIGNS_FILE, settings.queue_dir)
    return settings


def front(path: Path) -> dict[str, object]:
    """The front matter of a written file, as YAML reads it."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])
    assert isinstance(loaded, dict)
    return {key: str(value) if not isinstance(value, bool | list) else value for key, value in loaded.items()}


def written(settings: Settings) -> dict[str, dict[str, object]]:
    return {p.stem: front(p) for p in sorted(settings.queue_dir.glob("*.md"))}


def import_file(settings: Settings, name: str, now: datetime = NOW, **options: object) -> feeds.Imported:
    return feeds.import_feed(settings, str(FEEDS / name), now, Options(**options))


def cli_run(args: list[str], settings: Settings, **env: str):
    merged = {**BASE, "BOT_QUEUE_DIR": str(settings.queue_dir), "BOT_STATE_DIR": str(settings.state_dir), **env}
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=merged)


# --- files: RSS 2.0, Atom, RDF ----------------------------------------------------------------------------------


def test_an_rss_feed_becomes_one_item_per_entry_in_plain_text(newsroom: Settings) -> None:
    result = import_file(newsroom, "news.rss")
    items = written(newsroom)
    assert sorted(items) == ["2019-07-08-four-years-on-the-709-crackdown-on-china-s-human",
                             "2019-07-11-22-states-urge-china-to-open-xinjiang-to",
                             "2019-07-12-human-rights-council-renews-the-mandate-of-the",
                             "2019-07-22-civil-society-in-niger-presents-a-draft-law-to"]
    vote = items["2019-07-12-human-rights-council-renews-the-mandate-of-the"]
    assert vote["title"] == ("Human Rights Council renews the mandate of the UN expert on sexual orientation & gender "
                             "identity")
    # The script and its text are gone, entities decoded, the two paragraphs one line of words.
    assert vote["summary"] == (
        "In a defining vote, the UN Human Rights Council kept the Independent Expert on violence and discrimination "
        "based on sexual orientation and gender identity at work for three more years. It is a victory for LGBTI "
        "communities & for everyone who believes rights are universal – “historic”, said our director.")
    assert vote["link"] == "https://news.example.org/2019/07/iesogi-mandate-renewed"
    assert vote["date"] == "2019-07-12"
    # An image enclosure has no alt text: the item is a draft until a person describes the picture.
    assert vote["image"] == "https://news.example.org/media/2019/07/council-vote.jpg"
    assert "image_alt" not in vote and vote["draft"] is True
    # media:content with its media:description: the picture's alt text, never the entry's summary.
    letter = items["2019-07-11-22-states-urge-china-to-open-xinjiang-to"]
    assert letter["image_alt"] == "The Palais des Nations in Geneva, flags of member States in front"
    assert letter["image_credit"] == "UN Photo"
    assert letter["summary"].startswith("In an unprecedented step") and "&" in letter["summary"]
    assert "draft" not in letter
    # No guid: known by its link; media:content without a description makes a draft as well.
    crackdown = items["2019-07-08-four-years-on-the-709-crackdown-on-china-s-human"]
    assert crackdown["image"] == "https://news.example.org/media/2019/07/709-lawyers.jpg" and crackdown["draft"] is True
    assert [line.split("  ")[0] for line in result.lines()[:-1]] == [
        str(newsroom.queue_dir / f"{name}.md") for name in (
            "2019-07-12-human-rights-council-renews-the-mandate-of-the",
            "2019-07-11-22-states-urge-china-to-open-xinjiang-to",
            "2019-07-08-four-years-on-the-709-crackdown-on-china-s-human",
            "2019-07-22-civil-society-in-niger-presents-a-draft-law-to")]
    assert result.lines()[-1] == f"4 items imported from {FEEDS / 'news.rss'} (2 as drafts), 0 entries imported before."


def test_an_atom_feed_gets_titles_and_summaries_cut_to_fit(newsroom: Settings) -> None:
    import_file(newsroom, "news.atom", campaign="HRC40")
    items = written(newsroom)
    cicig = items["2019-03-19-hrc40-accountability-under-attack-in-guatemala"]
    assert cicig["title"] == "HRC40 | Accountability under attack in Guatemala — defend CICIG"  # type="html": &mdash;
    summary = str(cicig["summary"])
    assert len(summary) <= 600 and summary.endswith("the drive against impunity reversed.")  # at a sentence
    assert "<" not in summary and "CICIG" in summary and "pixel" not in summary
    assert cicig["image"] == "https://news.example.org/media/2019/03/justice-scales.jpg" and cicig["draft"] is True
    assert cicig["campaign"] == "HRC40"
    bachelet = items["2019-03-20-michelle-bachelet-guatemala-s-reconciliation-law"]
    title = str(bachelet["title"])
    assert len(title) <= 150 and title.endswith("for every survivor…")  # at a word
    # No summary: its content (xhtml) is the text.
    assert str(bachelet["summary"]).startswith("The UN human rights chief expressed deep concern")
    assert bachelet["date"] == "2019-03-20"


def test_an_rdf_feed_dates_each_item_in_the_local_time_zone(newsroom: Settings) -> None:
    import_file(newsroom, "news.rdf", draft=True, channels=("email", "mastodon"))
    items = written(newsroom)
    # 2019-03-17 23:30 UTC is already the 18th in Geneva.
    assert sorted(items) == ["2019-03-15-csw63-no-peace-without-women-human-rights",
                             "2019-03-18-un-expert-to-report-on-defenders-in-conflict"]
    for item in items.values():
        assert item["draft"] is True and item["channels"] == ["email", "mastodon"]


def test_what_is_written_validates_but_for_the_alt_text_of_drafted_pictures(newsroom: Settings) -> None:
    for name in ("news.rss", "news.atom", "news.rdf"):
        import_file(newsroom, name)
    loaded = queue.load(newsroom)
    assert loaded.files == 9 and loaded.warnings == []
    assert sorted((Path(p.path).stem, p.field) for p in loaded.problems) == [
        ("2019-03-19-hrc40-accountability-under-attack-in-guatemala", "image_alt"),
        ("2019-07-08-four-years-on-the-709-crackdown-on-china-s-human", "image_alt"),
        ("2019-07-12-human-rights-council-renews-the-mandate-of-the", "image_alt")]
    assert all(front(Path(p.path))["draft"] is True for p in loaded.problems)
    shown = cli_run(["validate"], newsroom)
    assert shown.exit_code == 1
    assert sum("image_alt: is required when image is set" in line for line in shown.stdout.splitlines()) == 3


# --- once, ever -----------------------------------------------------------------------------------------------------


def test_an_entry_is_imported_once_even_after_its_file_is_deleted_or_it_is_edited(newsroom: Settings,
                                                                                tmp_path: Path) -> None:
    assert len(import_file(newsroom, "news.rss").written) == 4
    again = import_file(newsroom, "news.rss")
    assert again.written == [] and len(again.skipped) == 4
    for path in newsroom.queue_dir.glob("2019-07-1*.md"):
        path.unlink()
    edited = tmp_path / "edited.rss"
    edited.write_text((FEEDS / "news.rss").read_text().replace("Four years on", "Five years on"))
    assert import_file(newsroom, "news.rss").written == []
    assert feeds.import_feed(newsroom, str(edited), NOW).written == []
    assert len(list(newsroom.queue_dir.glob("*.md"))) == 2


def test_the_posts_go_out_at_the_entrys_time_while_it_is_ahead_else_at_the_next_run(newsroom: Settings) -> None:
    import_file(newsroom, "news.rss", now=datetime(2019, 7, 20, 12, 0, 42, tzinfo=ZURICH))
    items = written(newsroom)
    assert items["2019-07-22-civil-society-in-niger-presents-a-draft-law-to"]["publish_at"] == "2019-07-22 10:00"
    assert items["2019-07-11-22-states-urge-china-to-open-xinjiang-to"]["publish_at"] == "2019-07-20 12:00"
    due = {i.id for i in queue.load(newsroom).items if i.publish_at <= NOW.replace(second=42)}
    assert due == {"2019-07-11-22-states-urge-china-to-open-xinjiang-to"}  # the drafts are invalid until described


def test_the_hour_the_clocks_go_back_is_written_with_its_offset(newsroom: Settings, tmp_path: Path) -> None:
    later = tmp_path / "later.rss"  # 01:30 UTC on 27 October 2019 is the second 02:30 in Geneva
    later.write_text((FEEDS / "news.rss").read_text().replace("Mon, 22 Jul 2019 10:00:00 +0200",
                                                              "Sun, 27 Oct 2019 01:30:00 GMT"))
    feeds.import_feed(newsroom, str(later), NOW)
    item = next(i for i in queue.load(newsroom).items if "niger" in i.id)
    assert item.publish_at.astimezone(UTC) == datetime(2019, 10, 27, 1, 30, tzinfo=UTC)  # not 00:30 UTC, the first


def test_a_flaw_readers_forgive_is_read_and_unusable_entries_are_said(newsroom: Settings, tmp_path: Path) -> None:
    flawed = tmp_path / "flawed.rss"
    flawed.write_text("""<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>
        <item><title>Defenders&nbsp;at risk</title><guid>desk-1</guid><description>Text.</description></item>
        <item><title>Press conference at the Palais</title><description>No address of its own.</description></item>
        <item><guid>desk-3</guid></item>
        </channel></rss>""")
    result = feeds.import_feed(newsroom, str(flawed), NOW)
    assert [front(path)["title"] for path, _ in result.written] == ["Defenders at risk"]  # &nbsp;: no XML entity
    assert result.lines()[1:3] == [
        "left out: an entry with neither id nor link, so never to be told apart: Press conference at the Palais",
        "left out: an entry with neither title nor text (desk-3)"]
    empty = tmp_path / "empty.atom"
    empty.write_text('<feed xmlns="http://www.w3.org/2005/Atom"><title>Nothing yet</title></feed>')
    assert feeds.import_feed(newsroom, str(empty), NOW).lines() == [
        f"0 items imported from {empty}, 0 entries imported before."]
    with Ledger.open(newsroom.state_dir) as ledger:
        assert [(a.actor, a.action, a.item_id, a.detail) for a in review.activity(ledger)] == [
            ("feed", "create", "2019-07-20-defenders-at-risk", f"imported from {flawed}")]


# --- the command ----------------------------------------------------------------------------------------------------


def test_bot_feed_import_prints_each_path_the_skipped_and_a_summary(newsroom: Settings) -> None:
    first = cli_run(["feed", "import", str(FEEDS / "news.rdf")], newsroom)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        str(newsroom.queue_dir / "2019-03-15-csw63-no-peace-without-women-human-rights.md"),
        str(newsroom.queue_dir / "2019-03-18-un-expert-to-report-on-defenders-in-conflict.md"),
        f"2 items imported from {FEEDS / 'news.rdf'}, 0 entries imported before."]
    second = cli_run(["feed", "import", str(FEEDS / "news.rdf")], newsroom)
    assert second.stdout.splitlines() == [
        "already imported, skipped: CSW63 | No peace without women human rights defenders",
        "already imported, skipped: UN expert to report on defenders in conflict settings",
        f"0 items imported from {FEEDS / 'news.rdf'}, 2 entries imported before."]


@pytest.mark.parametrize(("name", "said"), [
    ("broken.xml", "is a broken feed: not well-formed XML (line 4: no element found)"),
    ("page.html", "is not an RSS or Atom feed: not well-formed XML (line 2: syntax error)"),
    ("missing.xml", "there is no such file")])
def test_a_broken_feed_is_one_error_line(newsroom: Settings, name: str, said: str) -> None:
    result = cli_run(["feed", "import", str(FEEDS / name)], newsroom)
    assert result.exit_code == 1
    assert result.stdout == "" and result.stderr == f"error: {FEEDS / name}: {said}\n"


@pytest.mark.parametrize(("option", "said"), [
    (["--campaign", "RenewSOGI"], "Invalid value for --campaign: 'RenewSOGI': "),
    (["--channels", "email,fax"], "Invalid value for --channels: 'fax' is not a channel: choose from email, x, ")])
def test_a_wrong_campaign_or_channel_is_refused_before_anything_is_written(newsroom: Settings, option: list[str],
                                                                           said: str) -> None:
    result = cli_run(["feed", "import", str(FEEDS / "news.rdf"), *option], newsroom)
    assert result.exit_code == 2 and said in result.stderr
    assert list(newsroom.queue_dir.glob("*.md")) == []
    assert len(cli_run(["feed", "import", str(FEEDS / "news.rdf")], newsroom).stdout.splitlines()) == 3  # not taken


# --- over HTTP: a local feed server ---------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as running:
        yield running


def serve_feed(server: HTTPServer, body: bytes | None = None) -> str:
    """news.rss with validators, answering a request that sends them back with 304, as a real server does."""
    data = (FEEDS / "news.rss").read_bytes() if body is None else body

    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == ETAG:
            return Response(status=304, headers={"ETag": ETAG})
        return Response(data, content_type="application/rss+xml", headers={"ETag": ETAG, "Last-Modified": MODIFIED})

    server.expect_request("/news.rss").respond_with_handler(answer)
    return f"http://127.0.0.1:{server.port}/news.rss"


def test_a_second_poll_sends_the_validators_and_a_304_imports_nothing(make_settings: Callable[..., Settings],
                                                                       server: HTTPServer) -> None:
    settings = make_settings(BOT_FETCH_ALLOW_PRIVATE="1")
    settings.queue_dir.mkdir(parents=True)
    url = serve_feed(server)
    assert len(feeds.import_feed(settings, url, NOW).written) == 4
    shutil.rmtree(settings.queue_dir)
    settings.queue_dir.mkdir()
    second = feeds.import_feed(settings, url, NOW)
    assert second.not_modified and second.written == [] and list(settings.queue_dir.iterdir()) == []
    assert second.lines() == [f"{url} has not changed since it was last read: nothing new."]
    first_asked, then_asked = (request.headers for request, _ in server.log)
    assert "If-None-Match" not in first_asked
    assert then_asked["If-None-Match"] == ETAG and then_asked["If-Modified-Since"] == MODIFIED


def test_a_feed_on_a_private_address_is_refused_without_bot_fetch_allow_private(newsroom: Settings,
                                                                                 server: HTTPServer) -> None:
    url = serve_feed(server)
    with pytest.raises(FeedError, match=r"is not a public address: refused \(BOT_FETCH_ALLOW_PRIVATE=1 allows it"):
        feeds.import_feed(newsroom, url, NOW)
    assert server.log == [] and list(newsroom.queue_dir.glob("*.md")) == []


def test_a_redirect_to_a_private_address_is_refused_too(newsroom: Settings, server: HTTPServer) -> None:
    server.expect_request("/feed").respond_with_response(Response(status=302, headers={
        "Location": f"http://localhost:{server.port}/news.rss"}))

    def vet(host: str, port: int) -> list[str]:  # news.example stands for a public host, served here
        return ["127.0.0.1"] if host == "news.example" else resolve_public(host, port, allow_private=False)

    with pytest.raises(FeedError, match=r"localhost.* is not a public address: refused"):
        feeds.import_feed(newsroom, f"http://news.example:{server.port}/feed", NOW, vet=vet)
    assert [request.path for request, _ in server.log] == ["/feed"]


def test_a_feed_larger_than_the_cap_is_refused(make_settings: Callable[..., Settings], server: HTTPServer) -> None:
    settings = make_settings(BOT_FETCH_ALLOW_PRIVATE="1")
    settings.queue_dir.mkdir(parents=True)
    url = serve_feed(server, b" " * (feeds.MAX_FEED_BYTES + 1))
    with pytest.raises(FeedError, match="larger than 5,000,000 bytes"):
        feeds.import_feed(settings, url, NOW)


# --- bot run: BOT_FEEDS every BOT_FEED_INTERVAL ----------------------------------------------------------------------


def test_bot_run_once_polls_the_feeds_only_when_the_interval_has_passed(newsroom: Settings,
                                                                        server: HTTPServer) -> None:
    url = serve_feed(server)
    env = {"BOT_FEEDS": url, "BOT_FEED_INTERVAL": "1h", "BOT_FETCH_ALLOW_PRIVATE": "1"}
    for at in ("2019-07-20 12:00", "2019-07-20 12:30", "2019-07-20 12:59"):
        cli_run(["run", "--once", "--now", at], newsroom, **env)
    assert len(server.log) == 1 and len(list(newsroom.queue_dir.glob("*.md"))) == 4
    # A feed's first poll brings every entry it lists, old news too: drafts for a person, not a burst of posts.
    assert all(front(p).get("draft") is True for p in newsroom.queue_dir.glob("*.md"))
    assert not (newsroom.state_dir / "outbox" / "x").exists()
    cli_run(["run", "--once", "--now", "2019-07-20 13:00"], newsroom, **env)
    assert len(server.log) == 2 and server.log[1][0].headers["If-None-Match"] == ETAG
    with sqlite3.connect(newsroom.state_dir / "herald.sqlite3") as db:
        assert db.execute("SELECT polled_at FROM feed_polls").fetchall() == [("2019-07-20T11:00:00Z",)]


def test_a_feed_that_fails_is_one_line_and_the_run_goes_on(newsroom: Settings, server: HTTPServer) -> None:
    server.expect_request("/down.rss").respond_with_data("Service Unavailable", status=503)
    down = f"http://127.0.0.1:{server.port}/down.rss"
    url = serve_feed(server)
    result = cli_run(["run", "--once", "--now", "2019-07-20 12:00"], newsroom, BOT_FEEDS=f"{down},{url}",
                     BOT_FETCH_ALLOW_PRIVATE="1")
    failures = [line for line in result.stderr.splitlines() if "feed not imported" in line]
    assert failures == [line for line in result.stderr.splitlines() if down in line]
    assert len(failures) == 1 and failures[0].endswith(f"feed not imported: {down}: HTTP 503: Service Unavailable")
    assert "Traceback" not in result.output
    assert len(list(newsroom.queue_dir.glob("*.md"))) == 4  # the good feed's entries, as drafts (a first poll)


def test_after_a_feeds_first_poll_a_new_entry_goes_out_at_its_time(newsroom: Settings, server: HTTPServer) -> None:
    first = (FEEDS / "news.rss").read_bytes()
    served = {"body": first}

    def answer(request: Request) -> Response:
        return Response(served["body"], content_type="application/rss+xml")

    server.expect_request("/live.rss").respond_with_handler(answer)
    url = f"http://127.0.0.1:{server.port}/live.rss"
    env = {"BOT_FEEDS": url, "BOT_FEED_INTERVAL": "1h", "BOT_FETCH_ALLOW_PRIVATE": "1"}
    cli_run(["run", "--once", "--now", "2019-07-20 12:00"], newsroom, **env)
    new_entry = ("<item><title>The Council closes its session</title><link>https://news.example.org/2019/07/close"
                 "</link><guid>close-hrc41</guid><pubDate>Sat, 20 Jul 2019 10:30:00 +0000</pubDate>"
                 "<description>The 41st session ended with the renewal of the SOGI mandate.</description></item>")
    served["body"] = first.replace(b"<item>", new_entry.encode() + b"<item>", 1)
    result = cli_run(["run", "--once", "--now", "2019-07-20 13:05"], newsroom, **env)
    [fresh] = [p for p in newsroom.queue_dir.glob("*.md") if "close" in p.name]
    assert "draft" not in front(fresh)  # a new entry of a feed already polled goes out at its time
    # The run says what the feed brought, then that it went out.
    assert f"imported from {url}: {fresh}\n" in result.stdout
    assert f"posted {fresh.stem} to x" in result.stdout


# --- text --------------------------------------------------------------------------------------------------------


def test_plain_text_has_no_markup_left() -> None:
    assert feeds.plain("<p>One.</p><p>Two&nbsp;&amp; <b>thr</b>ee</p><script>alert(1)</script>") == "One. Two & three"
    assert feeds.plain("Escaped: &lt;script&gt;alert(1)&lt;/script&gt; and 5 &lt; 6") == "Escaped: alert(1) and 5 < 6"
    assert feeds.plain("<style>p { color: red }</style>tab\there\u0007") == "tab here"
    assert not frontmatter.CONTROL.search(feeds.plain("a\x00b\x1bc"))


def test_text_is_cut_at_a_sentence_or_a_word() -> None:
    assert feeds.cut("One sentence here. Another sentence there.", 30, sentences=True) == "One sentence here."
    assert feeds.cut("Short. " + "word " * 20, 40, sentences=True) == "Short. word word word word word word…"
    assert feeds.cut("a" * 10 + " words that do not fit", 16) == "aaaaaaaaaa…"
    assert feeds.cut("fits", 4) == "fits"
