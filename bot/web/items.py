"""Staff pages for items (/admin/items): the list, and the composer that writes the queue file a person would write."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, session
from werkzeug.wrappers import Response

from .. import approval, i18n, itemfile, queue, translations
from ..clock import from_utc_iso
from ..content import Item, translation_of
from ..errors import HeraldError
from ..frontmatter import Invalid
from ..ledger import review as book
from ..platforms import CHANNELS, PLATFORMS, REGISTRY
from . import composer, ledger, settings
from .auth import require, staff_member

blueprint = Blueprint("items", __name__, url_prefix="/admin")
log = logging.getLogger("herald")
# The composer runs a self-hosted script (live preview) and frames its newsletter preview; nothing else may load.
COMPOSER_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; frame-src 'self'; style-src 'self'; "
                "img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
FRAME_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; form-action 'none'; "
             "frame-ancestors 'self'; base-uri 'none'")


def _now() -> datetime:
    return datetime.now(UTC)


def _page(body: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    return body, status, {"Content-Security-Policy": COMPOSER_CSP}


@blueprint.get("/items")
@require("editor")
def listing() -> str:
    cfg = settings()
    loaded = queue.load(cfg)
    gate = approval.Gate.read(ledger(), cfg)
    tz = cfg.timezone
    rows = [{"id": i.id, "title": i.title, "when": f"{i.publish_at.astimezone(tz):%Y-%m-%d %H:%M}",
             "state": gate.state(i), "channels": ", ".join(i.channels)}
            for i in sorted(loaded.items, key=lambda i: (i.publish_at, i.id), reverse=True)]
    invalid: dict[str, list[str]] = {}
    for problem in sorted(loaded.problems, key=lambda p: p.order):
        if problem.path.endswith(".md"):
            invalid.setdefault(Path(problem.path).stem, []).append(f"{problem.field}: {problem.message}")
    # A file whose name is no item id has no page to open: its problem says how to rename it. Nor has a translation.
    return render_template("admin_items.html.j2", rows=rows, zone=tz.key,
                           invalid=[{"id": k, "page": bool(queue.ID.fullmatch(k)) and not translation_of(f"{k}.md"),
                                     "problems": v}
                                    for k, v in sorted(invalid.items())],
                           notice=session.pop("notice", None))


@blueprint.get("/items/new")
@require("editor")
def new() -> tuple[str, int, dict[str, str]]:
    cfg = settings()
    today = _now().astimezone(cfg.timezone).date().isoformat()
    fields = itemfile.Fields(date=today, draft=not staff_member().can("approver"))
    return _page(_form("new", fields))


@blueprint.post("/items")
@require("editor")
def create() -> Response | tuple[str, int, dict[str, str]]:
    cfg = settings()
    typed = _typed(with_id=True)
    # Left empty, the id is made from the date and the title when saving; until then it is only suggested.
    fields = typed if typed.id else replace(typed, id=itemfile.free_id(
        cfg.queue_dir, itemfile.suggest_id(typed.date, typed.title or "new item")))
    if not queue.ID.fullmatch(fields.id):
        checked = composer.Checked(typed, None)
        checked.add("id", "use letters, digits, '-', '_' and '.' only, at most 100 (e.g. 2019-07-12-un-vote)")
    else:
        checked = composer.check(cfg, fields, cfg.queue_dir / f"{fields.id}.md", new=True)
        checked.fields = typed
    if request.form.get("action") == "preview" or not checked.ok:
        return _page(_form("new", typed, checked, suggested=fields.id),
                     200 if request.form.get("action") == "preview" else 422)
    path = cfg.queue_dir / f"{fields.id}.md"
    try:
        itemfile.save(path, itemfile.to_text(fields), None, cfg.state_dir)
    except itemfile.StaleEdit as exc:
        checked.add("id", str(exc))
        return _page(_form("new", fields, checked), 409)
    _saved(path, fields.id, "create", "")
    session["notice"] = f"Saved as {path.name}" + (": a draft until an approver approves it." if fields.draft else ".")
    return redirect(f"/admin/items/{fields.id}", code=303)


@blueprint.get("/items/<item_id>")
@require("editor")
def show(item_id: str) -> tuple[str, int, dict[str, str]]:
    path = _path(item_id)
    data = path.read_bytes()
    try:
        fields = itemfile.read(path, item_id, data)
    except Invalid as exc:
        return _page(render_template("message.html.j2", heading="This file cannot be edited here", lines=[
            f"{path.name}: {exc.field}: {exc.message}" + (f" (line {exc.line})" if exc.line else ""),
            "Fix it in a text editor or in git; `bot validate` shows the same message."]), 422)
    return _page(_form("edit", fields, version=itemfile.digest(data), notice=session.pop("notice", None),
                       path=path))


@blueprint.post("/items/<item_id>")
@require("editor")
def save(item_id: str) -> Response | tuple[str, int, dict[str, str]]:
    cfg = settings()
    path = _path(item_id)
    try:
        before = itemfile.read(path, item_id, path.read_bytes())
    except Invalid:
        before = itemfile.Fields(id=item_id)  # a broken file may be mended here, unless parts of it went out
    fields = replace(_typed(with_id=False, path=path), id=item_id)
    checked = composer.check(cfg, fields, path, new=False)
    composer.enforce_fixed(checked, before, composer.fixed_parts(ledger(), item_id, cfg, before))
    version = request.form.get("version", "")
    if request.form.get("action") == "preview" or not checked.ok:
        status = 200 if request.form.get("action") == "preview" else 422
        return _page(_form("edit", fields, checked, version=version, path=path), status)
    try:
        itemfile.save(path, itemfile.to_text(fields), version, cfg.state_dir)
    except itemfile.StaleEdit as exc:
        checked.add("general", str(exc) + ". What you typed is still below: copy it, then reload the page.")
        return _page(_form("edit", fields, checked, version=version, path=path), 409)
    changed = [n for n in _FIELD_NAMES if composer.value_of(fields, n) != composer.value_of(before, n)]
    _saved(path, item_id, "edit", ", ".join(changed))
    session["notice"] = "Saved." + (" It is a draft until an approver approves it." if fields.draft else "")
    return redirect(f"/admin/items/{item_id}", code=303)


@blueprint.post("/compose/preview")
@require("editor")
def live_preview() -> tuple[str, int, dict[str, str]]:
    """The preview pane alone, for the composer's script; the same as the Preview button shows."""
    cfg = settings()
    item_id = request.form.get("item", "")
    fields = _typed(with_id=not item_id, path=_path(item_id) if item_id else None)
    if item_id:
        fields = replace(fields, id=item_id)
        path = _path(item_id)
    else:
        suggested = itemfile.suggest_id(fields.date, fields.title) if fields.title else "new-item"
        fields = replace(fields, id=fields.id if queue.ID.fullmatch(fields.id) else suggested)
        path = cfg.queue_dir / f"{fields.id}.md"
    checked = composer.check(cfg, fields, path, new=False)
    suggested = itemfile.free_id(cfg.queue_dir, fields.id) if not item_id else ""
    return _page(render_template("admin_preview.html.j2", suggested_id=suggested, labels=LABELS,
                                 **_preview_context(checked)))


