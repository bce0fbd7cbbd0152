"""Subscribers' languages: the schema step that adds them, `add --lang` and `set-lang`, each import format's column,
the export that imports back the same, and the summaries that name them in words."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot import subscriber_langs, subscribers
from bot.cli import cli
from bot.ledger import MIGRATIONS, Ledger, langs
from bot.subscriber_files import EXPORT_FIELDS, write_csv

from .conftest import BASE, FIXTURES

NOW = datetime(2019, 7, 1, 12, 0, tzinfo=UTC)
CSV = FIXTURES / "subscribers"
THREE = ("en", "fr", "es")


def bot(state: Path, *args: str, languages: str = "en,fr,es") -> Result:
    env = dict(BASE, BOT_STATE_DIR=str(state), BOT_LANGUAGES=languages)
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)


def languages_of(state: Path) -> dict[str, str | None]:
    with Ledger.open(state) as ledger:
        return {s.email: s.lang for s in subscribers.listing(ledger)}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- the schema step -----------------------------------------------------------------------------------------


def test_a_state_file_from_before_languages_keeps_its_subscribers_who_follow_the_default(tmp_path: Path) -> None:
    older = sqlite3.connect(tmp_path / "herald.sqlite3", isolation_level=None)  # as schema 10 left it
    for script in MIGRATIONS[:10]:
        older.executescript(script)
    older.execute("INSERT INTO meta VALUES ('instance', 'a1b2c3d4e5f6')")
    stamp = "2019-07-01T00:00:00Z"
    older.executemany("INSERT INTO subscribers (email, name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                      [("amina@example.org", "Amina", "active", stamp, stamp),
                       ("marc@example.fr", "Marc", "unsubscribed", stamp, stamp)])
    older.execute("PRAGMA user_version = 10")
    older.close()

    with Ledger.open(tmp_path) as ledger:
        assert ledger.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 11
        kept = [(s.email, s.name, s.status, s.lang) for s in subscribers.listing(ledger)]
        assert kept == [("amina@example.org", "Amina", "active", None), ("marc@example.fr", "Marc", "unsubscribed",
                                                                         None)]
        # Nobody chose: they follow whichever language comes first in BOT_LANGUAGES.
        assert subscriber_langs.label(langs.of(ledger, "amina@example.org"), ("en", "fr")) == "en (default)"
        assert subscriber_langs.label(langs.of(ledger, "amina@example.org"), ("fr", "en")) == "fr (default)"
        assert langs.choose(ledger, "AMINA@example.org", "fr", NOW) and langs.of(ledger, "amina@example.org") == "fr"
        assert not langs.choose(ledger, "nobody@example.org", "fr", NOW)
        assert langs.counts(ledger) == {"fr": 1} and langs.counts(ledger, "unsubscribed") == {None: 1}


# --- the command line ------------------------------------------------------------------------------------------


def test_add_with_a_language_and_a_language_refused_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "var"
    added = bot(state, "subscribers", "add", "amina@example.org", "--name", "Amina", "--lang", "FR")
    assert added.exit_code == 0 and added.stdout == "amina@example.org: added (language: fr)\n"
    assert bot(state, "subscribers", "add", "jonas@example.ch").stdout == "jonas@example.ch: added\n"
    refused = bot(state, "subscribers", "add", "klaus@example.de", "--lang", "de")
    assert refused.exit_code == 2  # as click's other usage errors
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error")]
    assert errors == ["Error: Invalid value for --lang: 'de' is not one of BOT_LANGUAGES (en, fr, es)"]
    # Someone already subscribed: --lang sets their language, and only a given one changes it.
    assert bot(state, "subscribers", "add", "jonas@example.ch", "--lang", "es").stdout == \
        "jonas@example.ch: already subscribed (language: es)\n"
    bot(state, "subscribers", "add", "jonas@example.ch", "--name", "Jonas")
    assert languages_of(state) == {"amina@example.org": "fr", "jonas@example.ch": "es"}


def test_set_lang_changes_a_language_or_gives_the_default_back(tmp_path: Path) -> None:
    state = tmp_path / "var"
    bot(state, "subscribers", "add", "amina@example.org")
    changed = bot(state, "subscribers", "set-lang", "Amina@Example.org", "es")  # matched in any case
    assert changed.stdout == "Amina@example.org: language es\n"
    assert languages_of(state) == {"amina@example.org": "es"}
    back = bot(state, "subscribers", "set-lang", "amina@example.org", "default")
    assert back.stdout == "amina@example.org: language en (default)\n" and languages_of(state) == {
        "amina@example.org": None}
    unknown = bot(state, "subscribers", "set-lang", "nobody@example.org", "fr")
    assert unknown.exit_code == 1 and unknown.stderr == "nobody@example.org is not on the list\n"
    refused = bot(state, "subscribers", "set-lang", "amina@example.org", "klingon")
    assert refused.exit_code == 2 and "'klingon' is not one of BOT_LANGUAGES (en, fr, es)" in refused.stderr


def test_list_and_count_name_each_language_in_words(tmp_path: Path) -> None:
    state = tmp_path / "var"
    bot(state, "subscribers", "add", "amina@example.org", "--lang", "fr")
    bot(state, "subscribers", "add", "marc@example.fr", "--lang", "fr")
    bot(state, "subscribers", "add", "jonas@example.ch")
    bot(state, "subscribers", "add", "wei@example.org", "--lang", "en")
    bot(state, "subscribers", "add", "gone@example.org", "--lang", "es")
    bot(state, "subscribers", "remove", "gone@example.org")
    listed = bot(state, "subscribers", "list").stdout.splitlines()
    assert listed[0] == "amina@example.org\tactive\t\tfr" and listed[2] == "jonas@example.ch\tactive\t\ten (default)"
    assert bot(state, "subscribers", "count").stdout.splitlines() == [
        "active: 4  pending: 0  unsubscribed: 1  bounced: 0",
        "active by language: en (default): 1  en: 1  fr: 2  es: 0"]
    # A language BOT_LANGUAGES no longer lists is said so, not hidden; the default moves those who never chose.
    fewer = bot(state, "subscribers", "count", languages="de,en")
    assert fewer.stdout.splitlines()[1] == "active by language: de (default): 1  en: 1  fr (not in BOT_LANGUAGES): 2"
    assert "marc@example.fr\tactive\t\tfr (not in BOT_LANGUAGES)" in bot(state, "subscribers", "list",
                                                                           languages="de,en").stdout


# --- imports ---------------------------------------------------------------------------------------------------


def test_herald_csv_lang_column_with_an_unknown_language_reported_and_the_row_imported(tmp_path: Path) -> None:
    path = write(tmp_path / "list.csv", "email,name,lang\na@example.org,A,fr\nb@example.org,B,\n"
                                        "c@example.org,C,de\nd@example.org,D, ES \n")
    with Ledger.open(tmp_path / "var") as ledger:
        report = subscribers.import_csv(ledger, path, NOW, languages=THREE)
    assert (report.added, report.problems) == (4, [])
    [warning] = report.warnings
    assert (warning.path, warning.line, warning.field, warning.warning) == (str(path), 4, "lang", True)
    assert warning.message == "'de' is not one of BOT_LANGUAGES (en, fr, es): imported with the default language, en"
    assert languages_of(tmp_path / "var") == {"a@example.org": "fr", "b@example.org": None, "c@example.org": None,
                                              "d@example.org": "es"}


def test_the_cli_reports_an_unknown_language_on_its_line_and_imports_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "list.csv", "email,lang\na@example.org,fr\nnot-an-address,fr\nc@example.org,de\n")
    result = bot(tmp_path / "var", "subscribers", "import", str(path))
    assert result.exit_code == 1  # for the invalid address; the language alone would not fail the import
    assert result.stdout.splitlines() == [
        f"{path}:3: email: 'not-an-address' is not a valid address: An email address must have an @-sign.",
        f"{path}:4: lang: warning: 'de' is not one of BOT_LANGUAGES (en, fr, es): imported with the default "
        "language, en"]
    assert result.stderr == "2 added, 0 already subscribed, 0 unsubscribed earlier and left out, 0 repeated in the " \
                            "file, 1 invalid, 1 with a language not in BOT_LANGUAGES, given the default (en)\n"
    assert languages_of(tmp_path / "var") == {"a@example.org": "fr", "c@example.org": None}


def test_mailchimp_language_column_keeps_the_language_of_a_region_code(tmp_path: Path) -> None:
    path = write(tmp_path / "subscribed_members_export.csv",
                 '"Email Address","First Name","Last Name",Language,MEMBER_RATING\n'
                 "a@example.org,Amina,Diallo,fr,4\nb@example.org,Lucía,Fernández,es_MX,5\n"
                 "c@example.org,Jean,Tremblay,fr-CA,3\nd@example.org,Ana,Lima,pt_BR,2\ne@example.org,Wei,,,2\n")
    with Ledger.open(tmp_path / "var") as ledger:
        report = subscribers.import_csv(ledger, path, NOW, languages=THREE)
    assert report.added == 5 and [(w.line, w.message.split(":")[0]) for w in report.warnings] == [
        (5, "'pt_BR' is not one of BOT_LANGUAGES (en, fr, es)")]
    assert languages_of(tmp_path / "var") == {"a@example.org": "fr", "b@example.org": "es", "c@example.org": "fr",
                                              "d@example.org": None, "e@example.org": None}


def test_listmonk_attributes_lang_is_read_and_other_attributes_left(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "var") as ledger:
        report = subscribers.import_csv(ledger, CSV / "listmonk.csv", NOW, languages=THREE)
    assert (report.added, report.unsubscribed, report.warnings) == (2, 2, [])
    assert languages_of(tmp_path / "var") == {"amina.diallo@example.org": "fr", "priya.nair@example.in": None,
                                              "tomas.novak@example.cz": None, "spam.complaint@example.com": None}
    path = write(tmp_path / "listmonk.csv", 'uuid,email,name,attributes,status\n'
                 'u1,a@example.org,A,"{""lang"": ""tlh""}",enabled\nu2,b@example.org,B,not json,enabled\n'
                 'u3,c@example.org,C,"{""lang"": """"}",disabled\nu4,d@example.org,D,"{""lang"": ""es""}",disabled\n'
                 'u5,e@example.org,E,"[""lang""]",enabled\nu6,f@example.org,F,"{""lang"": 7}",enabled\n')
    with Ledger.open(tmp_path / "other") as ledger:
        report = subscribers.import_csv(ledger, path, NOW, languages=THREE)
    assert (report.added, report.unsubscribed, report.problems) == (4, 2, [])
    assert [(w.line, w.message.split(":")[0]) for w in report.warnings] == [
        (2, "'tlh' is not one of BOT_LANGUAGES (en, fr, es)"), (7, "'7' is not one of BOT_LANGUAGES (en, fr, es)")]
    found = languages_of(tmp_path / "other")
    assert found["d@example.org"] == "es"  # unsubscribed as the file says, with the language it gives
    assert {email for email, lang in found.items() if lang is None} == {"a@example.org", "b@example.org",
                                                                        "c@example.org", "e@example.org",
                                                                        "f@example.org"}


