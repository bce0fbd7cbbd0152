"""The newsletter's plain-text part: a Markdown body rendered as text to read, every line at most 72 columns unless it
is one URL (or word) longer than that, never cut, or a line of code, kept as written."""

from __future__ import annotations

import re
import string
import unicodedata

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.plaintext import columns, markdown_text, wrap


def test_emphasis_markers_go_and_the_words_stay() -> None:
    assert markdown_text("Some **bold**, *italic* and __strong__ _words_.") == "Some bold, italic and strong words."


def test_a_link_is_its_text_then_its_address() -> None:
    assert markdown_text("Read [the report](https://example.org/report.pdf) now.") == (
        "Read the report (https://example.org/report.pdf) now.")
    assert markdown_text("Write to [the desk](mailto:desk@example.org?subject=Hello).") == (
        "Write to the desk (desk@example.org).")


def test_a_link_whose_text_is_its_address_shows_it_once() -> None:
    assert markdown_text("<https://example.org/a> and [https://example.org/b](https://example.org/b)") == (
        "https://example.org/a and https://example.org/b")
    assert markdown_text("[desk@example.org](mailto:desk@example.org) or <desk@example.org>") == (
        "desk@example.org or desk@example.org")
    assert markdown_text("[](https://example.org/empty)") == "https://example.org/empty"


def test_a_link_that_goes_nowhere_from_an_email_shows_its_words() -> None:
    # The HTML part drops these hrefs (render.BODY_SCHEMES); a relative one leads nowhere from a mailbox.
    assert markdown_text("[the page](/about) [a file](ftp://example.org/f)") == "the page a file"


def test_lists_have_markers_and_a_hanging_indent() -> None:
    source = ("- one\n- two, which is long enough to need a second line when it is wrapped at seventy-two\n"
              "  - nested\n\n3. three\n4. four\n")
    assert markdown_text(source) == (
        "- one\n"
        "- two, which is long enough to need a second line when it is wrapped at\n"
        "  seventy-two\n"
        "  - nested\n"
        "\n"
        "3. three\n"
        "4. four")


def test_a_loose_list_keeps_its_blank_lines() -> None:
    assert markdown_text("* one\n\n* two\n\n  more of two\n") == "- one\n\n- two\n\n  more of two"


def test_headings_quotes_and_rules() -> None:
    source = "# A heading\nText under it.\n\n> Quoted *words*\n>\n> > and a quote in it\n\n---\n\nAfter."
    assert markdown_text(source) == (
        "A heading\n\nText under it.\n\n> Quoted words\n>\n> > and a quote in it\n\n* * *\n\nAfter.")


def test_code_is_kept_as_written() -> None:
    assert markdown_text("Run `bot **run**` daily:\n\n```\nbot run --once\n  --now today\n```") == (
        "Run bot **run** daily:\n\n    bot run --once\n      --now today")


def test_a_long_line_of_code_is_never_wrapped() -> None:
    """Reflowed, code would mean something else (a shell line, YAML): each line stays whole, set off by 4 spaces."""
    command = "bot subscribers import members.csv --email-column 'E-mail address' --name-column 'Full name'"
    fenced = markdown_text(f"Import them:\n\n```sh\n{command}\n```")
    assert fenced == f"Import them:\n\n    {command}"
    indented = markdown_text(f"In YAML:\n\n    channels: [email]\n    summary: {'word ' * 14}end\n\nAfter.")
    assert indented == f"In YAML:\n\n    channels: [email]\n    summary: {'word ' * 14}end\n\nAfter."
    assert markdown_text(f"- in a list:\n\n  ```\n  {command}\n  ```") == f"- in a list:\n\n      {command}"


CHINESE = ("人权理事会第四十一届会议通过了一项决议，将性取向和性别认同问题独立专家的任期延长三年。"
           "这是全世界LGBTI群体的胜利，也是所有相信人权具有普遍性的人的胜利。"
           "详情请见https://news.example.org/2019/07/iesogi-mandate-renewed，或写信给desk@example.org。")


