"""Preview: write what goes out next (each post's API body and picture, the next edition in full) and an index page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import i18n, mail, media, platform_languages, private, signing, social, utm
from .channels.outbox import post_file
from .clock import next_slot
from .content import Item, Problem
from .i18n import language_name
from .platforms import PLATFORMS
from .queue import Queue
from .render import day_label, environments, render_newsletter
from .scheduler import fresh_for_edition, in_languages, post_languages
from .settings import Settings

PREVIEW_TOKEN = "preview-only-token-not-for-use00"  # the length of a real token


@dataclass(frozen=True, slots=True)
class PlannedPost:
    item: Item  # as the post reads it: in its translation for a translation's post
    post: social.Post
    payload: dict[str, Any]
    due: bool
    lang: str = ""  # as the post is recorded: '' for the item as written, else its translation's language


@dataclass(slots=True)
class Plan:
    """What goes out next as of `now`: posts not yet sent, and the next edition."""

    now: datetime
    posts: list[PlannedPost] = field(default_factory=list)
    slot: datetime | None = None
    edition_items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def plan(queue: Queue, settings: Settings, now: datetime,
         done: Callable[[str, str, str], bool] = lambda item, platform, lang: False,
         in_edition: Callable[[str], bool] = lambda item: False,
         may_go: Callable[[Item, str], bool] = lambda item, channel: True) -> Plan:
    """Posts due or scheduled and not done (those past the lateness window will be missed, so are left out), in
    each language they go in (`done` is asked with the language as the post is recorded, '' for the item as
    written), and the email items due by the next newsletter slot that no edition holds yet."""
    result = Plan(now, problems=list(queue.problems))
    oldest = now - settings.max_lateness
    tracking = utm.tracking(settings)  # the payloads show the tagged links: they are what is sent
    for item in queue.items:
        for platform in PLATFORMS:
            if platform in item.channels and item.publish_at >= oldest and may_go(item, platform) \
                    and settings.backends.get(platform) != "off":
                result.posts += [planned for lang in post_languages(item, settings) if not done(item.id, platform, lang)
                                 for planned in _planned(item, platform, lang, settings, tracking, now)]
    result.slot = next_slot(settings.newsletter_schedule, settings.timezone, now)
    result.edition_items = fresh_for_edition([i for i in queue.items if "email" in i.channels
                                              and i.publish_at <= result.slot and not in_edition(i.id)
                                              and may_go(i, "email")], result.slot, settings)
    return result


def _planned(item: Item, platform: str, lang: str, settings: Settings, tracking: utm.Tracking | None,
             now: datetime) -> list[PlannedPost]:
    """Each part of the item's post on `platform` in `lang`, its own card, composed as dispatch composes it."""
    shown = item.in_language(lang, settings.language) if lang else item
    language = shown.own_language(settings.language)
    options = platform_languages.options_for(settings, platform, language)
    return [PlannedPost(shown, post, social.payload(post, language=language, created_at=item.publish_at, **options),
                        item.publish_at <= now, lang)
            for post in social.compose_thread(shown, platform, tracking=tracking)]


