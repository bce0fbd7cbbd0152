"""The public pages and the confirmation email in the reader's language (BOT_LANGUAGES en,fr,es), through the real
app with Flask's test client and a real ledger: Accept-Language, ?lang and its cookie, the language menu, the
subscribe form's `lang`, the confirmation email in French, the pages about one subscriber in their language, the
page where they change it, and the archive in each language an edition was made in."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot import subscribers
from bot.ledger import Ledger, Version, langs
from bot.mail import TOKEN_PLACEHOLDER
from bot.plaintext import columns
from bot.settings import Settings
from bot.web import create_app
from bot.web.notices import drain_all

from .python_values import html_findings
from .smtp_server import SmtpServer

PUBLIC = "https://news.example.org"
SITE = "https://www.example.org"
NOW = datetime(2019, 7, 1, tzinfo=UTC)
NNBSP = "\u202f"  # French: before : ; ! ? and inside « »
NBSP = "\u00a0"
FR = {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}
ES = {"Accept-Language": "es-419, es;q=0.9"}
# The newsletter's name in each language, as its editions call it (render.title_in), and as a sentence writes it:
# in quotation marks in French and Spanish, as the newsletter's own footer does.
TITLE = {"en": "Geneva Rights Desk news", "fr": "«\u202fActualités de Geneva Rights Desk\u202f»",
         "es": "«Noticias de Geneva Rights Desk»"}


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_EMBED_ORIGINS=SITE)


@pytest.fixture
def client(site: Settings) -> FlaskClient:
    return create_app(site).test_client()


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', page)
    assert found, page[:200]
    return found.group(1)


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def own_form(client: FlaskClient, headers: dict[str, str] | None = None, **fields: str) -> TestResponse:
    """Herald's own form as a browser sends it: opened (in the language the headers ask for), filled, sent."""
    page = client.get("/subscribe", headers=headers).text
    return client.post("/subscribe", data={"name": "", "website": "", "csrf_token": token_of(page), **fields},
                       headers={**(headers or {}), "Origin": "http://localhost"})


def lang_cookie(answer: TestResponse) -> str | None:
    """The `lang` cookie an answer sets, if any (the session cookie of a form's CSRF token is another)."""
    return next((c for c in answer.headers.getlist("Set-Cookie") if c.startswith("lang=")), None)


def recorded(settings: Settings, email: str) -> subscribers.Subscriber | None:
    drain_all()  # recorded in the background
    with Ledger.open(settings.state_dir) as ledger:
        return subscribers.get(ledger, email=email)


def confirmation(settings: Settings, nth: int = -1) -> EmailMessage:
    drain_all()
    mails = sorted((settings.outbox_dir / "email").glob("confirm-*.eml"))
    return message_from_bytes(mails[nth].read_bytes(), policy=policy.default)


def confirm_path(mail: EmailMessage) -> str:
    found = re.search(re.escape(PUBLIC) + r"(/confirm/\S+)", mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


def add(settings: Settings, email: str, lang: str | None = None) -> str:
    """An active subscriber with `lang` recorded; their unsubscribe (and language) token."""
    with Ledger.open(settings.state_dir) as ledger:
        subscribers.add(ledger, email, "", NOW, lang=lang)
        found = subscribers.get(ledger, email=email)
    assert found
    return subscribers.make_token(subscribers.secret_key(settings), found.id)


def lang_of(settings: Settings, email: str) -> str | None:
    with Ledger.open(settings.state_dir) as ledger:
        return langs.of(ledger, email)


# --- the language of a page ---------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "expected"), [
    ("fr-CH, fr;q=0.9, en;q=0.5", "fr"), ("es-419", "es"), ("de, es;q=0.5", "es"), ("fr;q=0, es;q=0.1", "es"),
    ("de, it", "en"), ("", "en")])
def test_the_browsers_accept_language_picks_the_page(client: FlaskClient, accept: str, expected: str) -> None:
    page = client.get("/", headers={"Accept-Language": accept} if accept else {})
    assert page.status_code == 200 and html_lang(page.text) == expected
    assert "Accept-Language" in page.vary and lang_cookie(page) is None  # nothing chosen: nothing kept
    heading = {"en": "Subscribe to", "fr": "Abonnez-vous à", "es": "Suscríbase a"}[expected]
    assert f"<h1>{heading} {TITLE[expected]}</h1>" in page.text
    assert re.search(rf'<option value="{expected}" lang="{expected}" selected>', page.text)  # the form's choice too


