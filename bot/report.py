"""Reporting: what is scheduled next, what went out, what failed or was missed; for `bot status` and its JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from . import i18n, queue, social, subscribers, utm
from .approval import Gate, waiting_since
from .channels import Channels
from .clock import from_utc_iso, next_slot
from .content import Item
from .errors import counted
from .ledger import Delivery, Ledger, langs
from .ledger import stale as stale_book
from .platforms import PLATFORMS
from .scheduler import edition_items, post_languages
from .settings import Settings

LIST_AT_MOST = 50
COMPOSED_AT_MOST = 100


def status(settings: Settings, now: datetime) -> dict[str, Any]:
    loaded = queue.load(settings)
    channels = Channels(settings)
    tz = settings.timezone
    with Ledger.open(settings.state_dir) as ledger:
        loaded.warnings.extend(queue.changed_since_sent(loaded, ledger))  # counted as `bot validate` counts them
        gate = Gate.read(ledger, settings)
        every = ledger.posts()  # each part of a reply thread is a post of its own
        recorded = {(d.item_id, d.channel, d.lang): d for d in every}
        upcoming = _upcoming(loaded.items, recorded, channels, gate, settings, now)
        slot = next_slot(settings.newsletter_schedule, tz, now)
        nxt = edition_items(ledger, loaded.items, slot, gate, settings) if channels.enabled("email") else []
        stale = _stale(ledger, tz)
        counts = subscribers.counts(ledger)
        # A platform that is off and never posted is left out of the table: nothing to say about it.
        used = [p for p in PLATFORMS if channels.enabled(p) or any(d.channel == p for d in every)]
        posts: dict[str, dict[str, int]] = {p: {s: 0 for s in ("sent", "pending", "sending", "failed", "missed")}
                                            for p in used}
        for d in every:
            if d.channel in posts:
                posts[d.channel][d.status] += 1
        editions = [_edition(ledger, edition_id, tz) for edition_id in ledger.editions()]
        problems: list[dict[str, Any]] = [
            {"item": d.item_id, "platform": d.channel, "lang": d.lang, "status": d.status, "error": d.last_error,
             "at": from_utc_iso(d.due_at).astimezone(tz).isoformat()}
            for d in every if d.status in ("failed", "missed") and not d.dismissed_at]
        dismissed = sum(1 for d in every if d.dismissed_at)
        last_run = json.loads(ledger.meta("last_run") or "null")
        review = _review(loaded.items, gate, tz)
    problems.sort(key=_instant)
    return {
        "now": now.astimezone(tz).isoformat(),
        "timezone": tz.key,
        "next": {
            "posts": upcoming,
            "edition": {"slot": slot.astimezone(tz).isoformat(), "items": [i.id for i in nxt],
                        "subscribers": counts["active"]},
        },
        "review": review,
        "posts": posts,
        "editions": editions,
        "failed": [p for p in problems if p["status"] == "failed"],
        "missed": [p for p in problems if p["status"] == "missed"],
        "stale": stale,
        "dismissed": dismissed,
        "invalid": [str(p) for p in sorted(loaded.problems, key=lambda p: p.order)],
        "warnings": [str(p) for p in sorted(loaded.warnings, key=lambda p: p.order)],
        "subscribers": counts,
        "backends": settings.backends,
        "last_run": last_run,
        "needs_attention": _attention(problems, editions, last_run, len(loaded.problems), review),
        "other_attention": _other_attention(editions, last_run, len(loaded.problems)),
    }


def _upcoming(items: list[Item], recorded: dict[tuple[str | None, str, str], Delivery], channels: Channels,
              gate: Gate, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Posts not yet recorded and not yet too late, in each language they go in ('' as written), each with the
    state of its item, then the retries."""
    tz = settings.timezone
    upcoming: list[dict[str, Any]] = []
    by_id = {item.id: item for item in items}
    for item in items:
        for platform in PLATFORMS:
            if platform in item.channels and channels.enabled(platform) \
                    and item.publish_at > now - settings.max_lateness:
                state = gate.channel_state(item, platform)
                upcoming += [{"item": item.id, "platform": platform, "lang": lang,
                              "state": "scheduled" if state == "ready" else state,
                              "at": item.publish_at.astimezone(tz).isoformat()}
                             for lang in post_languages(item, settings) if (item.id, platform, lang) not in recorded]
    upcoming.sort(key=_instant)
    for entry in upcoming[:COMPOSED_AT_MOST]:  # composing costs; the rest are listed without their text
        item = by_id[entry["item"]]
        post = social.compose(item.in_language(entry["lang"], settings.language) if entry["lang"] else item,
                              entry["platform"], tracking=utm.tracking(settings))
        entry.update(text=post.text, length=post.length, limit=post.limit, notes=list(post.notes))
    upcoming += [{"item": d.item_id, "platform": d.channel, "lang": d.lang,
                  "state": _retry_state(by_id.get(d.item_id or ""), d, gate),
                  "at": from_utc_iso(d.next_attempt_at or d.due_at).astimezone(tz).isoformat(), "retry": True,
                  "last_error": d.last_error}
                 for d in recorded.values() if d.status in ("pending", "sending")]
    upcoming.sort(key=_instant)
    return upcoming