def write_json(path: Path, data: Any) -> None:
    private.folder(path.parent)
    private.write_atomically(path, (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def write(result: Plan, settings: Settings, out: Path) -> Path:
    """Write the preview files into `out` (replacing an earlier preview's) and return index.html's path. Like the
    rest of the state folder, where it is by default, the folder is 0700 and each file 0600."""
    private.folder(out)
    _clear(out, PLATFORMS)
    for planned in result.posts:
        item, part = planned.item, planned.post.part
        first = part == 1  # the link card and the picture go with the first part of a reply thread
        image = media.public_url(settings, item.image) if item.image and first else None
        link = item.link if first else None
        write_json(out / planned.post.platform / post_file(item.id, part, planned.lang),
                   social.file_record(planned.post.platform, item.id, planned.payload, link=link, image=image,
                                      image_alt=item.image_alt, part=part))

    versions = _newsletters(result, settings, out)
    markup_env, _ = environments(str(settings.templates_dir or ""))
    page = markup_env.get_template("preview/index.html.j2").render(
        title=settings.title,
        colours={name: p.colour for name, p in social.PLATFORMS.items()},
        now=_local(result.now, settings),
        zone=settings.timezone.key,
        posts=[_card(p, settings, out) for p in sorted(result.posts, key=lambda p: (p.item.publish_at, p.item.id))],
        slot=_local(result.slot, settings) if result.slot else None,
        slot_day=day_label(result.slot.date()) if result.slot else "",
        versions=versions,
        problems=[str(p) for p in result.problems],
    )
    index = out / "index.html"
    private.write_atomically(index, page.encode("utf-8"))
    return index


def _newsletters(result: Plan, settings: Settings, out: Path) -> list[dict[str, Any]]:
    """The next edition in each language, as subscribers reading it will get it: newsletter.html (.txt, .eml) in the
    default language, newsletter.fr.html and so on in the others."""
    if not result.edition_items or result.slot is None:
        return []
    public = settings.effective_public_url
    versions = []
    for lang, shown in in_languages(result.edition_items, settings).items():
        newsletter = render_newsletter(shown, settings, edition_date=result.slot.date(), lang=lang,
                                       unsubscribe_url=mail.unsubscribe_url(public, mail.TOKEN_PLACEHOLDER),
                                       language_url=mail.language_url(public, mail.TOKEN_PLACEHOLDER))
        stem = "newsletter" if lang == settings.language else f"newsletter.{lang}"
        for suffix, content in ((".html", newsletter.html), (".txt", newsletter.text)):
            private.write_atomically(out / (stem + suffix),
                                     content.replace(mail.TOKEN_PLACEHOLDER, PREVIEW_TOKEN).encode())
        # Signed when DKIM is set, as the smtp, ses and outbox backends would send it.
        prepared = mail.prepare(newsletter, mail_from=settings.effective_mail_from, public_url=public,
                                date=result.slot, signer=signing.load(settings))
        private.write_atomically(out / f"{stem}.eml", prepared.message(
            "subscriber@example.org", "Preview Subscriber", PREVIEW_TOKEN, f"<preview.{lang}@{prepared.domain}>"))
        versions.append({"stem": stem, "language": language_name(lang, "en"), "newsletter": newsletter,
                         "default": lang == settings.language})
    return versions


def _clear(out: Path, platforms: Iterable[str]) -> None:
    for platform in platforms:
        for old in (out / platform).glob("*.json"):
            old.unlink()
    for old in [*out.glob("newsletter.*"), out / "index.html"]:
        old.unlink(missing_ok=True)
    for old in (out / media.FOLDER).glob("*"):
        if media.NAME.fullmatch(old.name):
            old.unlink()


def _local(instant: datetime, settings: Settings) -> str:
    return instant.astimezone(settings.timezone).strftime("%a %d %b %Y, %H:%M")


def _card(planned: PlannedPost, settings: Settings, out: Path) -> dict[str, Any]:
    post = planned.post
    return {
        **(_picture(planned.item, settings, out) if post.part == 1 else {"image": "", "image_alt": ""}),
        "platform": post.platform,
        "item": post.item,
        "title": planned.item.title,
        "when": _local(planned.item.publish_at, settings),
        "due": planned.due,
        "text": post.text,
        "length": post.length,
        "limit": post.limit,
        "notes": post.notes,
        "dropped": bool(post.dropped_tags),
        "file": f"{post.platform}/{post_file(post.item, post.part, planned.lang)}",
        "language": i18n.language_name(planned.lang, "en") if planned.lang else "",  # said only where translated
        "part": post.part,
        "added": [what for _, what, _ in social.added_when_sent(
            post.platform, link=planned.item.link if post.part == 1 else None,
            image=planned.item.image if post.part == 1 else None, part=post.part)],
    }


def _picture(item: Item, settings: Settings, out: Path) -> dict[str, str]:
    """What the card shows of the post's picture: a media-library one is copied beside the page, so that the
    preview shows it wherever it is opened (from disk, or served); another is shown from its address."""
    source = media.local_file(settings, item.image)
    if source is None:
        return {"image": item.image or "", "image_alt": item.image_alt or ""}
    copy = out / media.FOLDER / source.name
    if not copy.exists():
        private.folder(copy.parent)
        private.write_atomically(copy, media.read_stored(source))
    return {"image": f"{media.FOLDER}/{source.name}", "image_alt": item.image_alt or ""}
