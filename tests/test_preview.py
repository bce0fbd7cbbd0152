"""Preview: what goes out next, as staff will see it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import media, preview, queue
from bot.scheduler import run_once
from bot.settings import Settings

from . import pictures

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
                          done=lambda item, platform, lang: platform == "x",
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


def test_the_next_edition_is_previewed_in_each_language(sample_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "out"
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    page = preview.write(preview.plan(queue.load(sample_settings), sample_settings, now), sample_settings,
                         out).read_text()
    assert sorted(p.name for p in out.glob("newsletter*")) == [
        "newsletter.eml", "newsletter.es.eml", "newsletter.es.html", "newsletter.es.txt", "newsletter.fr.eml",
        "newsletter.fr.html", "newsletter.fr.txt", "newsletter.html", "newsletter.txt"]
    assert "<h3>In English (the default language)</h3>" in page and "<h3>In French</h3>" in page
    assert 'src="newsletter.fr.html"' in page and "Actualités de Geneva Rights Desk" in page
    french = (out / "newsletter.fr.txt").read_text()
    assert "12 juillet 2019" in french and preview.PREVIEW_TOKEN in french and "HERALD-TOKEN" not in french
    # One language: the files and the page as before, no heading per language.
    alone = dataclasses.replace(sample_settings, languages=("en",))
    page = preview.write(preview.plan(queue.load(alone), alone, now), alone, out).read_text()
    assert sorted(p.name for p in out.glob("newsletter*")) == ["newsletter.eml", "newsletter.html", "newsletter.txt"]
    assert "<h3>In " not in page


def test_index_lists_queue_problems(settings: Settings, queue_dir: Path, tmp_path: Path) -> None:
    (queue_dir / "broken.md").write_text("---\ntitle: [\n---\n")
    now = datetime(2019, 7, 9, 12, 0, tzinfo=ZURICH)
    index = preview.write(preview.plan(queue.load(settings), settings, now), settings, tmp_path / "out")
    assert "broken.md:3: front matter: broken YAML" in index.read_text()


ALT = "Five panellists seated at a table in a UN conference room"


def test_posts_show_their_picture_and_its_alt_text_and_the_files_list_it_as_attachments(
        settings: Settings, queue_dir: Path, write_item, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stored = media.store(settings, pictures.phone_photo(), "IMG_0815.jpg")
    front = "date: 2019-07-12\npublish_at: 2019-07-12 15:30\nsummary: The Council voted.\n"
    write_item("panel", f"title: Panel\n{front}image: {stored.image}\nimage_alt: {ALT}\nchannels: [mastodon]")
    write_item("remote", f"title: Remote\n{front}image: https://cdn.example.org/vote.jpg\nimage_alt: A vote\n"
                         "channels: [x]")
    write_item("plain", f"title: Plain\n{front}channels: [bluesky]")
    out = tmp_path / "out"

    index = preview.write(preview.plan(queue.load(settings), settings, datetime(2019, 7, 12, 9, 0, tzinfo=ZURICH)),
                          settings, out)

    panel = json.loads((out / "mastodon" / "panel.json").read_text())
    assert list(panel) == ["platform", "item", "part", "payload", "payload_is", "attachments", "added_when_sent"]
    assert "media_ids" not in panel["payload"] and panel["added_when_sent"][0].startswith("media_ids: the picture")
    assert panel["attachments"] == [{"image": f"https://news.example.org/{stored.image}", "alt": ALT}]
    remote = json.loads((out / "x" / "remote.json").read_text())
    assert remote["attachments"] == [{"image": "https://cdn.example.org/vote.jpg", "alt": "A vote"}]
    assert json.loads((out / "bluesky" / "plain.json").read_text())["attachments"] == []
    page = index.read_text()
    # A media-library picture is copied beside the page, so that it shows wherever the preview is opened.
    assert f'<img src="{stored.image}" alt="{ALT}"><figcaption><span class="label">Alt text:</span> {ALT}' in page
    assert (out / stored.image).read_bytes() == stored.path.read_bytes()
    assert '<img src="https://cdn.example.org/vote.jpg" alt="A vote">' in page and page.count("<img") == 2
    # The card says in words what the real backend sends beside the file's body.
    assert page.count("Also sent, not in the API body file: the picture, with its alt text.") == 2


def test_the_outbox_file_carries_the_same_attachments_as_the_preview(
        settings: Settings, queue_dir: Path, write_item) -> None:  # type: ignore[no-untyped-def]
    stored = media.store(settings, pictures.phone_photo(), "IMG_0815.jpg")
    write_item("panel", "title: Panel\ndate: 2019-07-12\npublish_at: 2019-07-12 15:30\nsummary: The Council voted."
                        f"\nimage: {stored.image}\nimage_alt: {ALT}\nchannels: [mastodon, bluesky]")

    run_once(settings, datetime(2019, 7, 12, 15, 30, tzinfo=ZURICH))

    for platform in ("mastodon", "bluesky"):
        record = json.loads((settings.outbox_dir / platform / "panel.json").read_text())
        assert record["attachments"] == [{"image": f"https://news.example.org/{stored.image}", "alt": ALT}]