def test_chinese_breaks_between_characters_never_inside_a_url() -> None:
    """Chinese and Japanese are written without spaces: a line breaks between two characters (each takes two
    columns), not before a comma or full stop; a URL and an address stay whole."""
    assert markdown_text(CHINESE).split("\n") == [
        "人权理事会第四十一届会议通过了一项决议，将性取向和性别认同问题独立专家的",
        "任期延长三年。这是全世界LGBTI群体的胜利，也是所有相信人权具有普遍性的人",
        "的胜利。详情请见",
        "https://news.example.org/2019/07/iesogi-mandate-renewed，",
        "或写信给desk@example.org。"]
    japanese = wrap("  国連人権理事会は、性的指向と性自認に関する独立専門家の任期を三年間延長する決議を採択しました。"
                    "「これはLGBTIの人々にとっての勝利です」と述べました。")
    assert japanese.split("\n") == [
        "  国連人権理事会は、性的指向と性自認に関する独立専門家の任期を三年間延長",
        "  する決議を採択しました。「これはLGBTIの人々にとっての勝利です」と述べ",
        "  ました。"]


def test_thai_breaks_at_its_spaces_and_a_run_longer_than_a_line_between_letters() -> None:
    thai = ("คณะมนตรีสิทธิมนุษยชนแห่งสหประชาชาติได้ลงมติต่ออายุวาระของผู้เชี่ยวชาญอิสระว่าด้วยการคุ้มครองจาก"
            "ความรุนแรงและการเลือกปฏิบัติบนพื้นฐานของวิถีทางเพศและอัตลักษณ์ทางเพศ เป็นเวลาอีกสามปี"
            " ซึ่งเป็นชัยชนะของชุมชน LGBTI ทั่วโลก")
    lines = markdown_text(thai).split("\n")
    assert [columns(line) for line in lines] == [72, 60, 43]  # tone marks and vowels above or below take no column
    assert lines[2].startswith("เป็นเวลา")  # at a space where there is one
    assert "".join(lines[:2]) + " " + lines[2] == thai
    assert not any(unicodedata.category(line[0]).startswith("M") for line in lines)  # a mark stays on its letter


def test_raw_html_is_stripped_and_entities_decoded() -> None:
    source = ('A <b>bold</b> &amp; <span style="color:red">red</span> word&nbsp;pair, caf&eacute; &#x41;.'
              "<script>alert(1)</script>\n\n<div>\n<p>A block</p>\n<style>p {}</style>\n</div>\n\nLine<br>break")
    assert markdown_text(source) == "A bold & red word\xa0pair, café A.\n\nA block\n\nLine\nbreak"


def test_hard_breaks_start_a_line() -> None:
    assert markdown_text("First line  \nsecond\\\nthird") == "First line\nsecond\nthird"


def test_a_long_url_stands_whole_on_its_own_line() -> None:
    url = "https://news.example.org/2019/07/" + "a-long-path-segment-" * 5
    text = markdown_text(f"See [this]({url}) and the address desk-of-the-newsroom@example.org in words.")
    assert text.split("\n") == ["See this", f"({url})", "and the address desk-of-the-newsroom@example.org in words."]


def test_wrap_breaks_each_line_at_72_keeping_its_indent() -> None:
    url = "https://example.org/" + "x" * 70
    assert wrap("Read more: " + url) == "Read more:\n" + url
    long = "word " * 20
    assert wrap("  " + long.strip()) == "  " + "word " * 13 + "word\n  " + "word " * 5 + "word"
    assert wrap("a\n\nb") == "a\n\nb"


# Random Markdown bodies, built from pieces an author writes: words, emphasis, code, links and bare URLs,
# addresses, inline HTML; paragraphs, headings, lists, quotes, code blocks, rules.
HOST = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12)
URL = st.builds(lambda host, path: f"https://{host}.example.org/{path}", HOST,
                st.text(alphabet=string.ascii_lowercase + string.digits + "/-", max_size=110))