def test_french_pages_are_french_throughout(client: FlaskClient) -> None:
    page = client.get("/subscribe", headers=FR).text
    for french in ("Adresse e-mail", 'Nom <span class="hint">(facultatif)</span>', "Langue de la lettre d’information",
                   ">S’abonner</button>", "Aller au contenu", "Éditions précédentes", "Laissez ce champ vide"):
        assert french in page, french
    for english in ("Email address", "Subscribe</button>", "Past newsletters", "Skip to the content", "optional"):
        assert english not in page, english
    assert html_findings("/subscribe in French", page) == []
    nowhere = client.get("/no-such-page", headers=ES)
    assert nowhere.status_code == 404 and "<h1>Página no encontrada</h1>" in nowhere.text


def test_a_choice_in_the_address_wins_and_is_remembered(client: FlaskClient) -> None:
    chosen = client.get("/archive?lang=es", headers=FR)
    assert html_lang(chosen.text) == "es" and "<h1>Ediciones anteriores</h1>" in chosen.text
    cookie = lang_cookie(chosen)
    assert cookie and cookie.startswith("lang=es;") and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" in cookie  # BOT_PUBLIC_URL is https
    later = client.get("/subscribe", headers=FR)  # the browser still prefers French: the choice holds
    assert html_lang(later.text) == "es" and lang_cookie(later) is None
    assert re.search(r'<option value="es" lang="es" selected>', later.text)
    back = client.get("/subscribe?lang=fr", headers=FR)
    assert html_lang(back.text) == "fr" and (lang_cookie(back) or "").startswith("lang=fr;")


@pytest.mark.parametrize("odd", ["de", "FR", "fr-CH", "", "../../etc", "<script>", "en,fr"])
def test_a_language_not_offered_is_ignored(client: FlaskClient, odd: str) -> None:
    page = client.get("/subscribe", query_string={"lang": odd}, headers=ES)
    assert page.status_code == 200 and html_lang(page.text) == "es" and lang_cookie(page) is None
    client.set_cookie("lang", odd)
    assert html_lang(client.get("/subscribe", headers=ES).text) == "es"  # nor a cookie of one's own making


def test_the_menu_names_each_language_in_itself_and_marks_this_pages(client: FlaskClient) -> None:
    page = client.get("/archive", headers=FR).text
    nav = re.search(r'<nav class="langs" aria-label="Langue">(.*?)</nav>', page, re.S)
    assert nav, page
    links = re.findall(r'<a href="\?lang=(\w+)" lang="(\w+)" hreflang="(\w+)"( aria-current="true")?>([^<]+)</a>',
                       nav.group(1))
    assert links == [("en", "en", "en", "", "English"), ("fr", "fr", "fr", ' aria-current="true"', "Français"),
                     ("es", "es", "es", "", "Español")]


def test_one_language_shows_no_menu_and_no_choice_and_records_none(make_settings: Callable[..., Settings]) -> None:
    site = make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_LANGUAGES="")
    client = create_app(site).test_client()
    page = client.get("/subscribe", headers=FR).text
    assert html_lang(page) == "en" and 'class="langs"' not in page and 'name="lang"' not in page
    assert own_form(client, email="solo@example.org").status_code == 200
    found = recorded(site, "solo@example.org")
    assert found and found.status == "pending" and found.lang is None  # NULL: the default, whichever it becomes


def test_staff_pages_stay_in_english(site: Settings, client: FlaskClient) -> None:
    client.get("/subscribe?lang=fr")  # the cookie is set
    for path in ("/admin/login", "/admin"):
        page = client.get(f"{path}?lang=es", headers=FR).text
        assert html_lang(page) == "en" and 'class="langs"' not in page, path
        assert "Skip to the content" in page and "Aller au contenu" not in page


