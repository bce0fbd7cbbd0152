"""Editions in each subscriber's language: one edition a slot, rendered once per language, each subscriber their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import render, subscribers
from bot import report as report_mod
from bot.ledger import Ledger, langs
from bot.mail import TOKEN_PLACEHOLDER
from bot.scheduler import play, run_once
from bot.settings import Settings

from .conftest import SAMPLE_QUEUE, state_at_schema

ZURICH = ZoneInfo("Europe/Zurich")
FRIDAY = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)  # the week's slot: three items due, one translated
PEOPLE = {lang: [f"{lang}{n}@example.org" for n in (1, 2, 3)] for lang in ("en", "fr", "es")}
TRANSLATED = "2019-07-09-1300-ngos-call-for-renewal"


def subscribe(settings: Settings, people: dict[str, list[str]]) -> None:
    with Ledger.open(settings.state_dir) as ledger:
        for lang, emails in people.items():
            for email in emails:
                subscribers.add(ledger, email, "", datetime(2019, 1, 1, tzinfo=UTC))
                langs.choose(ledger, email, lang, datetime(2019, 1, 1, tzinfo=UTC))


def received(settings: Settings) -> dict[str, EmailMessage]:
    found = {}
    for path in (settings.outbox_dir / "email").glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found[str(message["To"])] = message
    return found


def parts(message: EmailMessage) -> tuple[str, str]:
    """(HTML, text with its lines joined: a title wrapped at 72 columns reads whole)."""
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return str(html.get_content()), " ".join(str(text.get_content()).split())


@pytest.fixture
def compilations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The language of each MJML compilation. A spy around mjml-python's one entry point, which the library gives no
    other way to observe; every call still compiles for real."""
    calls: list[str] = []
    real = render.mjml2html

    def counted(source: str, **kwargs: object) -> str:
        calls.append(source.split('lang="', 1)[1].split('"', 1)[0])
        return real(source, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "mjml2html", counted)
    return calls


def test_each_subscriber_gets_the_edition_in_their_language(make_settings: Callable[..., Settings],
                                                            compilations: list[str]) -> None:
    week = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE))
    subscribe(week, PEOPLE)
    # The sample's week of 8 July 2019 on a simulated clock, from Monday morning to the Friday slot.
    reports = play(week, datetime(2019, 7, 8, 8, 0, tzinfo=ZURICH), FRIDAY, lambda r: None)
    [report] = [r for r in reports if r.editions]
    assert len(report.editions) == 1 and report.emails_sent == 9 and not report.emails_failed
    assert report.now == FRIDAY and sum(r.emails_sent for r in reports) == 9
    assert compilations == ["en", "fr", "es"]  # one edition, once per language, never per recipient
    got = received(week)
    assert sorted(got) == sorted(e for emails in PEOPLE.values() for e in emails)
    fr_title = "Plus de 1 300 ONG appellent le Conseil à renouveler le mandat SOGI"
    es_title = "Más de 1.300 ONG piden al Consejo que renueve el mandato SOGI"
    for email in PEOPLE["en"]:
        html, text = parts(got[email])
        assert '<html lang="en"' in html and "12 July 2019" in text and "More than 1,300 NGOs" in text
        assert fr_title not in text and html.split("<body", 1)[1].count('lang="en"') == 1  # the body's own alone
        assert f"/archive/{report.editions[0]}/en" in text and "/language/" in text
    for email in PEOPLE["fr"]:
        html, text = parts(got[email])
        assert '<html lang="fr"' in html and "12 juillet 2019" in text
        subject = str(got[email]["Subject"])  # led by the newest item, here one not translated
        assert subject.startswith("Actualités de Geneva Rights Desk\u202f: 22 States urge China")
        assert subject.endswith(" et 3 autres")
        assert fr_title in text and "More than 1,300 NGOs" not in text
        assert "9 juillet 2019 | Renouveler le mandat SOGI" in text  # the campaign as it is named in French
        # Not translated: shown as written, in English, and said so in words and in its lang attribute.
        assert "22 States urge China" in text and "En anglais" in text
        assert html.count('lang="en"') >= 3 and "En anglais" in html
        assert "Lire la suite" in html and "/archive/1/fr" in text
    [edition] = report_mod.status(week, FRIDAY)["editions"]
    assert edition["languages"] == {"en": 3, "fr": 3, "es": 3}  # bot status: who got which version
    for email in PEOPLE["es"]:
        html, text = parts(got[email])
        assert '<html lang="es"' in html and "12 de julio de 2019" in text and es_title in text
        assert "En inglés" in text and "Leer más" in html and "Renovar el mandato SOGI" in text


def test_with_fallback_skip_an_untranslated_item_is_left_out(make_settings: Callable[..., Settings],
                                                             compilations: list[str]) -> None:
    week = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_TRANSLATION_FALLBACK="skip")
    subscribe(week, PEOPLE)
    report = run_once(week, FRIDAY)
    assert report.emails_sent == 9 and compilations == ["en", "fr", "es"]
    got = received(week)
    _, english = parts(got["en1@example.org"])
    assert "22 States urge China" in english and "More than 1,300 NGOs" in english
    for email in PEOPLE["fr"] + PEOPLE["es"]:
        html, text = parts(got[email])
        assert "22 States urge China" not in text and "crackdown" not in text and 'lang="en"' not in html
    with Ledger.open(week.state_dir) as ledger:
        edition = ledger.edition(report.editions[0], "fr")
        assert edition.lang == "fr" and edition.languages == ("en", "fr", "es")
        assert TRANSLATED in edition.item_ids and "2019-07-11-xinjiang-joint-letter" in edition.item_ids