def _instant(entry: dict[str, Any]) -> datetime:
    """An entry's time as an instant: ISO text sorts wrongly in the hour the clocks go back (+02:00, then +01:00)."""
    return datetime.fromisoformat(entry["at"])


def _retry_state(item: Item | None, delivery: Delivery, gate: Gate) -> str:
    """A post waiting to be retried waits longer when its item became a draft, awaits approval or is held."""
    state = gate.channel_state(item, delivery.channel) if item is not None else "ready"
    return "retry" if state == "ready" else state


def _stale(ledger: Ledger, tz: Any) -> list[dict[str, Any]]:
    """Email items kept out of the newsletter as too old, unless a later edition took them (a new publish_at)."""
    sent = ledger.items_in_editions()
    return [{"item": s.item_id, "why": s.reason, "at": from_utc_iso(s.at).astimezone(tz).isoformat()}
            for s in stale_book.listing(ledger) if s.item_id not in sent]


def _edition(ledger: Ledger, edition_id: int, tz: Any) -> dict[str, Any]:
    edition = ledger.edition(edition_id)
    tally = ledger.edition_counts(edition_id)
    errors = ledger.failure_reasons(edition_id)
    return {
        "id": edition_id, "slot": from_utc_iso(edition.slot).astimezone(tz).isoformat() if edition.slot
        else None, "created_at": from_utc_iso(edition.created_at).astimezone(tz).isoformat(),
        "subject": edition.subject, "items": list(edition.item_ids), "recipients": edition.recipients,
        **{s: tally.get(s, 0) for s in ("sent", "pending", "sending", "failed", "missed")},
        "errors": [{"error": e, "count": n} for e, n in errors],
        "languages": langs.readers(ledger, edition_id),  # language -> recipients of its version
    }


def _review(items: list[Item], gate: Gate, tz: Any) -> dict[str, list[dict[str, Any]]]:
    """Drafts, what waits for approval and since when, who approved what, and what is held."""
    out: dict[str, list[dict[str, Any]]] = {"drafts": [], "waiting": [], "approved": [], "held": []}
    for item in items:
        state = gate.state(item)
        entry = {"item": item.id, "title": item.title, "at": item.publish_at.astimezone(tz).isoformat()}
        if state == "draft":
            out["drafts"].append(entry)
        elif state == "waiting":
            out["waiting"].append({**entry, "since": waiting_since(item).astimezone(tz).isoformat()})
        approval = gate.approved(item)
        if approval is not None:
            out["approved"].append({**entry, "by": approval.actor,
                                    "on": from_utc_iso(approval.at).astimezone(tz).isoformat()})
    for (item_id, channel), hold in gate.holds.items():
        out["held"].append({"item": item_id, "channel": channel or "all", "by": hold.actor,
                            "since": from_utc_iso(hold.at).astimezone(tz).isoformat()})
    return out


