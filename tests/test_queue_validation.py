"""Each validation rule, one fixture file per case: the problem names the file and the field, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import queue
from bot.settings import Settings

from .conftest import FIXTURES, copy_fixture

# case file -> (field, words the message must contain, line or None)
ITEM_CASES: dict[str, tuple[str, str, int | None]] = {
    "missing_title": ("title", "is required", None),
    "empty_summary": ("summary", "is empty", 4),
    "blank_title": ("title", "is empty", 2),
    "no_front_matter": ("front matter", "must start with a line '---'", 1),
    "unclosed_front_matter": ("front matter", "no closing '---'", 1),
    "unknown_field": ("titel", "unknown field (did you mean 'title'?)", 2),
    "bad_date": ("date", "is not a real date", 3),
    "date_not_iso": ("date", "is not a date as YYYY-MM-DD", 3),
    "bad_publish_at": ("publish_at", "is not 'YYYY-MM-DD HH:MM' or ISO 8601", 4),
    "bad_publish_time": ("publish_at", "is not a real date and time (hour must be in 0..23)", 4),
    "publish_at_in_dst_gap": ("publish_at", "does not exist in Europe/Zurich", 4),
    "bad_time_zone": ("publish_at", "'Europe/Genf' is not an IANA time zone", 4),
    "bad_offset": ("publish_at", "is not 'YYYY-MM-DD HH:MM' or ISO 8601", 4),
    "link_relative": ("link", "must be a full web address starting with https:// (or http://); '/news/vote' has "
                      "none", 5),
    "link_without_scheme": ("link", "must be a full web address starting with https:// (or http://); "
                            "'www.example.org/news/vote' has none", 5),
    "link_without_full_host": ("link", "needs a site's full name after https://, such as news.example.org; "
                               "'https://intranet/news/vote' has none", 5),
    "link_javascript": ("link", "must be a full web address starting with https:// (or http://); "
                        "'javascript:alert(1)' starts with javascript: instead", 5),
    "link_with_space": ("link", "has a space or an invisible character in it: a web address has none (a space "
                        "inside one is written %20)", 5),
    "image_without_alt": ("image_alt", "is required when image is set", 5),
    "image_alt_without_image": ("image_alt", "has no image to go with", 5),
    "image_data_url": ("image", "'data:image/png;base64,iVBORw0KGgo=' starts with data: instead", 5),
    "image_file_name": ("image", "must be a full web address starting with https:// (or http://), or media/NAME "
                        "for a picture added with `bot media add FILE` or the composer's upload; 'photo.jpg' is "
                        "neither", 5),
    "image_private_address": ("image", "points to 169.254.169.254, a private or local address", 5),
    "image_localhost": ("image", "points to localhost, a private or local address", 5),
    "image_loopback_spelled_oddly": ("image", "points to 0177.0.0.1 (127.0.0.1), a private or local", 5),
    "link_private_address": ("link", "points to 10.0.0.7, a private or local address", 5),
    "unknown_channel": ("channels", "unknown channel 'twitter'", 5),
    "no_channels": ("channels", "is empty", 5),
    "unknown_campaign": ("campaign", "unknown campaign 'RenewIESOG' (did you mean 'RenewIESOGI'?)", 5),
    "hashtag_with_space": ("hashtags", "'Renew IESOGI' may hold only letters, digits and '_'", 5),
    "hashtag_with_punctuation": ("hashtags", "'HRC-41' may hold only letters, digits and '_'", 5),
    "hashtag_read_as_comment": ("hashtags", "has an empty entry: YAML read '#RenewIESOGI' as a comment; leave out "
                                "the '#' (Herald adds it to each tag), as in - RenewIESOGI, or quote it: "
                                "- \"#RenewIESOGI\"", 6),
    # In [...], YAML reads a word starting with '#' as a comment, so the list is never closed: the line with the '#'.
    "hashtag_hash_opens_list": ("hashtags", "'#HRC61' starts a comment in YAML, which cuts the list short on this "
                                "line: leave out the '#' (Herald adds it to each tag), as in [HRC61, ...], or quote "
                                "the tag: \"#HRC61\"", 5),
    "hashtag_hash_later_in_list": ("hashtags", "'#LGBTI' starts a comment in YAML", 6),
    "hashtag_hash_alone": ("hashtags", "is empty because YAML read '#HRC61' as a comment: leave out the '#' (Herald "
                           "adds it to each tag), as in [HRC61], or quote it: [\"#HRC61\"]", 5),
    "hashtags_not_a_list": ("hashtags", "must be a list", 5),
    "title_line_break": ("title", "contains a line break", 2),
    "title_too_long": ("title", "at most 150", 2),
    "title_not_text": ("title", "must be text, not a list", 2),
    "title_with_control_character": ("title", "control character", 2),
    "override_too_long": ("social.bluesky", "is too long: with the link and hashtags it counts", 6),
    "override_unknown_platform": ("social", "unknown platform 'facebook'", 6),
    "override_for_channel_not_used": ("social.mastodon", "mastodon is not among this item's channels", 6),
    "broken_yaml": ("front matter",
                    "broken YAML: mapping values are not allowed in this context (a value that contains ': '", 4),
    "tab_indent": ("front matter", "broken YAML", 6),
    "comment_cut_value": ("summary", "YAML cut the value before '#RenewIESOGI'", 4),
    "comment_emptied_value": ("summary", "is empty because YAML read '#RenewIESOGI' as a comment", 4),
    "field_twice": ("title", "is given twice (lines 2 and 4)", 4),
    "bad_lang": ("lang", "is not an ISO 639-1 language code", 5),
    "bad_file_name!": ("id", "the file name 'bad_file_name!.md' is the item's id", None),
    "front_matter_is_a_list": ("front matter", "must be a list of 'field: value' lines", 2),
    "not_utf8": ("file", "is not UTF-8 text", 2),
    "nul_bytes": ("file", "contains NUL bytes", 3),
}


def _load(settings: Settings, case: str) -> queue.Queue:
    shutil.copy(FIXTURES / "campaigns.yaml", settings.queue_dir / "campaigns.yaml")
    copy_fixture(f"invalid/{case}.md", settings.queue_dir)
    return queue.load(settings)


def test_every_invalid_fixture_has_a_case() -> None:
    on_disk = {p.stem for p in (FIXTURES / "invalid").glob("*.md")}
    assert on_disk == set(ITEM_CASES)


@pytest.mark.parametrize("case", sorted(ITEM_CASES))
def test_invalid_item_is_reported_by_file_and_field(settings: Settings, queue_dir: Path, case: str) -> None:
    field, words, line = ITEM_CASES[case]
    result = _load(settings, case)
    assert result.items == []
    matching = [p for p in result.problems if p.field == field]
    assert matching, f"no problem on {field!r}; got {[str(p) for p in result.problems]}"
    problem = matching[0]
    assert words in problem.message
    assert problem.path.endswith(f"{case}.md")
    assert problem.line == line
    expected_start = f"{problem.path}:{line}: {field}: " if line else f"{problem.path}: {field}: "
    assert str(problem).startswith(expected_start)
    assert "\n" not in str(problem)


def test_duplicate_ids_in_subfolders_are_both_refused(settings: Settings, queue_dir: Path) -> None:
    copy_fixture("duplicate", queue_dir)
    result = queue.load(settings)
    assert result.items == []
    assert sorted(Path(p.path).name for p in result.problems if p.field == "id") == ["Vote.md", "vote.md"]
    assert all("rename one" in p.message for p in result.problems)


# case file -> (field, words the message must contain, line, whether the file as a whole could not be read)
CAMPAIGN_CASES = {
    "end_before_start": ("RenewIESOGI.end", "2019-06-24 is before start 2019-07-12", 5, False),
    "missing_hashtags": ("RenewIESOGI.hashtags", "is required", 1, False),
    "unknown_field": ("RenewIESOGI.ende", "unknown field (did you mean 'end'?)", 5, False),
    "broken": ("campaigns", "broken YAML", 3, True),
    "bad_hashtag": ("RenewIESOGI.hashtags", "may hold only letters", 3, False),
    "bad_date": ("RenewIESOGI.start", "is not a real date", 4, False),
    "hash_in_hashtags": ("RenewIESOGI.hashtags", "'#RenewIESOGI' starts a comment in YAML, which cuts the list short "
                         "on this line: leave out the '#' (Herald adds it to each tag)", 3, True),
}


@pytest.mark.parametrize("case", sorted(CAMPAIGN_CASES))
def test_invalid_campaigns_file_is_reported_and_its_items_refused(settings: Settings, queue_dir: Path,
                                                                  case: str) -> None:
    field, words, line, unreadable = CAMPAIGN_CASES[case]
    shutil.copy(FIXTURES / "campaigns" / f"{case}.yaml", queue_dir / "campaigns.yaml")
    (queue_dir / "vote.md").write_text("---\ntitle: A vote\ndate: 2019-07-12\nsummary: Yes.\n"
                                       "campaign: RenewIESOGI\n---\n", encoding="utf-8")
    result = queue.load(settings)
    campaign_problems = [p for p in result.problems if p.path.endswith("campaigns.yaml")]
    assert [(p.field, p.line) for p in campaign_problems] == [(field, line)]
    assert words in campaign_problems[0].message
    # An item that names a broken campaign cannot know its hashtags: it is refused, not half-sent, and its problem
    # points to the campaign's.
    assert result.items == []
    [held] = [p for p in result.problems if p.path.endswith("vote.md")]
    file = queue_dir / "campaigns.yaml"
    why = f"'RenewIESOGI': {file} could not be read" if unreadable else f"'RenewIESOGI' has a problem in {file}"
    assert (held.field, held.line) == ("campaign", 5)
    assert held.message == f"{why} (see the problem reported for it at line {line}); this item waits until it is fixed"


def test_every_campaign_fixture_has_a_case() -> None:
    assert {p.stem for p in (FIXTURES / "campaigns").glob("*.yaml")} == set(CAMPAIGN_CASES)


def test_valid_items_survive_beside_invalid_ones(settings: Settings, queue_dir: Path, write_item) -> None:
    copy_fixture("invalid/broken_yaml.md", queue_dir)
    write_item("good", "title: A good item\ndate: 2019-07-12\nsummary: All fine.")
    result = queue.load(settings)
    assert [i.id for i in result.items] == ["good"]
    assert result.invalid_ids == {"broken_yaml"}


def test_an_intranet_may_name_pictures_on_private_addresses(make_settings) -> None:
    settings = make_settings(BOT_FETCH_ALLOW_PRIVATE="1")
    settings.queue_dir.mkdir(parents=True)
    for case in ("image_private_address", "image_localhost", "image_loopback_spelled_oddly", "link_private_address"):
        copy_fixture(f"invalid/{case}.md", settings.queue_dir)
    result = queue.load(settings)
    assert sorted(i.id for i in result.items) == ["image_localhost", "image_loopback_spelled_oddly",
                                                  "image_private_address"]
    # A link is never fetched by Herald, but readers could not open it: it is reported whatever the setting.
    assert [(p.field, Path(p.path).stem) for p in result.problems] == [("link", "link_private_address")]


def test_sample_queue_is_clean(sample_settings: Settings) -> None:
    result = queue.load(sample_settings)
    assert [str(p) for p in result.problems] == []
    assert len(result.items) >= 10
    assert len(result.campaigns) >= 2 and "RenewIESOGI" in result.campaigns
    assert any(i.body for i in result.items)
    assert any(i.image and i.image_alt and i.image_credit for i in result.items)
    assert any(i.social for i in result.items)
    assert any(i.channels == ("email",) for i in result.items)
    assert {i.date.strftime("%Y-%m") for i in result.items} == {"2019-03", "2019-07"}


def test_a_long_summary_is_a_warning_and_the_item_goes_out(settings: Settings, queue_dir: Path) -> None:
    # Three long sentences: a long blurb, but nothing breaks (the posts are shortened anyway).
    copy_fixture("warning/long_summary.md", queue_dir)
    result = queue.load(settings)
    assert [i.id for i in result.items] == ["long_summary"]
    assert result.problems == []
    [warning] = result.warnings
    assert warning.warning and (warning.field, warning.line) == ("summary", 4)
    assert str(warning) == (f"{queue_dir / 'long_summary.md'}:4: summary: warning: is 844 characters long: the "
                            "newsletter's blurb will be long (the posts are shortened anyway); one to three "
                            "sentences, at most 600, read best")


def test_a_quoted_tag_with_its_hash_is_the_tag(settings: Settings, queue_dir: Path,
                                              write_item) -> None:  # type: ignore[no-untyped-def]
    """What the hint for a bare #HRC61 offers, quoting it, works: the '#' is Herald's to add, once."""
    write_item("quoted", 'title: A vote\ndate: 2019-07-12\nsummary: The Council voted.\nhashtags: ["#HRC61", LGBTI]')
    loaded = queue.load(settings)
    assert loaded.problems == []
    assert loaded.items[0].hashtags == ("HRC61", "LGBTI")


def test_a_picture_in_the_body_is_a_warning_pointing_at_its_line(settings: Settings, queue_dir: Path) -> None:
    """Neither part of the newsletter shows a body's picture: said at validation, not lost without a word."""
    copy_fixture("warning/body_picture.md", queue_dir)
    result = queue.load(settings)
    assert [i.id for i in result.items] == ["body_picture"] and result.problems == []
    assert [str(w) for w in result.warnings] == [
        f"{queue_dir / 'body_picture.md'}:8: body: warning: has a picture "
        "('https://news.example.org/2019/07/defenders.jpg'), which the newsletter does not show: use the image field "
        "(with image_alt) for the item's picture"]
