"""The newsletter's plain-text part, for render: a Markdown body as text to read, every line wrapped at 72 columns."""

# Lines break at spaces, and between the characters of scripts written without them (Chinese, Japanese, Thai...), but
# never inside a URL or an address: one longer than the line stands alone on its own. Code stays as written.

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from itertools import pairwise
from urllib.parse import unquote

import nh3
import regex
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

WIDTH = 72
# Below this, deep nesting (a quote in a list in a quote...) would leave a word or two per line: the nested block
# overflows instead.
NARROWEST = 24
CODE_INDENT = "    "
RULE = "* * *"
# The schemes a link keeps in the HTML part (render.BODY_SCHEMES): any other shows its text alone here too.
LINK_SCHEMES = ("http:", "https:")
# The body's parser, which render uses for the HTML part too: both parts read the source the same way.
MARKDOWN = MarkdownIt("commonmark", {"html": True})
# What HTML collapses into one space (not a no-break space: that one holds words together).
_SPACES = re.compile(r"[ \t\n\r\f\v]+")
# An inline piece: text, raw HTML (stripped once the run is whole) or a hard line break (None).
Piece = tuple[str, bool] | None
# The spaces a line breaks at: ASCII only, so a no-break space (French « », 10 km) holds; never at a hyphen, so a
# URL or an address with one stays whole.
_SPACE_RUN = re.compile(r"( +)")
_ASCII_SPACES = str.maketrans("\t\n\x0b\x0c\r", "     ")
# Chinese and Japanese: a line may break between any two characters, as their readers expect.
_IDEOGRAPHIC = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\u3000-\u303f\uff00-\uffef]")
# And these too, but only inside a run longer than a line: without a dictionary their words are not known.
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\u3000-\u303f\uff00-\uffef"
                          r"\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
# No line starts with closing punctuation or a small kana, nor ends with opening punctuation or a Thai or Lao vowel
# written before its consonant.
_NO_START = frozenset("、。，．・：；？！‐ー～ゝゞ々〻）］｝〕〉》」』】〙〗〟’”｠»…‥"
                      "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ)]}.,;:!?%ๆฯ")
_NO_END = frozenset("（［｛〔〈《「『【〘〖〝‘“｟«([{เแโใไເແໂໃໄ")
# A URL (up to a space or CJK punctuation, which no URL written in text holds) or an address: never broken. A
# generous match (an address's name takes the ideographs before it) only costs a break.
_UNBREAKABLE = regex.compile(r"(?i:[a-z][a-z0-9+.-]*://|mailto:|www\.)[^\s\u3000-\u303f\uff00-\uffef]+"
                             r"|[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_CLUSTER = regex.compile(r"\X")  # what a reader sees as one character: a Thai tone mark stays on its letter


def wrap(text: str, width: int = WIDTH) -> str:
    """Each line of `text` wrapped at `width`, continuing at its own indentation (the text template's `wrap`)."""
    lines = []
    for line in text.splitlines():
        indent = line[: len(line) - len(line.lstrip(" "))]
        lines += _wrapped(line.strip(), width, indent, indent) or [""]
    return "\n".join(lines)


def columns(text: str) -> int:
    """How many columns `text` takes in a fixed-width font: a Chinese character two, a combining mark none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.category(c) in ("Mn", "Me", "Cf") else 2 if unicodedata.east_asian_width(c) in "WF"
               else 1 for c in text)


def _wrapped(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """textwrap's greedy filling, in columns, with the breaks above: its lines are the same for spaced text."""
    width = max(width, columns(first) + NARROWEST)
    parts = [part for part in _SPACE_RUN.split(text.expandtabs().translate(_ASCII_SPACES)) if part]
    plain = text.isascii() and first.isascii() and rest.isascii()
    # ASCII (most of what is written) has no script that breaks between characters, and a character is a column:
    # the same lines, without looking for breaks in each word or measuring each character (an edition's text part
    # is most of its rendering time otherwise).
    chunks = parts if plain else [
        piece for part in parts for piece in ([part] if part[0] == " " else _split(part, _breaks(part, _IDEOGRAPHIC)))]
    measure = len if plain else columns
    chunks.reverse()
    lines: list[str] = []
    while chunks:
        indent = rest if lines else first
        room = width - measure(indent)
        if lines and not chunks[-1].strip():  # no line starts with the space it broke at
            chunks.pop()
        line: list[str] = []
        used = 0
        while chunks and used + measure(chunks[-1]) <= room:
            used += measure(chunks[-1])
            line.append(chunks.pop())
        if chunks and measure(chunks[-1]) > room:  # longer than a line: cut where it may be, else whole and alone
            fits = [p for p in _breaks(chunks[-1], _UNSPACED) if measure(chunks[-1][:p]) <= room - used]
            if fits:
                line.append(chunks[-1][:fits[-1]])
                chunks[-1] = chunks[-1][fits[-1]:]
            elif not line:
                line.append(chunks.pop())
        if line and not line[-1].strip():
            line.pop()
        if line:
            lines.append(indent + "".join(line))
    return lines


def _breaks(word: str, scripts: regex.Pattern[str]) -> list[int]:
    """Where `word` (no spaces) may break: next to a character of `scripts`, outside any URL or address."""
    if not scripts.search(word):
        return []
    inside = {p for found in _UNBREAKABLE.finditer(word) for p in range(found.start() + 1, found.end())}
    clusters = list(_CLUSTER.finditer(word))
    return [after.start() for before, after in pairwise(clusters)
            if after.start() not in inside and after.group()[0] not in _NO_START
            and before.group()[-1] not in _NO_END and (scripts.match(before.group()) or scripts.match(after.group()))]


def _split(word: str, breaks: list[int]) -> list[str]:
    return [word[start:end] for start, end in zip([0, *breaks], [*breaks, len(word)], strict=True)]


def markdown_text(markdown: str, width: int = WIDTH) -> str:
    """A Markdown body as plain text: markers gone, links as `text (URL)`, lists, quotes and code laid out."""
    root = SyntaxTreeNode(MARKDOWN.parse(markdown))
    return "\n".join(_blocks(root.children, width))


def _blocks(nodes: list[SyntaxTreeNode], width: int, tight: bool = False) -> list[str]:
    """Block nodes one after the other: a blank line between them, none between a tight list's parts."""
    lines: list[str] = []
    for node in nodes:
        block = _block(node, width)
        if block:
            lines += ([""] if lines and not tight else []) + block
    return lines


def _block(node: SyntaxTreeNode, width: int) -> list[str]:
    kind = node.type
    if kind in ("paragraph", "heading"):  # a heading is a paragraph of its own, set apart by blank lines
        return _paragraph(node.children[0] if node.children else None, width)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, width)
    if kind == "blockquote":
        return [f"> {line}" if line else ">" for line in _blocks(node.children, width - 2)]
    if kind in ("fence", "code_block"):  # kept as written, line by line, set off by an indent: never wrapped
        return [(CODE_INDENT + line).rstrip() for line in node.content.rstrip("\n").expandtabs(4).splitlines()]
    if kind == "html_block":
        return _raw_html(node.content, width)
    if kind == "hr":
        return [RULE]
    return _blocks(node.children, width)  # nothing else in CommonMark; whatever a plugin adds, its text


