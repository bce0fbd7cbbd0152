"""The detector of Python values that reached a person: reprs, `None`/`True`/`False` standing as a value,
`datetime`/`timedelta` reprs and durations, dict and list dumps.

`findings(text)` gives each offending snippet (with a little of its context and the rule it broke);
`visible_html(page)` gives the text and the attributes a person sees of an HTML page, one block per line, for it.
Used by tests/test_no_python_values.py (pages, outbox, previews) and by tests/conftest.py (every CLI output).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from itertools import pairwise
from typing import Any

__all__ = ["Command", "Finding", "Page", "command_findings", "eml_findings", "eml_texts", "findings", "html_findings",
           "json_findings", "json_strings", "report", "visible_html", "watching_commands"]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    snippet: str  # the offending text with up to CONTEXT characters either side, on one line

    def __str__(self) -> str:
        return f"{self.rule}: {self.snippet!r}"


CONTEXT = 30
_WORD_VALUE = r"(?:None|True|False)"
_NOT_IN_A_WORD_BEFORE = r"(?<![\w.'\"])"  # NoneType, is_None, obj.None; the quoted 'None' has its own rule
_CLOSING = r"[)\]},;|]"

# (rule, pattern): a match anywhere is a Python value shown to a person. A match is reported once, under the first
# rule that found it.
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("built-in repr", re.compile(r"<built-in [^>\n]{0,80}>?")),
    ("bound method repr", re.compile(r"<bound method [^>\n]{0,80}>?")),
    ("function repr", re.compile(r"<function [\w.<>]+(?: at 0x[0-9a-fA-F]+)?>?")),
    # `<bot.content.Item object at 0x7f...>`, `<generator object f.<locals>.g at 0x7f...>`: any address in a repr
    ("object repr", re.compile(r"<[^<>\n]{0,80}(?:<locals>[^<>\n]{0,40})? at 0x[0-9a-fA-F]+>?"
                               r"|\bobject at 0x[0-9a-fA-F]+|\bat 0x[0-9a-fA-F]{4,}\b")),
    ("class or module repr", re.compile(r"<(?:class|module|enum) '[^'\n]*'>?")),
    ("enum repr", re.compile(r"<[A-Z]\w*\.[A-Z][A-Z0-9_]*: [^>\n]{1,40}>")),
    ("traceback", re.compile(r"Traceback \(most recent call last\)")),
    # None/True/False after `: `, `=`, `(`, `[`, `{` or `word, ` and then nothing more of a sentence:
    # `publish_at: None`, `(True)`, `x, None,` (but `Note: None of your items are due` is English)
    ("None/True/False as a value", re.compile(
        rf"(?:[=(\[{{]|\w, |:[ \t])[ \t]*{_WORD_VALUE}(?=[ \t]*{_CLOSING}|[ \t]*$|[ \t]*\.(?:\s|$)|[ \t]+\()",
        re.MULTILINE)),
    # ... after a word that English never puts before a capitalised None (`by None`, `is None`; not `to`, for
    # `Second to None`); True and False only after a verb (`is True`): a title may say `Fighting for True Freedom`
    ("None/True/False as a value", re.compile(
        r"\b(?:by|for|from|at|on|in|of|is|was|are|were|be|been|with|as|since|until|and|or|than|not|only)"
        r"[ \t]+None\b(?![\w'’])|\b(?:is|was|are|were|be|been)[ \t]+(?:True|False)\b(?![\w'’])")),
    # ... in `key=None` or `key = None` (not followed by a lower-case word: English)
    ("None/True/False as a value", re.compile(rf"\w[ \t]*=[ \t]*{_WORD_VALUE}(?![\w'’])(?![ \t]+[a-z])")),
    # ... at the end of a line or cell, or alone in one: `Approved by None`, `<td>None</td>`, `None.`
    ("None/True/False as a value", re.compile(
        rf"{_NOT_IN_A_WORD_BEFORE}{_WORD_VALUE}(?=[ \t]*{_CLOSING}?[ \t]*(?:\.[ \t]*)?$)", re.MULTILINE)),
    # ... as a column of a table in plain text: `x    None    0`
    ("None/True/False as a value", re.compile(rf"(?:^|[ \t]{{2}}|\t|\|)[ \t]*{_WORD_VALUE}(?=[ \t]{{2}}|\t|[ \t]*\|)",
                                              re.MULTILINE)),
    ("quoted None/True/False", re.compile(rf"(?<!\w)['\"]{_WORD_VALUE}['\"](?!\w)")),
    ("datetime repr", re.compile(r"\bdatetime\.(?=[\w(])[\w.]*\(?[^)\n]{0,40}\)?"
                                 r"|(?<![\w.])(?:date|time)\(\d[^)\n]{0,40}\)?"
                                 r"|(?<![\w.])(?:timedelta|timezone|ZoneInfo)\([^)\n]{0,40}\)?")),
    # str(timedelta): `1 day, 0:00:00`, `0:00:30`, `12:00:00`, `0:00:00.250000`; not a clock time inside a timestamp
    # (`2019-07-12 10:00:00`, `2019-07-12T10:00:00+02:00`, `Fri, 12 Jul 2019 10:00:00 +0200`); `10:00` is a clock.
    ("timedelta", re.compile(r"-?\b\d+ days?, \d{1,2}:\d{2}:\d{2}(?:\.\d{1,6})?"
                             r"|(?<![\d:.T])(?<!\d{4}-\d{2}-\d{2} )(?<!\d{4} )\d{1,2}:\d{2}:\d{2}(?:\.\d{1,6})?"
                             r"(?![\d:]|[+-]\d{2}:?\d{2}|Z\b| ?(?:UTC|GMT)\b)")),
    ("dict or list dump", re.compile(r"[{\[][ \t]*'[^'\n]{0,40}'?")),
    ("tuple dump", re.compile(r"\([ \t]*'[^'\n]{0,40}',[ \t]*['\d(\[]")),
    ("empty container", re.compile(r"(?<![\w\[{(])(?:\[\]|\{\}|set\(\)|\(\))(?![\w\]})])")),
    ("bytes repr", re.compile(r"(?<![\w'])b'[^'\n]{0,40}'|(?<![\w\"])b\"[^\"\n]{0,40}\"")),
    ("Decimal, Path or collection repr", re.compile(
        r"\b(?:Decimal|PosixPath|PurePosixPath|WindowsPath|OrderedDict|defaultdict|Counter|frozenset|deque"
        r"|mappingproxy|dict_keys|dict_values|dict_items)\([^)\n]{0,40}\)?")),
    ("exception repr", re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning)\((?:['\"]|\))")),
    ("dataclass repr", re.compile(r"\b[A-Z][A-Za-z0-9]*\([a-z_][a-z0-9_]*=")),
    ("repr of a wrapped string", re.compile(r"\b[A-Z][A-Za-z0-9]*\((?:'[^'\n]{0,40}'|\"[^\"\n]{0,40}\")\)")),
    ("response repr", re.compile(r"<[A-Z]\w* \[\d{3}\]>")),
]


_URL = re.compile(r"\b(?:https?|mailto):[^\s<>\"']+")


def findings(text: str) -> list[Finding]:
    """Every Python value shown in `text`, once per place (under the first rule that found it). Web addresses are
    left out (`?draft=True` is the address of a page, not a value shown). Line ends are made one kind first: an
    email's text part ends its lines with CRLF, and a rule that ends at a line must see that end."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    masked = _URL.sub(lambda url: "u" * len(url.group()), text)
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for rule, pattern in RULES:
        for match in pattern.finditer(masked):
            start, end = match.span()
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, max(end, start + 1)))
            before = text[max(0, start - CONTEXT):start].rsplit("\n", 1)[-1]  # the context on its own line
            after = text[end:end + CONTEXT].split("\n", 1)[0]
            found.append(Finding(rule, " ".join((before + text[start:end] + after).split())))
    return found