@blueprint.get("/compose/frame/<key>")
@require("editor")
def newsletter_frame(key: str) -> tuple[str, int, dict[str, str]]:
    html = composer.frame(key)
    if html is None:
        abort(404)
    return html, 200, {"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN"}


# --- helpers -----------------------------------------------------------------------------------------------

# How the form names each field, for the list of problems above it.
LABELS = {"id": "Id", "title": "Title", "date": "Date", "publish_at": "Publish at", "summary": "Summary",
          "body": "Body", "link": "Link", "image": "Image address", "image_alt": "Description of the image",
          "image_credit": "Credit", "campaign": "Campaign", "hashtags": "Hashtags", "channels": "Channels",
          "lang": "Language", "draft": "Draft", **{f"social_{p}": f"Text for {REGISTRY[p].title}" for p in PLATFORMS}}
_FIELD_NAMES = ("title", "date", "summary", "publish_at", "link", "image", "image_alt", "image_credit", "hashtags",
                "campaign", "channels", *(f"social_{p}" for p in PLATFORMS), "lang", "draft", "body")


def _path(item_id: str) -> Path:
    queue.require_folder(settings())  # a missing folder is a setting to fix, not an unknown item
    try:
        return approval.find(settings(), item_id)
    except HeraldError:
        abort(404)


def _offered(path: Path | None) -> tuple[str, ...]:
    """The channels the composer offers: those whose backend is not `off`, and any the item's file names."""
    cfg = settings()
    named: tuple[str, ...] = ()
    if path is not None and path.is_file():
        named = itemfile.read(path, path.stem, path.read_bytes()).channels
        named = () if named == CHANNELS else named
    return tuple(c for c in CHANNELS if cfg.backends.get(c) != "off" or c in named)


