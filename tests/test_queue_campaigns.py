"""campaigns.yaml and the items that name a campaign: a problem holds back only the items it concerns, and each held
item points to the one report of why."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot import queue
from bot.settings import Settings

from .conftest import FIXTURES

VOTE = "---\ntitle: A vote\ndate: 2019-07-12\nsummary: The Council voted.\n{campaign}---\n"


def _items(queue_dir: Path, *campaigns: str) -> None:
    """One item per entry, named after its campaign (and a number), plus one item without a campaign."""
    for n, key in enumerate(campaigns):
        (queue_dir / f"{key.lower()}-{n}.md").write_text(VOTE.format(campaign=f"campaign: {key}\n"),
                                                          encoding="utf-8")
    (queue_dir / "plain.md").write_text(VOTE.format(campaign=""), encoding="utf-8")


def _by_file(result: queue.Queue) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in result.problems:
        found.setdefault(Path(problem.path).name, []).append(str(problem).removeprefix(problem.path))
    return found


def test_only_the_items_of_a_broken_campaign_wait(settings: Settings, queue_dir: Path) -> None:
    shutil.copy(FIXTURES / "campaign_files" / "one_broken.yaml", queue_dir / "campaigns.yaml")
    _items(queue_dir, "CSW63", "CSW63", "RenewIESOGI")

    result = queue.load(settings)

    assert sorted(i.id for i in result.items) == ["plain", "renewiesogi-2"]
    assert sorted(result.campaigns) == ["RenewIESOGI"]
    file = queue_dir / "campaigns.yaml"
    held = f":5: campaign: 'CSW63' has a problem in {file} (see the problem reported for it at line 5); this item " \
           "waits until it is fixed"
    assert _by_file(result) == {
        "campaigns.yaml": [":5: CSW63.ende: unknown field (did you mean 'end'?)"],
        "csw63-0.md": [held],
        "csw63-1.md": [held],
    }


def test_a_campaigns_file_that_cannot_be_read_is_reported_once_and_its_items_point_to_it(
        settings: Settings, queue_dir: Path) -> None:
    shutil.copy(FIXTURES / "campaign_files" / "unreadable.yaml", queue_dir / "campaigns.yaml")
    _items(queue_dir, "CSW63", "RenewIESOGI")

    result = queue.load(settings)

    assert [i.id for i in result.items] == ["plain"]
    file = queue_dir / "campaigns.yaml"
    assert _by_file(result) == {
        "campaigns.yaml": [":4: campaigns: broken YAML: did not find expected key (check that this line is indented "
                           "like the lines around it)"],
        "csw63-0.md": [f":5: campaign: 'CSW63': {file} could not be read (see the problem reported for it at line "
                       "4); this item waits until it is fixed"],
        "renewiesogi-1.md": [f":5: campaign: 'RenewIESOGI': {file} could not be read (see the problem reported for "
                             "it at line 4); this item waits until it is fixed"],
    }


def test_a_missing_campaigns_file_is_said_once(settings: Settings, queue_dir: Path) -> None:
    _items(queue_dir, "CSW63", "CSW63", "RenewIESOGI")

    result = queue.load(settings)

    assert [i.id for i in result.items] == ["plain"]
    file = queue_dir / "campaigns.yaml"
    problems = _by_file(result)
    assert problems.pop("campaigns.yaml") == [
        ": file: does not exist, but items name a campaign (CSW63, RenewIESOGI): create it with each campaign's "
        "name, hashtags, start and end, or take the campaign out of those items"]
    assert problems == {
        "csw63-0.md": [f":5: campaign: 'CSW63': {file} does not exist (see the problem reported for it); this item "
                       "waits until it does"],
        "csw63-1.md": [f":5: campaign: 'CSW63': {file} does not exist (see the problem reported for it); this item "
                       "waits until it does"],
        "renewiesogi-2.md": [f":5: campaign: 'RenewIESOGI': {file} does not exist (see the problem reported for it); "
                             "this item waits until it does"],
    }


def test_no_campaigns_file_and_no_campaign_named_is_fine(settings: Settings, queue_dir: Path) -> None:
    _items(queue_dir)
    result = queue.load(settings)
    assert [i.id for i in result.items] == ["plain"]
    assert result.problems == [] and result.warnings == []


def test_an_empty_campaigns_file_lists_no_campaign(settings: Settings, queue_dir: Path) -> None:
    (queue_dir / "campaigns.yaml").write_text("# no campaign at the moment\n", encoding="utf-8")
    _items(queue_dir, "CSW63")
    result = queue.load(settings)
    assert [str(p).removeprefix(p.path) for p in result.problems] == [
        ":5: campaign: unknown campaign 'CSW63'; campaigns.yaml has: none"]
