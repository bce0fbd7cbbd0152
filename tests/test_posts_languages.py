"""Posts in each language (BOT_SOCIAL_LANGUAGES): one post per language an item is written or translated in, each
with its language tag, its text and its campaign's hashtags; per-language accounts (MASTODON_ACCESS_TOKEN_FR) against
local servers; nothing twice after a crash; posts recorded before languages keep working."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import doctor, preview, queue, report, settings_view, staff
from bot.approval import Gate
from bot.channels import Channels, Outcome, Outgoing, OutgoingPost, Sent
from bot.clock import from_utc_iso
from bot.dispatch import Dispatcher, RunReport
from bot.errors import ConfigError
from bot.ledger import Ledger
from bot.platforms.bluesky import record_key
from bot.scheduler import plan_posts, run_once
from bot.settings import Settings, load_settings

from .conftest import BASE, SAMPLE_QUEUE, state_at_schema
from .social_servers import BlueskyServer, MastodonServer, Refused, Seen, serving
from .web_server import running, staff_session

ZURICH = ZoneInfo("Europe/Zurich")
ITEM = "2019-07-09-1300-ngos-call-for-renewal"  # translated into French and Spanish, in the #RenewIESOGI campaign
AT = datetime(2019, 7, 9, 9, 5, tzinfo=ZURICH)  # five minutes after its time (BOT_DEFAULT_POST_TIME)
UNTRANSLATED = "2019-07-11-xinjiang-joint-letter"
UNTRANSLATED_AT = datetime(2019, 7, 11, 9, 5, tzinfo=ZURICH)
FRENCH_TITLE = "Plus de 1\u202f300 ONG appellent le Conseil à renouveler le mandat SOGI"  # a narrow no-break space
SPANISH_TITLE = "Más de 1.300 ONG piden al Consejo que renueve el mandato SOGI"
HASHTAGS = "hashtags: {en: [RenewIESOGI, HRC41], fr: [RenouvelerIESOGI, CDH41], es: [RenovarIESOGI, CDH41]}"
EVERY_LANGUAGE = {"BOT_SOCIAL_LANGUAGES": "en,fr,es", "BOT_EMAIL_BACKEND": "off"}


@pytest.fixture
def queue_copy(tmp_path: Path) -> Path:
    """The sample queue, its campaign's hashtags given per language."""
    folder = tmp_path / "queue"
    shutil.copytree(SAMPLE_QUEUE, folder)
    campaigns = folder / "campaigns.yaml"
    text = campaigns.read_text(encoding="utf-8")
    assert text.count("hashtags: [RenewIESOGI, HRC41]") == 1
    campaigns.write_text(text.replace("hashtags: [RenewIESOGI, HRC41]", HASHTAGS), encoding="utf-8")
    return folder


@pytest.fixture
def multilingual(make_settings: Callable[..., Settings], queue_copy: Path) -> Callable[..., Settings]:
    def make(**env: str) -> Settings:
        return make_settings(**{"BOT_QUEUE_DIR": str(queue_copy), **EVERY_LANGUAGE, **env})

    return make