def test_outside_a_request_templates_speak_the_default_language(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(BOT_LANGUAGES="fr,en,es"))  # French first: the default
    with app.app_context():
        assert app.jinja_env.from_string('{{ _("Subscribe") }} {% trans %}Save{% endtrans %}').render() == \
            "S’abonner Enregistrer"
    client = app.test_client()
    assert html_lang(client.get("/subscribe").text) == "fr"  # no Accept-Language: the default
    assert html_lang(client.get("/subscribe", headers={"Accept-Language": "de"}).text) == "fr"
    assert html_lang(client.get("/subscribe", headers={"Accept-Language": "en-US"}).text) == "en"


def test_a_right_to_left_language_says_so(make_settings: Callable[..., Settings]) -> None:
    client = create_app(make_settings(BOT_LANGUAGES="en,ar")).test_client()
    page = client.get("/subscribe?lang=ar").text
    assert '<html lang="ar" dir="rtl">' in page
    assert 'hreflang="ar" dir="rtl" aria-current="true">العربية</a>' in page


# --- subscribing in a language -------------------------------------------------------------------------


def test_the_language_chosen_is_recorded_with_the_request(site: Settings, client: FlaskClient) -> None:
    assert own_form(client, FR, email="amina@example.org", lang="es").status_code == 200
    assert own_form(client, FR, email="jonas@example.ch", lang="en").status_code == 200
    assert own_form(client, ES, email="lucia@example.net").status_code == 200  # no field: the page's language
    assert own_form(client, FR, email="kim@example.org", lang="FR").status_code == 200  # as a site may write it
    for email, lang in (("amina@example.org", "es"), ("jonas@example.ch", "en"), ("lucia@example.net", "es"),
                        ("kim@example.org", "fr")):
        found = recorded(site, email)
        assert found and found.status == "pending" and found.lang == lang, email  # "en" chosen: "en", not NULL


def test_nobody_else_changes_the_language_of_someone_yet_to_confirm(site: Settings, client: FlaskClient) -> None:
    """Someone typing a pending or former subscriber's address with another language mails them a second link in
    it, and changes nothing: each link carries its own language, recorded when that link is confirmed."""
    own_form(client, email="amina@example.org", lang="en")
    mine = confirm_path(confirmation(site))
    other = create_app(site).test_client()
    own_form(other, ES, email="amina@example.org", lang="es")
    theirs = confirmation(site)
    assert theirs["Subject"].startswith("Confirme") and lang_of(site, "amina@example.org") == "en"
    page = client.get(mine)
    assert html_lang(page.text) == "en"  # the page of her own link is in the language she chose
    assert client.post(mine, data={"csrf_token": token_of(page.text)}).status_code == 200
    found = recorded(site, "amina@example.org")
    assert found and (found.status, found.lang) == ("active", "en")
    # Someone who left and asks again in French is French once they confirm, not before.
    with Ledger.open(site.state_dir) as ledger:
        subscribers.unsubscribe(ledger, found.id, NOW)
    own_form(other, FR, email="amina@example.org", lang="fr")
    assert lang_of(site, "amina@example.org") == "en"
    again = confirm_path(confirmation(site))
    other.post(again, data={"csrf_token": token_of(other.get(again).text)})
    found = recorded(site, "amina@example.org")
    assert found and (found.status, found.lang) == ("active", "fr")


def test_a_language_not_offered_is_a_form_error_never_a_500(site: Settings, client: FlaskClient) -> None:
    for n, odd in enumerate(("de", "xx-YY", "<b>fr</b>", "français")):  # each a new address: 3 a day each
        answer = own_form(client, FR, email=f"amina{n}@example.org", name="Amina", lang=odd)
        assert answer.status_code == 400, odd
        page = answer.text
        error = re.search(r'<p class="error" id="lang-error" role="alert">([^<]+)</p>', page)
        assert error and error.group(1) == ("La lettre d’information n’existe pas dans cette langue. Choisissez "
                                            "English, Français ou Español."), page
        assert 'aria-invalid="true" aria-describedby="lang-error"' in page
        assert f'value="amina{n}@example.org"' in page and 'value="Amina"' in page  # what was typed is kept
        assert re.search(r'<option value="fr" lang="fr" selected>', page)
        assert recorded(site, f"amina{n}@example.org") is None
    sent = client.post("/subscribe", json={"email": "amina@example.org", "lang": "de"},
                       headers={"Origin": SITE, "Accept": "application/json", **ES})
    assert sent.status_code == 400 and sent.get_json() == {
        "ok": False, "field": "lang", "message": "El boletín no se publica en ese idioma. Elija English, Français o "
                                                 "Español."}
    assert recorded(site, "amina@example.org") is None


