"""Preview: what goes out next, as staff will see it."""

from __future__ import annotations

import json
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import preview, queue
from bot.settings import Settings

ZURICH = ZoneInfo("Europe/Zurich")


def test_plan_holds_due_and_scheduled_posts_but_not_stale_ones(sample_settings: Settings) -> None:
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    result = preview.plan(queue.load(sample_settings), sample_settings, now)
    ids = {(p.item.id, p.post.platform) for p in result.posts}
    assert ("2019-07-09-1300-ngos-call-for-renewal", "x") in ids  # due this morning
    assert ("2019-07-12-iesogi-mandate-renewed", "bluesky") in ids  # scheduled
    assert ("2019-07-05-iesogi-vote-next-week", "x") not in ids  # four days late: missed
    due = {p.item.id for p in result.posts if p.due}
    assert due == {"2019-07-09-1300-ngos-call-for-renewal"}
    assert result.slot == datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)
    assert "2019-07-12-iesogi-mandate-renewed" not in {i.id for i in result.edition_items}  # 15:30, after the slot


def test_plan_leaves_out_what_is_done(sample_settings: Settings) -> None:
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    result = preview.plan(queue.load(sample_settings), sample_settings, now,
                          done=lambda item, platform: platform == "x",
                          in_edition=lambda item: item.startswith("2019-03"))
    assert all(p.post.platform != "x" for p in result.posts)
    assert all(not i.id.startswith("2019-03") for i in result.edition_items)


def test_write_replaces_an_earlier_preview(sample_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = out / "x" / "old-item.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    keep = out / "notes.txt"
    keep.write_text("mine")
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    index = preview.write(preview.plan(queue.load(sample_settings), sample_settings, now), sample_settings, out)
    assert not stale.exists() and keep.read_text() == "mine"
    page = index.read_text()
    assert "2019-07-12-iesogi-mandate-renewed" in page and "/ 280" in page and "/ 300" in page
    message = message_from_bytes((out / "newsletter.eml").read_bytes(), policy=policy.default)
    assert message["List-Unsubscribe"] == f"<https://news.example.org/unsubscribe/{preview.PREVIEW_TOKEN}>"
    record = json.loads((out / "mastodon" / "2019-07-12-iesogi-mandate-renewed.json").read_text())
    assert record["payload"]["visibility"] == "public"


def test_index_lists_queue_problems(settings: Settings, queue_dir: Path, tmp_path: Path) -> None:
    (queue_dir / "broken.md").write_text("---\ntitle: [\n---\n")
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    index = preview.write(preview.plan(queue.load(settings), settings, now), settings, tmp_path / "out")
    assert "broken.md:3: front matter: broken YAML" in index.read_text()
