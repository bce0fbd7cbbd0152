"""Media library: pictures staff add become safe files under content_queue/media/, which items name as media/NAME.

Every picture is decoded and drawn again with Pillow: turned upright by its EXIF orientation, converted to
sRGB, stripped of all metadata (EXIF, GPS, comments, XMP, colour profiles, camera serials: a photo can reveal
where a source was), its longest side fitted within 2,000 px and its file within 1,000,000 bytes (Bluesky's
blob limit, the tightest of the platforms), keeping as much size and quality as those limits allow. Photos
become JPEG; a picture with transparency stays PNG, and so does a PNG or GIF that fits as PNG (diagrams, logos,
screenshots); WebP becomes JPEG (or PNG) because many email clients do not show WebP; an animated GIF keeps its
first frame only, as PNG. The file is named by its content: the same picture stored twice is one file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .errors import ConfigError, ContentError, quoted
from .settings import Settings, require_queue_dir

if TYPE_CHECKING:
    from PIL.Image import Image

Encoder = Callable[["Image"], "tuple[bytes, bool]"]  # a picture -> (its bytes, whether they fit)
FOLDER = "media"
FIELD = "file"  # the upload's form field, and the field every refusal names
MAX_INPUT_BYTES = 20_000_000
MAX_SIDE = 2000
MAX_BYTES = 1_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
QUALITIES = (60, 65, 70, 75, 80, 85, 90)  # JPEG, ascending; below 60 a smaller picture looks better
MIN_SIDE = 64  # a picture that fits only below this is refused rather than made a smudge
NAME = re.compile(r"[0-9a-f]{16}\.(?:jpg|png)")
TYPES = {"jpg": "image/jpeg", "png": "image/png"}
_SIXTEEN_BIT = ("I", "I;16", "I;16B", "I;16L", "I;16N")


@dataclass(frozen=True, slots=True)
class Picture:
    """One prepared picture: the bytes to store and what they hold."""

    data: bytes
    extension: str  # jpg or png
    width: int
    height: int
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:16] + "." + self.extension


@dataclass(frozen=True, slots=True)
class Stored:
    """A picture in the media folder; `image` is what an item's `image` field holds."""

    image: str  # media/NAME
    path: Path
    width: int
    height: int
    size: int  # bytes
    notes: tuple[str, ...] = ()


# --- where pictures live, and what an item's `image` means ---------------------------------------------


def folder(settings: Settings) -> Path:
    return settings.queue_dir / FOLDER


def is_local(image: str) -> bool:
    """A value the queue accepted is either an http(s) URL or media/NAME."""
    return image.startswith(FOLDER + "/")


def local_file(settings: Settings, image: str | None) -> Path | None:
    """The stored file a local `image` names (whether or not it is still there); None for a URL."""
    if not image or not is_local(image):
        return None
    return folder(settings) / image.split("/", 1)[1]


def public_url(settings: Settings, image: str) -> str:
    """Where readers and platforms find the picture: BOT_PUBLIC_URL/media/NAME, served by `bot serve`."""
    return f"{settings.effective_public_url}/{image}" if is_local(image) else image


def media_type(name: str) -> str:
    return TYPES[name.rsplit(".", 1)[-1]]


def check_local(settings: Settings, value: str) -> str | None:
    """Why `value` (not a URL) cannot be an item's image, or None when it names a stored picture."""
    how = "add the picture with `bot media add FILE` (or the composer's upload) and use the path it gives"
    if value.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", value):
        return f"{quoted(value)} is an absolute path: {how}, media/NAME"
    parts = value.replace("\\", "/").split("/")
    if ".." in parts or "." in parts:
        return f"{quoted(value)} leaves the media folder: {how}, media/NAME"
    if len(parts) != 2 or parts[0] != FOLDER or not parts[1]:
        return f"{quoted(value)} is neither an https:// address nor media/NAME: {how}"
    path = folder(settings) / parts[1]
    if path.is_symlink() or not path.is_file():
        return f"{value} does not exist in {folder(settings)}: {how}"
    if not NAME.fullmatch(parts[1]):
        return f"{value} was not stored by Herald: run `bot media add {path}` and use the path it prints"
    return None


