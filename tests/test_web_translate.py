"""The translation pages (/admin/items/<id>/translations/<lang>) through the Flask test client, with real files in a
temporary queue and a real ledger: the original beside the form, the exact file a save writes, what a bad, stale
or empty save refuses to write, removal, and who may open them."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bot import approval, itemfile, queue, staff
from bot.ledger import Ledger
from bot.ledger import review as book
from bot.settings import Settings
from bot.web import create_app

from .conftest import SAMPLE_QUEUE

PASSWORD = "correct horse battery staple"
NOW = datetime(2019, 7, 1, tzinfo=UTC)
RENEWED = "2019-07-12-iesogi-mandate-renewed"  # translated into French and Spanish; an x text of its own
CRACKDOWN = "2019-07-08-709-crackdown-anniversary"  # not translated; every channel
SUMMARY_ES = ("El 9 de julio de 2015, más de 300 abogados y defensores de los derechos fueron detenidos, "
              "interrogados o desaparecidos en China. Cuatro años después, los expertos de la ONU deben alzar la voz.")


@pytest.fixture
def site(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    settings = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="")
    with Ledger.open(settings.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", NOW)
        staff.add(ledger, "ana@example.org", "approver", PASSWORD, "test", NOW)
    return settings


def signed_in(settings: Settings, email: str = "ed@example.org") -> FlaskClient:
    client = create_app(settings).test_client()
    answer = client.post("/admin/login", data={"email": email, "password": PASSWORD,
                                               "csrf_token": token(client.get("/admin/login").text)})
    assert answer.status_code == 303
    return client


def token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def form(client: FlaskClient, url: str, **fields: str) -> dict[str, str]:
    """What the page's form sends as it is, with `fields` typed over it."""
    page = client.get(url).text
    values = dict(re.findall(r'<input id="([a-z_]+)" name="[a-z_]+" type="[a-z]+" value="([^"]*)"', page))
    values.update(re.findall(r'<textarea id="([a-z_]+)"[^>]*>([^<]*)</textarea>', page))
    values = {k: html.unescape(v) for k, v in values.items()}
    version = re.search(r'name="version" value="([0-9a-f]*)"', page)
    assert version
    return values | {"csrf_token": token(page), "version": version.group(1)} | fields


