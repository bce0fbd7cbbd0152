"""Translations (`<id>.<lang>.md` beside `<id>.md`): read, merged into the item's text, checked one fixture file per
case; a broken translation is reported by file, line and field and left out, never its item."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import approval, itemfile, queue, social, translations
from bot.content import Item, Translation, combined_digest, translation_of
from bot.errors import HeraldError
from bot.settings import Settings

from .conftest import FIXTURES

HERE = FIXTURES / "translations"
LANGUAGES = "en,fr,es"


@pytest.fixture
def multilingual(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings(BOT_LANGUAGES=LANGUAGES)
    settings.queue_dir.mkdir(parents=True)
    shutil.copy(HERE / "campaigns.yaml", settings.queue_dir / "campaigns.yaml")
    shutil.copy(HERE / "vote.md", settings.queue_dir / "vote.md")
    return settings


def _translate(settings: Settings, source: str, name: str) -> Path:
    target = settings.queue_dir / name
    shutil.copy(HERE / source, target)
    return target


def test_a_translation_gives_its_text_and_takes_the_rest_from_its_item(multilingual: Settings) -> None:
    _translate(multilingual, "vote.fr.md", "vote.fr.md")
    _translate(multilingual, "vote.es.md", "vote.es.md")

    loaded = queue.load(multilingual)

    assert loaded.problems == [] and loaded.warnings == []
    [item] = loaded.items  # a translation is never an item of its own
    assert loaded.files == 1
    # BOT_LANGUAGES' order (en, fr, es), not the files' (es before fr).
    assert list(item.translations) == ["fr", "es"]
    assert item.languages("en") == ("en", "fr", "es")
    french = item.in_language("fr", "en")
    assert (french.title, french.link) == ("Le Conseil renouvelle le mandat", "https://news.example.org/fr/2019/07/vote")
    assert french.summary.startswith("Le Conseil des droits de l'homme a voté")
    assert french.body == "La résolution a été adoptée par 27 voix contre 12."
    assert french.image_alt == "Des délégués dans la salle du Conseil à Genève"
    assert (french.lang, french.translations, french.id, french.path) == ("fr", {}, "vote", item.path)
    # What a translation does not set is its item's: dates, picture, campaign, channels, tags, credit.
    for name in ("date", "publish_at", "image", "image_credit", "campaign", "channels", "hashtags", "draft"):
        assert getattr(french, name) == getattr(item, name), name
    assert french.date == date(2019, 7, 12) and french.campaign is not None
    # Its overrides are its own: the item's English text for Mastodon does not go out in French.
    assert french.social == {"bluesky": "Renouvelé ! Le Conseil garde l'expert de l'ONU sur l'OSIG."}
    spanish = item.in_language("es", "en")
    assert (spanish.title, spanish.body, spanish.link) == ("El Consejo renueva el mandato", item.body, item.link)
    assert item.in_language("en", "en") is item
    assert item.in_language("de", "en") is item  # no translation: the caller decides to show the original or not


def test_a_file_named_like_a_translation_but_not_one_is_an_item(multilingual: Settings, write_item) -> None:
    write_item("report.v2", "title: A report\ndate: 2019-07-12\nsummary: Fine.")  # one letter and a digit
    write_item("report.FR", "title: A report\ndate: 2019-07-12\nsummary: Fine.")  # upper case
    assert translation_of("report.FR.md") is None and translation_of("vote.fr.md") == ("vote.md", "fr")
    assert sorted(i.id for i in queue.load(multilingual).items) == ["report.FR", "report.v2", "vote"]


# case -> (file name it is written as, field, words the message must contain, line or None)
CASES: dict[str, tuple[str, str, str, int | None]] = {
    "sets_publish_at": ("vote.fr.md", "publish_at", "may not be set in a translation: it comes from vote.md", 4),
    "sets_campaign": ("vote.fr.md", "campaign", "may not be set in a translation: it comes from vote.md", 3),
    "sets_image": ("vote.fr.md", "image", "may not be set in a translation: it comes from vote.md", 3),
    "sets_lang": ("vote.fr.md", "lang", "may not be set in a translation: its language is in its file name (fr)", 3),
    "unknown_field": ("vote.fr.md", "titel", "unknown field (did you mean 'title'?)", 2),
    "empty_summary": ("vote.fr.md", "summary", "is empty", 3),
    "link_relative": ("vote.fr.md", "link", "must be a full web address starting with https:// (or http://); "
                      "'/fr/news/vote' has none", 3),
    "broken_yaml": ("vote.fr.md", "front matter", "broken YAML", 3),
    "override_unknown_platform": ("vote.fr.md", "social", "unknown platform 'facebook'", 4),
    "override_for_channel_not_used": ("vote.fr.md", "social.x", "x is not among the channels of vote.md", 3),
    "override_too_long": ("vote.fr.md", "social.bluesky", "is too long: with the link and hashtags it counts", 3),
    "language_not_listed": ("vote.de.md", "lang", "vote.de.md is in de, which is not one of the languages of "
                            "BOT_LANGUAGES (en, fr, es): add de there, or rename the file", None),
    "own_language": ("vote.en.md", "lang", "vote.en.md is in en, the language vote.md is written in (the default "
                     "language, the first of BOT_LANGUAGES): a translation is in another language", None),
    "without_original": ("other.fr.md", "file", "translates other.md, which is not in", None),
}


def test_every_translation_fixture_has_a_case() -> None:
    assert {p.stem for p in (HERE / "invalid").glob("*.md")} == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_translation_is_reported_and_its_item_still_goes(multilingual: Settings, case: str) -> None:
    name, field, words, line = CASES[case]
    path = _translate(multilingual, f"invalid/{case}.md", name)

    loaded = queue.load(multilingual)

    [item] = loaded.items
    assert item.translations == {} and item.digest == hashlib.sha256((HERE / "vote.md").read_bytes()).hexdigest()
    [problem] = loaded.problems
    assert (problem.path, problem.field, problem.line) == (str(path), field, line)
    assert words in problem.message
    where = f"{path}:{line}" if line else str(path)
    assert str(problem).startswith(f"{where}: {field}: ") and "\n" not in str(problem)
    assert loaded.invalid_ids == set()  # a translation is no item, even a broken one


def test_a_translation_of_an_invalid_item_adds_only_its_own_problems(multilingual: Settings) -> None:
    original = multilingual.queue_dir / "vote.md"
    original.write_text(original.read_text(encoding="utf-8").replace("date: 2019-07-12\n", ""), encoding="utf-8")
    _translate(multilingual, "vote.fr.md", "vote.fr.md")
    _translate(multilingual, "invalid/sets_publish_at.md", "vote.es.md")

    loaded = queue.load(multilingual)

    assert loaded.items == []
    assert [(Path(p.path).name, p.field) for p in sorted(loaded.problems, key=lambda p: p.order)] == [
        ("vote.es.md", "publish_at"), ("vote.md", "date")]
    assert loaded.invalid_ids == {"vote"}


def test_a_translation_may_not_describe_a_picture_its_item_lacks(multilingual: Settings, write_item) -> None:
    write_item("plain", "title: A vote\ndate: 2019-07-12\nsummary: The Council voted.")
    path = multilingual.queue_dir / "plain.fr.md"
    path.write_text("---\ntitle: Un vote\nimage_alt: Une salle\nimage_credit: ONU\n---\n", encoding="utf-8")
    loaded = queue.load(multilingual)
    assert [(i.id, i.translations) for i in loaded.items] == [("plain", {}), ("vote", {})]
    assert [str(p) for p in loaded.problems] == [f"{path}:3: image_alt: has no image to go with: plain.md sets none",
                                                 f"{path}:4: image_credit: has no image to go with: plain.md sets none"]


def test_a_translation_is_checked_as_its_item_for_warnings(multilingual: Settings) -> None:
    path = multilingual.queue_dir / "vote.fr.md"
    path.write_text("---\ntitle: Un vote\n---\nVoir ![la salle](https://news.example.org/salle.jpg).\n",
                    encoding="utf-8")
    loaded = queue.load(multilingual)
    assert loaded.problems == [] and list(loaded.items[0].translations) == ["fr"]
    assert [(w.path, w.field, w.line) for w in loaded.warnings] == [(str(path), "body", 4)]


def test_the_item_digest_covers_its_translations(multilingual: Settings) -> None:
    own = hashlib.sha256((HERE / "vote.md").read_bytes()).hexdigest()
    assert queue.load(multilingual).items[0].digest == own  # without translations: the file's own, as ever
    french = _translate(multilingual, "vote.fr.md", "vote.fr.md")
    with_french = queue.load(multilingual).items[0]
    assert with_french.digest not in ("", own)
    french.write_text(french.read_text(encoding="utf-8").replace("27 voix", "28 voix"), encoding="utf-8")
    edited = queue.load(multilingual).items[0]
    assert edited.digest not in (own, with_french.digest)
    assert edited.digest == combined_digest(own, edited.translations)
    # One item read alone (bot approve, the staff pages) has the digest the whole queue's reading gives it.
    assert approval.load_one(multilingual, "vote").digest == edited.digest


def test_approving_a_draft_with_translations_binds_the_approval_to_all_of_them(multilingual: Settings) -> None:
    from bot.ledger import Ledger

    original = multilingual.queue_dir / "vote.md"
    original.write_text(original.read_text(encoding="utf-8").replace("campaign:", "draft: true\ncampaign:"),
                        encoding="utf-8")
    _translate(multilingual, "vote.fr.md", "vote.fr.md")
    seen = itemfile.digest(original.read_bytes())  # what the staff page's form carries: the item's file
    with Ledger.open(multilingual.state_dir) as ledger:
        approved = approval.approve(multilingual, ledger, "vote", "ana@example.org", datetime.now(UTC), seen=seen)
        gate = approval.Gate.read(ledger, multilingual)
    [item] = queue.load(multilingual).items
    assert not item.draft and approved.digest == item.digest and gate.approved(item) is not None


def test_a_translation_is_not_an_item_to_decide_on_or_to_create(multilingual: Settings) -> None:
    from bot.web import composer

    _translate(multilingual, "vote.fr.md", "vote.fr.md")
    with pytest.raises(HeraldError, match=r"^vote\.fr\.md is the fr translation of vote\.md: name that item instead$"):
        approval.find(multilingual, "vote.fr")
    fields = itemfile.Fields(id="news.es", title="Una noticia", date="2019-07-12", summary="Bien.")
    checked = composer.check(multilingual, fields, multilingual.queue_dir / "news.es.md", new=True)
    assert checked.problems["id"] == ["'news.es' ends in .es, which names a translation of news.md: choose another"]


def test_one_item_read_alone_leaves_a_broken_translation_out(multilingual: Settings) -> None:
    _translate(multilingual, "invalid/sets_publish_at.md", "vote.fr.md")
    _translate(multilingual, "vote.es.md", "vote.es.md")
    (multilingual.queue_dir / ".vote.fr.md.swp").write_text("an editor's", encoding="utf-8")
    item = approval.load_one(multilingual, "vote")
    assert list(item.translations) == ["es"] and item.digest == queue.load(multilingual).items[0].digest


# --- campaigns' hashtags per language ------------------------------------------------------------------------


def test_a_campaign_names_its_hashtags_per_language(multilingual: Settings) -> None:
    _translate(multilingual, "vote.fr.md", "vote.fr.md")
    _translate(multilingual, "vote.es.md", "vote.es.md")
    [item] = queue.load(multilingual).items
    campaign = item.campaign
    assert campaign is not None
    assert campaign.hashtags == ("RenewIESOGI", "HRC41")  # the default language's, for every existing use
    assert campaign.hashtags_in("fr") == ("RenouvelerIESOGI", "CDH41")
    assert campaign.hashtags_in("es") == campaign.hashtags_in(None) == campaign.hashtags  # none of its own
    assert item.all_hashtags == ("LGBTI", "RenewIESOGI", "HRC41")
    assert item.in_language("fr", "en").all_hashtags == ("LGBTI", "RenouvelerIESOGI", "CDH41")
    post = social.compose(item.in_language("fr", "en"), "bluesky")
    assert post.campaign_tags == ("RenouvelerIESOGI", "CDH41") and "#RenouvelerIESOGI" in post.text
    assert social.compose(item, "mastodon").campaign_tags == ("RenewIESOGI", "HRC41")


def test_an_item_written_in_a_language_takes_that_language_s_campaign_hashtags(multilingual: Settings) -> None:
    original = multilingual.queue_dir / "vote.md"
    original.write_text(original.read_text(encoding="utf-8").replace("campaign:", "lang: fr\ncampaign:"),
                        encoding="utf-8")
    _translate(multilingual, "vote.es.md", "vote.es.md")
    [item] = queue.load(multilingual).items
    assert item.all_hashtags == ("LGBTI", "RenouvelerIESOGI", "CDH41")
    assert item.languages("en") == ("fr", "es")
    assert item.in_language("en", "en") is item  # no English translation
    assert item.in_language("es", "en").all_hashtags == ("LGBTI", "RenewIESOGI", "HRC41")


@pytest.mark.parametrize(("hashtags", "field", "message", "line"), [
    ("\n    fr: [RenouvelerIESOGI]", "RenewIESOGI.hashtags",
     "has no list for en, the default language (the first of BOT_LANGUAGES), which every language without a list "
     "of its own takes: add one (it may be [])", 4),
    ("\n    en: [RenewIESOGI]\n    fr: [Renouveler IESOGI]", "RenewIESOGI.hashtags.fr",
     "'Renouveler IESOGI' may hold only letters, digits and '_'", 5),
    ("\n    en: [RenewIESOGI]\n    fr: [#RenouvelerIESOGI]", "RenewIESOGI.hashtags.fr",
     "'#RenouvelerIESOGI' starts a comment in YAML, which cuts the list short on this line: leave out the '#'", 5),
], ids=["no default list", "bad tag", "hash in a language's list"])
def test_per_language_campaign_hashtags_are_checked(multilingual: Settings, hashtags: str, field: str,
                                                    message: str, line: int) -> None:
    path = multilingual.queue_dir / "campaigns.yaml"
    path.write_text(f"RenewIESOGI:\n  name: Renew\n  hashtags: {hashtags}\n  start: 2019-06-24\n  end: 2019-07-12\n",
                    encoding="utf-8")
    loaded = queue.load(multilingual)
    assert loaded.items == []  # its item cannot know its hashtags: it waits, as for any broken campaign
    [problem] = [p for p in loaded.problems if p.path == str(path)]
    assert (problem.field, problem.line) == (field, line)
    assert message in problem.message


@pytest.mark.parametrize(("name", "field", "message", "line"), [
    ("{en: Renew the mandate, fr: Renouveler le mandat}", "", "", 0),
    ("{fr: Renouveler le mandat}", "RenewIESOGI.name",
     "has no name for en, the default language (the first of BOT_LANGUAGES), which every language without a name "
     "of its own takes: add one", 2),
], ids=["named per language", "no default name"])
def test_a_campaign_may_be_named_per_language(multilingual: Settings, name: str, field: str, message: str,
                                              line: int) -> None:
    path = multilingual.queue_dir / "campaigns.yaml"
    path.write_text(f"RenewIESOGI:\n  name: {name}\n  hashtags: [RenewIESOGI]\n  start: 2019-06-24\n"
                    "  end: 2019-07-12\n", encoding="utf-8")
    loaded = queue.load(multilingual)
    problems = [p for p in loaded.problems if p.path == str(path)]
    if not field:
        [item] = loaded.items
        assert item.campaign is not None and not problems
        assert (item.campaign.name_in("fr"), item.campaign.name_in("es"), item.campaign.name_in(None)) == (
            "Renouveler le mandat", "Renew the mandate", "Renew the mandate")
        return
    [problem] = problems
    assert (problem.field, problem.line, problem.message) == (field, line, message)


def test_a_language_not_listed_in_a_campaign_is_a_warning_and_its_items_go(multilingual: Settings) -> None:
    """Languages come and go in BOT_LANGUAGES: a campaign still naming one dropped must not hold its items back."""
    path = multilingual.queue_dir / "campaigns.yaml"
    path.write_text("RenewIESOGI:\n  name: {en: Renew, de: Erneuern}\n  hashtags: {en: [RenewIESOGI], de: [IESOGI]}\n"
                    "  start: 2019-06-24\n  end: 2019-07-12\n", encoding="utf-8")
    loaded = queue.load(multilingual)
    [item] = loaded.items
    assert item.campaign is not None and item.campaign.name_in("de") == "Renew"
    assert sorted(str(p) for p in loaded.problems if p.path == str(path)) == [
        f"{path}:2: RenewIESOGI.name.de: warning: 'de' is not one of the languages of BOT_LANGUAGES (en, fr, es), so "
        "this name is not used: add it there, or take it out",
        f"{path}:3: RenewIESOGI.hashtags.de: warning: 'de' is not one of the languages of BOT_LANGUAGES (en, fr, "
        "es), so this list is not used: add it there, or take it out"]


def test_one_list_of_campaign_hashtags_is_every_language_s(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BOT_LANGUAGES=LANGUAGES)
    settings.queue_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "campaigns.yaml", settings.queue_dir / "campaigns.yaml")
    shutil.copy(HERE / "vote.md", settings.queue_dir / "vote.md")
    _translate(settings, "vote.fr.md", "vote.fr.md")
    [item] = queue.load(settings).items
    assert item.in_language("fr", "en").all_hashtags == item.all_hashtags == ("LGBTI", "RenewIESOGI", "HRC41")


# --- rules for any translation --------------------------------------------------------------------------------

_TEXT = st.one_of(st.none(), st.text(min_size=1, max_size=20))
_ITEM = Item(id="vote", path=Path("/q/vote.md"), title="A vote", date=date(2019, 7, 12), summary="It passed.",
             publish_at=datetime(2019, 7, 12, 13, 30, tzinfo=UTC), link="https://example.org/a", image="media/a.jpg",
             image_alt="A hall", hashtags=("LGBTI",), channels=("email", "x"), social={"x": "Renewed"}, body="Body",
             digest="0" * 64)


@given(lang=st.sampled_from(["en", "fr", "es", "de"]), own=st.sampled_from([None, "en", "fr"]),
       title=_TEXT, summary=_TEXT, body=_TEXT, link=_TEXT, alt=_TEXT)
def test_in_language_changes_only_the_text(lang: str, own: str | None, title: str | None, summary: str | None,
                                           body: str | None, link: str | None, alt: str | None) -> None:
    translation = Translation(lang, Path(f"/q/vote.{lang}.md"), title=title, summary=summary, body=body, link=link,
                              image_alt=alt, digest="1" * 64)
    item = replace(_ITEM, lang=own, translations={lang: translation})
    read = item.in_language(lang, "en")
    for name in ("id", "path", "date", "publish_at", "image", "image_credit", "hashtags", "campaign", "channels",
                 "draft", "digest"):
        assert getattr(read, name) == getattr(item, name), name
    if lang == item.own_language("en"):
        assert read is item
        return
    assert (read.lang, read.translations, read.social) == (lang, {}, {})
    assert read.title == (title or item.title) and read.summary == (summary or item.summary)
    assert read.body == (body or item.body) and read.link == (link or item.link)
    assert read.in_language(lang, "en") is read  # read in its language, it is what it is
    assert item.languages("en")[0] == item.own_language("en") and set(item.languages("en")) <= {"en", "fr", "es", "de"}


def test_split_tells_translations_from_items() -> None:
    paths = [Path("/q/a.md"), Path("/q/a.fr.md"), Path("/q/b.v2.md"), Path("/q/sub/c.es.md")]
    assert translations.split(paths) == ([Path("/q/a.md"), Path("/q/b.v2.md")],
                                         [Path("/q/a.fr.md"), Path("/q/sub/c.es.md")])


# --- the queue's other readers --------------------------------------------------------------------------------


def test_the_staff_pages_and_commands_never_show_a_translation_as_an_item(make_settings: Callable[..., Settings],
                                                                           tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot import staff
    from bot.cli import cli
    from bot.ledger import Ledger

    from .conftest import BASE, SAMPLE_QUEUE
    from .web_server import running, staff_session

    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="", BOT_LANGUAGES=LANGUAGES)
    renewed = "2019-07-12-iesogi-mandate-renewed"
    (settings.queue_dir / f"{renewed}.fr.md").write_text("---\ntitle: Le Conseil renouvelle le mandat\n---\n",
                                                         encoding="utf-8")
    broken = settings.queue_dir / "2019-07-22-niger-draft-law.es.md"
    broken.write_text("---\ntitle: Níger\npublish_at: 2019-07-23 09:00\n---\n", encoding="utf-8")
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", "correct horse battery staple", "test", datetime.now(UTC))

    with running(settings) as base:
        session = staff_session(base, "ed@example.org", "correct horse battery staple")
        listing = session.get(f"{base}/admin/items").text
        page = session.get(f"{base}/admin/items/{renewed}").text
        missing = session.get(f"{base}/admin/items/{renewed}.fr").status_code

    assert "12 items, newest first" in listing and f'href="/admin/items/{renewed}.fr"' not in listing
    assert ("<strong>2019-07-22-niger-draft-law.es.md</strong>: publish_at: may not be set in a translation: it "
            "comes from 2019-07-22-niger-draft-law.md") in listing
    assert 'href="/admin/items/2019-07-22-niger-draft-law.es"' not in listing
    assert f'<a href="/admin/items/{renewed}/translations/fr">French: edit translation</a>' in page
    assert "Invalid" not in page
    assert missing == 404

    env = {**BASE, "BOT_QUEUE_DIR": str(settings.queue_dir), "BOT_STATE_DIR": str(settings.state_dir),
           "BOT_LANGUAGES": LANGUAGES}
    validated = CliRunner().invoke(cli, ["--env-file", "/dev/null", "validate"], env=env)
    assert validated.exit_code == 1
    assert validated.stdout.splitlines() == [
        f"{broken}:3: publish_at: may not be set in a translation: it comes from 2019-07-22-niger-draft-law.md",
        f"12 item files in {settings.queue_dir}, 12 valid, 7 translations, 1 problem, 0 warnings."]
    approved = CliRunner().invoke(cli, ["--env-file", "/dev/null", "approve", f"{renewed}.fr"], env=env)
    assert approved.exit_code != 0
    assert f"{renewed}.fr.md is the fr translation of {renewed}.md: name that item instead" in approved.output
