"""Between queue and scheduler: which items may go out now (drafts, approvals, holds), and people's decisions on them.

Each decision (approve, hold, release, dismiss, requeue) is also an activity row."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import itemfile, queue, translations
from .content import Item, combined_digest, translation_of
from .errors import HeraldError, quoted
from .ledger import Ledger
from .ledger import review as book
from .platforms import CHANNELS
from .settings import Settings

ALL = book.ALL


def cli_actor() -> str:
    """Who acts from the command line: the operating-system user."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@dataclass(frozen=True, slots=True)
class Gate:
    """What people decided, read once per run: whether each item and channel may go out."""

    required: bool
    approvals: dict[str, book.Approval]
    holds: dict[tuple[str, str], book.Hold]

    @classmethod
    def read(cls, ledger: Ledger, settings: Settings) -> Gate:
        return cls(settings.approval == "required", book.approvals(ledger), book.holds(ledger))

    def approved(self, item: Item) -> book.Approval | None:
        """The approval of exactly this content, if any (a later change to the file withdraws it)."""
        found = self.approvals.get(item.id)
        return found if found is not None and found.digest == item.digest else None

    def state(self, item: Item) -> str:
        """`draft`, `waiting` (for approval), `held` (the whole item) or `ready`."""
        if item.draft:
            return "draft"
        if self.required and self.approved(item) is None:
            return "waiting"
        if (item.id, ALL) in self.holds:
            return "held"
        return "ready"

    def channel_state(self, item: Item, channel: str) -> str:
        """`draft`, `waiting` or `held` as for the item, `held` for a hold on this channel alone, else `ready`."""
        state = self.state(item)
        return "held" if state == "ready" and (item.id, channel) in self.holds else state

    def may_go(self, item: Item, channel: str) -> bool:
        return self.channel_state(item, channel) == "ready"

    def holds_newsletter(self, item_id: str) -> bool:
        return (item_id, ALL) in self.holds or (item_id, "email") in self.holds

    def held_channels(self, item_id: str) -> list[str]:
        return [c for (i, c) in self.holds if i == item_id]


def waiting_since(item: Item) -> datetime:
    """When the content now waiting was written: the file's last change."""
    return datetime.fromtimestamp(item.path.stat().st_mtime, tz=UTC)


def find(settings: Settings, item_id: str) -> Path:
    """The file of an item id, or HeraldError saying there is none."""
    if not queue.ID.fullmatch(item_id):
        raise HeraldError(f"{quoted(item_id)} is not an item id (the file name without .md)")
    named = translation_of(f"{item_id}.md")
    if named is not None:  # its file is a translation, decided on with its item
        raise HeraldError(f"{item_id}.md is the {named[1]} translation of {named[0]}: name that item instead")
    queue.require_folder(settings)
    for path in settings.queue_dir.rglob(f"{item_id}.md"):
        if not any(part.startswith(".") for part in path.relative_to(settings.queue_dir).parts):
            return path
    raise HeraldError(f"there is no item {quoted(item_id)} in {settings.queue_dir}")


def load_one(settings: Settings, item_id: str) -> Item:
    """One item, validated as `bot validate` would; HeraldError listing its problems when it is not valid."""
    path = find(settings, item_id)
    loaded = queue.Queue()
    ok = queue.load_campaigns(settings.queue_dir / queue.CAMPAIGNS_FILE, loaded, settings.languages)
    item, problems = queue.read_item(path, settings, loaded.campaigns, ok)
    if item is None:
        raise HeraldError(f"{item_id} is not valid, so it cannot be approved or sent: "
                          + "; ".join(str(p) for p in problems))
    return translations.with_translations(item, settings)  # an approval covers its translations too


def approve(settings: Settings, ledger: Ledger, item_id: str, actor: str, now: datetime,
            seen: str | None = None) -> Item:
    """Approve the item as it is now: a draft stops being one (its file loses `draft: true`), and the approval is
    bound to the file's new content. `seen`: the digest of the version the approver looked at, if they looked."""
    item = load_one(settings, item_id)
    data = item.path.read_bytes()
    own = itemfile.digest(data)  # the item's file alone: item.digest covers its translations too
    # The staff page shows the item's file, so `seen` is that file's digest there.
    if combined_digest(own, item.translations) != item.digest or seen not in (None, own, item.digest):
        raise itemfile.StaleEdit(f"{item_id} changed after you opened it: look at it again before approving")
    if item.draft:
        fields = itemfile.read(item.path, item.id, data)
        written = itemfile.save(item.path, itemfile.to_text(itemfile.without_draft(fields)), own,
                                settings.state_dir)
        itemfile.commit_to_git(item.path, actor.removeprefix("cli:"), f"Approve {item.id}")
        before = item.translations
        item = load_one(settings, item_id)
        if item.digest != combined_digest(written, before):  # changed again since: approve only what was written
            raise itemfile.StaleEdit(f"{item_id} changed while it was being approved: look at it again")
    book.approve(ledger, item.id, item.digest, actor, now)
    book.record(ledger, actor, "approve", now, item.id)
    return item


def check_channel(channel: str | None) -> str:
    if channel is None or channel == "":
        return ALL
    if channel not in CHANNELS:
        raise HeraldError(f"{quoted(channel)} is not a channel; choose from {', '.join(CHANNELS)}")
    return channel


def hold(settings: Settings, ledger: Ledger, item_id: str, channel: str | None, actor: str, now: datetime) -> bool:
    find(settings, item_id)
    which = check_channel(channel)
    done = book.hold(ledger, item_id, which, actor, now)
    if done:
        book.record(ledger, actor, "hold", now, item_id, which or "all channels")
    return done


def release(settings: Settings, ledger: Ledger, item_id: str, channel: str | None, actor: str,
            now: datetime) -> bool:
    which = check_channel(channel)
    done = book.release(ledger, item_id, which)
    if done:
        book.record(ledger, actor, "release", now, item_id, which or "all channels")
    return done


def dismiss(ledger: Ledger, item_id: str, channel: str | None, actor: str, now: datetime) -> list[str]:
    which = check_channel(channel)
    done = book.dismiss(ledger, item_id, [which] if which else list(CHANNELS), actor, now)
    if done:
        book.record(ledger, actor, "dismiss", now, item_id, ", ".join(done))
    return done


def requeue(ledger: Ledger, item_id: str, channel: str | None, when: datetime, actor: str,
            now: datetime) -> list[str]:
    which = check_channel(channel)
    done = ledger.requeue_posts(item_id, [which] if which else list(CHANNELS), when, now)
    if done:
        book.record(ledger, actor, "requeue", now, item_id, ", ".join(done))
    return done
