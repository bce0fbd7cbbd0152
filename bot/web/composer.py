"""The composer's logic under the staff pages: check, preview and guard a typed item before it becomes a queue file.

It checks as `bot validate` would, previews with the composer of `bot preview`, and knows which parts are fixed
because they already went out."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import itemfile, mail, media, queue, social, utm
from ..campaigns import Campaigns
from ..clock import from_utc_iso, next_slot
from ..content import Campaign, Item, Problem, translation_of
from ..errors import HeraldError, quoted
from ..ledger import Ledger
from ..platforms import PLATFORMS
from ..render import render_newsletter
from ..settings import Settings

# The newsletter frames of recent previews, by the digest of their HTML: the preview page points an <iframe> at
# one (email HTML needs its inline styles, which the staff pages' own CSP rightly refuses).
_FRAMES: OrderedDict[str, str] = OrderedDict()
_FRAMES_LOCK = threading.Lock()
FRAMES_KEPT = 64
PREVIEW_TOKEN = "composer-preview-token-unused000"  # a real token's length; names nobody
# Which form fields feed each thing that goes out (a post's text, its card and image; the newsletter entry).
NEWSLETTER_FIELDS = ("title", "date", "summary", "body", "link", "image", "image_alt", "image_credit", "hashtags",
                     "campaign")


def post_fields(platform: str, has_override: bool, has_campaign: bool) -> tuple[str, ...]:
    """The fields a platform's post was made of. Its own text is always fixed (adding one would describe a post
    that never was); with a campaign, the dates too, since they decide whether its hashtags were added."""
    prose = () if has_override else ("title", "summary")
    dates = ("date", "publish_at") if has_campaign else ()
    return (f"social_{platform}", *prose, "link", "hashtags", "campaign", "image", "image_alt", "lang", *dates)


@dataclass(slots=True)
class Checked:
    """A typed item after validation: the Item when it is valid, every problem and every warning, by form field.
    Warnings do not stop a save."""

    fields: itemfile.Fields
    item: Item | None
    problems: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.item is not None and not self.problems

    def add(self, name: str, message: str) -> None:
        self.problems.setdefault(name, []).append(message)


def form_field(problem_field: str) -> str:
    """The form field a queue problem belongs to (`social.x` -> `social_x`); `general` for the file as a whole."""
    name = problem_field.split(".")[0] if not problem_field.startswith("social.") else \
        "social_" + problem_field.split(".")[1]
    known = set(queue.FIELDS) | {"id", "body"} | {f"social_{p}" for p in PLATFORMS}
    return name if name in known else "general"


def campaigns(settings: Settings) -> tuple[dict[str, Campaign], Campaigns]:
    """The campaigns items may use, and what campaigns.yaml gave; ConfigError when there is no queue folder (every
    staff page about items needs it, and a save could not be written)."""
    loaded = queue.Queue()
    found = queue.load_campaigns(queue.require_folder(settings) / queue.CAMPAIGNS_FILE, loaded,
                                 settings.languages)
    return loaded.campaigns, found


def check(settings: Settings, fields: itemfile.Fields, path: Path, new: bool) -> Checked:
    """Validate `fields` exactly as `bot validate` would read the file they make; nothing is written."""
    known, found = campaigns(settings)
    warnings: list[Problem] = []
    item, problems = queue.read_item(path, settings, known, found, data=itemfile.to_text(fields).encode("utf-8"),
                                     warnings=warnings)
    checked = Checked(fields, item)
    for problem in problems:
        checked.add(form_field(problem.field), problem.message)
    for warning in warnings:
        checked.warnings.setdefault(form_field(warning.field), []).append(warning.message)
    if new:
        clash = [p for p in settings.queue_dir.rglob("*.md") if p.stem.casefold() == fields.id.casefold()]
        if clash:
            checked.add("id", f"{quoted(fields.id)} is already the id of {clash[0].name}: choose another")
        named = translation_of(f"{fields.id}.md")
        if named is not None:  # the file would be read as a translation, never as an item
            checked.add("id", f"{quoted(fields.id)} ends in .{named[1]}, which names a translation of {named[0]}: "
                        "choose another")
    return checked


def fixed_parts(ledger: Ledger, item_id: str, settings: Settings, current: itemfile.Fields) -> dict[str, str]:
    """Form field -> why it can no longer change: what went out must stay what the file says."""
    fixed: dict[str, str] = {}
    tz = settings.timezone
    # A post handed over once may be out even if its answer was lost: reconciliation looks for its exact text.
    for delivery in ledger.deliveries("item_id = ? AND (status IN ('sent', 'sending') OR first_attempt_at IS NOT "
                                      "NULL)", (item_id,)):
        when = from_utc_iso(delivery.first_attempt_at or delivery.due_at).astimezone(tz)
        verb = "posted" if delivery.status == "sent" else "handed over"
        why = f"already {verb} on {delivery.channel} ({when:%d %b %Y})"
        for name in post_fields(delivery.channel, bool(current.social.get(delivery.channel)), bool(current.campaign)):
            fixed.setdefault(name, why)
    if item_id in ledger.items_in_editions():
        for name in NEWSLETTER_FIELDS + (("publish_at",) if current.campaign else ()):
            fixed.setdefault(name, "already in a newsletter edition")
    return fixed


def value_of(fields: itemfile.Fields, name: str) -> str:
    """A field's value as the form would submit it, so that a file and a form compare alike."""
    if name.startswith("social_"):
        return itemfile.tidy(fields.social.get(name.removeprefix("social_"), ""))
    if name == "hashtags":
        return " ".join(fields.tags)
    if name == "body":
        return itemfile.tidy_body(fields.body)
    if name == "summary":
        return itemfile.tidy(fields.summary)
    return itemfile.tidy(str(getattr(fields, name)), one_line=True)


