"""Pictures on the web side: /media/NAME serves the media library to all, /admin/media lets editors add to it.

GET /media/NAME is what the newsletter's readers and the platforms' fetchers load; POST /admin/media stores an
upload through bot.media, as `bot media add` does, for the composer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import media
from ..errors import ConfigError, ContentError
from . import csrf, rate_limited, settings
from .auth import require

blueprint = Blueprint("media", __name__)
UPLOAD_LIMIT = 21_000_000  # a 20 MB picture and the form around it; every other form keeps the app's 1 MB
ALT_MAX = 1000  # the queue's limit for image_alt
IMMUTABLE = "public, max-age=31536000, immutable"  # a name is its content's hash: it never changes


@blueprint.get("/media/<name>")
def picture(name: str) -> Response:
    """A stored picture, for the newsletter's readers and the platforms' fetchers; nothing else is served."""
    path = media.folder(settings()) / name
    if not media.NAME.fullmatch(name) or path.is_symlink() or not path.is_file():
        abort(404)
    try:
        data = media.read_stored(path)
    except OSError:
        abort(404)
    response = Response(data, mimetype=media.media_type(name))
    response.set_etag(name.split(".")[0])
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.make_conditional(request)  # a 304 for a client that already holds it
    return response


@blueprint.get("/admin/media")
@require("editor")
def upload_form() -> str:
    return render_template("admin_media.html.j2", stored=None, error=None, alt="", hint="")


@blueprint.post("/admin/media")
@require("editor")
def upload() -> Any:
    """Store the multipart field `file` (and echo `alt` in the lines to paste); JSON for `Accept: application/json`."""
    # Raised for this view alone, before anything reads the body: so the CSRF check runs here, not before.
    request.max_content_length = UPLOAD_LIMIT
    csrf.protect()
    sent = request.files.get(media.FIELD)
    alt = " ".join(request.form.get("alt", "").split())
    if sent is None or not sent.filename:
        return _refused("choose a picture to upload (the form field is `file`)", 400, alt)
    if len(alt) > ALT_MAX:
        return _refused(f"the alt text is {len(alt)} characters long; at most {ALT_MAX}", 422, alt, field="alt")
    data = sent.stream.read(media.MAX_INPUT_BYTES + 1)
    try:
        stored = media.store(settings(), data, _shown_name(sent.filename))
    except ContentError as exc:
        return _refused(str(exc), 422, alt)
    except ConfigError as exc:
        return _refused(str(exc), 503, alt)
    url = media.public_url(settings(), stored.image)
    if _wants_json():
        return jsonify(image=stored.image, url=url, width=stored.width, height=stored.height, bytes=stored.size)
    return render_template("admin_media.html.j2", stored=stored, url=url, error=None, alt=alt,
                           hint=media.hint(stored.image, alt))


csrf.exempt(f"{__name__}.upload")  # checked inside the view, once the body may be larger than other forms'
rate_limited("media.upload", "120 per hour")  # each upload is a second of decoding: per client address


@blueprint.app_errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Any:
    if request.path == "/admin/media":
        return _refused(f"the picture is larger than {media.MAX_INPUT_BYTES // 1_000_000} MB: save a smaller "
                        "copy and upload that", 413, "")
    return render_template("message.html.j2", heading="Too large", lines=[
        "What was sent is larger than this form accepts. Go back and send less."]), 413


def _refused(message: str, status: int, alt: str, field: str = media.FIELD) -> Any:
    if _wants_json():
        return jsonify(error=message, field=field), status
    return render_template("admin_media.html.j2", stored=None, error=message, alt=alt, hint=""), status


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _shown_name(filename: str) -> str:
    """The uploaded file's own name, as errors show it: printable, short, without the sender's folders."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip() or "upload"
    return name if len(name) <= 80 else name[:79] + "…"
