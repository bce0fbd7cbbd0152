"""Bad input, fuzzed: queue files, campaigns.yaml and subscriber CSVs of any shape get a message naming the file and
the field, never a traceback; valid items beside them are still dispatched, invalid ones never."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot import queue, subscribers
from bot.errors import ContentError
from bot.ledger import Ledger
from bot.scheduler import run_once
from bot.settings import load_settings

from .conftest import BASE

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOOD = "---\ntitle: A good item\ndate: 2019-07-12\nsummary: Still goes out.\n---\n"
FIELDS = ["title", "date", "summary", "publish_at", "link", "image", "image_alt", "image_credit", "hashtags",
          "campaign", "channels", "social", "lang", "titel", "x"]

# YAML fragments chosen to hit every trap: comments, anchors, aliases, tags, block scalars, flow collections.
scalar = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "~", "null", "yes", "No", "2019-02-30", "2019-07-12", "2019-07-12 09:00", "12:30",
                     "#RenewIESOGI", "Join #RenewIESOGI", "&a x", "*a", "!!python/object:os.system", "|", ">-",
                     "[", "{", "]", "'", '"', "javascript:alert(1)", "https://example.org/x", "\t", "- x",
                     "key: value", "%TAG", "@handle", "`", "\u202e", "\ufeff", "e\u0301",
                     "\U0001F469\u200d\U0001F467"]),
)
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3)),
                     max_leaves=8)


def to_yaml(v: object, indent: int = 0) -> str:
    """Render a value as sloppy YAML a person might type (no escaping: that is the point)."""
    if isinstance(v, list):
        return "[" + ", ".join(to_yaml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {to_yaml(x)}" for k, x in v.items()) + "}"
    return str(v)


front_matter = st.lists(st.tuples(st.sampled_from(FIELDS), value), max_size=10).map(
    lambda pairs: "".join(f"{k}: {to_yaml(v)}\n" for k, v in pairs))

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" \
             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" \
             "title: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nhashtags: [*f, *f, *f, *f, *f, *f]\n"

whole_file = st.one_of(
    st.binary(max_size=2000),
    front_matter.map(lambda fm: f"---\n{fm}---\nbody\n".encode()),
    front_matter.map(lambda fm: ("\ufeff---\r\n" + fm.replace("\n", "\r\n") + "---\r\n").encode()),
    front_matter.map(lambda fm: f"---\n{fm}".encode()),  # never closed
    st.just(f"---\n{ALIAS_BOMB}date: 2019-07-12\nsummary: s\n---\n".encode()),
    st.integers(10, 100_000).map(lambda n: f"---\ntitle: {'[' * n}{']' * n}\n---\n".encode()),
    st.just(b"---\ntitle: " + b"x" * 1_100_000 + b"\n---\n"),
    st.just(b"---\n" + b"    " * 5000 + b"title: deep\n---\n"),
    st.text(max_size=300).map(lambda t: f"---\ntitle: {t}\ndate: 2019-07-12\nsummary: {t}\n---\n".encode("utf-8",
                                                                                                      "surrogatepass")),
)


def _settings(folder: Path):
    return load_settings(environ=dict(BASE, BOT_STATE_DIR=str(folder / "var"), BOT_QUEUE_DIR=str(folder / "q")),
                         env_file=None)


@FUZZ
@given(whole_file, st.one_of(st.none(), whole_file))
def test_any_queue_file_is_either_valid_or_reported_by_file_and_field(data: bytes, campaigns: bytes | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _settings(folder)
        config.queue_dir.mkdir(parents=True)
        (config.queue_dir / "fuzzed.md").write_bytes(data)
        (config.queue_dir / "good.md").write_text(GOOD)
        if campaigns is not None:
            (config.queue_dir / "campaigns.yaml").write_bytes(campaigns)
        result = queue.load(config)  # must not raise, whatever the bytes
        ids = {i.id for i in result.items}
        assert "good" in ids
        fuzzed = [p for p in result.problems if p.path.endswith("fuzzed.md")]
        event("valid" if "fuzzed" in ids else "reported")
        assert ("fuzzed" in ids) != bool(fuzzed)
        for problem in result.problems:
            assert problem.path.endswith(("fuzzed.md", "campaigns.yaml", "good.md"))
            assert problem.field and problem.message and "\n" not in str(problem)
            assert "Traceback" not in problem.message


def test_valid_items_are_dispatched_beside_fuzzed_ones_and_invalid_ones_never(tmp_path: Path) -> None:
    config = _settings(tmp_path)
    config.queue_dir.mkdir(parents=True)
    (config.queue_dir / "good.md").write_text(GOOD)
    (config.queue_dir / "bomb.md").write_text(f"---\n{ALIAS_BOMB}date: 2019-07-12\nsummary: s\n---\n")
    (config.queue_dir / "binary.md").write_bytes(bytes(range(256)) * 4)
    (config.queue_dir / "nested.md").write_text("---\ntitle: " + "[" * 50_000 + "\n---\n")
    report = run_once(config, datetime(2019, 7, 12, 9, 0, tzinfo=UTC))
    assert {i for i, _, _ in report.posted} == {"good"}
    assert {Path(p.path).name for p in report.invalid} == {"bomb.md", "binary.md", "nested.md"}
    outbox = {p.name for p in (tmp_path / "var" / "outbox").rglob("*.json")}
    assert outbox == {"good.json"}


csv_rows = st.lists(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(
    ["a@example.org", "A@EXAMPLE.ORG", "bad@", "x@y", "\"quoted, comma\"@example.org", "eve@example.org\r\nBcc: x",
     "=cmd|' /C calc'!A0", "\x00", "é@example.org"])), max_size=4), max_size=20)


@FUZZ
@given(st.one_of(
    st.binary(max_size=1500),
    csv_rows.map(lambda rows: "email,name\n" + "\n".join(",".join(r) for r in rows)),
    csv_rows.map(lambda rows: "\ufeffname;email\r\n" + "\r\n".join(";".join(r) for r in rows)),
    csv_rows.map(lambda rows: "\n".join(",".join(r) for r in rows)),
))
def test_any_subscriber_csv_imports_what_is_valid_and_names_the_rest(data: bytes | str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "list.csv"
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        with Ledger.open(folder / "var") as ledger:
            try:
                report = subscribers.import_csv(ledger, path, datetime(2019, 7, 1, tzinfo=UTC))
            except ContentError as exc:
                event(f"refused: {exc.field}")
                assert str(exc).startswith(str(path)) and exc.field
                return
            event("imported")
            for problem in report.problems:
                assert problem.path == str(path) and problem.field in ("email", "row") and problem.line
            for entry in subscribers.listing(ledger):
                assert "\n" not in entry.email + entry.name and "\r" not in entry.email + entry.name
                assert subscribers.normalize_address(entry.email) == entry.email