def report(where: str, text: str) -> list[str]:
    """`where: rule: 'snippet'` for each finding in `text` (empty when there is none)."""
    return [f"{where}: {finding}" for finding in findings(text)]


# --- what a person sees ----------------------------------------------------------------------------------

# Elements whose start or end starts a new line of what is seen: "alone in a cell" is then "alone on a line".
_BLOCKS = frozenset([
    "address", "article", "aside", "blockquote", "br", "button", "caption", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "label", "legend", "li", "main", "nav", "ol", "optgroup", "option", "p", "pre", "section", "summary", "table",
    "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul", "select", "textarea", "output", "progress", "meter",
])
_UNSEEN = frozenset({"script", "style", "template", "noscript"})
_SEEN_ATTRIBUTES = ("title", "alt", "aria-label", "aria-description", "aria-placeholder", "placeholder", "label")
_VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"])


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.attributes: list[str] = []
        self.hidden_depth = 0  # inside <script>, <style>, <template>, <noscript>
        self.stack: list[str] = []
        self.links: list[str] = []

    def _break(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in _UNSEEN:
            self.hidden_depth += 1
        if tag not in _VOID:
            self.stack.append(tag)
        if tag in _BLOCKS:
            self._break()
        for name in _SEEN_ATTRIBUTES:
            if values.get(name):
                self.attributes.append(values[name])
        if tag == "input" and values.get("type", "text").lower() != "hidden" and values.get("value"):
            self.attributes.append(values["value"])
        if tag == "button" and values.get("value") and not values.get("name"):
            self.attributes.append(values["value"])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag in ("iframe", "frame") and values.get("src"):
            self.links.append(values["src"])
        if tag == "form" and values.get("method", "get").lower() == "get" and values.get("action"):
            self.links.append(values["action"])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack:
                opened = self.stack.pop()
                if opened in _UNSEEN:
                    self.hidden_depth = max(0, self.hidden_depth - 1)
                if opened == tag:
                    break
        if tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        if self.stack and self.stack[-1] in ("pre", "textarea"):  # their line ends are seen
            first, *rest = data.split("\n")
            self.lines[-1] += first
            self.lines.extend(rest)
        else:
            self.lines[-1] += data


@dataclass(frozen=True, slots=True)
class Page:
    text: str  # one line per block of what is seen
    attributes: list[str]  # the attribute values a person sees (title, alt, aria-label, placeholder, value...)
    links: list[str]  # <a href>, <iframe src> and GET forms' actions, as written


def visible_html(page: str) -> Page:
    parser = _Visible()
    parser.feed(page)
    parser.close()
    lines = [" ".join(line.split()) for line in parser.lines]
    return Page("\n".join(line for line in lines if line), parser.attributes, parser.links)


# A repr written into a page unescaped: a browser takes it for a tag and shows nothing, but it is the same bug.
_IN_MARKUP = re.compile(r"<(?:built-in |bound method |function |class '|module '|[\w.]+ object at 0x"
                        r"|[\w.]+ object [\w.<>]+ at 0x)[^<>\n]{0,80}>?")


def html_findings(where: str, page: str) -> list[str]:
    """What `report` says of a page's visible text and attributes, and of reprs left unescaped in its markup."""
    seen = visible_html(page)
    found = report(where, seen.text)
    for value in seen.attributes:
        found += report(f"{where} (attribute)", value)
    found += [f"{where} (markup): unescaped repr: {m.group()!r}" for m in _IN_MARKUP.finditer(page)]
    return found


def json_strings(value: Any) -> Iterator[str]:
    """Every string value (not the keys) of a JSON document, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from json_strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from json_strings(inner)


def json_findings(where: str, document: str | bytes) -> list[str]:
    found: list[str] = []
    for text in json_strings(json.loads(document)):
        found += report(where, text)
    return found


def eml_texts(data: bytes) -> Iterable[tuple[str, str]]:
    """(part, text) of what a reader of this message sees: Subject and From, the plain part, the HTML part's text
    and attributes."""
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for header in ("Subject", "From", "To"):
        if message[header] is not None:
            yield header, str(message[header])
    for part in message.walk():
        if part.is_multipart():
            continue
        assert isinstance(part, EmailMessage)
        kind = part.get_content_type()
        if kind == "text/plain":
            yield kind, part.get_content()
        elif kind == "text/html":
            seen = visible_html(part.get_content())
            yield kind, seen.text
            for value in seen.attributes:
                yield f"{kind} attribute", value


def eml_findings(where: str, data: bytes) -> list[str]:
    found: list[str] = []
    for part, text in eml_texts(data):
        found += report(f"{where} {part}", text)
    return found


# --- the output of commands ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    line: str  # the command line, as a person would type it
    output: str  # what it wrote, standard output and standard error
    for_machines: bool  # --json and --format json: read by programs, where a `null` or `true` is right


def _for_machines(args: list[str]) -> bool:
    return "--json" in args or "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in pairwise(args))


def _bot_arguments(argv: object) -> list[str] | None:
    """The arguments of `bot` when `argv` runs it (`python [-O] -m bot ...` or `.../bot ...`), else None."""
    if isinstance(argv, str | bytes | os.PathLike):
        return None  # a shell line or a lone program: not how the tests run bot
    try:
        words = [os.fsdecode(w) for w in argv]  # type: ignore[attr-defined]
    except TypeError:
        return None
    if words and os.path.basename(words[0]) == "bot":
        return words[1:]
    for n, word in enumerate(words[:-1]):
        if word == "-c":
            return None  # a script of its own that may run bot: its output is its own
        if word == "-m":
            return words[n + 2:] if words[n + 1] == "bot" else None
    return None


_watchers: list[list[Command]] = []  # the innermost watcher alone gets each command (a test may watch inside one)


def _record(command: Command) -> None:
    if _watchers:
        _watchers[-1].append(command)


@contextmanager
def watching_commands() -> Iterator[list[Command]]:
    """Collect what every command run meanwhile wrote: `CliRunner.invoke` (in this process) and the `python -m bot`
    children whose output is read through `communicate` (so `subprocess.run(..., capture_output=True)` too)."""
    from click.testing import CliRunner

    seen: list[Command] = []
    _watchers.append(seen)
    if len(_watchers) > 1:  # the methods are wrapped already
        try:
            yield seen
        finally:
            _watchers.remove(seen)
        return
    invoke, communicate = CliRunner.invoke, subprocess.Popen.communicate

    def invoke_watched(self: CliRunner, cli: Any, args: Any = None, *rest: Any, **options: Any) -> Any:
        result = invoke(self, cli, args, *rest, **options)
        words = shlex.split(args) if isinstance(args, str) else [str(a) for a in args or ()]
        name = getattr(cli, "name", None)
        _record(Command(shlex.join(["bot" if name in (None, "cli") else name, *words]), result.output,
                        _for_machines(words)))
        return result

    def communicate_watched(self: subprocess.Popen[Any], *args: Any, **options: Any) -> Any:
        out, err = communicate(self, *args, **options)
        words = _bot_arguments(self.args)
        if words is not None:
            text = "".join(part.decode("utf-8", "replace") if isinstance(part, bytes) else part
                           for part in (out, err) if part)
            _record(Command(shlex.join(["bot", *words]), text, _for_machines(words)))
        return out, err

    CliRunner.invoke = invoke_watched  # type: ignore[method-assign]
    subprocess.Popen.communicate = communicate_watched  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        CliRunner.invoke = invoke  # type: ignore[method-assign]
        subprocess.Popen.communicate = communicate  # type: ignore[method-assign]
        _watchers.remove(seen)


def command_findings(commands: list[Command]) -> list[str]:
    """`command line: rule: 'snippet'` for each Python value shown by a command meant for people."""
    return [line for command in commands if not command.for_machines
            for line in report(f"`{command.line}`", command.output)]