def _attention(problems: list[dict[str, Any]], editions: list[dict[str, Any]], last_run: dict[str, Any] | None,
               invalid: int, review: dict[str, list[dict[str, Any]]]) -> list[str]:
    attention = []
    for status in ("failed", "missed"):  # each post is listed once, under its own heading: here only how many
        items = len({p["item"] for p in problems if p["status"] == status})
        if items:
            attention.append(f"{items} item{' has' if items == 1 else 's have'} {status} posts "
                             f"(listed under {status.capitalize()} posts)")
    if review["waiting"]:
        waiting = len(review["waiting"])
        attention.append(f"{counted(waiting, 'item')} {'waits' if waiting == 1 else 'wait'} for approval "
                         "(bot approve ITEM)")
    return attention + _other_attention(editions, last_run, invalid)


def _other_attention(editions: list[dict[str, Any]], last_run: dict[str, Any] | None, invalid: int) -> list[str]:
    """What needs a person besides failed and missed posts (which the staff agenda lists with their buttons)."""
    attention: list[str] = []
    if last_run:
        attention += [f"{kind} was paused in the last run: {why} (check it with: bot doctor)"
                      for kind, why in last_run.get("paused", {}).items()]
    attention += [f"edition {e['id']}: {counted(e['failed'], 'recipient')} refused for good (reasons below)"
                  for e in editions if e["failed"]]
    if invalid:
        attention.append(f"{invalid} problem{'' if invalid == 1 else 's'} in the queue: the items concerned will not "
                         "go out until fixed (see bot validate)")
    return attention



def print_run(report: Any, settings: Settings, quiet: bool = False, stamp: bool = False) -> None:
    """One line per thing that happened in a run; with `quiet`, nothing when nothing happened."""
    import click

    from .ledger import Ledger

    tz = settings.timezone
    prefix = f"{report.now.astimezone(tz):%Y-%m-%d %H:%M} " if stamp else ""
    by_item: dict[tuple[str, str], list[str]] = {}  # (item, language of a translation's posts) -> platforms
    for item, platform, remote_id in report.posted:
        by_item.setdefault((item, report.in_language.get(remote_id, "")), []).append(platform)
    # The parts of a reply thread are counted, not repeated: "to x (3 posts), mastodon".
    lines = list(report.imported)  # what the feeds brought in, first
    lines += [f"posted {item}{_in_language(lang)} to " + ", ".join(
        p if platforms.count(p) == 1 else f"{p} ({platforms.count(p)} posts)" for p in dict.fromkeys(platforms))
        for (item, lang), platforms in by_item.items()]
    if report.editions:
        with Ledger.open(settings.state_dir) as ledger:
            for edition_id in report.editions:
                edition = ledger.edition(edition_id)
                readers = langs.readers(ledger, edition_id)
                lines.append(f"edition {edition_id}: {counted(len(edition.item_ids), 'item')} for "
                             f"{counted(edition.recipients, 'subscriber')}"
                             + (f" ({_readers(readers)})" if len(readers) > 1 else "") + f": {edition.subject}")
                unread = [lang for lang in settings.languages if edition.languages and lang not in edition.languages]
                if unread:  # BOT_TRANSLATION_FALLBACK=skip, and nothing translated: said, not left to be noticed
                    names = i18n.listed([i18n.language_name(lang, "en") for lang in unread], "en")
                    them = "it" if len(unread) == 1 else "them"
                    lines.append(f"edition {edition_id}: no version in {names} (no item is translated into {them}, "
                                 f"and BOT_TRANSLATION_FALLBACK is skip): their subscribers get nothing this time")
    if report.emails_sent or report.emails_failed or report.emails_deferred:
        lines.append(f"emails: {report.emails_sent} sent, {report.emails_failed} failed, "
                     f"{report.emails_deferred} to retry, {report.emails_dropped} unsubscribed meanwhile")
    lines += [f"FAILED {what} on {platform}: {error}" for what, platform, error in report.failed]
    lines += [f"to retry {what} on {platform}: {error}" for what, platform, error in report.deferred]
    lines += [f"MISSED {item} on {platform}: {why}" for item, platform, why in report.missed]
    lines += [f"MISSED {item} in the newsletter: {why}" for item, why in report.stale]
    lines += [f"PAUSED {kind}: {why}" for kind, why in report.paused.items()]
    if report.retries or report.reconciled:
        found = counted(report.reconciled, "post or message", "posts or messages")
        lines.append(f"{counted(report.retries, 'retry', 'retries')} within the run after transient faults; {found} "
                     "found already there after an unclear answer, not handed over again")
    if report.in_doubt:
        in_doubt = counted(report.in_doubt, "message or post", "messages or posts")
        lines.append(f"{in_doubt} {'was' if report.in_doubt == 1 else 'were'} in flight when an earlier run stopped: "
                     "each was "
                     "looked for where its channel can tell, else handed over again (an email with the same "
                     "Message-ID, for receivers to drop a copy)")
    if report.stopped:
        lines.append("stopped before the end; the rest goes out on the next run")
    if report.invalid and not (quiet and not lines):
        files = len({p.path for p in report.invalid})
        lines.append(f"{counted(files, 'invalid item')} not sent (see bot validate):")
        lines += [f"  {p}" for p in report.invalid[:LIST_AT_MOST]]
    if not lines and not quiet:
        lines.append("nothing was due")
    for line in lines:
        click.echo(prefix + line)