def outbox(settings: Settings, platform: str, name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((settings.outbox_dir / platform / name).read_text(encoding="utf-8"))
    return record["payload"]


def written(settings: Settings) -> list[str]:
    return sorted(str(p.relative_to(settings.outbox_dir)) for p in settings.outbox_dir.rglob("*.json"))


def posts(settings: Settings, item: str) -> list[tuple[str, str, int, str]]:
    with Ledger.open(settings.state_dir) as ledger:
        return sorted((d.channel, d.lang, d.part, d.status) for d in ledger.posts() if d.item_id == item)


# --- what goes out, in which language ----------------------------------------------------------------------


def test_each_listed_language_is_posted_with_its_tag_its_text_and_its_hashtags(multilingual) -> None:
    settings = multilingual()
    result = run_once(settings, AT)

    assert not (result.failed or result.deferred or result.paused)
    assert [p for p in written(settings) if ITEM in p] == [
        f"{platform}/{ITEM}{suffix}.json" for platform in ("bluesky", "mastodon", "x") for suffix in (".es", ".fr", "")]
    english, french, spanish = (outbox(settings, "mastodon", f"{ITEM}{s}.json") for s in ("", ".fr", ".es"))
    assert (english["language"], french["language"], spanish["language"]) == ("en", "fr", "es")
    assert english["status"].startswith("More than 1,300 NGOs") and "#RenewIESOGI #HRC41" in english["status"]
    assert french["status"].startswith(FRENCH_TITLE) and "#RenouvelerIESOGI #CDH41" in french["status"]
    assert spanish["status"].startswith(SPANISH_TITLE) and "#RenovarIESOGI #CDH41" in spanish["status"]
    assert "#RenewIESOGI" not in french["status"] + spanish["status"]
    bluesky = outbox(settings, "bluesky", f"{ITEM}.fr.json")
    assert bluesky["langs"] == ["fr"] and bluesky["text"].startswith(FRENCH_TITLE)
    assert {"$type": "app.bsky.richtext.facet#tag", "tag": "RenouvelerIESOGI"} in [
        f for facet in bluesky["facets"] for f in facet["features"]]
    assert outbox(settings, "bluesky", f"{ITEM}.json")["langs"] == ["en"]
    assert outbox(settings, "x", f"{ITEM}.es.json")["text"].startswith(SPANISH_TITLE)  # X's body has no language
    assert posts(settings, ITEM) == [(p, lang, 1, "sent") for p in ("bluesky", "mastodon", "x") for lang in
                                     ("", "es", "fr")]
    assert {result.in_language[remote] for item, _, remote in result.posted if item == ITEM
            and remote in result.in_language} == {"fr", "es"}


def test_an_item_without_translations_is_posted_in_its_own_language_only(multilingual) -> None:
    settings = multilingual()
    run_once(settings, UNTRANSLATED_AT)

    assert [p for p in written(settings) if UNTRANSLATED in p] == [
        f"{platform}/{UNTRANSLATED}.json" for platform in ("bluesky", "mastodon", "x")]
    assert outbox(settings, "mastodon", f"{UNTRANSLATED}.json")["language"] == "en"
    assert {lang for _, lang, _, _ in posts(settings, UNTRANSLATED)} == {""}


def test_by_default_only_the_default_language_is_posted(make_settings, queue_copy: Path) -> None:
    settings = make_settings(BOT_QUEUE_DIR=str(queue_copy), BOT_EMAIL_BACKEND="off")
    assert settings.social_languages == ("en",)
    run_once(settings, AT)

    assert [p for p in written(settings) if ITEM in p] == [f"{p}/{ITEM}.json" for p in ("bluesky", "mastodon", "x")]
    assert {lang for _, lang, _, _ in posts(settings, ITEM)} == {""}


def test_an_item_written_in_another_language_goes_out_in_the_listed_ones_it_is_translated_into(
        make_settings, queue_copy: Path) -> None:
    """Written in French with an English translation: by default it goes out in English only, its post recorded as
    the English translation's; with no translation into a listed language, `bot validate` warns that it never goes."""
    original = queue_copy / f"{ITEM}.md"
    original.write_text(original.read_text(encoding="utf-8").replace("campaign:", "lang: fr\ncampaign:"),
                        encoding="utf-8")
    english = queue_copy / f"{ITEM}.fr.md"
    english.rename(queue_copy / f"{ITEM}.en.md")  # its text is French, but its name says what is checked here
    settings = make_settings(BOT_QUEUE_DIR=str(queue_copy), BOT_EMAIL_BACKEND="off", BOT_X_BACKEND="off",
                             BOT_BLUESKY_BACKEND="off")
    assert not [w for w in queue.load(settings).warnings if ITEM in w.path]
    run_once(settings, AT)
    assert posts(settings, ITEM) == [("mastodon", "en", 1, "sent")]
    assert outbox(settings, "mastodon", f"{ITEM}.en.json")["language"] == "en"

    (queue_copy / f"{ITEM}.en.md").unlink()
    [warning] = [w for w in queue.load(settings).warnings if ITEM in w.path]
    assert str(warning) == (f"{original}: lang: warning: written in fr, which BOT_SOCIAL_LANGUAGES (en) does not "
                            "list, and not translated into any language it lists: it is not posted")
    listed = make_settings(BOT_QUEUE_DIR=str(queue_copy), BOT_SOCIAL_LANGUAGES="en,fr")
    assert not [w for w in queue.load(listed).warnings if ITEM in w.path]


def test_a_translation_removed_after_its_post_was_planned_is_missed_not_posted_untranslated(multilingual,
                                                                                             queue_copy: Path) -> None:
    settings = multilingual(BOT_SOCIAL_LANGUAGES="en,fr", BOT_X_BACKEND="off", BOT_BLUESKY_BACKEND="off")
    with Ledger.open(settings.state_dir) as ledger:
        ledger.add_post(ITEM, "mastodon", AT, AT, lang="fr")
    (queue_copy / f"{ITEM}.fr.md").unlink()
    result = run_once(settings, AT)

    assert (ITEM, "mastodon", "in French: its translation is no longer in the queue, or no longer valid") \
        in result.missed
    assert not (settings.outbox_dir / "mastodon" / f"{ITEM}.fr.json").exists()
    with Ledger.open(settings.state_dir) as ledger:  # `bot requeue ITEM` puts back every language's posts
        assert ledger.requeue_posts(ITEM, ["mastodon"], AT, AT) == ["mastodon"]
        again = ledger.post(ITEM, "mastodon", lang="fr")
    assert again is not None and again.status == "pending"


# --- the key of each post ------------------------------------------------------------------------------------


class Recording:
    """A channel that keeps what it is handed."""

    name = "recording"
    batch_size = 1
    limit: int | None = None

    def __init__(self, kind: str, account: str) -> None:
        self.kind, self.account = kind, account
        self.sent: list[OutgoingPost] = []

    def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        self.sent += [m for m in messages if isinstance(m, OutgoingPost)]
        return [Sent(f"{self.account}:{m.key}") for m in messages]

    def reconcile(self, message: Outgoing) -> Outcome | None:
        return None

    def check(self) -> str:
        return "recording"

    def close(self) -> None:
        pass


class RecordingChannels(Channels):
    def get(self, kind: str, lang: str = "") -> Recording:
        found = self.opened.setdefault((kind, lang), Recording(kind, lang))
        assert isinstance(found, Recording)
        return found


def test_each_post_s_key_holds_its_language_and_goes_to_its_language_s_account(multilingual) -> None:
    settings = multilingual(BOT_X_BACKEND="off", BOT_BLUESKY_BACKEND="off")
    items = queue.load(settings).items
    channels = RecordingChannels(settings)
    result = RunReport(AT)
    with Ledger.open(settings.state_dir) as ledger:
        gate = Gate.read(ledger, settings)
        plan_posts(ledger, [i for i in items if i.id == ITEM], channels, settings, AT, result, gate)
        Dispatcher(settings, ledger, channels, result).send_posts({i.id: i for i in items})

    keys = {(account, m.key, m.lang, m.payload["language"]) for (_, account), channel in channels.opened.items()
            if isinstance(channel, Recording) for m in channel.sent}
    # The item as written goes to its own language's account (en), each translation to its language's.
    assert keys == {("en", f"{ITEM}-mastodon", "", "en"), ("fr", f"{ITEM}-mastodon-fr", "fr", "fr"),
                    ("es", f"{ITEM}-mastodon-es", "es", "es")}


# --- per-language accounts -----------------------------------------------------------------------------------


class TwoAccounts(MastodonServer):
    """One instance where the organisation keeps an English and a French account."""

    french_token = "mastodon-token-French-3kT9"

    def _authorise(self, seen: Seen) -> None:
        if self.bearer(seen) not in (self.token, self.french_token):
            raise Refused(401, {"error": "The access token is invalid"})


@pytest.fixture
def instance() -> Iterator[TwoAccounts]:
    with serving(TwoAccounts) as server:
        yield server


def on_mastodon(multilingual: Callable[..., Settings], instance: MastodonServer, **env: str) -> Settings:
    return multilingual(**{"BOT_X_BACKEND": "off", "BOT_BLUESKY_BACKEND": "off", "BOT_MASTODON_BACKEND": "api",
                           "MASTODON_BASE_URL": instance.url, "MASTODON_ACCESS_TOKEN": instance.token,
                           "BOT_RETRY_BUDGET": "0s", **env})


def test_a_language_with_its_own_token_posts_with_it_the_others_with_the_one_account(multilingual, instance) -> None:
    settings = on_mastodon(multilingual, instance, MASTODON_ACCESS_TOKEN_FR=instance.french_token)
    result = run_once(settings, AT)

    assert not (result.failed or result.deferred or result.paused)
    # Only this item is due (the sample's earlier ones are missed): each of its statuses, by language.
    by_language = {call.json()["language"]: call.headers["Authorization"] for call in instance.calls("create_status")}
    assert by_language == {"en": f"Bearer {instance.token}", "fr": f"Bearer {instance.french_token}",
                           "es": f"Bearer {instance.token}"}
    texts = [s["content"] for s in instance.statuses]
    assert sum(FRENCH_TITLE in t for t in texts) == 1 and sum(SPANISH_TITLE in t for t in texts) == 1
    # Three statuses of one item: three Idempotency-Keys, or the instance would have answered the first one three times.
    keys = {call.headers["Idempotency-Key"] for call in instance.calls("create_status")}
    assert len(keys) == len(instance.calls("create_status"))

    again = run_once(settings, AT)  # the same instant once more: nothing new
    assert not again.posted and len(instance.calls("create_status")) == len(keys)


def test_a_refused_token_of_one_language_pauses_that_account_alone(multilingual, instance) -> None:
    settings = on_mastodon(multilingual, instance, MASTODON_ACCESS_TOKEN_FR="revoked-french-token-xyz")
    result = run_once(settings, AT)

    # The French account is paused, saying which settings to check; English and Spanish still go to the one account.
    assert list(result.paused) == ["mastodon in French"]
    assert result.paused["mastodon in French"].endswith("(this language's own account: the settings ending in _FR)")
    assert "revoked-french-token-xyz" not in repr(result)
    assert sorted(call.json()["language"] for call in instance.calls("create_status")
                  if call.headers["Authorization"] == f"Bearer {instance.token}") == ["en", "es"]
    assert [(lang, status) for _platform, lang, _part, status in posts(settings,
                                                                        "2019-07-09-1300-ngos-call-for-renewal")] \
        == [("", "sent"), ("es", "sent"), ("fr", "pending")]


def test_a_translation_s_reply_thread_replies_within_its_language(multilingual, instance, queue_copy: Path) -> None:
    (queue_copy / "thread.md").write_text(
        "---\ntitle: The Council renewed the mandate\ndate: 2019-07-09\npublish_at: 2019-07-09 09:00\n"
        "summary: A defining vote.\nchannels: [mastodon]\nsocial:\n  mastodon:\n    - First part.\n"
        "    - Second part.\n---\n", encoding="utf-8")
    (queue_copy / "thread.fr.md").write_text(
        "---\ntitle: Le Conseil a renouvelé le mandat\nsummary: Un vote décisif.\nsocial:\n  mastodon:\n"
        "    - Première partie.\n    - Deuxième partie.\n    - Troisième partie.\n---\n", encoding="utf-8")
    settings = on_mastodon(multilingual, instance, BOT_SOCIAL_LANGUAGES="en,fr")
    run_once(settings, AT)

    assert [(lang, part, status) for p, lang, part, status in posts(settings, "thread")] == [
        ("", 1, "sent"), ("", 2, "sent"), ("fr", 1, "sent"), ("fr", 2, "sent"), ("fr", 3, "sent")]
    texts = ("First part.", "Second part.", "Première partie.", "Deuxième partie.", "Troisième partie.")
    ids = {text: by_text_of(instance, text)["id"] for text in texts}
    replies = {text: by_text_of(instance, text).get("in_reply_to_id") for text in texts}
    assert replies == {"First part.": None, "Second part.": ids["First part."], "Première partie.": None,
                       "Deuxième partie.": ids["Première partie."], "Troisième partie.": ids["Deuxième partie."]}


def by_text_of(instance: MastodonServer, text: str) -> dict[str, Any]:
    return next(s for s in instance.statuses if text in s["content"])


def test_doctor_checks_each_language_s_own_account_too(multilingual, instance) -> None:
    settings = on_mastodon(multilingual, instance, MASTODON_ACCESS_TOKEN_FR=instance.french_token,
                           MASTODON_ACCESS_TOKEN_ES="a-token-the-instance-refuses")
    found = {f.kind: (f.ok, f.detail) for f in doctor.examine(settings) if f.kind.startswith("mastodon")}

    assert found["mastodon"] == (True, "@genevarights on 127.0.0.1:" + instance.url.rsplit(":", 1)[1])
    assert found["mastodon in French"] == found["mastodon"]
    assert found["mastodon in Spanish"][0] is False and "credentials refused" in found["mastodon in Spanish"][1]
    assert "a-token-the-instance-refuses" not in repr(found)
    assert {call.headers["Authorization"] for call in instance.calls("verify_credentials")} == {
        f"Bearer {t}" for t in (instance.token, instance.french_token, "a-token-the-instance-refuses")}


def test_doctor_says_when_a_language_s_settings_are_for_a_platform_that_is_off(multilingual) -> None:
    settings = multilingual(BOT_MASTODON_BACKEND="off", MASTODON_ACCESS_TOKEN_FR="a-token-for-nothing")
    [found] = [f for f in doctor.examine(settings) if f.kind == "mastodon"]
    assert (found.ok, found.detail) == (True, "off: nothing is sent (the settings given for French are not used)")


def test_a_language_s_own_bluesky_account_keeps_its_own_session(multilingual, pds) -> None:
    """The French account signs in by its DID, the other by its handle: two accounts to Herald, each with its own
    session file, so that neither signs in again at the next run (sign-ins are rate-limited)."""
    settings = multilingual(BOT_SOCIAL_LANGUAGES="en,fr", BOT_X_BACKEND="off", BOT_MASTODON_BACKEND="off",
                            BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=pds.url, BLUESKY_HANDLE=pds.handle_name,
                            BLUESKY_APP_PASSWORD=pds.password, BLUESKY_HANDLE_FR=pds.did, BOT_RETRY_BUDGET="0s")
    run_once(settings, AT)
    renewed = run_once(settings, datetime(2019, 7, 12, 15, 35, tzinfo=ZURICH))  # the next translated item

    assert [langs for call in pds.calls("create_record") for langs in call.json()["record"]["langs"]] == [
        "en", "fr", "en", "fr"]
    assert not (renewed.failed or renewed.deferred or renewed.paused) and pds.logins == 2
    sessions = {name: json.loads((settings.state_dir / name).read_text())["handle"]
                for name in ("bluesky-session.json", "bluesky-session.fr.json")}
    assert sessions == {"bluesky-session.json": pds.handle_name, "bluesky-session.fr.json": pds.did}


def test_a_per_language_setting_with_a_language_not_listed_is_an_unknown_setting(tmp_path: Path) -> None:
    env = {**BASE, "BOT_STATE_DIR": str(tmp_path / "var"), "MASTODON_ACCESS_TOKEN_DE": "a-token-for-de"}
    with pytest.raises(ConfigError) as raised:
        load_settings(environ=env, env_file=None)
    assert str(raised.value) == (
        "environment: MASTODON_ACCESS_TOKEN_DE: unknown setting: de is not one of BOT_LANGUAGES (en, fr, es); "
        "MASTODON_ACCESS_TOKEN may be given per language as MASTODON_ACCESS_TOKEN_EN, MASTODON_ACCESS_TOKEN_FR, "
        "MASTODON_ACCESS_TOKEN_ES")

    env_file = tmp_path / ".env"
    env_file.write_text("BOT_LANGUAGES=en,fr\nBOT_MASTODON_VISIBILITY_ES=unlisted\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(env_file))}: BOT_MASTODON_VISIBILITY_ES: unknown "
                       "setting: es is not one of BOT_LANGUAGES .en, fr.; BOT_MASTODON_VISIBILITY may be given"):
        load_settings(environ={}, env_file=env_file)
    with pytest.raises(ConfigError, match=r"BOT_MASTODON_BACKEND_FR: unknown setting .did you mean"):
        load_settings(environ={**BASE, "BOT_MASTODON_BACKEND_FR": "api"}, env_file=None)  # one backend for all


def test_a_per_language_setting_is_read_as_the_setting_is_and_its_secret_is_kept(tmp_path: Path) -> None:
    base = {**BASE, "BOT_STATE_DIR": str(tmp_path / "var")}
    with pytest.raises(ConfigError, match=r"^environment: MASTODON_BASE_URL_FR: 'not a url' is not an absolute"):
        load_settings(environ={**base, "MASTODON_BASE_URL_FR": "not a url"}, env_file=None)

    secret = "french-token-which-is-secret-7"
    settings = load_settings(environ={**base, "MASTODON_ACCESS_TOKEN_FR": secret, "BLUESKY_HANDLE_ES": "es.bsky.test",
                                      "BOT_MASTODON_VISIBILITY_FR": "unlisted", "MASTODON_BASE_URL_ES": " "},
                             env_file=None)
    assert settings.platform_language_options["mastodon"]["fr"]["visibility"] == "unlisted"
    assert settings.platform_language_options["bluesky"] == {"es": {"handle": "es.bsky.test"}}
    assert "es" not in settings.platform_language_options["mastodon"]  # empty: as if not set
    assert settings.redact(f"the server said {secret}") == "the server said ***"
    rows = {name: (value, source) for name, value, source in settings_view.describe(settings)}
    assert rows["MASTODON_ACCESS_TOKEN_FR"] == ("(set)", "environment")
    assert rows["BOT_MASTODON_VISIBILITY_FR"] == ("unlisted", "environment")
    assert secret not in repr(rows) and secret not in repr(settings)


# --- nothing twice --------------------------------------------------------------------------------------------


@pytest.fixture
def pds() -> Iterator[BlueskyServer]:
    with serving(BlueskyServer) as server:
        yield server


def test_a_translation_s_post_in_flight_when_a_run_died_is_found_under_its_own_record_key(multilingual, pds) -> None:
    settings = multilingual(BOT_SOCIAL_LANGUAGES="en,fr", BOT_X_BACKEND="off", BOT_MASTODON_BACKEND="off",
                            BOT_BLUESKY_BACKEND="api", BLUESKY_SERVICE=pds.url, BLUESKY_HANDLE=pds.handle_name,
                            BLUESKY_APP_PASSWORD=pds.password, BOT_RETRY_BUDGET="0s")
    run_once(settings, AT)
    with Ledger.open(settings.state_dir) as ledger:
        english, french = ledger.post(ITEM, "bluesky"), ledger.post(ITEM, "bluesky", lang="fr")
        assert english is not None and french is not None and french.first_attempt_at is not None
        # The run died after handing the French post over, before its answer was recorded.
        with ledger.transaction():
            ledger.db.execute("UPDATE deliveries SET status = 'sending', remote_id = NULL WHERE id = ?",
                              (french.id,))
    assert english.remote_id != french.remote_id and len(pds.records) == 2
    created = len(pds.calls("create_record"))

    again = run_once(settings, AT)

    assert (again.in_doubt, again.reconciled) == (1, 1) and len(pds.calls("create_record")) == created
    assert again.posted == [(ITEM, "bluesky", french.remote_id)] and again.in_language == {french.remote_id: "fr"}
    rkey = record_key(f"{ITEM}:fr", from_utc_iso(french.first_attempt_at))
    assert french.remote_id == pds.records[rkey]["uri"]
    assert posts(settings, ITEM) == [("bluesky", "", 1, "sent"), ("bluesky", "fr", 1, "sent")]


def test_a_post_recorded_before_languages_keeps_its_record_and_its_name(multilingual) -> None:
    """A state file at schema 11: the item's Mastodon post went out, its X post waits. After the upgrade the X post
    goes under the name it always had, neither is posted again, and the translations go beside them."""
    settings = multilingual(BOT_SOCIAL_LANGUAGES="en,fr", BOT_BLUESKY_BACKEND="off")
    stamp = "2019-07-09T07:00:00Z"
    state_at_schema(settings.state_dir, 11, f"""
        INSERT INTO deliveries (channel, item_id, status, remote_id, due_at, created_at, updated_at)
            VALUES ('mastodon', '{ITEM}', 'sent', '42', '{stamp}', '{stamp}', '{stamp}');
        INSERT INTO deliveries (channel, item_id, status, due_at, created_at, updated_at)
            VALUES ('x', '{ITEM}', 'pending', '{stamp}', '{stamp}', '{stamp}')""")

    result = run_once(settings, AT)

    assert sorted((i, p) for i, p, _ in result.posted if i == ITEM) == [(ITEM, "mastodon"), (ITEM, "x"), (ITEM, "x")]
    assert [p for p in written(settings) if ITEM in p] == [f"mastodon/{ITEM}.fr.json", f"x/{ITEM}.fr.json",
                                                           f"x/{ITEM}.json"]
    assert outbox(settings, "x", f"{ITEM}.json")["text"].startswith("More than 1,300 NGOs")
    with Ledger.open(settings.state_dir) as ledger:
        kept = ledger.post(ITEM, "mastodon")
    assert kept is not None and (kept.remote_id, kept.lang) == ("42", "")


# --- where posts are shown --------------------------------------------------------------------------------------


def test_status_preview_and_the_item_page_name_a_translation_s_language(multilingual, capsys: Any) -> None:
    settings = multilingual(BOT_SOCIAL_LANGUAGES="en,fr", BOT_BLUESKY_BACKEND="off", BOT_X_BACKEND="off",
                            BOT_PUBLIC_URL="")  # the staff pages over plain HTTP
    before = datetime(2019, 7, 9, 8, 0, tzinfo=ZURICH)

    planned = preview.plan(queue.load(settings), settings, before)
    cards = [(p.lang, p.payload["language"]) for p in planned.posts if p.item.id == ITEM]
    assert cards == [("", "en"), ("fr", "fr")]
    index = preview.write(planned, settings, settings.state_dir / "preview").read_text(encoding="utf-8")
    assert f"{ITEM} &middot; in French" in index and (settings.state_dir / "preview" / "mastodon" /
                                                      f"{ITEM}.fr.json").is_file()

    data = report.status(settings, before)
    upcoming = [(p["item"], p["lang"]) for p in data["next"]["posts"] if p["item"] == ITEM]
    assert upcoming == [(ITEM, ""), (ITEM, "fr")]
    report.print_status(data)
    lines = [line for line in capsys.readouterr().out.splitlines() if ITEM in line]
    assert len(lines) == 2 and "in French" in lines[1] and "in French" not in lines[0]

    report.print_run(run_once(settings, AT), settings)
    said = capsys.readouterr().out
    assert f"posted {ITEM} to mastodon\n" in said and f"posted {ITEM} in French to mastodon\n" in said
    with running(settings) as url:
        with Ledger.open(settings.state_dir) as ledger:
            staff.add(ledger, "ed@example.org", "editor", "correct horse battery staple", "test", AT)
        page = staff_session(url, "ed@example.org", "correct horse battery staple").get(
            f"{url}/admin/items/{ITEM}").text
    assert "<strong>mastodon</strong>: sent" in page and "<strong>mastodon</strong> in French: sent" in page