def enforce_fixed(checked: Checked, before: itemfile.Fields, fixed: dict[str, str]) -> None:
    """A change to a fixed part is a problem on that field, so nothing is written."""
    for name, why in fixed.items():
        if value_of(checked.fields, name) != value_of(before, name):
            checked.add(name, f"cannot change: {why}. Write a new item if the news has changed.")


# --- preview ----------------------------------------------------------------------------------------------


def preview(settings: Settings, item: Item, now: datetime) -> dict[str, Any]:
    """Each platform's post as it will go out (text, count against the limit, shortened or not) and the item's
    newsletter entry, as the preview pane shows them."""
    posts = []
    for platform in PLATFORMS:
        if platform not in item.channels or settings.backends.get(platform) == "off":  # it would not go out
            continue
        for post in social.compose_thread(item, platform, tracking=utm.tracking(settings)):  # each part of a thread
            posts.append({"platform": platform, "text": post.text, "length": post.length, "limit": post.limit,
                          "shortened": post.shortened, "dropped": list(post.dropped_tags),
                          "notes": list(post.notes), "part": post.part})
    entry: dict[str, Any] = {}
    if "email" in item.channels:
        slot = next_slot(settings.newsletter_schedule, settings.timezone, max(now, item.publish_at))
        try:
            letter = render_newsletter([item], settings, edition_date=slot.date(),
                                       unsubscribe_url=mail.unsubscribe_url(settings.effective_public_url,
                                                                            PREVIEW_TOKEN))
        except HeraldError as exc:
            entry = {"error": str(exc)}
        else:
            entry = {"frame": keep_frame(letter.html), "text": letter.text, "subject": letter.subject,
                     "slot": f"{slot:%a %d %b %Y, %H:%M}"}
    picture = None
    if item.image:  # a stored picture is shown from this server, whatever BOT_PUBLIC_URL says
        src = "/" + item.image if media.is_local(item.image) else item.image
        picture = {"src": src, "alt": item.image_alt or "", "credit": item.image_credit or ""}
    return {"posts": posts, "entry": entry, "picture": picture}


def keep_frame(html: str) -> str:
    key = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32]
    with _FRAMES_LOCK:
        _FRAMES[key] = html
        _FRAMES.move_to_end(key)
        while len(_FRAMES) > FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    return key


def frame(key: str) -> str | None:
    with _FRAMES_LOCK:
        return _FRAMES.get(key)


def problem_lines(problems: list[Problem]) -> list[str]:
    return [f"{p.field}: {p.message}" for p in problems]
