"""Drafts, approvals bound to content, holds and dismissals: what they keep from going out, through the real scheduler,
ledger and outbox, and the CLI commands that take them (`bot new`, `approve`, `hold`, `release`, `dismiss`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from bot import approval, report, subscribers
from bot.cli import cli
from bot.ledger import Ledger
from bot.ledger import review as book
from bot.scheduler import run_once
from bot.settings import Settings

from .conftest import BASE

ZURICH = ZoneInfo("Europe/Zurich")
AT = datetime(2019, 7, 12, 9, 0, tzinfo=ZURICH)
ITEM = """title: Council renews the mandate
date: 2019-07-12
publish_at: 2019-07-12 09:00
summary: The Council voted to keep the expert at work."""


def outbox(settings: Settings) -> list[str]:
    return sorted(str(p.relative_to(settings.outbox_dir)) for p in settings.outbox_dir.rglob("*.json"))


def cli_run(settings: Settings, *args: str) -> object:
    env = dict(BASE, BOT_STATE_DIR=str(settings.state_dir), BOT_QUEUE_DIR=str(settings.queue_dir),
               BOT_APPROVAL=settings.approval)
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)


def test_a_draft_is_never_sent_until_it_stops_being_one(settings: Settings, write_item: Callable[..., Path]) -> None:
    path = write_item("renewed", ITEM + "\ndraft: true")
    report_ = run_once(settings, AT)
    assert outbox(settings) == [] and report_.editions == []
    path.write_text(path.read_text().replace("draft: true\n", ""))
    run_once(settings, AT.replace(minute=5))
    assert outbox(settings) == ["bluesky/renewed.json", "mastodon/renewed.json", "x/renewed.json"]


def test_with_approval_required_only_the_approved_content_goes_out(make_settings: Callable[..., Settings],
                                                                  write_item: Callable[..., Path]) -> None:
    site = make_settings(BOT_APPROVAL="required")
    path = write_item("renewed", ITEM)
    run_once(site, AT)
    assert outbox(site) == []  # not approved: it waits
    with Ledger.open(site.state_dir) as ledger:
        approval.approve(site, ledger, "renewed", "ana@example.org", AT)
    path.write_text(path.read_text().replace("keep the expert", "keep the UN expert"))  # a change after approval
    run_once(site, AT.replace(minute=1))
    assert outbox(site) == []  # the change withdrew the approval
    status = report.status(site, AT.replace(minute=1))
    assert [w["item"] for w in status["review"]["waiting"]] == ["renewed"]
    assert "1 item waits for approval (bot approve ITEM)" in status["needs_attention"]
    with Ledger.open(site.state_dir) as ledger:
        approval.approve(site, ledger, "renewed", "ana@example.org", AT.replace(minute=2))
    run_once(site, AT.replace(minute=3))
    assert outbox(site) == ["bluesky/renewed.json", "mastodon/renewed.json", "x/renewed.json"]
    posted = json.loads((site.outbox_dir / "x" / "renewed.json").read_text())
    assert "keep the UN expert" in posted["payload"]["text"]
    approved = report.status(site, AT.replace(minute=3))["review"]["approved"]
    assert approved[0]["item"] == "renewed" and approved[0]["by"] == "ana@example.org"


def test_approving_a_draft_removes_the_flag_from_the_file_and_nothing_else(settings: Settings,
                                                                          write_item: Callable[..., Path]) -> None:
    path = write_item("renewed", ITEM + "\ndraft: true", body="Body text.\n")
    with Ledger.open(settings.state_dir) as ledger:
        item = approval.approve(settings, ledger, "renewed", "ana@example.org", AT)
        assert book.approvals(ledger)["renewed"].digest == item.digest
        assert [(a.actor, a.action) for a in book.activity(ledger, item_id="renewed")] == \
            [("ana@example.org", "approve")]
    assert path.read_text() == f"---\n{ITEM.replace(chr(10) + 'publish_at: 2019-07-12 09:00', '')}\n" \
        "publish_at: 2019-07-12 09:00\n---\nBody text.\n"
    assert not item.draft


def test_an_approval_of_a_version_not_seen_is_refused(settings: Settings, write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    with Ledger.open(settings.state_dir) as ledger:
        try:
            approval.approve(settings, ledger, "renewed", "ana@example.org", AT, seen="0" * 64)
        except approval.itemfile.StaleEdit as exc:
            assert "changed after you opened it" in str(exc)
        else:
            raise AssertionError("approved a version the approver never saw")
        assert book.approvals(ledger) == {}


def test_holds_keep_an_item_or_one_platform_back_until_released(settings: Settings,
                                                               write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    write_item("other", ITEM.replace("renews", "meets"))
    with Ledger.open(settings.state_dir) as ledger:
        approval.hold(settings, ledger, "renewed", None, "ana", AT)
        approval.hold(settings, ledger, "other", "x", "ana", AT)
    run_once(settings, AT)
    assert outbox(settings) == ["bluesky/other.json", "mastodon/other.json"]
    with Ledger.open(settings.state_dir) as ledger:
        assert approval.release(settings, ledger, "renewed", None, "ana", AT)
        assert approval.release(settings, ledger, "other", "x", "ana", AT)
        assert not approval.release(settings, ledger, "other", "x", "ana", AT)
    run_once(settings, AT.replace(minute=10))
    assert len(outbox(settings)) == 6


def test_a_held_retry_waits_instead_of_going_out(settings: Settings, write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    with Ledger.open(settings.state_dir) as ledger:
        ledger.add_post("renewed", "x", AT, AT)  # recorded, not yet handed over (as after a transient failure)
        approval.hold(settings, ledger, "renewed", "x", "ana", AT)
    run_once(settings, AT.replace(minute=1))
    with Ledger.open(settings.state_dir) as ledger:
        assert ledger.post("renewed", "x").status == "pending"
    assert "x/renewed.json" not in outbox(settings)


def test_a_hold_stops_an_edition_already_being_sent_until_released(settings: Settings,
                                                                  write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    slot = datetime(2019, 7, 12, 10, 0, tzinfo=ZURICH)
    with Ledger.open(settings.state_dir) as ledger:
        for n in range(3):
            subscribers.add(ledger, f"reader{n}@example.org", "", AT)
    letters = settings.outbox_dir / "email"
    # Stop once the first message is out, as SIGTERM would: the edition is left unfinished.
    run_once(settings, slot, stop=lambda: len(list(letters.glob("edition-*.eml"))) >= 1)
    sent = sorted((settings.outbox_dir / "email").glob("edition-*.eml"))
    assert len(sent) == 1
    with Ledger.open(settings.state_dir) as ledger:
        approval.hold(settings, ledger, "renewed", "email", "ana", slot)
    held = run_once(settings, slot.replace(minute=5))
    assert len(list((settings.outbox_dir / "email").glob("edition-*.eml"))) == 1
    assert held.deferred == [("edition 1", "email", "held: renewed is held")]
    with Ledger.open(settings.state_dir) as ledger:
        approval.release(settings, ledger, "renewed", "email", "ana", slot)
    run_once(settings, slot.replace(minute=10))
    assert len(list((settings.outbox_dir / "email").glob("edition-*.eml"))) == 3


def test_a_retry_of_a_held_post_shows_as_held(settings: Settings, write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    with Ledger.open(settings.state_dir) as ledger:
        ledger.add_post("renewed", "x", AT, AT)
        approval.hold(settings, ledger, "renewed", "x", "ana", AT)
    status = report.status(settings, AT)
    assert [(p["platform"], p["state"]) for p in status["next"]["posts"] if p.get("retry")] == [("x", "held")]
    assert "(bot release renewed --platform x)" in _printed(status)


def _printed(status: dict[str, object]) -> str:
    import click
    from click.testing import CliRunner as Runner

    @click.command()
    def show() -> None:
        report.print_status(status)  # type: ignore[arg-type]

    return Runner().invoke(show).stdout


def test_a_dismissed_post_stops_asking_for_a_person(settings: Settings, write_item: Callable[..., Path]) -> None:
    write_item("renewed", ITEM)
    later = datetime(2019, 7, 20, 9, 0, tzinfo=ZURICH)
    run_once(settings, later)  # eight days late: missed on every platform
    assert len(report.status(settings, later)["missed"]) == 3
    with Ledger.open(settings.state_dir) as ledger:
        assert approval.dismiss(ledger, "renewed", "x", "ana", later) == ["x"]
    status = report.status(settings, later)
    assert [m["platform"] for m in status["missed"]] == ["mastodon", "bluesky"] and status["dismissed"] == 1
    assert not any("on x" in line or ", x" in line for line in status["needs_attention"])
    with Ledger.open(settings.state_dir) as ledger:
        assert approval.requeue(ledger, "renewed", "x", later, "ana", later) == ["x"]  # requeue undoes it
        assert ledger.post("renewed", "x").dismissed_at is None


def test_the_cli_writes_a_draft_approves_holds_releases_and_dismisses(make_settings: Callable[..., Settings],
                                                                      queue_dir: Path) -> None:
    site = make_settings(BOT_APPROVAL="required")
    made = cli_run(site, "new", "--title", "Council renews the mandate: a victory", "--date", "2019-07-12")
    assert made.exit_code == 0, made.output
    path = Path(made.stdout.strip())
    assert path == queue_dir / "2019-07-12-council-renews-the-mandate-a-victory.md"
    assert "draft: true" in path.read_text()
    assert cli_run(site, "validate").exit_code == 0
    status = cli_run(site, "status", "--now", "2019-07-11 08:00")
    assert "Drafts (never sent until approved)" in status.stdout and "[draft: not sent]" in status.stdout
    item = path.stem
    approved = cli_run(site, "approve", item)
    assert approved.exit_code == 0 and "approved; it goes out from 2019-07-12 09:00" in approved.stdout
    assert "\ndraft: true\n" not in path.read_text()
    assert "Approved\n  " + item + ": by cli:" in cli_run(site, "status", "--now", "2019-07-11 08:00").stdout
    assert cli_run(site, "hold", item, "--platform", "x").stdout.strip() == f"{item} on x: held"
    assert "[held]" in cli_run(site, "status", "--now", "2019-07-11 08:00").stdout
    assert cli_run(site, "release", item, "--platform", "x").exit_code == 0
    again = cli_run(site, "release", item, "--platform", "x")
    assert again.exit_code == 1 and f"{item} on x is not held" in again.output
    nothing = cli_run(site, "dismiss", item)
    assert nothing.exit_code == 1 and "no missed or failed post" in nothing.output
    missing = cli_run(site, "approve", "no-such-item")
    assert missing.exit_code == 1 and "there is no item 'no-such-item'" in missing.output
    with Ledger.open(site.state_dir) as ledger:
        actions = [(a.action, a.detail) for a in reversed(book.activity(ledger, item_id=item))]
    assert actions == [("create", ""), ("approve", ""), ("hold", "x"), ("release", "x")]
    assert all(a.actor.startswith("cli:") for a in book.activity(Ledger.open(site.state_dir)))
