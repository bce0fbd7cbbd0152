"""web, staff side: an item's translation (`<id>.<lang>.md`) edited beside its original, checked before saving."""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from flask import Blueprint, abort, make_response, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import approval, itemfile, queue, translations
from ..clock import from_utc_iso
from ..content import Item, Problem, translation_of
from ..errors import HeraldError
from ..frontmatter import Invalid
from ..i18n import language_name
from ..ledger import review as book
from ..platforms import PLATFORMS, REGISTRY
from . import composer, ledger, settings
from .auth import require, staff_member

blueprint = Blueprint("translate", __name__, url_prefix="/admin")
log = logging.getLogger("herald")
TEXT_FIELDS = ("title", "summary", "body", "link", "image_alt", "image_credit")
FORM_FIELDS = (*TEXT_FIELDS, *(f"social_{p}" for p in PLATFORMS))
_CODE = re.compile(r"[a-z]{2}")  # a translation's file name holds a two-letter code (see bot.content)


def english(code: str) -> str:
    """A language as the staff pages name it: in English ("French"), never by its code."""
    return language_name(code, "en")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Target:
    """What a request is about: the item (its file as written, and as the queue reads it) and its translation's
    file, which may not exist yet."""

    item_id: str
    lang: str
    own: str  # the item's own language
    path: Path
    original: itemfile.Fields
    item: Item | None  # None: the item is invalid, so a translation can only be checked on its own
    file: Path

    @property
    def url(self) -> str:
        return f"/admin/items/{self.item_id}/translations/{self.lang}"


@blueprint.get("/items/<item_id>/translations/<lang>")
@require("editor")
def show(item_id: str, lang: str) -> str:
    target = _find(item_id, lang)
    fields, version = _on_disk(target)
    # A file already there is shown with what `bot validate` says of it: a broken one is left out of every run.
    checked = _check(target, fields, None) if version else composer.Checked(fields, None)
    return _page(target, version, checked, notice=session.pop("notice", None))


@blueprint.post("/items/<item_id>/translations/<lang>")
@require("editor")
def save(item_id: str, lang: str) -> Response | tuple[str, int]:
    cfg = settings()
    target = _find(item_id, lang)
    before = _before(target)
    typed = itemfile.from_form(request.form, None, with_id=False)
    version = request.form.get("version", "")
    name = english(lang)
    if _empty(typed):
        checked = composer.Checked(typed, None)
        if not target.file.is_file():
            return _page(target, version, checked, notice=f"Nothing saved: every field is empty, and there is no "
                         f"{name} translation yet."), 200
        checked.add("general", f"Every field is empty, so nothing was saved. To take the {name} translation "
                    "away, use “Remove this translation” below.")
        return _page(target, version, checked), 422
    text = itemfile.translation_text(typed)
    checked = _check(target, typed, text)
    composer.enforce_fixed(checked, before, _fixed(target, before))
    if checked.problems:
        return _page(target, version, checked), 422
    try:
        itemfile.save(target.file, text, version or None, cfg.state_dir)
    except itemfile.StaleEdit:
        checked.add("general", f"{target.file.name} was changed by someone else (or by git, or an editor) after "
                    "you opened it; your change was not saved. What you typed is still below: copy it, then reload "
                    "the page.")
        return _page(target, version, checked), 409
    changed = [n for n in FORM_FIELDS if composer.value_of(typed, n) != composer.value_of(before, n)]
    detail = f"{name}: {', '.join(changed)}" if changed else name
    if version:
        _record(target, "translation-edit", detail,
                f"Edit the {name} translation of {item_id}" + (f" ({', '.join(changed)})" if changed else ""))
    else:
        _record(target, "translation-add", detail, f"Translate {item_id} into {name}")
    session["notice"] = f"Saved the {name} translation as {target.file.name}." + _approval_note(cfg.approval)
    return redirect(target.url, code=303)


@blueprint.post("/items/<item_id>/translations/<lang>/remove")
@require("editor")
def remove(item_id: str, lang: str) -> Response | tuple[str, int]:
    cfg = settings()
    target = _find(item_id, lang)
    name = english(lang)
    version = request.form.get("version", "")
    checked = composer.Checked(_before(target), None)
    fixed = _fixed(target, checked.fields)
    if fixed:  # what went out stays what the file says, as for the item's own posts
        checked.add("general", f"The {name} translation cannot be removed: {next(iter(fixed.values()))}.")
    elif request.form.get("confirm") != "1":
        checked.add("confirm", f"Tick the box to confirm: the {name} translation was not removed.")
    if checked.problems:
        return _page(target, version, checked, failed="Not removed"), 422
    with itemfile.write_lock(cfg.state_dir):  # the same lock as every save: nobody writes it while it goes
        found = itemfile.current_digest(target.file)
        if found is not None and found == version:
            target.file.unlink()
    if found is None:
        session["notice"] = f"There was no {name} translation to remove."
        return redirect(f"/admin/items/{item_id}", code=303)
    if found != version:
        checked = composer.Checked(_before(target), None)
        checked.add("general", f"{target.file.name} was changed by someone else after you opened it, so it was not "
                    "removed. Below is the file as it is now: remove it again if you still mean to.")
        return _page(target, found, checked, failed="Not removed"), 409
    _record(target, "translation-remove", name, f"Remove the {name} translation of {item_id}")
    session["notice"] = f"Removed the {name} translation ({target.file.name})." + _approval_note(cfg.approval)
    return redirect(f"/admin/items/{item_id}", code=303)


