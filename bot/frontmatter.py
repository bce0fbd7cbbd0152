"""Queue reading, first step: read a file's bytes, split them into YAML front matter and body, read typed fields.

Fields are read from YAML *nodes* rather than constructed Python objects, so that YAML 1.1's guesses
(`title: No` -> False, `date: 2019-02-30` -> a crash) never happen, every problem has a line number,
and an alias bomb never expands.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import regex
import yaml

from .clock import parse_day
from .content import Problem, dedupe_tags
from .errors import quoted
from .platforms import graphemes, tag_limit

# Fields are read from nodes as the text typed, so no implicit typing is wanted: the base loaders skip it.
Loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

MAX_FILE_BYTES = 1_000_000
NULLS = ("", "~", "null", "Null", "NULL")
PLAIN = (None, "")  # a plain (unquoted) scalar's style: None from PyYAML's parser, "" from libyaml's
# A plain value followed on its line by ` #word` lost that part to YAML's comment rule.
_CUT_BY_COMMENT = re.compile(r"[ \t]+#(\S+)")
_COMMENT_WORD = re.compile(r"#([^\s,\]}]*)")
TAG = regex.compile(r"[\p{L}\p{M}\p{N}_]+")
_LETTER = regex.compile(r"\p{L}")
_LINE_BREAK = regex.compile(r"[\n\r\u2028\u2029\x85]")
CONTROL = regex.compile(r"[^\P{Cc}\n\t]")
_FLOW_OPEN = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_FLOW_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)


class Invalid(Exception):
    """One field's problem, raised by the readers below and collected by the queue."""

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.line = line


@dataclass(slots=True)
class Document:
    """A parsed file: the front matter's top-level fields as YAML nodes, and the Markdown body."""

    path: str
    fields: dict[str, yaml.Node]
    key_lines: dict[str, int]
    body: str
    source_lines: list[str]  # the front matter's lines, to look past a value for a lost comment
    first_line: int  # file line number of the front matter's first line

    def line(self, node: yaml.Node) -> int:
        return node.start_mark.line + self.first_line

    def comment_after(self, node: yaml.Node) -> str | None:
        """The `#word` that YAML dropped as a comment right after a plain value, if any."""
        if not isinstance(node, yaml.ScalarNode) or node.style not in PLAIN:
            return None
        text = self.source_lines[node.end_mark.line] if node.end_mark.line < len(self.source_lines) else ""
        m = _CUT_BY_COMMENT.match(text[node.end_mark.column :])
        return "#" + m.group(1) if m else None


def read_bytes(path: Path, folder: Path) -> bytes:
    """A queue file's bytes, judged before they are read: over the size limit it is refused from its size alone
    (a 400 MB file costs no memory), and a link whose file is outside `folder` (the queue) is refused, never read:
    a queue file is what the queue's writers put there. Raises Invalid (field `file`) or OSError."""
    real = path.resolve()
    if not real.is_relative_to(folder.resolve()):
        raise Invalid("file", "is a link to a file outside the queue folder: copy the file into the queue instead")
    # O_NOFOLLOW: the place checked is the place read; O_NONBLOCK: a FIFO put there cannot hang the run.
    descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise Invalid("file", "is not a regular file")
        if found.st_size > MAX_FILE_BYTES:
            raise Invalid("file", f"is {found.st_size:,} bytes; a queue file may be at most {MAX_FILE_BYTES:,}")
        data = handle.read(MAX_FILE_BYTES + 1)  # never more, should it grow meanwhile
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("file", f"is more than {MAX_FILE_BYTES:,} bytes; a queue file may be at most "
                              f"{MAX_FILE_BYTES:,}")
    return data