def _readers(by_language: dict[str, int]) -> str:
    """Recipients per language, as staff read it: 3 in English, 1 in French."""
    return ", ".join(f"{n:,} in {i18n.language_name(lang, 'en')}" for lang, n in by_language.items())


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _in_language(lang: str) -> str:
    """A post's language, said where it is a translation's ('' for the item as written)."""
    return f" in {i18n.language_name(lang, 'en')}" if lang else ""


def print_status(data: dict[str, Any]) -> None:
    """`bot status` for people: plain aligned lines that read the same on a terminal, in a log or a mail."""
    import click

    out: list[str] = []
    subs = data["subscribers"]
    out.append(f"Herald as of {_when(data['now'])} ({data['timezone']}); backends: "
               + ", ".join(f"{kind} {name}" for kind, name in data["backends"].items()))
    out.append(f"Subscribers: {subs['active']} active, {subs['unsubscribed']} unsubscribed, "
               f"{subs['pending']} awaiting confirmation, {subs['bounced']} bounced")
    last = data.get("last_run")
    if last:
        out.append(f"Last run: {_when(last['at'])}, {'all went out' if last['ok'] else 'not everything went out'}")
    if data["needs_attention"]:
        out.append("\nNeeds a person")
        out += [f"  {line}" for line in data["needs_attention"][:LIST_AT_MOST]]

    out.append("\nScheduled next")
    out += _schedule_lines(data["next"])
    out += _review_lines(data["review"])
    out.append(f"\n{'Posts':<12}{'sent':>6}{'pending':>9}{'failed':>8}{'missed':>8}")
    for platform, tally in data["posts"].items():
        out.append(f"  {platform:<10}{tally['sent']:>6}{tally['pending'] + tally['sending']:>9}"
                   f"{tally['failed']:>8}{tally['missed']:>8}")

    if data["editions"]:
        out.append(f"\n{'Editions':<23}{'items':>6}{'to':>6}{'sent':>6}{'pending':>9}{'failed':>8}{'missed':>8}")
        for e in data["editions"][-LIST_AT_MOST:]:
            out.append(f"  #{e['id']:<3} {_when(e['created_at'])}{len(e['items']):>6}{e['recipients']:>6}{e['sent']:>6}"
                       f"{e['pending'] + e['sending']:>9}{e['failed']:>8}{e['missed']:>8}  {e['subject']}")
            if len(e["languages"]) > 1:
                out.append(f"        {_readers(e['languages'])}")
            for error in e["errors"][:5]:
                out.append(f"        {error['count']} failed: {error['error']}")

    for kind in ("failed", "missed"):
        if data[kind]:
            out.append(f"\n{kind.capitalize()} posts")
            out += _problem_lines(data[kind], kind)
    if data.get("stale"):
        out.append("\nMissed in the newsletter (too old for it: BOT_MAX_ITEM_AGE)")
        out += [f"  {_when(e['at'])}  {e['item']}: {e['why']}" for e in data["stale"][-LIST_AT_MOST:]]
    if data["invalid"]:
        count = len(data["invalid"])
        out.append(f"\n{count} problem{'' if count == 1 else 's'} in the queue: those items are never sent until "
                   "fixed (see bot validate)")
        out += [f"  {line}" for line in data["invalid"][:LIST_AT_MOST]]
    if data.get("warnings"):
        count = len(data["warnings"])
        out.append(f"\n{counted(count, 'warning')} about the queue: worth a look, though "
                   f"{'it holds' if count == 1 else 'they hold'} nothing back (see bot validate)")
        out += [f"  {line}" for line in data["warnings"][:LIST_AT_MOST]]
    click.echo("\n".join(out))