def read_stored(path: Path) -> bytes:
    """A stored picture's bytes; a link planted in the media folder is never followed."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read(MAX_BYTES + 1)


def hint(image: str, alt: str) -> str:
    """The front-matter lines that use a stored picture, quoted where YAML needs it."""
    lines = [f"image: {image}"]
    if alt:
        lines.append(f"image_alt: {_yaml_scalar(alt)}")
    return "\n".join(lines)


def _yaml_scalar(text: str) -> str:
    try:
        plain = " #" not in text and yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


# --- storing --------------------------------------------------------------------------------------------


def store(settings: Settings, data: bytes, source: str) -> Stored:
    """Prepare the picture and keep it in the media folder under its content's name; the same picture again
    (or a file this folder already holds) gives the same name."""
    require_queue_dir(settings)
    target = folder(settings)
    again = _already_stored(target, data)
    if again is not None:
        return again
    picture = prepare(data, source)
    path = target / picture.name
    if not path.is_file():
        _write(path, picture.data)
    return Stored(f"{FOLDER}/{picture.name}", path, picture.width, picture.height, len(picture.data), picture.notes)


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary file renamed into place, so that nobody serves half a picture."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # served by `bot serve` and read by whoever runs the bot
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise ConfigError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None


def _already_stored(target: Path, data: bytes) -> Stored | None:
    """Re-encoding a stored picture would only lose quality and make a second name for it."""
    stem = hashlib.sha256(data).hexdigest()[:16]
    for extension in TYPES:
        path = target / f"{stem}.{extension}"
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            from PIL import Image as PIL

            with PIL.open(io.BytesIO(data)) as opened:
                width, height = opened.size
            return Stored(f"{FOLDER}/{path.name}", path, width, height, len(data))
    return None


def read_file(path: Path) -> bytes:
    """A picture from disk for `store`; too large or unreadable is a ContentError naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise ContentError(str(path), FIELD, f"is {_megabytes(size)}; a picture may be at most 20 MB")
        return path.read_bytes()
    except OSError as exc:
        raise ContentError(str(path), FIELD, f"cannot be read: {exc.strerror or exc}") from None


# --- the Pillow work ------------------------------------------------------------------------------------


def prepare(data: bytes, source: str) -> Picture:
    """Decode, turn upright, convert to sRGB, strip, fit; raises ContentError naming `source` and field `file`."""
    from PIL import Image as PIL
    from PIL import UnidentifiedImageError

    if not data:
        raise ContentError(source, FIELD, "is empty")
    if len(data) > MAX_INPUT_BYTES:
        raise ContentError(source, FIELD, f"is {_megabytes(len(data))}; a picture may be at most 20 MB")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; _decode refuses those with its own words.
            warnings.simplefilter("ignore", PIL.DecompressionBombWarning)
            with PIL.open(io.BytesIO(data), formats=FORMATS) as opened:
                kind, image, notes = _decode(opened)
    except PIL.DecompressionBombError:
        raise ContentError(source, FIELD, _too_many_pixels()) from None
    except UnidentifiedImageError:
        raise ContentError(source, FIELD, "is not a JPEG, PNG, WebP or GIF picture") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError):
        raise ContentError(source, FIELD, "cannot be read: the picture is damaged or incomplete") from None
    image = _plain_pixels(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE), PIL.Resampling.LANCZOS)
    encoded, extension, image = _encode(image, kind, source)
    return Picture(encoded, extension, image.width, image.height, notes)


def _decode(opened: Image) -> tuple[str, Image, tuple[str, ...]]:
    """The first frame, decoded (JPEG at the smallest scale still above 2,000 px), upright and in sRGB."""
    from PIL import Image as PIL

    width, height = opened.size
    if PIL.MAX_IMAGE_PIXELS and width * height > PIL.MAX_IMAGE_PIXELS:
        raise PIL.DecompressionBombError(_too_many_pixels())
    kind = str(opened.format)
    notes = ("an animated GIF: only its first frame is kept",) if getattr(opened, "n_frames", 1) > 1 else ()
    if kind == "JPEG":
        opened.draft(opened.mode, (MAX_SIDE, MAX_SIDE))  # decodes a 24-megapixel photo at half or quarter size
    opened.load()
    profile = opened.info.get("icc_profile")
    return kind, _to_srgb(_upright(opened), profile), notes


