"""Newsletter messages: prepared once, filled per recipient, and still a correct RFC 5322 message when parsed back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest

from bot import mail, queue, render
from bot.content import Item
from bot.errors import ConfigError
from bot.settings import Settings

SENT = datetime(2019, 7, 26, 8, 0, tzinfo=UTC)


def prepared(settings: Settings, items: list[Item]) -> mail.PreparedEdition:
    newsletter = render.render_newsletter(
        items, settings, edition_date=date(2019, 7, 26),
        unsubscribe_url=mail.unsubscribe_url(settings.effective_public_url, mail.TOKEN_PLACEHOLDER))
    return mail.prepare(newsletter, mail_from=settings.effective_mail_from, public_url=settings.effective_public_url,
                        date=SENT)


def test_a_message_parses_back_with_every_required_part(sample_settings: Settings) -> None:
    edition = prepared(sample_settings, queue.load(sample_settings).items)
    token = "T" * 16 + "k" * 16
    raw = edition.message("jane@example.org", "Jane Doe", token, "<e1.s1@example.org>")
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["To"] == "Jane Doe <jane@example.org>"
    assert msg["From"] == "Geneva Rights Desk <newsletter@example.org>"
    assert msg["Message-ID"] == "<e1.s1@example.org>"
    assert msg["Date"] == "Fri, 26 Jul 2019 08:00:00 +0000"
    assert msg["Subject"].startswith("Geneva Rights Desk news: ")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in msg.iter_parts())
    link = f"https://news.example.org/unsubscribe/{token}"
    assert link in text and f'href="{link}"' in html
    assert mail.TOKEN_PLACEHOLDER not in raw.decode("ascii")


def test_list_unsubscribe_headers_are_plain_values_mail_clients_can_use(sample_settings: Settings) -> None:
    edition = prepared(sample_settings, queue.load(sample_settings).items)
    raw = edition.message("a@example.org", "", "A" * 32, "<m@example.org>")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"\r\nList-Unsubscribe: <https://news.example.org/unsubscribe/{'A' * 32}>\r\n" in head
    assert "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in head
    assert "=?" not in head.split("Subject:")[0]  # nothing before the subject is RFC 2047-encoded
    assert head.count("\r\nTo: ") == 0 and head.startswith("To: a@example.org\r\n")


def test_lines_respect_the_rfcs(sample_settings: Settings) -> None:
    edition = prepared(sample_settings, queue.load(sample_settings).items)
    raw = edition.message("a@example.org", "Ünïcödé Nàme", "B" * 32, "<m@example.org>")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable's limit
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert all(byte < 128 for byte in raw)


def _shifted(pad: int) -> mail.PreparedEdition:
    """An edition whose unsubscribe link sits `pad` characters along its line."""
    link = "https://h/unsubscribe/" + mail.TOKEN_PLACEHOLDER
    newsletter = render.Newsletter("Subject", "pre", "<p>" + "a" * pad + f'<a href="{link}">u</a></p>',
                                   "x" * pad + " " + link + "\n", ("x",))
    return mail.prepare(newsletter, mail_from="N <n@example.org>", public_url="https://h", date=SENT)


@pytest.mark.parametrize("pad", range(0, 80, 3))
def test_a_token_split_by_a_soft_line_break_is_still_filled_in(pad: int) -> None:
    token = "0123456789abcdefghijklmnopqrstuv"
    msg = message_from_bytes(_shifted(pad).message("a@example.org", "", token, "<m@h>"), policy=policy.default)
    text, html = (p.get_content() for p in msg.iter_parts())
    assert f"https://h/unsubscribe/{token}" in text
    assert f"https://h/unsubscribe/{token}" in html


def test_those_shifts_do_put_soft_breaks_inside_the_token() -> None:
    split = [pad for pad in range(0, 80, 3) if any(isinstance(c, tuple) and c for c in _shifted(pad).body)]
    assert len(split) >= 5


def test_a_name_cannot_inject_a_header(sample_settings: Settings) -> None:
    edition = prepared(sample_settings, queue.load(sample_settings).items)
    raw = edition.message("a@example.org", "Eve\r\nBcc: victim@example.org", "C" * 32, "<m@example.org>")
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None
    assert "victim@example.org" in msg["To"]  # kept as part of the display name, on the To line


def test_a_bad_mail_from_is_a_config_error(sample_settings: Settings) -> None:
    newsletter = render.Newsletter("s", "p", "h", "t", ())
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        mail.prepare(newsletter, mail_from="not an address", public_url="https://h", date=SENT)