def test_an_embedded_form_sends_its_language_or_the_visitors(site: Settings, client: FlaskClient) -> None:
    client.post("/subscribe", data={"email": "lea@example.ch", "lang": "fr"}, headers={"Origin": SITE})
    client.post("/subscribe", json={"email": "kim@example.ch"},
                headers={"Origin": SITE, "Accept": "application/json", **ES})
    client.post("/subscribe", data={"email": "ana@example.ch", "lang": "es-MX"}, headers={"Origin": SITE, **FR})
    found = [recorded(site, e) for e in ("lea@example.ch", "kim@example.ch", "ana@example.ch")]
    assert [f.lang if f else None for f in found] == ["fr", "es", "es"]
    thanks = client.get("/subscribe/thanks", headers=ES).text
    assert "<h1>Revise su bandeja de entrada</h1>" in thanks and "Si la dirección que indicó puede recibir" in thanks
    # The answer speaks the language chosen, whatever the browser asks for: a script's JSON, a form's next page.
    said = client.post("/subscribe", json={"email": "jo@example.ch", "lang": "es-MX"},
                       headers={"Origin": SITE, "Accept": "application/json"}).get_json()
    assert said["ok"] and said["message"].startswith("Si la dirección")
    moved = client.post("/subscribe", data={"email": "li@example.ch", "lang": "fr"}, headers={"Origin": SITE, **ES})
    assert moved.headers["Location"] == "/subscribe/thanks?lang=fr"


def test_a_bad_address_is_said_in_the_pages_language(client: FlaskClient) -> None:
    answer = own_form(client, FR, email="not an address", lang="fr")
    assert answer.status_code == 400 and html_lang(answer.text) == "fr"
    assert '<p class="error" id="email-error" role="alert">Cette adresse ne semble pas correcte. Vérifiez-la et ' \
           "réessayez.</p>" in answer.text  # the mail library's English explanation is for English pages only
    english = own_form(client, email="not an address")
    assert "That address does not look right: " in english.text


# --- the confirmation email and the pages about one subscriber ----------------------------------------------


def test_the_confirmation_email_is_in_the_language_chosen(site: Settings, client: FlaskClient) -> None:
    own_form(client, ES, email="amina@example.org", lang="fr")  # a Spanish page, French chosen: French mail
    mail = confirmation(site)
    assert mail["Subject"] == f"Confirmez votre abonnement à {TITLE['fr']}"
    text = mail.get_content().replace("\r\n", "\n")
    link = PUBLIC + confirm_path(mail)
    assert re.sub(r"[ \n]+", " ", text).startswith(
        f"Quelqu’un, probablement vous, a demandé à recevoir {TITLE['fr']} à cette adresse. Pour confirmer")
    # The button's own word; no-break spaces hold « Confirmer » : together, and 7 to its unit (CLDR's).
    assert f"ouvrez ce lien dans un délai de 7{NBSP}jours et appuyez sur\n«{NNBSP}Confirmer{NNBSP}»{NNBSP}:\n\n" \
           f"{link}\n\n" in text
    assert f"ignorez ce message{NNBSP}: aucun abonnement ne\nsera enregistré." in text
    assert text.endswith("-- Geneva Rights Desk\nRue de Varembé 1, 1202 Geneva, Switzerland\n")
    assert all(columns(line) <= 72 or line == link for line in text.splitlines())
    assert "Someone" not in text and "days" not in text


