"""Subscriber files: reading the CSV exports of Herald, Mailchimp, listmonk or any tool, and writing Herald's export.

Only text in and out: what a row means for the list (who may be mailed) is decided, and written to the ledger, by
`subscribers`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .content import Problem
from .errors import ContentError, quoted

# Herald's export, in this order; it imports back as it is (and so does an export from before `lang`).
EXPORT_FIELDS = ("email", "name", "status", "created_at", "updated_at", "unsubscribed_at", "source", "lang")
_OUR_HEADERS = (EXPORT_FIELDS, EXPORT_FIELDS[:-1])

EMAIL_COLUMNS = ("email", "email address", "e-mail", "e-mail address")  # Herald, listmonk; Mailchimp
NAME_COLUMNS = ("name", "full name")
FIRST_LAST = ("first name", "last name")  # Mailchimp: joined with a space
# listmonk's `status` is the subscriber's; a `subscription_status`, where an export has one, is the list's.
STATUS_COLUMNS = ("status", "subscription_status", "subscription status")
UNSUB_TIME, CLEAN_TIME = "unsub_time", "clean_time"  # Mailchimp's unsubscribed and cleaned exports
LANG_COLUMNS = ("lang", "language")  # Herald; Mailchimp's Language
ATTRIBUTES = "attributes"  # listmonk: a JSON object, whose `lang` (where there is one) is the subscriber's language

# What each tool's word means here. Every way of leaving is kept out: listmonk blocklists an address that
# unsubscribed or complained as well as one that bounced, so a blocklisted row reads as "they left".
STATUS_WORDS = {
    "active": "active", "subscribed": "active", "enabled": "active", "confirmed": "active",
    "pending": "pending", "unconfirmed": "pending",
    "unsubscribed": "unsubscribed", "disabled": "unsubscribed", "blocklisted": "unsubscribed",
    "blacklisted": "unsubscribed", "complained": "unsubscribed",
    "cleaned": "bounced", "bounced": "bounced",
}
# When a row says several things (a status and an UNSUB_TIME), the one furthest from being mailed wins.
_DISTANCE = {"active": 0, "pending": 1, "bounced": 2, "unsubscribed": 3}


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    email: str  # as written in the file: not yet checked
    name: str
    status: str  # active, pending, unsubscribed or bounced
    lang: str = ""  # as written in the file (`fr`, `fr_CA`, anything): checked against BOT_LANGUAGES by the importer


@dataclass(frozen=True, slots=True)
class Columns:
    email: int
    names: tuple[int, ...]  # joined with a space
    statuses: tuple[int, ...]
    unsub_time: int | None
    clean_time: int | None
    default: str  # the status of a row that says none
    langs: tuple[int, ...] = ()  # the first that is not empty is the language
    attributes: int | None = None


def read(path: Path, email_column: str | None = None, name_column: str | None = None) -> Iterator[Row | Problem]:
    """Each row of a CSV export as a Row, or a Problem naming its line; ContentError when the file as a whole
    cannot be read. Comma, semicolon or tab separated, UTF-8 with or without a BOM."""
    where = str(path)
    text = _text(path)
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in much of Europe export with semicolons.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ContentError(where, "header", "the file is empty; the first row must name the columns") from None
    except csv.Error as exc:
        raise ContentError(where, "header", f"not a CSV row: {exc}", 1) from None
    columns = find_columns(where, header, email_column, name_column, path.name)
    ours = tuple(header) in _OUR_HEADERS  # Herald's export: its spreadsheet-safe cells are read back as they were
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Problem(where, "row", f"not a CSV row: {exc}", reader.line_num)
            return
        if any(cell.strip() for cell in cells):
            yield _row(where, reader.line_num, [_revived(c) for c in cells] if ours else cells, columns)


def _text(path: Path) -> str:
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContentError(where, "file", f"cannot be read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(where, "file", "is not UTF-8 text: export it as CSV UTF-8",
                           data.count(b"\n", 0, exc.start) + 1) from None
    if "\x00" in text:
        raise ContentError(where, "file", "contains NUL bytes: is it really a CSV file?")
    return text


def find_columns(where: str, header: list[str], email_column: str | None, name_column: str | None,
                 file_name: str = "") -> Columns:
    """Which column holds what, matched without regard to case; ContentError naming the columns found."""
    lowered = [h.lower() for h in header]
    found = ", ".join(header)

    def at(name: str) -> int | None:
        return lowered.index(name) if name in lowered else None

    if email_column is not None:
        email = at(email_column.strip().lower())
        if email is None:
            raise ContentError(where, "email", f"no {quoted(email_column)} column in the header row (found: {found})",
                               1)
    else:
        email = next((i for i in map(at, EMAIL_COLUMNS) if i is not None), None)
        if email is None:
            raise ContentError(where, "email", f"no 'email' column in the header row (found: {found}); "
                               "name the column to use with --email-column", 1)
    if name_column is not None:
        name = at(name_column.strip().lower())
        if name is None:
            raise ContentError(where, "name", f"no {quoted(name_column)} column in the header row (found: {found})", 1)
        names: tuple[int, ...] = (name,)
    else:
        name = next((i for i in map(at, NAME_COLUMNS) if i is not None), None)
        names = (name,) if name is not None else tuple(i for i in map(at, FIRST_LAST) if i is not None)
    if "nonsubscribed" in file_name.lower().replace("_", "").replace("-", ""):
        raise ContentError(where, "file", "this is Mailchimp's export of non-subscribed contacts, people who never "
                           "subscribed to the newsletter: Herald does not import them")
    unsub, clean = at(UNSUB_TIME), at(CLEAN_TIME)
    # Mailchimp's unsubscribed (or cleaned) export: every row in it left, even one whose time is blank.
    default = "unsubscribed" if unsub is not None and clean is None else \
        "bounced" if clean is not None and unsub is None else "active"
    statuses = tuple(i for i in map(at, STATUS_COLUMNS) if i is not None)
    langs = tuple(i for i in map(at, LANG_COLUMNS) if i is not None)
    return Columns(email, names, statuses, unsub, clean, default, langs, at(ATTRIBUTES))


def _row(where: str, line: int, cells: list[str], columns: Columns) -> Row | Problem:
    def cell(index: int | None) -> str:
        return cells[index].strip() if index is not None and index < len(cells) else ""

    said = []
    for index in columns.statuses:
        word = cell(index).lower()
        if word and word not in STATUS_WORDS:
            return Problem(where, "status", f"{quoted(cell(index))} is not a status Herald knows "
                           f"({', '.join(STATUS_WORDS)}): the row was left out", line)
        if word:
            said.append(STATUS_WORDS[word])
    if cell(columns.unsub_time):
        said.append("unsubscribed")
    if cell(columns.clean_time):
        said.append("bounced")
    status = max(said, key=_DISTANCE.__getitem__) if said else columns.default
    name = " ".join(part for part in (cell(i) for i in columns.names) if part)
    lang = next((word for word in map(cell, columns.langs) if word), "") or _attribute_lang(cell(columns.attributes))
    return Row(line, cells[columns.email] if columns.email < len(cells) else "", name, status, lang)


def _attribute_lang(cell: str) -> str:
    """The `lang` of listmonk's attributes cell; attributes that are not a JSON object say no language (the rest
    of them is not kept, so they are not worth a problem of their own)."""
    try:
        attributes = json.loads(cell) if cell else {}
    except ValueError:
        return ""
    lang = attributes.get("lang") if isinstance(attributes, dict) else None
    if lang is None:
        return ""
    return lang.strip() if isinstance(lang, str) else json.dumps(lang)


# --- Herald's export ------------------------------------------------------------------------------------


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run: names come from a public form, and `=HYPERLINK(...)` is a formula. A
    leading `'` makes it text; a cell that already starts with `'` before such a character gets one more, so
    that reading the export back (_revived) gives every cell exactly as it was."""
    return "'" + cell if cell.lstrip("'")[:1] in _FORMULA else cell