EMAIL = st.builds(lambda user, host: f"{user}@{host}.example.org", HOST, HOST)
WORD = st.text(alphabet=string.ascii_letters + "éüßø'’,;:!?" + "\xa0", min_size=1, max_size=14).filter(
    lambda w: w.strip("\xa0") == w)
LONG_WORD = st.text(alphabet=string.ascii_letters, min_size=70, max_size=90)
WORDS = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
# Scripts written without spaces: Chinese and Japanese runs (a full stop or comma at most at their end), and Thai
# syllables (a consonant, after its leading vowel, with a mark above or below), up to two and a half lines long.
CJK = st.builds(lambda run, stop: run + stop,
                st.text(alphabet="人权理事会通过决议性别认同独立专家的任期延长三年ひらがなカタカナ国連日本語",
                        min_size=1, max_size=90), st.sampled_from(["", "。", "、", "，"]))
THAI = st.lists(st.builds(lambda lead, consonant, mark: lead + consonant + mark, st.sampled_from(["", "เ", "โ"]),
                          st.sampled_from("กขคงจชดตทนบปผพมยรลวสหอ"), st.sampled_from(["", "่", "้", "ิ", "ี", "ุ", "ั"])),
                min_size=1, max_size=60).map("".join)
UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}]")


@st.composite
def inline(draw: st.DrawFn, addresses: list[str]) -> str:
    kind = draw(st.sampled_from(["word", "word", "word", "long", "strong", "em", "code", "bare", "auto", "link",
                                 "self", "mailto", "mail", "html", "entity", "cjk", "cjk", "thai", "cjk-url"]))
    if kind in ("bare", "auto", "link", "self", "cjk-url"):
        url = draw(URL)
        addresses.append(url)
        return {"bare": url, "auto": f"<{url}>", "self": f"[{url}]({url})", "link": f"[{draw(WORDS)}]({url})",
                "cjk-url": f"{draw(CJK)}{url}，{draw(CJK)}"}[kind]
    if kind in ("mailto", "mail"):
        email = draw(EMAIL)
        addresses.append(email)
        return f"[{draw(WORDS)}](mailto:{email})" if kind == "mailto" else f"<{email}>"
    return {"word": lambda: draw(WORD), "long": lambda: draw(LONG_WORD), "strong": lambda: f"**{draw(WORDS)}**",
            "em": lambda: f"*{draw(WORDS)}*", "code": lambda: f"`{draw(WORDS)}`",
            "html": lambda: f"<b>{draw(WORDS)}</b>", "entity": lambda: "&amp;", "cjk": lambda: draw(CJK),
            "thai": lambda: draw(THAI)}[kind]()


@st.composite
def paragraph(draw: st.DrawFn, addresses: list[str]) -> str:
    pieces = draw(st.lists(inline(addresses), min_size=1, max_size=25))
    # A soft line break only before a plain word: anything else could open a block of another kind.
    return "".join(p if i == 0 else ("\n" if p[0].isalpha() and draw(st.booleans()) else " ") + p
                   for i, p in enumerate(pieces))