def errors(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', page)}


def url(item_id: str, lang: str) -> str:
    return f"/admin/items/{item_id}/translations/{lang}"


def test_the_page_shows_the_original_beside_an_empty_form(site: Settings) -> None:
    page = signed_in(site).get(url(CRACKDOWN, "es"))

    assert page.status_code == 200
    text = page.text
    assert "<h1>Spanish translation</h1>" in text
    assert "<h2>English: the original</h2>" in text and "<h2>Spanish: this translation</h2>" in text
    original = html.unescape(re.search(r'<div class="tr-text" lang="en">([^<]*)</div>', text).group(1))
    assert original == "Four years after the '709 crackdown', China's human rights lawyers still need the world to " \
                       "speak up"
    assert "Title in English" in text and '<label for="title">Title in Spanish</label>' in text
    assert '<input id="title" name="title" type="text" value="" lang="es"' in text
    assert 'name="version" value=""' in text
    assert "Remove this translation" not in text  # nothing to remove yet
    for platform in ("X", "Mastodon", "Bluesky"):  # the channels that are on, as the item form offers them
        assert f'<label for="social_{platform.lower()}">Text for {platform} in Spanish</label>' in text
    assert "social_linkedin" not in text
    assert not re.search(r"\bNone\b|\bFalse\b|\bTrue\b", re.sub(r"<[^>]+>", " ", text))


def test_an_existing_translation_is_shown_in_its_fields(site: Settings) -> None:
    text = signed_in(site).get(url(RENEWED, "fr")).text

    assert 'value="Le Conseil des droits de l&#39;homme renouvelle le mandat' in text
    assert re.search(r'<textarea id="social_x"[^>]*lang="fr"[^>]*>Renouvelé\u00a0!', text)
    assert re.search(r'<div class="tr-text" lang="en">Renewed! The Human Rights Council', text)
    assert "Remove this translation" in text
    assert not errors(text)


def test_a_save_writes_the_file_a_person_would_write_and_the_queue_reads_it(site: Settings) -> None:
    client = signed_in(site)
    values = form(client, url(CRACKDOWN, "es"), title="Cuatro años después de la «represión 709»",
                  summary=SUMMARY_ES, body="Más en nuestra declaración.\r\n",
                  social_mastodon="Cuatro años: #709Crackdown")

    answer = client.post(url(CRACKDOWN, "es"), data=values)

    assert answer.status_code == 303 and answer.headers["Location"] == url(CRACKDOWN, "es")
    path = site.queue_dir / f"{CRACKDOWN}.es.md"
    assert path.read_text(encoding="utf-8") == (
        "---\n"
        "title: Cuatro años después de la «represión 709»\n"
        "summary: >-\n"
        "  El 9 de julio de 2015, más de 300 abogados y defensores de los derechos fueron detenidos,\n"
        "  interrogados o desaparecidos en China. Cuatro años después, los expertos de la ONU deben alzar la\n"
        "  voz.\n"
        "social:\n"
        '  mastodon: "Cuatro años: #709Crackdown"\n'
        "---\n"
        "Más en nuestra declaración.\n")
    loaded = queue.load(site)
    assert loaded.problems == []
    item = next(i for i in loaded.items if i.id == CRACKDOWN)
    spanish = item.translations["es"]
    assert (spanish.title, spanish.summary, spanish.body) == ("Cuatro años después de la «represión 709»", SUMMARY_ES,
                                                              "Más en nuestra declaración.")
    assert dict(spanish.social) == {"mastodon": "Cuatro años: #709Crackdown"} and spanish.link is None
    assert item.in_language("es", "en").link == item.link  # left empty: the original's
    page = client.get(answer.headers["Location"]).text
    assert f"Saved the Spanish translation as {CRACKDOWN}.es.md." in page
    with Ledger.open(site.state_dir) as ledger:
        assert [(a.actor, a.action, a.detail) for a in book.activity(ledger, item_id=CRACKDOWN)] == [
            ("ed@example.org", "translation-add", "Spanish: title, summary, body, social_mastodon")]


def test_an_edit_keeps_the_other_fields_and_logs_what_changed(site: Settings) -> None:
    client = signed_in(site)
    path = site.queue_dir / f"{RENEWED}.fr.md"
    before = itemfile.read(path, RENEWED, path.read_bytes())
    values = form(client, url(RENEWED, "fr"), title="Le mandat SOGI est renouvelé")

    assert client.post(url(RENEWED, "fr"), data=values).status_code == 303

    after = path.read_text(encoding="utf-8")
    assert after.startswith("---\ntitle: Le mandat SOGI est renouvelé\nsummary: >-\n  Lors d'un vote décisif,")
    assert itemfile.read(path, RENEWED, path.read_bytes()) == replace(before, title="Le mandat SOGI est renouvelé")
    with Ledger.open(site.state_dir) as ledger:
        assert [(a.action, a.detail) for a in book.activity(ledger, item_id=RENEWED)] == [
            ("translation-edit", "French: title")]


@pytest.mark.parametrize(("name", "typed", "says"), [
    ("link", "news.example.org/es", "must be a full web address starting with https:// (or http://)"),
    ("social_x", "Demasiado largo. " * 20, "is too long: with the link and hashtags it counts"),
    ("title", "Una línea\r\ny otra", "contains a line break"),
])
def test_a_problem_is_shown_beside_its_field_and_nothing_is_written(site: Settings, name: str, typed: str,
                                                                    says: str) -> None:
    client = signed_in(site)
    values = form(client, url(CRACKDOWN, "es"), summary="Kept as typed #1") | {name: typed}

    answer = client.post(url(CRACKDOWN, "es"), data=values)

    assert answer.status_code == 422
    found = errors(answer.text)
    assert list(found) == [name] and says in found[name], found
    assert f'id="{name}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert f'<a href="#{name}">' in answer.text and "Not saved: 1 problem" in answer.text
    assert ">Kept as typed #1</textarea>" in answer.text
    assert not (site.queue_dir / f"{CRACKDOWN}.es.md").exists()


def test_a_save_over_a_changed_file_is_refused_and_what_was_typed_kept(site: Settings) -> None:
    client = signed_in(site)
    values = form(client, url(RENEWED, "fr"), title="Mon titre")
    path = site.queue_dir / f"{RENEWED}.fr.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Renouvelé\u00a0!", "Renouvelé\u00a0!!"), encoding="utf-8")
    on_disk = path.read_bytes()

    answer = client.post(url(RENEWED, "fr"), data=values)

    assert answer.status_code == 409
    assert "was changed by someone else" in answer.text and 'value="Mon titre"' in answer.text
    assert path.read_bytes() == on_disk
    created = form(client, url(CRACKDOWN, "fr"), title="Quatre ans après")  # a new one, written meanwhile
    (site.queue_dir / f"{CRACKDOWN}.fr.md").write_text("---\ntitle: Le mien\n---\n", encoding="utf-8")
    assert client.post(url(CRACKDOWN, "fr"), data=created).status_code == 409
    assert (site.queue_dir / f"{CRACKDOWN}.fr.md").read_text(encoding="utf-8") == "---\ntitle: Le mien\n---\n"


