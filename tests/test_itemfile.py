"""Writing queue files: the composer's file is the one a person would write, `bot validate` accepts it, reading it back
gives exactly what was typed, saves are atomic and never overwrite a version the writer did not see."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot import itemfile, queue
from bot.content import Campaign
from bot.platforms import CHANNELS
from bot.settings import Settings

CAMPAIGNS = {"RenewIESOGI": Campaign("RenewIESOGI", "Renew the mandate", ("RenewIESOGI",), date(2019, 6, 24),
                                     date(2019, 7, 12))}
BASIC = itemfile.Fields(title="Council renews the mandate", date="2019-07-12",
                        summary="The Council voted to keep the expert at work.")


def read_back(settings: Settings, fields: itemfile.Fields, name: str = "item") -> tuple[object, list[object]]:
    path = settings.queue_dir / f"{name}.md"
    return queue.read_item(path, settings, CAMPAIGNS, True, data=itemfile.to_text(fields).encode())


def test_the_file_follows_the_readme_field_order_and_quotes_only_where_yaml_needs_it() -> None:
    fields = replace(BASIC, title="Statement: the vote is #historic", publish_at="2019-07-12 15:30",
                     summary="Join #RenewIESOGI today", link="https://news.example.org/a", hashtags="#LGBTI, HRC41",
                     campaign="RenewIESOGI", channels=("email", "x"), social={"x": "Renewed! #LGBTI"}, lang="en",
                     draft=True, body="A **body**.\n\n- one\n- two")
    assert itemfile.to_text(fields) == (
        "---\n"
        'title: "Statement: the vote is #historic"\n'
        "date: 2019-07-12\n"
        'summary: "Join #RenewIESOGI today"\n'
        "publish_at: 2019-07-12 15:30\n"
        "link: https://news.example.org/a\n"
        "hashtags: [LGBTI, HRC41]\n"
        "campaign: RenewIESOGI\n"
        "channels: [email, x]\n"
        "social:\n"
        '  x: "Renewed! #LGBTI"\n'
        "lang: en\n"
        "draft: true\n"
        "---\n"
        "A **body**.\n\n- one\n- two\n")


def test_a_value_that_yaml_would_cut_at_a_comment_is_quoted(settings: Settings) -> None:
    fields = replace(BASIC, summary="Vote today #RenewIESOGI and share")
    text = itemfile.to_text(fields)
    assert 'summary: "Vote today #RenewIESOGI and share"' in text
    item, problems = read_back(settings, fields)
    assert problems == [] and item.summary == "Vote today #RenewIESOGI and share"


def test_every_written_file_passes_bot_validate(settings: Settings, queue_dir: Path) -> None:
    fields = replace(BASIC, summary="Line one: with a colon.\nLine two # not a comment\n\n  indented third",
                     social={"mastodon": "Two\nlines"})
    (queue_dir / "multi.md").write_text(itemfile.to_text(fields), encoding="utf-8")
    loaded = queue.load(settings)
    assert loaded.problems == []
    assert loaded.items[0].summary == fields.summary and loaded.items[0].social == {"mastodon": "Two\nlines"}


# Text as typed in a form, then tidied as the composer tidies it: no control characters but line feeds and tabs.
typed = st.lists(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85\ufeff")
                 | st.sampled_from(["#", " #", ": ", "'", '"', "@", "`", "*", "&", "!", "%", "|", ">", "- ", "[", "{",
                                    "null", "~", "\n", "\t", "\n---\n", "true", " "]), max_size=25).map("".join)
one_line = typed.map(lambda t: itemfile.tidy(t.replace("\n", " "), one_line=True))
lines = typed.map(itemfile.tidy)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=one_line, summary=lines, credit=one_line, social=lines, body=typed.map(itemfile.tidy_body))
def test_reading_a_written_file_gives_back_exactly_what_was_typed(settings: Settings, title: str, summary: str,
                                                                   credit: str, social: str, body: str) -> None:
    fields = replace(BASIC, title=title or "t", summary=summary or "s", image="https://example.org/a.jpg",
                     image_alt="a photo", image_credit=credit, social={"mastodon": social} if social else {},
                     body=body)
    text = itemfile.to_text(fields)
    again = itemfile.read(Path("x.md"), "", text.encode())
    assert replace(again, id="") == fields
    item, problems = read_back(settings, fields)
    if item is not None:  # when valid, the queue reads the same values
        assert (item.title, item.summary, item.body) == (fields.title, fields.summary, fields.body)
    else:  # an invalid value is named by its field, never a broken file
        assert all(p.field not in ("front matter", "file") for p in problems), problems


def test_a_body_keeps_its_markdown_indentation_and_hard_breaks() -> None:
    body = itemfile.tidy_body("\r\n\r\n    code block\r\nline one  \r\nline two\r\n\r\n")
    assert body == "    code block\nline one  \nline two"
    text = itemfile.to_text(replace(BASIC, body=body))
    assert itemfile.read(Path("x.md"), "", text.encode()).body == body


def test_no_channel_chosen_is_a_problem_not_every_channel(settings: Settings) -> None:
    item, problems = read_back(settings, replace(BASIC, channels=()))
    assert item is None and [p.field for p in problems] == ["channels"]


def test_a_next_line_character_is_kept_so_the_validator_sees_it(settings: Settings) -> None:
    item, problems = read_back(settings, replace(BASIC, title="a\x85b"))
    assert item is None and "line break" in problems[0].message


def test_form_values_become_fields() -> None:
    form = {"id": " 2019-07-12-x ", "title": " A title ", "summary": "One.\r\nTwo.  \r\n", "hashtags": "#A, B  #C",
            "social_x": "", "social_bluesky": "Hi", "draft": "1"}
    fields = itemfile.from_form(form, ["x", "email", "nonsense"], with_id=True)
    assert fields.id == "2019-07-12-x" and fields.title == "A title" and fields.summary == "One.\nTwo."
    assert fields.tags == ["A", "B", "C"] and fields.channels == ("email", "x")
    assert fields.social == {"bluesky": "Hi"} and fields.draft
    assert itemfile.from_form({}, None, with_id=False).channels == ()


def test_all_channels_are_left_out_of_the_file(settings: Settings) -> None:
    text = itemfile.to_text(replace(BASIC, channels=CHANNELS))
    assert "channels" not in text


def test_ids_are_suggested_from_date_and_title(queue_dir: Path) -> None:
    assert itemfile.suggest_id("2019-07-12", "Council renews the SOGI mandate: a victory!") == \
        "2019-07-12-council-renews-the-sogi-mandate-a-victory"
    assert itemfile.suggest_id("2019-07-12", "Égalité für alle") == "2019-07-12-egalite-fur-alle"
    (queue_dir / "2019-07-12-a.md").write_text("x")
    assert itemfile.free_id(queue_dir, "2019-07-12-a") == "2019-07-12-a-2"


def test_a_save_over_a_changed_file_is_refused_and_the_file_kept(settings: Settings, queue_dir: Path) -> None:
    path = queue_dir / "item.md"
    first = itemfile.save(path, itemfile.to_text(BASIC), None, settings.state_dir)
    with pytest.raises(itemfile.StaleEdit, match="already exists"):
        itemfile.save(path, "other", None, settings.state_dir)
    path.write_text(path.read_text() + "\nedited by hand\n")  # someone else's change
    on_disk = path.read_bytes()
    with pytest.raises(itemfile.StaleEdit, match="changed by someone else"):
        itemfile.save(path, itemfile.to_text(replace(BASIC, title="Mine")), first, settings.state_dir)
    assert path.read_bytes() == on_disk
    second = itemfile.save(path, itemfile.to_text(replace(BASIC, title="Mine")), itemfile.digest(on_disk),
                           settings.state_dir)
    assert second == itemfile.current_digest(path)
    assert sorted(p.name for p in queue_dir.iterdir()) == ["item.md"]  # no temporary file left


def test_a_save_in_a_git_working_tree_is_a_commit_by_its_author(settings: Settings, queue_dir: Path) -> None:
    subprocess.run(["git", "init", "-q", str(queue_dir)], check=True)
    (queue_dir / "other.md").write_text("staged by someone else\n")
    subprocess.run(["git", "-C", str(queue_dir), "add", "other.md"], check=True)
    path = queue_dir / "item.md"
    itemfile.save(path, itemfile.to_text(BASIC), None, settings.state_dir)
    assert itemfile.commit_to_git(path, "lucia@example.org", "Create item")
    log = subprocess.run(["git", "-C", str(queue_dir), "log", "--format=%an <%ae>|%s", "--name-only"],
                         capture_output=True, text=True, check=True).stdout
    assert log.splitlines()[0] == "lucia <lucia@example.org>|Create item"
    assert "other.md" not in log  # only the saved file goes into the commit


def test_outside_git_nothing_is_committed(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    path = folder / "item.md"
    path.write_text(itemfile.to_text(BASIC))
    assert not itemfile.commit_to_git(path, "lucia@example.org", "Create item")


long_line = st.lists(st.sampled_from(["word", "#tag", "a: b", "  ", " ", "\t", "'q'", '"d"', "x" * 30, "é", "---",
                                      "-", "#", "> ", "|"]), min_size=30, max_size=120).map("".join)


@hsettings(max_examples=200, deadline=None)
@given(summary=long_line)
def test_a_long_summary_is_folded_as_the_readme_shows_and_reads_back_exactly(summary: str) -> None:
    summary = itemfile.tidy(summary, one_line=True) or "s"
    text = itemfile.to_text(replace(BASIC, summary=summary))
    assert itemfile.read(Path("x.md"), "", text.encode()).summary == summary


def test_a_long_sentence_is_wrapped_into_a_folded_block() -> None:
    summary = ("In a defining vote, the UN Human Rights Council adopted a resolution that keeps the Independent "
               "Expert at work for three more years. Join #RenewIESOGI: share it.")
    text = itemfile.to_text(replace(BASIC, summary=summary))
    assert "summary: >-\n  In a defining vote" in text and max(len(line) for line in text.split("\n")) <= 102
    assert itemfile.read(Path("x.md"), "", text.encode()).summary == summary
