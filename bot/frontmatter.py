"""Queue reading, first step: split a file into YAML front matter and body, and read typed fields from YAML nodes.

Fields are read from YAML *nodes* rather than constructed Python objects, so that YAML 1.1's guesses
(`title: No` -> False, `date: 2019-02-30` -> a crash) never happen, every problem has a line number,
and an alias bomb never expands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

# Fields are read from nodes as the text typed, so no implicit typing is wanted: the base loaders skip it.
Loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

MAX_FILE_BYTES = 1_000_000
NULLS = ("", "~", "null", "Null", "NULL")
PLAIN = (None, "")  # a plain (unquoted) scalar's style: None from PyYAML's parser, "" from libyaml's
# A plain value followed on its line by ` #word` lost that part to YAML's comment rule.
_CUT_BY_COMMENT = re.compile(r"[ \t]+#(\S+)")


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


def parse_yaml(path: str, front: str, body: str, first_line: int, what: str) -> Document:
    try:
        root = yaml.compose(front, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark else None
        raise Invalid(what, f"broken YAML: {_explain(exc)}", line) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise Invalid(what, f"broken YAML: {str(exc).splitlines()[0] if str(exc) else 'nested too deeply'}") from None
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


def _explain(exc: yaml.MarkedYAMLError) -> str:
    problem = (exc.problem or str(exc)).strip()
    hints = {
        "mapping values are not allowed": "a value that contains ': ' must be put in quotes",
        "found character '\\t' that cannot start any token": "use spaces, not tabs, to indent",
        "found undefined alias": "'*' starts a YAML alias: put the value in quotes",
        "expected alphabetic or numeric character": "'*' or '&' starts a YAML alias or anchor: put the value in quotes",
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
            raise Invalid(name, f"is empty because YAML read {lost!r} as a comment: put the whole value in quotes",
                          doc.line(node))
        raise Invalid(name, "is empty", doc.line(node))
    if not isinstance(node, yaml.ScalarNode):
        raise Invalid(name, f"must be text, not {_kind(node)}", doc.line(node))
    if lost:
        raise Invalid(
            name,
            f"YAML cut the value before {lost!r}, reading the rest as a comment: put the whole value in quotes",
            doc.line(node),
        )
    return str(node.value)


def words(doc: Document, name: str, node: yaml.Node, allow_single: bool = False) -> list[tuple[str, int]]:
    """A list of scalars as (text, line); a single scalar is accepted where `allow_single`."""
    if isinstance(node, yaml.ScalarNode) and allow_single and not is_null(node):
        return [(text(doc, name, node), doc.line(node))]
    if is_null(node):
        raise Invalid(name, "is empty", doc.line(node))
    if not isinstance(node, yaml.SequenceNode):
        raise Invalid(name, f"must be a list such as [a, b], not {_kind(node)}", doc.line(node))
    out = []
    for entry in node.value:
        if is_null(entry):
            lost = doc.comment_after(entry)
            why = f": YAML read {lost!r} as a comment; put it in quotes" if lost else ""
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