def test_the_confirmation_email_through_a_real_mail_server(make_settings: Callable[..., Settings]) -> None:
    with SmtpServer() as mailbox:
        site = make_settings(BOT_EMAIL_BACKEND="smtp", SMTP_HOST=mailbox.host, SMTP_PORT=str(mailbox.port),
                             SMTP_SECURITY="none", BOT_PUBLIC_URL=PUBLIC, BOT_CONFIRM_MAX_AGE="1d",
                             BOT_SECRET="languages-test-secret-Hk3Rw9ZpQ2vN7xLc")
        answer = own_form(create_app(site).test_client(), ES, email="lucia@example.net", lang="es")
        assert answer.status_code == 200 and "<h1>Revise su bandeja de entrada</h1>" in answer.text
        drain_all()
        [received] = mailbox.received_by("lucia@example.net")
        mail = received.parsed()
    assert mail["Subject"] == f"Confirme su suscripción a {TITLE['es']}"
    text = mail.get_content()
    assert "Alguien, probablemente usted, solicitó recibir" in text and "en un plazo de 24 horas" in text


def test_the_confirm_page_is_in_the_subscribers_language(site: Settings, client: FlaskClient) -> None:
    own_form(client, email="amina@example.org", lang="fr")  # an English page, French chosen
    path = confirm_path(confirmation(site))
    stranger = create_app(site).test_client()  # the link opened elsewhere, by a browser asking for English
    page = stranger.get(path, headers={"Accept-Language": "en"})
    assert html_lang(page.text) == "fr" and "<h1>Confirmez votre abonnement</h1>" in page.text
    assert "Les éditions arriveront en français." in page.text and ">Confirmer</button>" in page.text
    assert html_lang(stranger.get(path + "?lang=en").text) == "en"  # unless they choose another here
    stranger.set_cookie("lang", "fr")
    done = stranger.post(path, data={"csrf_token": token_of(stranger.get(path).text)})
    assert done.status_code == 200 and "<h1>Votre abonnement est confirmé</h1>" in done.text
    spent = stranger.get(path)
    assert spent.status_code == 410 and "<h1>Ce lien ne fonctionne plus</h1>" in spent.text
    assert '<a href="/subscribe">faites une nouvelle demande</a>' in spent.text


def test_an_expired_link_says_how_long_links_last_in_the_subscribers_language(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from itsdangerous.timed import TimestampSigner

    site = make_settings(BOT_PUBLIC_URL=PUBLIC, BOT_CONFIRM_MAX_AGE="3d")
    client = create_app(site).test_client()
    with monkeypatch.context() as past:
        past.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 4 * 86400)
        own_form(client, email="lucia@example.net", lang="es")
        path = confirm_path(confirmation(site))
    page = client.get(path)
    assert page.status_code == 410 and html_lang(page.text) == "es"
    assert "Los enlaces de confirmación son válidos durante 3 días después de su envío" in page.text