def _typed(with_id: bool, path: Path | None = None) -> itemfile.Fields:
    fields = itemfile.from_form(request.form, request.form.getlist("channels"), with_id=with_id,
                                offered=_offered(path))
    if not staff_member().can("approver"):
        fields = replace(fields, draft=True)  # an editor's item waits for an approver
    return fields


def _saved(path: Path, item_id: str, action: str, detail: str) -> None:
    me = staff_member()
    book.record(ledger(), me.email, action, _now(), item_id, detail)
    itemfile.commit_to_git(path, me.email, f"{'Create' if action == 'create' else 'Edit'} {item_id}"
                           + (f" ({detail})" if detail else ""))


def _preview_context(checked: composer.Checked) -> dict[str, Any]:
    found = {"problems": checked.problems, "warnings": checked.warnings}
    if checked.item is None:
        return {"preview": None, **found}
    return {"preview": composer.preview(settings(), checked.item, _now()), **found}


def _form(mode: str, fields: itemfile.Fields, checked: composer.Checked | None = None, version: str = "",
          notice: str | None = None, suggested: str = "", path: Path | None = None) -> str:
    """The composer page; `path` is the item's file when editing (found once by the view)."""
    cfg = settings()
    known, found = composer.campaigns(cfg)
    context: dict[str, Any] = {"mode": mode, "f": fields, "problems": checked.problems if checked else {},
                               "warnings": checked.warnings if checked else {},
                               "version": version, "notice": notice, "platforms": PLATFORMS, "channels": _offered(path),
                               "titles": {p: REGISTRY[p].title for p in PLATFORMS},
                               "campaigns": sorted((k, c.name) for k, c in known.items()), "zone": cfg.timezone.key,
                               "default_time": f"{cfg.default_post_time:%H:%M}", "language": cfg.language,
                               "fixed": {}, "preview": None, "state": None, "history": [], "deliveries": [],
                               "suggested_id": suggested, "labels": LABELS, "translations": []}
    if checked is not None:
        context.update(_preview_context(checked))
    elif path is not None:
        context.update(_preview_context(composer.check(cfg, fields, path, new=False)))
    if path is not None:
        item, _ = queue.read_item(path, cfg, known, found)  # as it is on disk, whatever the form holds
        item = translations.with_translations(item, cfg) if item is not None else None  # as the run reads it
        context.update(_item_context(fields, item))
    return render_template("admin_item.html.j2", **context)


def _item_context(fields: itemfile.Fields, item: Item | None) -> dict[str, Any]:
    """What the item page shows beside the form: its state (`item` is the file on disk, None when invalid), what
    went out, who did what."""
    cfg = settings()
    tz = cfg.timezone
    db = ledger()
    gate = approval.Gate.read(db, cfg)
    state = gate.state(item) if item is not None else "invalid"
    approved = gate.approved(item) if item is not None else None
    deliveries = [{"channel": d.channel, "status": "dismissed" if d.dismissed_at else d.status,
                   "language": i18n.language_name(d.lang, "en") if d.lang else "",  # a translation's post only
                   "error": d.last_error or "", "problem": d.status in ("failed", "missed") and not d.dismissed_at,
                   "when": f"{from_utc_iso(d.due_at).astimezone(tz):%Y-%m-%d %H:%M}"}
                  for d in db.deliveries("item_id = ?", (fields.id,))]
    history = [{"when": f"{from_utc_iso(a.at).astimezone(tz):%Y-%m-%d %H:%M}", "actor": a.actor,
                "action": a.action, "detail": a.detail} for a in book.activity(db, 50, fields.id)]
    holds = gate.held_channels(fields.id)
    return {
        "state": state,
        "waiting_since": f"{approval.waiting_since(item).astimezone(tz):%Y-%m-%d %H:%M}" if item is not None
        and state == "waiting" else "",
        "approved": {"by": approved.actor, "when": f"{from_utc_iso(approved.at).astimezone(tz):%Y-%m-%d %H:%M}"}
        if approved else None,
        "holds": ["the whole item" if c == approval.ALL else c for c in holds],
        "held_channels": holds,
        "in_edition": fields.id in db.items_in_editions(),
        "fixed": composer.fixed_parts(db, fields.id, cfg, fields),
        "deliveries": deliveries,
        "history": history,
        "required": cfg.approval == "required",
        # Shown, not edited here: the translations are their own files (`<id>.<lang>.md`) beside the item's.
        "translations": [f"{t.lang} ({t.path.name})" for t in item.translations.values()] if item is not None else [],
    }