@blueprint.app_context_processor
def _item_page() -> dict[str, Any]:
    """For the item page: a link to each translation, there or to be added."""
    return {"translation_links": translation_links}


def translation_links(item_id: str, own: str) -> list[dict[str, Any]]:
    """Each of BOT_LANGUAGES but the item's own (`own`), named in English: its page, whether its file is there, and
    whether `bot validate` leaves it out."""
    cfg = settings()
    try:
        path = approval.find(cfg, item_id)
    except HeraldError:
        return []
    files = {lang: _file(path, lang) for lang in cfg.languages if lang != own and _CODE.fullmatch(lang)}
    there = {lang for lang, file in files.items() if file.is_file()}
    item = queue.read_item(path, cfg, *composer.campaigns(cfg))[0] if there else None
    return [{"name": english(lang), "url": f"/admin/items/{item_id}/translations/{lang}", "exists": lang in there,
             "left_out": lang in there and bool(translations.read(file, path, item, cfg)[1])}
            for lang, file in files.items()]


# --- helpers -----------------------------------------------------------------------------------------------


def _refuse(status: int, heading: str, lines: list[str]) -> NoReturn:
    abort(make_response(render_template("message.html.j2", heading=heading, lines=lines), status))


def _find(item_id: str, lang: str) -> _Target:
    """The item and translation of a request; a page saying why not (404, or 422 for an item file that cannot be
    read) when there is none to edit here."""
    cfg = settings()
    listed = ", ".join(english(code) for code in cfg.languages)
    if lang not in cfg.languages or not _CODE.fullmatch(lang):
        _refuse(404, "No such language", [f"Herald does not write in {english(lang)}: BOT_LANGUAGES lists {listed}.",
                                          "Whoever runs Herald adds a language to BOT_LANGUAGES."])
    queue.require_folder(cfg)  # a missing folder is a setting to fix, not an unknown item
    try:
        path = approval.find(cfg, item_id)
    except HeraldError:
        _refuse(404, "No such item", [f"There is no item {item_id} in the queue to translate.",
                                      "The list of items is at /admin/items."])
    try:
        original = itemfile.read(path, item_id, path.read_bytes())
    except Invalid as exc:
        _refuse(422, "This item cannot be translated here", [
            f"{path.name}: {exc.field}: {exc.message}" + (f" (line {exc.line})" if exc.line else ""),
            "Fix it in a text editor or in git first; `bot validate` shows the same message."])
    own = original.lang or cfg.language
    if lang == own:
        _refuse(404, "Not a translation", [f"{item_id} is written in {english(own)}: its translations are in "
                                           f"the other languages of BOT_LANGUAGES ({listed})."])
    known, found = composer.campaigns(cfg)
    item, _ = queue.read_item(path, cfg, known, found)
    return _Target(item_id, lang, own, path, original, item, _file(path, lang))


def _file(path: Path, lang: str) -> Path:
    """The translation's file: one already there (the queue matches names without case), else `<id>.<lang>.md`."""
    for other in sorted(path.parent.iterdir(), key=str):
        named = translation_of(other.name)
        if named is not None and named[1] == lang and named[0].casefold() == path.name.casefold() \
                and not other.name.startswith(".") and other.is_file():
            return other
    return path.with_name(f"{path.stem}.{lang}.md")


def _read(target: _Target) -> tuple[itemfile.Fields, str]:
    """The translation's fields as written, and the digest of its file ("" when there is none yet); raises
    frontmatter.Invalid when it cannot be parsed."""
    try:
        data = target.file.read_bytes()
    except FileNotFoundError:
        return itemfile.Fields(), ""
    return itemfile.read(target.file, target.item_id, data), itemfile.digest(data)


def _on_disk(target: _Target) -> tuple[itemfile.Fields, str]:
    try:
        return _read(target)
    except Invalid as exc:
        _refuse(422, "This translation cannot be edited here", [
            f"{target.file.name}: {exc.field}: {exc.message}" + (f" (line {exc.line})" if exc.line else ""),
            "Fix it in a text editor or in git; `bot validate` shows the same message."])