def test_an_empty_form_saves_nothing_and_says_so(site: Settings) -> None:
    client = signed_in(site)
    empty = client.post(url(CRACKDOWN, "fr"), data=form(client, url(CRACKDOWN, "fr")))
    assert empty.status_code == 200 and "Nothing saved: every field is empty" in empty.text
    assert not (site.queue_dir / f"{CRACKDOWN}.fr.md").exists()

    typed = form(client, url(RENEWED, "fr"))
    blanked = {k: ("" if k not in ("csrf_token", "version") else v) for k, v in typed.items()}
    refused = client.post(url(RENEWED, "fr"), data=blanked)
    assert refused.status_code == 422 and "use “Remove this translation”" in refused.text
    assert (site.queue_dir / f"{RENEWED}.fr.md").exists()


def test_remove_deletes_the_file_once_confirmed_and_logs_it(site: Settings) -> None:
    client = signed_in(site)
    path = site.queue_dir / f"{RENEWED}.es.md"
    values = form(client, url(RENEWED, "es"))
    unconfirmed = client.post(url(RENEWED, "es") + "/remove", data={k: values[k] for k in ("csrf_token", "version")})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm" in errors(unconfirmed.text)["confirm"]
    assert path.exists()

    done = client.post(url(RENEWED, "es") + "/remove", data={"csrf_token": values["csrf_token"],
                                                             "version": values["version"], "confirm": "1"})

    assert done.status_code == 303 and done.headers["Location"] == f"/admin/items/{RENEWED}"
    assert not path.exists()
    item = next(i for i in queue.load(site).items if i.id == RENEWED)
    assert list(item.translations) == ["fr"]
    page = client.get(done.headers["Location"]).text
    assert f"Removed the Spanish translation ({RENEWED}.es.md)." in page
    assert f'<a href="{url(RENEWED, "es")}">Spanish: add a translation</a>' in page
    with Ledger.open(site.state_dir) as ledger:
        assert [(a.action, a.detail) for a in book.activity(ledger, item_id=RENEWED)] == [
            ("translation-remove", "Spanish")]


def test_the_item_page_links_each_other_language_by_its_english_name(site: Settings) -> None:
    client = signed_in(site)
    page = client.get("/admin/items/2019-07-22-niger-draft-law").text
    assert '<a href="/admin/items/2019-07-22-niger-draft-law/translations/fr">French: edit translation</a>' in page
    assert '<a href="/admin/items/2019-07-22-niger-draft-law/translations/es">Spanish: add a translation</a>' in page
    assert "/translations/en" not in page  # its own language

    (site.queue_dir / "2019-07-22-niger-draft-law.fr.md").write_text("---\ndate: 2019-07-23\n---\n")
    broken = client.get("/admin/items/2019-07-22-niger-draft-law").text
    assert "French: edit translation</a> <span class=\"hint\">(bot validate leaves it out" in broken
    shown = client.get(url("2019-07-22-niger-draft-law", "fr")).text
    assert "may not be set in a translation" in shown  # what bot validate says of it, on its page


def test_staff_only_and_languages_that_have_no_page_are_not_found(site: Settings) -> None:
    nobody = create_app(site).test_client()
    assert nobody.get(url(RENEWED, "fr")).status_code == 401
    assert nobody.post(url(RENEWED, "fr"), data={"title": "x"}).status_code in (400, 401)
    assert nobody.post(url(RENEWED, "fr") + "/remove", data={"confirm": "1"}).status_code in (400, 401)
    assert (site.queue_dir / f"{RENEWED}.fr.md").exists()

    client = signed_in(site)
    assert client.get(url(RENEWED, "fr")).status_code == 200
    for path, heading, says in (
            (url(RENEWED, "de"), "No such language", "Herald does not write in German: BOT_LANGUAGES lists English, "
                                                     "French, Spanish."),
            (url(RENEWED, "en"), "Not a translation", f"{RENEWED} is written in English"),
            (url("2019-07-30-no-such-item", "fr"), "No such item", "There is no item 2019-07-30-no-such-item"),
            (url(f"{RENEWED}.fr", "es"), "No such item", "There is no item")):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert f"<h1>{heading}</h1>" in answer.text and says in html.unescape(answer.text), path
    assert client.post(url(RENEWED, "de"), data=form(client, url(RENEWED, "fr"))).status_code == 404