def decode(path: str, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped) with LF line ends, or Invalid naming the first bad line."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("file", f"is {len(data):,} bytes; a queue file may be at most {MAX_FILE_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise Invalid("file", "is not UTF-8 text: save it as UTF-8", line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise Invalid("file", "contains NUL bytes: is it really a text file?", line)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split(path: str, text: str) -> tuple[str, str, int]:
    """(front matter, body, file line of the front matter's first line)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise Invalid(
            "front matter",
            "missing: the file must start with a line '---', then the fields (title, date, summary), then '---'",
            1,
        )
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), 2
    raise Invalid("front matter", "has no closing '---' line after the fields", 1)


def parse(path: str, data: bytes, what: str = "front matter") -> Document:
    """Read a queue file into a Document, or raise Invalid."""
    text = decode(path, data)
    front, body, first = split(path, text)
    return parse_yaml(path, front, body, first, what)


def parse_yaml(path: str, front: str, body: str, first_line: int, what: str, empty_ok: bool = False) -> Document:
    """The YAML of `front` (whose first line is line `first_line` of the file) as a Document; `empty_ok` lets a file
    with no fields at all through (campaigns.yaml may list none)."""
    try:
        root = yaml.compose(front, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        _refuse_flow_comment(front, first_line, what)
        # A line without ': ' is noticed on the next one; the line to fix is where the would-be key began.
        key_start = exc.context == "while scanning a simple key"
        mark = (exc.context_mark if key_start else None) or exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else None
        raise Invalid(what, f"broken YAML: {_explain(exc)}", line) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise Invalid(what, f"broken YAML: {str(exc).splitlines()[0] if str(exc) else 'nested too deeply'}") from None
    if root is None and empty_ok:
        return Document(path, {}, {}, body, front.split("\n"), first_line)
    if root is None:
        raise Invalid(what, "is empty: it needs at least title, date and summary", first_line)
    if not isinstance(root, yaml.MappingNode):
        raise Invalid(what, "must be a list of 'field: value' lines", root.start_mark.line + first_line)
    fields: dict[str, yaml.Node] = {}
    key_lines: dict[str, int] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + first_line
        if not isinstance(key_node, yaml.ScalarNode):
            raise Invalid(what, "a field name must be a plain word", line)
        key = key_node.value
        if key in fields:
            raise Invalid(key, f"is given twice (lines {key_lines[key]} and {line})", line)
        fields[key] = value_node
        key_lines[key] = line
    return Document(path, fields, key_lines, body, front.split("\n"), first_line)


def _refuse_flow_comment(front: str, first_line: int, what: str) -> None:
    """YAML reads `#` at the start of a word as a comment, even inside [...]: `hashtags: [#HRC61, LGBTI]` loses the
    rest of its line, closing bracket included, and the parser complains much later (at the closing `---`). So when
    the YAML is broken, look for such a `#` first and raise Invalid at its line, naming its field (else `what`)."""
    lines = front.split("\n")
    depth = 0
    keys: list[tuple[int, str]] = []  # (column, key) of the mappings around the current token, for the field's name
    field = what
    after: tuple[int, int] = (0, 0)  # where the previous token ended, as (line, column)
    key_next = False
    try:
        for token in yaml.scan(front, Loader=Loader):
            start = (token.start_mark.line, token.start_mark.column)
            if depth:
                _comment_between(lines, after, start, field, first_line)
            if isinstance(token, yaml.KeyToken) and not depth:
                key_next = True
            elif isinstance(token, yaml.ScalarToken) and key_next:
                keys = [k for k in keys if k[0] < start[1]] + [(start[1], token.value)]
                key_next = False
            elif isinstance(token, _FLOW_OPEN):
                field = field if depth else ".".join(k for _, k in keys) or what
                depth += 1
            elif isinstance(token, _FLOW_CLOSE):
                depth = max(0, depth - 1)
            after = (token.end_mark.line, token.end_mark.column)
    except yaml.YAMLError as exc:  # the scanner stopped there: a comment before it still counts
        mark = getattr(exc, "problem_mark", None)
        if depth and mark is not None:
            _comment_between(lines, after, (mark.line, mark.column), field, first_line)


def _comment_between(lines: list[str], start: tuple[int, int], end: tuple[int, int], field: str,
                     first_line: int) -> None:
    """Raise Invalid for a `#` between two tokens inside [...] or {...}: there, only a comment can hold one."""
    for number in range(start[0], min(end[0], len(lines) - 1) + 1):
        text = lines[number]
        begin = start[1] if number == start[0] else 0
        stop = end[1] if number == end[0] else len(text)
        found = _COMMENT_WORD.search(text, begin, stop)
        if found:
            word = found.group(1)
            if "hashtags" in field.split("."):  # an item's, a campaign's, or a campaign's for one language
                tag = word or "HRC61"
                fix = (f"leave out the '#' (Herald adds it to each tag), as in [{tag}, ...], or quote the tag: "
                       f'"#{tag}"')
            else:
                fix = f'put that entry in quotes, as in "#{word}"'
            raise Invalid(field, f"'#{word}' starts a comment in YAML, which cuts the list short "
                          f"on this line: {fix}", number + first_line)


def _explain(exc: yaml.MarkedYAMLError) -> str:
    problem = (exc.problem or str(exc)).strip()
    hints = {
        "mapping values are not allowed": "a value that contains ': ' must be put in quotes",
        "found character '\\t' that cannot start any token": "use spaces, not tabs, to indent",
        "found undefined alias": "'*' starts a YAML alias: put the value in quotes",
        "expected alphabetic or numeric character": "'*' or '&' starts a YAML alias or anchor: put the value in quotes",
        "did not find expected key": "check that this line is indented like the lines around it",
        "could not find expected ':'": "each line is 'field: value'; a value that goes on to the next line is indented",
    }
    for start, hint in hints.items():
        if problem.startswith(start):
            return f"{problem} ({hint})"
    if "found character '@'" in problem or "found character '`'" in problem:
        return f"{problem} (a value starting with @ or ` must be put in quotes)"
    return problem


def markdown_body(text: str) -> str:
    """A body as Markdown means it: blank lines around it dropped, but a first line's indentation (a code block)
    and the spaces ending a line (a hard break) kept."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).rstrip()


def body_pictures(where: str, doc: Document) -> list[Problem]:
    """A warning for each picture written into the body (`![alt](url)`): neither part of the newsletter shows one
    (the body keeps text and links), so it would vanish without a word."""
    if "![" not in doc.body:
        return []
    from markdown_it import MarkdownIt

    first = doc.first_line + len(doc.source_lines) + 1  # the body's first line in the file, after the closing ---
    found = []
    for block in MarkdownIt("commonmark").parse(doc.body):
        for child in block.children or ():
            if child.type == "image":
                line = first + (block.map[0] if block.map else 0)
                source = quoted(str(child.attrs.get("src", "")))
                found.append(Problem(where, "body", f"has a picture ({source}), which the newsletter does not show: "
                                     "use the image field (with image_alt) for the item's picture", line, warning=True))
    return found


# --- typed readers: each returns a Python value or raises Invalid with the field and its line -------


def _kind(node: yaml.Node) -> str:
    return {yaml.ScalarNode: "a single value", yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}[type(node)]


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style in PLAIN and node.value in NULLS


def text(doc: Document, name: str, node: yaml.Node) -> str:
    """A scalar read as the text the writer typed; `title: No` stays 'No'."""
    lost = doc.comment_after(node)
    if is_null(node):
        if lost:
            raise Invalid(name, f"is empty because YAML read {quoted(lost)} as a comment: put the whole value in "
                          "quotes", doc.line(node))
        raise Invalid(name, "is empty", doc.line(node))
    if not isinstance(node, yaml.ScalarNode):
        raise Invalid(name, f"must be text, not {_kind(node)}", doc.line(node))
    if lost:
        raise Invalid(
            name,
            f"YAML cut the value before {quoted(lost)}, reading the rest as a comment: put the whole value in quotes",
            doc.line(node),
        )
    return str(node.value)


def words(doc: Document, name: str, node: yaml.Node, allow_single: bool = False) -> list[tuple[str, int]]:
    """A list of scalars as (text, line); a single scalar is accepted where `allow_single`."""
    if isinstance(node, yaml.ScalarNode) and allow_single and not is_null(node):
        return [(text(doc, name, node), doc.line(node))]
    if is_null(node):
        lost = doc.comment_after(node)
        if lost:
            raise Invalid(name, f"is empty because YAML read '{lost}' as a comment: {_keep(name, lost)}",
                          doc.line(node))
        raise Invalid(name, "is empty", doc.line(node))
    if not isinstance(node, yaml.SequenceNode):
        raise Invalid(name, f"must be a list such as [a, b], not {_kind(node)}", doc.line(node))
    out = []
    for entry in node.value:
        if is_null(entry):
            lost = doc.comment_after(entry)
            why = f": YAML read '{lost}' as a comment; {_keep(name, lost, not node.flow_style)}" if lost else ""
            raise Invalid(name, f"has an empty entry{why}", doc.line(entry))
        if not isinstance(entry, yaml.ScalarNode):
            raise Invalid(name, f"entries must be single words, not {_kind(entry)}", doc.line(entry))
        out.append((text(doc, name, entry), doc.line(entry)))
    return out


def mapping(doc: Document, name: str, node: yaml.Node) -> list[tuple[str, yaml.Node, int]]:
    """A mapping of names to nodes, as (key, value node, line)."""
    if not isinstance(node, yaml.MappingNode):
        raise Invalid(name, f"must be a mapping such as {{key: value}}, not {_kind(node)}", doc.line(node))
    out = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        line = doc.line(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            raise Invalid(name, "keys must be plain words", line)
        if key_node.value in seen:
            raise Invalid(f"{name}.{key_node.value}", "is given twice", line)
        seen.add(key_node.value)
        out.append((key_node.value, value_node, line))
    return out


def _keep(name: str, lost: str, block: bool = False) -> str:
    """How to write a value YAML took for a comment: a tag without its '#', or quoted, as an entry of a `- ` list
    when `block`; anything else in quotes."""
    if "hashtags" in name.split("."):  # an item's, a campaign's, or a campaign's for one language
        tag = lost[1:] or "HRC61"
        example = f'- {tag}, or quote it: - "#{tag}"' if block else f'[{tag}], or quote it: ["#{tag}"]'
        return f"leave out the '#' (Herald adds it to each tag), as in {example}"
    return "put it in quotes"


def one_line(doc: Document, name: str, node: yaml.Node, limit: int) -> str:
    """Text on one line, not empty, without control characters, of at most `limit` characters as people count."""
    value = text(doc, name, node).strip()
    if not value:
        raise Invalid(name, "is empty", doc.line(node))
    if _LINE_BREAK.search(value):
        raise Invalid(name, "contains a line break: keep it on one line", doc.line(node))
    if CONTROL.search(value):
        raise Invalid(name, "contains a control character", doc.line(node))
    if len(value) > limit and graphemes(value) > limit:  # never more clusters than code points
        raise Invalid(name, f"is {graphemes(value)} characters long; at most {limit}", doc.line(node))
    return value


def day(doc: Document, name: str, node: yaml.Node) -> date:
    try:
        return parse_day(text(doc, name, node))
    except ValueError as exc:
        raise Invalid(name, str(exc), doc.line(node)) from None


def check_tag(tag: str) -> str | None:
    """Why `tag` cannot be a hashtag on every network, or None."""
    if tag.startswith("#"):
        return f"write '{tag}' without '#'"
    if not TAG.fullmatch(tag):
        return f"'{tag}' may hold only letters, digits and '_' (no spaces or punctuation)"
    if not _LETTER.search(tag):
        return f"'{tag}' needs at least one letter: networks do not link a tag of digits only"
    limit = tag_limit()
    if limit is not None and graphemes(tag) > limit[0]:
        return f"'{tag}' is longer than {limit[0]} characters ({limit[1]}'s limit)"
    return None


def hashtags(doc: Document, name: str, node: yaml.Node) -> tuple[str, ...]:
    tags = []
    for word, line in words(doc, name, node):
        # A quoted "#HRC61" is what the hint for a bare #HRC61 offers: the '#' is Herald's to add.
        tag = word.strip().removeprefix("#")
        why = check_tag(tag)
        if why:
            raise Invalid(name, why, line)
        tags.append(tag)
    return dedupe_tags(tags)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