def _before(target: _Target) -> itemfile.Fields:
    """The translation as saved, to tell what a save changed; a broken file may be mended by saving over it."""
    try:
        return _read(target)[0]
    except Invalid:
        return itemfile.Fields()


def _empty(f: itemfile.Fields) -> bool:
    return not any(getattr(f, name) for name in TEXT_FIELDS) and not any(f.social.values())


def _check(target: _Target, fields: itemfile.Fields, text: str | None) -> composer.Checked:
    """Exactly what `bot validate` says of the translation `fields`: of its file (`text` None), or of `text` (what
    `fields` make) as its file.
    translations.read reads files only, so `text` is checked as a copy in a folder of its own: nothing reaches
    the queue before it passes."""
    cfg = settings()
    warnings: list[Problem] = []
    if text is None:
        _, problems = translations.read(target.file, target.path, target.item, cfg, warnings)
    else:
        with tempfile.TemporaryDirectory(prefix="herald-translation-") as folder:
            probe = Path(folder) / target.file.name
            probe.write_bytes(text.encode("utf-8"))
            _, problems = translations.read(probe, target.path, target.item, replace(cfg, queue_dir=Path(folder)),
                                            warnings)
    checked = composer.Checked(fields, None)
    for problem in problems:
        checked.add(_form_field(problem.field), problem.message)
    for warning in warnings:
        checked.warnings.setdefault(_form_field(warning.field), []).append(warning.message)
    return checked


def _form_field(problem_field: str) -> str:
    """The form field a problem belongs to; `general` for what the form has no field for (the file's name)."""
    name = composer.form_field(problem_field)
    return name if name in FORM_FIELDS else "general"


LABELS = {"title": "Title", "summary": "Summary", "body": "Body", "link": "Link",
          "image_alt": "Description of the image", "image_credit": "Credit", "confirm": "Remove",
          **{f"social_{p}": f"Text for {REGISTRY[p].title}" for p in PLATFORMS}}


def _platforms(target: _Target, typed: itemfile.Fields) -> list[str]:
    """The platforms a text of their own is offered for, as the item's form offers them: those the item goes out
    on and that are on (or whose text the original has), and any the translation already sets."""
    backends = settings().backends
    channels = target.original.channels
    return [p for p in PLATFORMS if typed.social.get(p) or (p in channels and (
        backends.get(p) != "off" or target.original.social.get(p)))]


def _fixed(target: _Target, current: itemfile.Fields) -> dict[str, str]:
    """Form field -> why it can no longer change: a post in this language went out made of it (a post handed over
    may be out even if its answer was lost, and reconciliation looks for its exact text)."""
    tz = settings().timezone
    fixed: dict[str, str] = {}
    for delivery in ledger().deliveries("item_id = ? AND lang = ? AND (status IN ('sent', 'sending') OR "
                                        "first_attempt_at IS NOT NULL)", (target.item_id, target.lang)):
        when = from_utc_iso(delivery.first_attempt_at or delivery.due_at).astimezone(tz)
        verb = "posted" if delivery.status == "sent" else "handed over"
        why = f"already {verb} on {delivery.channel} in {english(target.lang)} ({when:%d %b %Y})"
        for name in composer.post_fields(delivery.channel, bool(current.social.get(delivery.channel)), False):
            if name in FORM_FIELDS:
                fixed.setdefault(name, why)
    return fixed


def _approval_note(mode: str) -> str:
    return " An approver approves the item again before it goes out." \
        if mode == "required" else ""


def _record(target: _Target, action: str, detail: str, message: str) -> None:
    """In the activity log, and a commit of the one file where the queue is a git checkout (as item saves are)."""
    me = staff_member()
    book.record(ledger(), me.email, action, _now(), target.item_id, detail)
    itemfile.commit_to_git(target.file, me.email, message)


def _page(target: _Target, version: str, checked: composer.Checked, notice: str | None = None,
          failed: str = "") -> str:
    """The page, with what `checked` holds in the form; `failed` heads the problems (a file already there that has
    some is shown with them, unsaved)."""
    cfg = settings()
    fields = checked.fields
    failed = failed or ("Not saved" if request.method == "POST" else "Left out of every run until fixed")
    platforms = _platforms(target, fields)
    return render_template(
        "admin_translate.html.j2", t=target, f=fields, o=target.original, version=version,
        problems=checked.problems, warnings=checked.warnings, notice=notice, labels=LABELS,
        lang_name=english(target.lang), own_name=english(target.own), item_title=target.original.title or
        target.item_id, platforms=[{"key": p, "title": REGISTRY[p].title} for p in platforms],
        picture=bool(target.original.image or fields.image_alt or fields.image_credit),
        exists=target.file.is_file(), required=cfg.approval == "required", valid=target.item is not None,
        failed=failed, fixed=_fixed(target, _before(target)))