def test_an_import_without_a_language_leaves_a_chosen_one_and_one_with_a_language_sets_it(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "var") as ledger:
        subscribers.add(ledger, "a@example.org", "", NOW, lang="es")
        subscribers.add(ledger, "b@example.org", "", NOW, lang="es")
        subscribers.add(ledger, "gone@example.org", "", NOW)
        subscribers.unsubscribe(ledger, subscribers.get(ledger, email="gone@example.org").id, NOW)
        path = write(tmp_path / "list.csv", "email,lang\na@example.org,\nb@example.org,fr\ngone@example.org,fr\n")
        report = subscribers.import_csv(ledger, path, NOW, languages=THREE)
    assert (report.existing, report.kept_out) == (2, 1)
    # Someone who left is left alone, their language too, as `add` leaves them.
    assert languages_of(tmp_path / "var") == {"a@example.org": "es", "b@example.org": "fr", "gone@example.org": None}


# --- the export ------------------------------------------------------------------------------------------------


def test_an_export_imports_back_with_the_same_languages(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for email, lang in (("amina@example.org", "fr"), ("jonas@example.ch", None), ("lucia@example.net", "es"),
                        ("wei@example.org", "en")):
        bot(a, "subscribers", "add", email, *(["--lang", lang] if lang else []))
    bot(a, "subscribers", "remove", "lucia@example.net")
    exported = bot(a, "subscribers", "export").stdout_bytes
    lines = exported.decode().splitlines()
    assert lines[0] == ",".join(EXPORT_FIELDS) and lines[0].endswith(",lang")
    assert lines[1].endswith(",staff,fr") and lines[2].endswith(",staff,")  # empty for the default language
    result = bot(b, "subscribers", "import", str(write(tmp_path / "export.csv", exported.decode())))
    assert result.exit_code == 0 and result.stdout == ""
    assert languages_of(b) == languages_of(a) == {"amina@example.org": "fr", "jonas@example.ch": None,
                                                  "lucia@example.net": "es", "wei@example.org": "en"}
    assert bot(b, "subscribers", "list").stdout == bot(a, "subscribers", "list").stdout
    rows = bot(a, "subscribers", "export", "--format", "json").stdout
    assert '"lang": "fr"' in rows and '"lang": null' in rows


def test_an_export_from_before_languages_still_imports_back_as_it_was(tmp_path: Path) -> None:
    out = io.BytesIO()
    write_csv([dict.fromkeys(EXPORT_FIELDS, "") | {"email": "x@example.org", "name": "=1+1", "status": "active"}],
              out)
    header, row = out.getvalue().decode().splitlines()
    older = ",".join(header.split(",")[:-1]) + "\n" + ",".join(row.split(",")[:-1]) + "\n"  # no `lang` column
    assert "'=1+1" in older
    with Ledger.open(tmp_path / "var") as ledger:
        report = subscribers.import_csv(ledger, write(tmp_path / "old-export.csv", older), NOW, languages=THREE)
        assert report.added == 1 and subscribers.get(ledger, email="x@example.org").name == "=1+1"


@pytest.mark.parametrize(("raw", "code"), [("fr", "fr"), (" FR ", "fr"), ("fr_CA", "fr"), ("pt-BR", "pt"), ("", "")])
def test_a_language_as_tools_write_it_is_its_code(raw: str, code: str) -> None:
    assert subscriber_langs.code(raw) == code