def _list(node: SyntaxTreeNode, width: int) -> list[str]:
    # markdown-it hides the paragraphs of a tight list (no blank lines between its items in the source).
    tight = any(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    number = int(str(node.attrs.get("start", 1)))
    lines: list[str] = []
    for item in node.children:
        marker = f"{number}. " if node.type == "ordered_list" else "- "
        number += 1
        body = _blocks(item.children, width - len(marker), tight) or [""]
        hanging = " " * len(marker)
        item_lines = [marker + body[0]] + [hanging + line if line else "" for line in body[1:]]
        lines += ([""] if lines and not tight else []) + [line.rstrip() for line in item_lines]
    return lines


def _paragraph(inline: SyntaxTreeNode | None, width: int) -> list[str]:
    """An inline run as wrapped lines, each hard break starting a new one."""
    lines: list[str] = []
    for segment in _segments(list(_pieces(inline)) if inline else []):
        lines += _wrapped(_SPACES.sub(" ", segment).strip(), width)
    return lines


def _raw_html(raw: str, width: int) -> list[str]:
    """A block of raw HTML: its text, line by line as the author wrote it (what a script or style holds is gone)."""
    text = html.unescape(nh3.clean(raw, tags=set()))
    return [out for line in text.splitlines() for out in _wrapped(_SPACES.sub(" ", line).strip(), width)]


def _segments(pieces: list[Piece]) -> list[str]:
    """The text between hard breaks; raw HTML stripped (with what a script or style holds) and entities decoded."""
    if not any(piece is not None and piece[1] for piece in pieces):
        segments = [""]
        for piece in pieces:
            if piece is None:
                segments.append("")
            else:
                segments[-1] += piece[0]
        return segments
    marked = "".join("<br>" if p is None else p[0] if p[1] else html.escape(p[0], quote=False) for p in pieces)
    return [html.unescape(part) for part in nh3.clean(marked, tags={"br"}).split("<br>")]


def _pieces(node: SyntaxTreeNode) -> Iterator[Piece]:
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):  # code as written: the markers were Markdown's, not the author's
            yield child.content, False
        elif kind == "softbreak":
            yield " ", False
        elif kind == "hardbreak":
            yield None
        elif kind == "html_inline":
            yield child.content, True
        elif kind == "link":
            yield from _link(child)
        elif kind != "image":  # a picture is dropped, as in the HTML part; emphasis keeps its words
            yield from _pieces(child)


def _link(node: SyntaxTreeNode) -> Iterator[Piece]:
    """`text (URL)`; a mailto link shows its address; text that is the URL (or the address) shows once."""
    href = str(node.attrs.get("href", ""))
    inner = list(_pieces(node))
    text = "".join(p[0] for p in inner if p is not None and not p[1]).strip()
    if href.lower().startswith("mailto:"):
        target = unquote(href[len("mailto:"):].split("?", 1)[0])
    elif href.lower().startswith(LINK_SCHEMES):
        target = href
    else:  # relative, or a scheme the HTML part drops: nowhere to go from an email
        yield from inner
        return
    if not text:
        yield target, False
    elif text in (target, href) or MARKDOWN.normalizeLink(text) == href:
        yield from inner
    else:
        yield from inner
        yield f" ({target})", False