def _revived(cell: str) -> str:
    """A cell of Herald's own export as it was before _inert."""
    return cell[1:] if cell[:1] == "'" and cell.lstrip("'")[:1] in _FORMULA else cell


def write_csv(rows: Iterable[Mapping[str, str | None]], out: BinaryIO) -> None:
    """A header row, then one row per subscriber: RFC 4180 (CRLF, quotes only where needed), UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for n, row in enumerate(rows, 1):
        writer.writerow([_inert(row[f] or "") for f in EXPORT_FIELDS])
        if n % 1000 == 0:  # streamed: a list of any length never sits in memory whole
            _flush(buffer, out)
    _flush(buffer, out)


def write_json(rows: Iterable[Mapping[str, str | None]], out: BinaryIO) -> None:
    """A JSON list of objects, one per subscriber, an empty date as null; streamed."""
    out.write(b"[")
    for n, row in enumerate(rows):
        out.write((",\n " if n else "\n ").encode())
        out.write(json.dumps({f: row[f] for f in EXPORT_FIELDS}, ensure_ascii=False).encode("utf-8"))
    out.write(b"\n]\n")


def _flush(buffer: io.StringIO, out: BinaryIO) -> None:
    out.write(buffer.getvalue().encode("utf-8"))
    buffer.seek(0)
    buffer.truncate()