STATE_WORDS = {"draft": "  [draft: not sent]", "waiting": "  [waits for approval]", "held": "  [held]"}


def _schedule_lines(nxt: dict[str, Any]) -> list[str]:
    """The next posts and the next edition, in the order they go out."""
    timed: list[tuple[datetime, str]] = []
    for post in nxt["posts"][:LIST_AT_MOST]:
        if "length" in post:
            detail = f"{post['length']}/{post['limit']}" + (f" ({'; '.join(post['notes'])})" if post["notes"] else "")
        else:
            detail = f"to retry (last error: {post['last_error']})" if post.get("last_error") else "to retry"
        state = STATE_WORDS.get(post.get("state", ""), "")
        timed.append((_instant(post), f"  {_when(post['at'])}  {post['platform']:<9} {post['item']}"
                      f"{_in_language(post.get('lang', ''))}  {detail}{state}"))
    edition = nxt["edition"]
    slot = datetime.fromisoformat(edition["slot"])
    what = (f"{counted(len(edition['items']), 'item')} for {counted(edition['subscribers'], 'subscriber')}"
            if edition["items"] else "nothing new, no edition")
    newsletter = f"  {_when(edition['slot'])}  newsletter: {what}"
    more = len(nxt["posts"]) - LIST_AT_MOST
    lines = [] if nxt["posts"] else ["  no post"]
    if more > 0 and slot > timed[-1][0]:  # after the posts left out: after the line that counts them
        return [line for _, line in timed] + [f"  ... and {more} more posts", newsletter]
    timed.append((slot, newsletter))
    timed.sort(key=lambda pair: pair[0])  # stable: a post at the slot's very time comes first
    lines += [line for _, line in timed]
    if more > 0:
        lines.append(f"  ... and {more} more posts")
    return lines


def _problem_lines(entries: list[dict[str, Any]], kind: str) -> list[str]:
    """Failed or missed posts, one line per item and reason, with the platforms it holds for and what to do."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault((entry["item"], entry["error"] or ""), []).append(entry)
    lines = [f"  {_when(group[0]['at'])}  {item} was {kind} on "
             + ", ".join(e["platform"] + _in_language(e.get("lang", "")) for e in group)
             + (f": {why}" if why else "") + f" (to post it anyway: bot requeue {item}; to let it be: bot dismiss "
             f"{item})" for (item, why), group in grouped.items()]
    if len(lines) > LIST_AT_MOST:
        return lines[:LIST_AT_MOST] + [f"  ... and {len(lines) - LIST_AT_MOST} more"]
    return lines


def _review_lines(review: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = []
    if review["waiting"]:
        out.append("\nWaiting for approval")
        out += [f"  {e['item']}: since {_when(e['since'])} (bot approve {e['item']})" for e in review["waiting"]]
    if review["drafts"]:
        out.append("\nDrafts (never sent until approved)")
        out += [f"  {e['item']}: {e['title']}" for e in review["drafts"][:LIST_AT_MOST]]
    if review["held"]:
        out.append("\nHeld")
        out += [f"  {e['item']} ({e['channel']}): by {e['by']} since {_when(e['since'])} (bot release {e['item']}"
                + ("" if e["channel"] == "all" else f" --platform {e['channel']}") + ")" for e in review["held"]]
    if review["approved"]:
        out.append("\nApproved")
        out += [f"  {e['item']}: by {e['by']} on {_when(e['on'])}" for e in review["approved"][-LIST_AT_MOST:]]
    return out