def test_the_unsubscribe_page_is_in_the_subscribers_language(site: Settings, client: FlaskClient) -> None:
    token = add(site, "lucia@example.net", "es")
    page = client.get(f"/unsubscribe/{token}", headers=FR)
    assert html_lang(page.text) == "es" and f"<h1>¿Darse de baja de {TITLE['es']}?</h1>" in page.text
    assert ">Darse de baja</button>" in page.text
    gone = client.post(f"/unsubscribe/{token}", data="List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert gone.status_code == 200 and "<h1>Su baja está registrada</h1>" in gone.text
    assert "Set-Cookie" not in gone.headers  # RFC 8058's POST: still no cookie
    client.set_cookie("lang", "fr")
    assert "Votre désabonnement est enregistré" in client.get(f"/unsubscribe/{token}").text  # the visitor's choice
    never_chose = add(site, "jonas@example.ch")
    assert html_lang(client.get(f"/unsubscribe/{never_chose}?lang=en").text) == "en"


# --- the page to change one's language -------------------------------------------------------------------


def test_the_language_page_changes_the_language(site: Settings, client: FlaskClient) -> None:
    token = add(site, "amina@example.org", "fr")
    page = client.get(f"/language/{token}", headers=ES)
    assert page.status_code == 200 and html_lang(page.text) == "fr"  # theirs, not the browser's
    assert page.headers["Cache-Control"] == "no-store"  # the token is in the address
    assert f"<h1>Dans quelle langue recevoir {TITLE['fr']}{NNBSP}?</h1>" in page.text
    assert "amina@example.org" in page.text
    radios = re.findall(r'<input type="radio" name="lang" value="(\w+)"( checked)?> <span lang="(\w+)">([^<]+)</span>',
                        page.text)
    assert radios == [("en", "", "en", "English"), ("fr", " checked", "fr", "Français"), ("es", "", "es", "Español")]
    assert 'name="csrf_token"' not in page.text  # as unsubscribe: the token in the address is the key
    answer = client.post(f"/language/{token}", data={"lang": "es"})
    assert answer.status_code == 200 and html_lang(answer.text) == "es"  # said in the language chosen
    assert "<h1>Su elección se ha guardado</h1>" in answer.text
    assert f"A partir de la próxima edición, amina@example.org recibirá {TITLE['es']} en español." in answer.text
    assert lang_of(site, "amina@example.org") == "es"
    assert re.search(r'value="es" checked>', client.get(f"/language/{token}").text)
    assert client.post(f"/language/{token}", data={"lang": "en"}).status_code == 200
    assert lang_of(site, "amina@example.org") == "en"  # the default, chosen: recorded as chosen


def test_the_language_page_refuses_a_language_not_offered(site: Settings, client: FlaskClient) -> None:
    token = add(site, "amina@example.org", "fr")
    for odd in ({"lang": "de"}, {"lang": ""}, {}, {"lang": "de-CH"}):
        answer = client.post(f"/language/{token}", data=odd)
        assert answer.status_code == 400 and "Choisissez l’une de ces langues." in answer.text, odd
    assert lang_of(site, "amina@example.org") == "fr"
    # Written as the subscribe form and the commands take it: ES, es-MX.
    for written in ("ES", "es-MX"):
        assert client.post(f"/language/{token}", data={"lang": written}).status_code == 200
        assert lang_of(site, "amina@example.org") == "es"


def test_a_bad_language_token_is_the_plain_404(site: Settings, client: FlaskClient) -> None:
    token = add(site, "amina@example.org", "fr")
    nowhere = client.get("/no-such-page")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for path in (f"/language/{forged}", "/language/short", f"/language/{'x' * 32}"):
        for answer in (client.get(path), client.post(path, data={"lang": "es"})):
            assert answer.status_code == 404 and answer.text == nowhere.text, path
    assert lang_of(site, "amina@example.org") == "fr"
    help_page = client.get("/language", headers=FR)
    assert help_page.status_code == 200 and "utilisez le lien en bas de n’importe quelle édition" in help_page.text


# --- the archive in each language ---------------------------------------------------------------------------

SUBJECTS = {"en": "Rights news: the Council votes", "fr": f"Actualités{NNBSP}: le Conseil vote",
            "es": "Noticias: el Consejo vota"}


def edition_html(lang: str, edition_id: int) -> str:
    """An edition as the built-in template writes one, in short: its view-in-browser link and subscriber note."""
    return (f'<!doctype html><html lang="{lang}" dir="auto"><head><title>{SUBJECTS[lang]}</title></head><body>'
            f'<div class="herald-view-online"><a href="{PUBLIC}/archive/{edition_id}/{lang}">view</a></div>'
            f'<p>Body in {lang}</p><table><tr><td class="herald-subscriber-note"><div style="color:#52606d">'
            f'Subscribers only <a href="{PUBLIC}/unsubscribe/{TOKEN_PLACEHOLDER}">leave</a></div></td></tr></table>'
            "</body></html>")


def make_edition(settings: Settings, languages: tuple[str, ...], day: int) -> int:
    items = (f"2019-07-{day}-a", f"2019-07-{day}-b")

    def render(edition_id: int) -> dict[str, Version]:
        return {lang: Version(SUBJECTS[lang], edition_html(lang, edition_id), SUBJECTS[lang], items)
                for lang in languages}

    with Ledger.open(settings.state_dir) as ledger:
        return ledger.create_edition(datetime(2019, 7, day, 8, tzinfo=UTC), items,
                                     datetime(2019, 7, day, 8, tzinfo=UTC), render, languages=("en", "fr", "es"))


def test_the_archive_lists_each_edition_in_the_readers_language(site: Settings, client: FlaskClient) -> None:
    make_edition(site, ("en", "fr", "es"), 12)
    make_edition(site, ("en", "fr"), 19)
    french = client.get("/archive", headers=FR).text
    assert html_lang(french) == "fr" and "<h1>Éditions précédentes</h1>" in french
    assert re.findall(r'<li><a href="/archive/(\d)">([^<]+)</a> <span class="hint"><time datetime="([\d-]+)">'
                      r"([^<]+)</time> &middot; ([^<]+)</span>", french) == [
        ("2", SUBJECTS["fr"], "2019-07-19", "19 juillet 2019", "2 actualités"),
        ("1", SUBJECTS["fr"], "2019-07-12", "12 juillet 2019", "2 actualités")]
    spanish = client.get("/archive", headers=ES).text
    # The second edition was not made in Spanish: its subject in the default language, said so.
    assert f'<a href="/archive/2" lang="en">{SUBJECTS["en"]}</a>' in spanish
    assert f'<a href="/archive/1">{SUBJECTS["es"]}</a>' in spanish and "12 de julio de 2019" in spanish
    assert "19 July 2019" in client.get("/archive").text


def test_an_archived_edition_in_the_readers_language_and_in_each_of_its_own(site: Settings,
                                                                            client: FlaskClient) -> None:
    make_edition(site, ("en", "fr", "es"), 12)
    make_edition(site, ("en", "fr"), 19)
    for headers, path, lang in ((FR, "/archive/1", "fr"), (ES, "/archive/1", "es"), (ES, "/archive/2", "en"),
                                ({}, "/archive/1", "en"), (FR, "/archive/1/es", "es"), ({}, "/archive/2/fr", "fr")):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, path
        page = answer.text
        assert html_lang(page) == lang and f"<p>Body in {lang}</p>" in page, (path, headers)
        assert "script-src" not in answer.headers["Content-Security-Policy"]
        assert "/view<" not in page and f'/archive/{path.split("/")[2]}/{lang}"' not in page  # no link to itself
        assert TOKEN_PLACEHOLDER not in page and "Subscribers only" not in page
    page = client.get("/archive/1/es").text
    note = {"es": 'lea <a href="/archive" style="color:#0b5cad;text-decoration:underline">todas las ediciones '
                  "anteriores</a>."}
    assert note["es"] in page  # the note to visitors in the edition's language
    others = re.search(r'<nav aria-label="Otros idiomas"[^>]*><div>Esta edición en otros idiomas: (.*?)</div></nav>',
                       page)
    assert others, page
    assert re.findall(r'<a href="(/archive/1/\w+)" lang="(\w+)" hreflang="(\w+)"[^>]*>([^<]+)</a>', others.group(1)) \
        == [("/archive/1/en", "en", "en", "English"), ("/archive/1/fr", "fr", "fr", "Français")]
    for missing in ("/archive/2/es", "/archive/1/de", "/archive/1/EN", "/archive/3/en", "/archive/1/en/x"):
        assert client.get(missing).status_code == 404, missing


def test_an_edition_made_before_languages_is_in_the_default_language(site: Settings, client: FlaskClient) -> None:
    with Ledger.open(site.state_dir) as ledger, ledger.transaction():
        ledger.db.execute("INSERT INTO editions (slot, subject, html, text, created_at, recipients) VALUES "
                          "(?, 'Old news', '<html><body><p>Old</p></body></html>', 'Old', ?, 1)",
                          ("2019-01-04T08:00:00Z", "2019-01-04T08:00:00Z"))
    assert '<a href="/archive/1" lang="en">Old news</a>' in client.get("/archive", headers=FR).text
    page = client.get("/archive/1", headers=FR)
    assert page.status_code == 200 and html_lang(page.text) == "en" and "<p>Old</p>" in page.text
    assert "Autres langues" not in page.text and "Other languages" not in page.text
    assert client.get("/archive/1/en").status_code == 200 and client.get("/archive/1/fr").status_code == 404


def test_no_page_shows_a_python_value_in_any_language(site: Settings, client: FlaskClient) -> None:
    token = add(site, "amina@example.org", "es")
    make_edition(site, ("en", "fr"), 12)
    for headers in ({}, FR, ES):
        for path in ("/", "/archive", "/archive/1", "/archive/1/fr", f"/language/{token}", f"/unsubscribe/{token}",
                     "/unsubscribe", "/language", "/subscribe/thanks", "/no-such-page"):
            page = client.get(path, headers=headers).text
            assert html_findings(path, page) == [], (path, headers)