def test_a_save_in_a_git_queue_is_a_commit_by_the_staff_member(site: Settings) -> None:
    subprocess.run(["git", "init", "-q", str(site.queue_dir)], check=True)
    client = signed_in(site)
    assert client.post(url(CRACKDOWN, "fr"), data=form(client, url(CRACKDOWN, "fr"), title="Quatre ans après")
                       ).status_code == 303
    values = form(client, url(CRACKDOWN, "fr"))
    client.post(url(CRACKDOWN, "fr") + "/remove", data={"csrf_token": values["csrf_token"],
                                                        "version": values["version"], "confirm": "1"})
    log = subprocess.run(["git", "-C", str(site.queue_dir), "log", "--format=%ae|%s", "--name-status"],
                         capture_output=True, text=True, check=True).stdout
    assert [line for line in log.splitlines() if line] == [
        f"ed@example.org|Remove the French translation of {CRACKDOWN}", f"D\t{CRACKDOWN}.fr.md",
        f"ed@example.org|Translate {CRACKDOWN} into French", f"A\t{CRACKDOWN}.fr.md"]


def test_a_saved_translation_withdraws_the_approval_and_the_page_says_so(make_settings: Callable[..., Settings],
                                                                        tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_QUEUE, tmp_path / "queue")
    site = make_settings(BOT_QUEUE_DIR=str(tmp_path / "queue"), BOT_PUBLIC_URL="", BOT_APPROVAL="required")
    with Ledger.open(site.state_dir) as ledger:
        staff.add(ledger, "ed@example.org", "editor", PASSWORD, "test", NOW)
        approval.approve(site, ledger, CRACKDOWN, "ana@example.org", NOW)
        assert approval.Gate.read(ledger, site).state(approval.load_one(site, CRACKDOWN)) == "ready"
    client = signed_in(site)
    assert "saving or removing this translation changes the item" in client.get(url(CRACKDOWN, "fr")).text

    saved = client.post(url(CRACKDOWN, "fr"), data=form(client, url(CRACKDOWN, "fr"), title="Quatre ans après"))

    assert saved.status_code == 303
    assert "An approver approves the item again before it goes out." in client.get(saved.headers["Location"]).text
    with Ledger.open(site.state_dir) as ledger:
        assert approval.Gate.read(ledger, site).state(approval.load_one(site, CRACKDOWN)) == "waiting"


def test_what_went_out_in_the_language_is_fixed(site: Settings) -> None:
    at = datetime(2019, 7, 12, 13, 30, tzinfo=UTC)
    with Ledger.open(site.state_dir) as ledger:
        post = ledger.add_post(RENEWED, "x", at, at, lang="fr")
        ledger.claim([post.id], at)  # handed over in French; the answer was lost
    client = signed_in(site)
    page = client.get(url(RENEWED, "fr")).text
    assert 'id="social_x-fixed">Fixed: already handed over on x in French (12 Jul 2019).' in page
    assert re.search(r'<textarea id="social_x"[^>]*readonly', page)
    assert 'id="title-fixed"' not in page  # the French x post was its own text, not the title and summary
    assert "Remove this translation" not in page
    path = site.queue_dir / f"{RENEWED}.fr.md"
    on_disk = path.read_bytes()

    changed = client.post(url(RENEWED, "fr"), data=form(client, url(RENEWED, "fr"), social_x="Un autre texte."))
    assert changed.status_code == 422 and "cannot change: already handed over on x" in errors(changed.text)["social_x"]
    values = form(client, url(RENEWED, "fr"))
    removal = client.post(url(RENEWED, "fr") + "/remove", data={"csrf_token": values["csrf_token"],
                                                                "version": values["version"], "confirm": "1"})
    assert removal.status_code == 422 and "cannot be removed: already handed over on x in French" in removal.text
    assert path.read_bytes() == on_disk
    body = client.post(url(RENEWED, "fr"), data=form(client, url(RENEWED, "fr"), body="Plus dans notre déclaration."))
    assert body.status_code == 303  # what no post was made of may still change
    assert path.read_text(encoding="utf-8").endswith("---\nPlus dans notre déclaration.\n")
    spanish = client.get(url(RENEWED, "es")).text
    assert '<p class="fixed"' not in spanish and "readonly" not in spanish  # a French post fixes no Spanish text