def _upright(image: Image) -> Image:
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # EXIF is free-form: a malformed tag must not stop a picture that decodes
        return image.copy()


def _to_srgb(image: Image, profile: object) -> Image:
    """Pixels in sRGB, so that the picture looks the same once its profile is gone."""
    if not isinstance(profile, bytes) or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"),
                                              outputMode="RGBA" if image.mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a broken profile: the plain conversion below is the best guess
    return converted if converted is not None else image


def _plain_pixels(image: Image) -> Image:
    """RGB, RGBA (only when some pixel is see-through) or L, and nothing but pixels: no info, no EXIF."""
    from PIL import Image as PIL

    if image.mode in _SIXTEEN_BIT:
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        image = image.convert("RGBA")
        alpha_low, _ = image.getchannel("A").getextrema()
        if isinstance(alpha_low, (int, float)) and alpha_low >= 255:
            image = image.convert("RGB")
    elif image.mode in ("L", "1"):
        image = image.convert("L")
    else:
        image = image.convert("RGB")
    return PIL.frombytes(image.mode, image.size, image.tobytes())


def _encode(image: Image, kind: str, source: str) -> tuple[bytes, str, Image]:
    """(bytes, extension, the image as encoded): PNG when it needs transparency or fits as PNG from a PNG or
    GIF, else JPEG; shrunk only when even the lowest setting does not fit."""
    if image.mode == "RGBA":
        return _fit(image, source, _transparent_png, "png")
    if kind in ("PNG", "GIF"):
        data, fits = _small_png(image)
        if fits:
            return data, "png", image
    return _fit(image, source, _best_jpeg, "jpg")


def _fit(image: Image, source: str, encode: Encoder, extension: str) -> tuple[bytes, str, Image]:
    while True:
        data, fits = encode(image)
        if fits:
            return data, extension, image
        image = _shrink(image, len(data), source)


def _best_jpeg(image: Image) -> tuple[bytes, bool]:
    """The highest quality that fits (most photos fit at the top one); else the lowest one's bytes."""
    top = _jpeg(image, QUALITIES[-1])
    if len(top) <= MAX_BYTES:
        return top, True
    low, high, best, smallest = 0, len(QUALITIES) - 2, b"", top
    while low <= high:  # file size grows with quality: the qualities that fit form a prefix
        middle = (low + high) // 2
        data = _jpeg(image, QUALITIES[middle])
        if len(data) <= MAX_BYTES:
            best, low = data, middle + 1
        else:
            smallest, high = data, middle - 1
    return (best, True) if best else (smallest, False)


def _transparent_png(image: Image) -> tuple[bytes, bool]:
    """Full colour when it fits, else 256 colours with their transparency (most logos look the same)."""
    from PIL import Image as PIL

    data, fits = _small_png(image)
    if fits:
        return data, True
    return _small_png(image.quantize(256, method=PIL.Quantize.FASTOCTREE))


def _small_png(image: Image) -> tuple[bytes, bool]:
    """The smallest PNG, tried only when a quick one comes within half again of the limit: the slow one saves
    less than that, so a photo or noise is spared it."""
    quick = _png(image, quick=True)
    if len(quick) > MAX_BYTES * 1.5:
        return quick, False
    data = _png(image)
    return data, len(data) <= MAX_BYTES


def _jpeg(image: Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()


def _png(image: Image, quick: bool = False) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", **({"compress_level": 1} if quick else {"optimize": True}))
    return out.getvalue()


def _shrink(image: Image, size: int, source: str) -> Image:
    """Smaller by the area the bytes must lose, with a margin, and never by more than half a side at once."""
    from PIL import Image as PIL

    factor = min(0.9, max(0.5, (MAX_BYTES / size) ** 0.5 * 0.95))
    width, height = round(image.width * factor), round(image.height * factor)
    if max(width, height) < MIN_SIDE:
        raise ContentError(source, FIELD, f"cannot be made smaller than {MAX_BYTES:,} bytes")
    return image.resize((max(1, width), max(1, height)), PIL.Resampling.LANCZOS)


def _too_many_pixels() -> str:
    from PIL import Image as PIL

    limit = PIL.MAX_IMAGE_PIXELS or 0
    return f"has more than {limit / 1e6:.0f} million pixels: a picture that large is refused, save a smaller copy"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