def test_a_language_with_nothing_to_read_gets_no_edition_under_skip(make_settings: Callable[..., Settings],
                                                                    write_item: Callable[..., Path],
                                                                    compilations: list[str],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    week = make_settings(BOT_TRANSLATION_FALLBACK="skip")
    write_item("news", "title: Council adopts the resolution\ndate: 2019-07-12\nsummary: It passed.\n"
                          "publish_at: 2019-07-12T09:00\nchannels: [email]\n")
    subscribe(week, {"en": ["en1@example.org"], "fr": ["fr1@example.org"]})
    report = run_once(week, FRIDAY)
    assert report.ok and report.emails_sent == 1 and compilations == ["en"]
    assert sorted(received(week)) == ["en1@example.org"]
    with Ledger.open(week.state_dir) as ledger:
        assert ledger.edition(report.editions[0]).languages == ("en",)
    report_mod.print_run(report, week)  # what the run says: staff are told who gets nothing
    said = capsys.readouterr().out
    assert "edition 1: no version in French and Spanish (no item is translated into them, and " \
           "BOT_TRANSLATION_FALLBACK is skip): their subscribers get nothing this time" in said


def test_under_skip_an_item_in_no_listed_language_is_kept_out_and_said(make_settings: Callable[..., Settings],
                                                                        write_item: Callable[..., Path]) -> None:
    week = make_settings(BOT_TRANSLATION_FALLBACK="skip", BOT_LANGUAGES="en,fr")
    german = write_item("rat", "title: Der Rat nimmt die Resolution an\ndate: 2019-07-12\nsummary: Angenommen.\n"
                               "publish_at: 2019-07-12T09:00\nchannels: [email]\nlang: de\n")
    subscribe(week, {"en": ["en1@example.org"], "fr": ["fr1@example.org"]})
    report = run_once(week, FRIDAY)
    assert not report.editions and report.stale == [(
        "rat", "it is written in German, which BOT_LANGUAGES does not list, and translated into none of its "
               "languages (BOT_TRANSLATION_FALLBACK is skip)")]
    assert not run_once(week, FRIDAY + timedelta(minutes=1)).stale  # said once
    # Translated into French, it goes to the French readers in the next edition.
    german.with_name("rat.fr.md").write_text("---\ntitle: Le Conseil adopte la résolution\nsummary: Adoptée.\n---\n",
                                            encoding="utf-8")
    report = run_once(week, FRIDAY + timedelta(days=7))
    assert report.emails_sent == 1 and sorted(received(week)) == ["fr1@example.org"]


def test_a_language_no_longer_listed_and_the_unchosen_get_the_default(make_settings: Callable[..., Settings],
                                                                      compilations: list[str]) -> None:
    week = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_LANGUAGES="fr,en")
    subscribe(week, {"de": ["de1@example.org"], "en": ["en1@example.org"]})
    with Ledger.open(week.state_dir) as ledger:
        subscribers.add(ledger, "none@example.org", "", datetime(2019, 1, 1, tzinfo=UTC))  # never chose one
    run_once(week, FRIDAY)
    assert compilations == ["fr", "en"]  # French first: the default language now
    got = received(week)
    for email in ("de1@example.org", "none@example.org"):
        html, text = parts(got[email])
        assert '<html lang="fr"' in html and "12 juillet 2019" in text
    assert '<html lang="en"' in parts(got["en1@example.org"])[0]


def test_one_language_renders_once_and_offers_no_language_link(make_settings: Callable[..., Settings],
                                                               compilations: list[str]) -> None:
    week = make_settings(BOT_QUEUE_DIR=str(SAMPLE_QUEUE), BOT_LANGUAGES="en")
    subscribe(week, {"en": PEOPLE["en"]})
    run_once(week, FRIDAY)
    assert compilations == ["en"]
    html, text = parts(received(week)["en1@example.org"])
    assert "/language/" not in html and "/language/" not in text and "/archive/1/en" in text


def test_an_edition_made_before_languages_is_sent_as_it_was(make_settings: Callable[..., Settings],
                                                            tmp_path: Path) -> None:
    """A state file at schema 11 with an edition half sent: after the upgrade its last recipient gets it unchanged,
    and a post recorded then keeps its record (as written: the language '')."""
    week = make_settings(BOT_QUEUE_DIR=str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    stamp = "2019-07-12T08:00:00Z"
    state_at_schema(week.state_dir, 11, f"""
        INSERT INTO subscribers (email, name, status, created_at, updated_at) VALUES
            ('old@example.org', '', 'active', '{stamp}', '{stamp}');
        INSERT INTO editions (slot, subject, html, text, recipients, created_at) VALUES
            ('{stamp}', 'Old news', '<p>Old {TOKEN_PLACEHOLDER}</p>', 'Old news {TOKEN_PLACEHOLDER}', 1, '{stamp}');
        INSERT INTO edition_items (edition_id, item_id, position) VALUES (1, 'old-item', 0);
        INSERT INTO deliveries (channel, edition_id, subscriber_id, status, due_at, created_at, updated_at)
            VALUES ('email', 1, 1, 'pending', '{stamp}', '{stamp}', '{stamp}');
        INSERT INTO deliveries (channel, item_id, status, remote_id, due_at, created_at, updated_at)
            VALUES ('mastodon', 'old-item', 'sent', '42', '{stamp}', '{stamp}', '{stamp}')""")
    with Ledger.open(week.state_dir) as ledger:
        edition = ledger.edition(1)
        assert (edition.subject, edition.lang, edition.languages) == ("Old news", "", ())
        post = ledger.post("old-item", "mastodon")
        assert post is not None and (post.remote_id, post.lang) == ("42", "")
    report = run_once(week, FRIDAY)
    assert report.emails_sent == 1
    assert str(received(week)["old@example.org"]["Subject"]) == "Old news"