@st.composite
def block(draw: st.DrawFn, addresses: list[str], code: list[str], depth: int = 0) -> str:
    kinds = ["paragraph", "paragraph", "heading", "code", "rule"] + (["bullets", "numbers", "quote"] if depth < 3
                                                                      else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "paragraph":
        return draw(paragraph(addresses))
    if kind == "heading":
        return "#" * draw(st.integers(1, 4)) + " " + draw(paragraph(addresses)).replace("\n", " ")
    if kind == "code":
        lines = draw(st.lists(st.lists(st.one_of(WORD, URL, CJK), min_size=1, max_size=15).map(" ".join), min_size=1,
                              max_size=4))
        addresses.extend(u for line in lines for u in line.split(" ") if u.startswith("https://"))
        code.extend(lines)
        return "```\n" + "\n".join(lines) + "\n```"
    if kind == "rule":
        return "***"
    if kind == "quote":
        inner = draw(st.lists(block(addresses, code, depth + 1), min_size=1, max_size=3))
        return "\n".join("> " + line if line else ">" for line in "\n\n".join(inner).split("\n"))
    items = draw(st.lists(st.lists(block(addresses, code, depth + 1), min_size=1, max_size=2), min_size=1,
                          max_size=4))
    gap = "\n\n" if draw(st.booleans()) else "\n"
    out = []
    for n, item in enumerate(items, start=1):
        marker = "- " if kind == "bullets" else f"{n}. "
        lines = "\n\n".join(item).split("\n")
        out.append("\n".join((marker if i == 0 else " " * len(marker)) + line if line else ""
                             for i, line in enumerate(lines)))
    return gap.join(out)


@st.composite
def body(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    addresses: list[str] = []
    code: list[str] = []
    blocks = draw(st.lists(block(addresses, code), min_size=1, max_size=6))
    return "\n\n".join(blocks), addresses, code


# Quote and list markers in front of the one token a line holds; a line's tokens part at spaces.
ONE_TOKEN = re.compile(r"(?:(?:>|-|\d+\.)(?= )| )*[^ ]+")


def unbreakable(line: str, addresses: list[str]) -> bool:
    """One token that has nowhere to break: no space, and no Chinese, Japanese or Thai outside its URLs."""
    token = ONE_TOKEN.fullmatch(line)
    return token is not None and not UNSPACED.search(re.sub("|".join(map(re.escape, addresses)) or "^$", "", line))


@settings(max_examples=150, deadline=None)
@given(body())
def test_random_bodies_wrap_at_72_and_keep_every_url_whole(case: tuple[str, list[str], list[str]]) -> None:
    source, addresses, code = case
    text = markdown_text(source)
    lines = text.split("\n")
    for line in lines:
        is_code = any(line.endswith("    " + kept) for kept in code)
        assert columns(line) <= 72 or unbreakable(line, addresses) or is_code, line
        assert not unicodedata.category(line.lstrip(" >-.0123456789")[:1] or "x").startswith("M"), line
    for address in addresses:
        assert address in text, address
    for kept in code:  # verbatim, after the quote and list markers it sits in
        assert any(line.endswith("    " + kept) for line in lines), kept
    assert "**" not in text  # no emphasis marker left behind (no code in these bodies holds one)
    assert "](" not in text and "<b>" not in text and "&amp;" not in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(WORD, URL, EMAIL, LONG_WORD), min_size=1, max_size=40), st.integers(0, 4))
def test_wrap_keeps_every_word_in_order_on_lines_of_72(words: list[str], indent: int) -> None:
    line = " " * indent + " ".join(words)
    wrapped = wrap(line)
    for out in wrapped.split("\n"):
        assert out.startswith(" " * indent)
        assert len(out) <= 72 or len(out.split(" ")) - indent == 1, out
    assert wrapped.split() == line.split()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(WORD, URL, EMAIL, LONG_WORD, CJK, THAI, st.builds("{}{}，{}".format, CJK, URL, CJK)),
                min_size=1, max_size=30), st.integers(0, 4))
def test_wrap_breaks_unspaced_scripts_between_characters_only(words: list[str], indent: int) -> None:
    line = " " * indent + " ".join(words)
    addresses = [u for w in words for u in re.findall(r"https://\S+?(?=，|$)|\S+@\S+", w)]
    wrapped = wrap(line)
    for out in wrapped.split("\n"):
        assert out.startswith(" " * indent) and out[indent] != " "
        assert columns(out) <= 72 or unbreakable(out.strip(), addresses), out
        assert not unicodedata.category(out[indent]).startswith("M") and out[indent] not in "、。，", out
    assert "".join(wrapped.split()) == "".join(line.split())  # nothing lost, nothing added but line breaks
    for address in addresses:
        assert address in wrapped, address
