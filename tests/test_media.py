"""The media library: what a stored picture keeps (pixels, upright) and loses (every trace), its limits, its
refusals, `bot media add`, and an item's `image: media/NAME` in `bot validate`."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from bot import media
from bot.cli import cli
from bot.errors import ContentError
from bot.settings import Settings

from . import pictures
from .conftest import BASE


def opened(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def close(colour: tuple[int, ...], wanted: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour[:3], wanted, strict=True))


def test_a_phone_photo_loses_gps_exif_and_every_other_trace_and_is_turned_upright(
        settings: Settings, queue_dir: Path) -> None:
    data = pictures.phone_photo(300, 200, orientation=6)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the input does carry a position

    stored = media.store(settings, data, "IMG_0815.jpg")

    raw = stored.path.read_bytes()
    image = opened(stored.path)
    assert image.getexif() == {} and not image.getexif().get_ifd(0x8825)
    assert not {"exif", "xmp", "comment", "icc_profile", "dpi"} & set(image.info)
    for trace in (b"Exif\x00", b"GPS", pictures.SERIAL.encode(), pictures.COMMENT, b"Secretville", b"Canon",
                  b"ICC_PROFILE", b"adobe"):
        assert trace not in raw, trace
    # Turned as the tag said: the stored pixels are 200 wide, and what was the left (red) is now the top.
    assert (image.format, image.size) == ("JPEG", (200, 300))
    assert close(image.getpixel((100, 20)), pictures.RED) and close(image.getpixel((100, 280)), pictures.BLUE)
    # Named by its content, where items find it.
    name = hashlib.sha256(raw).hexdigest()[:16] + ".jpg"
    assert stored.image == f"media/{name}" and stored.path == queue_dir / "media" / name
    assert (stored.width, stored.height, stored.size) == (200, 300, len(raw))


def test_a_big_photo_is_fitted_within_2000_px_and_1_000_000_bytes_and_kept_as_large_as_that_allows(
        settings: Settings, queue_dir: Path) -> None:
    data = pictures.encoded(pictures.noise(3000, 2400), "JPEG", quality=95)
    assert len(data) > 5_000_000

    stored = media.store(settings, data, "noise.jpg")

    assert stored.size <= media.MAX_BYTES and max(stored.width, stored.height) <= media.MAX_SIDE
    assert stored.size > 0.8 * media.MAX_BYTES  # shrunk only as far as needed
    assert stored.width > 1000 and abs(stored.width / stored.height - 3000 / 2400) < 0.01
    assert opened(stored.path).size == (stored.width, stored.height)


def test_a_large_photo_that_compresses_well_keeps_2000_px(settings: Settings, queue_dir: Path) -> None:
    data = pictures.encoded(pictures.halves(6000, 4000), "JPEG", quality=90)

    stored = media.store(settings, data, "wide.jpg")

    assert (stored.width, stored.height) == (2000, 1333) and stored.path.suffix == ".jpg"


def test_a_png_with_transparency_stays_png_with_its_transparency(settings: Settings, queue_dir: Path) -> None:
    stored = media.store(settings, pictures.transparent_png(), "logo.png")

    image = opened(stored.path)
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (400, 300))
    assert image.getpixel((5, 5))[3] == 0 and image.getpixel((200, 150)) == (11, 57, 84, 255)


def test_a_big_transparent_png_is_fitted_too(settings: Settings, queue_dir: Path) -> None:
    grain = pictures.noise(2200, 1800).convert("RGBA")
    grain.putalpha(Image.linear_gradient("L").resize((2200, 1800)))
    stored = media.store(settings, pictures.encoded(grain, "PNG"), "grain.png")

    image = opened(stored.path)
    assert image.format == "PNG" and image.mode in ("RGBA", "P") and stored.size <= media.MAX_BYTES
    assert max(image.size) <= media.MAX_SIDE


def test_a_flat_png_stays_png_and_a_photo_saved_as_png_becomes_jpeg(settings: Settings, queue_dir: Path) -> None:
    chart = media.store(settings, pictures.encoded(pictures.halves(1200, 800), "PNG"), "chart.png")
    photo = media.store(settings, pictures.encoded(pictures.noise(1500, 1000), "PNG"), "photo.png")

    assert chart.path.suffix == ".png" and opened(chart.path).mode == "RGB"
    assert photo.path.suffix == ".jpg" and photo.size <= media.MAX_BYTES and photo.width == 1500


def test_webp_becomes_jpeg_which_every_email_client_shows(settings: Settings, queue_dir: Path) -> None:
    stored = media.store(settings, pictures.encoded(pictures.halves(300, 200), "WEBP"), "photo.webp")
    assert opened(stored.path).format == "JPEG"


def test_an_animated_gif_keeps_its_first_frame_as_png(settings: Settings, queue_dir: Path) -> None:
    stored = media.store(settings, pictures.animated_gif(), "spinner.gif")

    image = opened(stored.path)
    assert (image.format, image.size) == ("PNG", (120, 80)) and not getattr(image, "is_animated", False)
    assert image.convert("RGB").getpixel((60, 40)) == (200, 0, 0)  # the first frame's colour
    assert stored.notes == ("an animated GIF: only its first frame is kept",)


@pytest.mark.parametrize(("data", "message"), [
    (b"%PDF-1.7\n not a picture at all", "is not a JPEG, PNG, WebP or GIF picture"),
    (pictures.encoded(pictures.halves(40, 30), "BMP"), "is not a JPEG, PNG, WebP or GIF picture"),
    (pictures.encoded(pictures.halves(40, 30), "TIFF"), "is not a JPEG, PNG, WebP or GIF picture"),
    (pictures.phone_photo()[:1500], "cannot be read: the picture is damaged or incomplete"),
    (b"", "is empty"),
    (pictures.bomb_png(20_000, 20_000), "has more than 89 million pixels"),  # Pillow's own refusal
    (pictures.bomb_png(10_000, 10_000), "has more than 89 million pixels"),  # between its warning and refusal
], ids=["pdf", "bmp", "tiff", "truncated", "empty", "bomb", "bomb-below-pillows-refusal"])
def test_what_is_not_a_usable_picture_is_refused_naming_the_file_and_field(
        settings: Settings, queue_dir: Path, data: bytes, message: str) -> None:
    with pytest.raises(ContentError) as refused:
        media.store(settings, data, "upload.jpg")
    assert (refused.value.path, refused.value.field) == ("upload.jpg", "file")
    assert refused.value.message.startswith(message) and "\n" not in str(refused.value)
    assert not (queue_dir / "media").exists() or not any((queue_dir / "media").iterdir())


def test_a_file_over_20_mb_is_refused_before_it_is_decoded(settings: Settings, queue_dir: Path,
                                                            tmp_path: Path) -> None:
    big = tmp_path / "huge.jpg"
    big.write_bytes(pictures.phone_photo() + bytes(media.MAX_INPUT_BYTES))
    with pytest.raises(ContentError, match=r"huge\.jpg: file: is 20\.0 MB; a picture may be at most 20 MB"):
        media.read_file(big)
    with pytest.raises(ContentError, match="a picture may be at most 20 MB"):
        media.store(settings, big.read_bytes(), "huge.jpg")


def test_the_same_picture_stored_twice_is_one_file(settings: Settings, queue_dir: Path) -> None:
    data = pictures.phone_photo()
    first = media.store(settings, data, "a.jpg")
    second = media.store(settings, data, "copy of a.jpg")
    again = media.store(settings, first.path.read_bytes(), "the stored file itself")

    assert first.image == second.image == again.image
    assert [p.name for p in (queue_dir / "media").iterdir()] == [first.path.name]


def test_public_url_and_local_file(settings: Settings) -> None:
    assert media.public_url(settings, "media/0123456789abcdef.jpg") == \
        "https://news.example.org/media/0123456789abcdef.jpg"
    assert media.public_url(settings, "https://cdn.example.org/a.jpg") == "https://cdn.example.org/a.jpg"
    assert media.local_file(settings, "media/0123456789abcdef.jpg") == \
        settings.queue_dir / "media" / "0123456789abcdef.jpg"
    assert media.local_file(settings, "https://cdn.example.org/a.jpg") is None


# --- `bot media add` and `bot validate` -----------------------------------------------------------------


def run(args: list[str], queue_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**BASE, "BOT_QUEUE_DIR": str(queue_dir), "BOT_STATE_DIR": str(tmp_path / "var")}
    return CliRunner().invoke(cli, ["--env-file", "/dev/null", *args], env=env)


def test_bot_media_add_prints_the_path_for_an_item_and_the_lines_to_paste(queue_dir: Path, tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0815.jpg"
    photo.write_bytes(pictures.phone_photo())

    result = run(["media", "add", str(photo), "--alt", "Two defenders: one holds a banner"], queue_dir, tmp_path)

    assert result.exit_code == 0, result.output
    [name] = [p.name for p in (queue_dir / "media").iterdir()]
    assert result.stdout == f"media/{name}\n"
    assert f"image: media/{name}\nimage_alt: \"Two defenders: one holds a banner\"\n" in result.stderr
    assert "200 x 300 px" in result.stderr


def test_bot_media_add_refuses_a_non_picture_in_one_line(queue_dir: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")

    result = run(["media", "add", str(text)], queue_dir, tmp_path)

    assert result.exit_code == 4 and result.stdout == ""
    assert result.stderr == f"error: {text}: file: is not a JPEG, PNG, WebP or GIF picture\n"
    missing = run(["media", "add", str(tmp_path / "nowhere.jpg")], queue_dir, tmp_path)
    assert missing.exit_code == 4
    assert missing.stderr.startswith(f"error: {tmp_path / 'nowhere.jpg'}: file: cannot be read")


def test_an_item_may_use_a_stored_picture_and_validate_reports_any_other_path(
        settings: Settings, queue_dir: Path, write_item, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stored = media.store(settings, pictures.phone_photo(), "photo.jpg")
    (queue_dir / "media" / "photo.jpg").write_bytes(stored.path.read_bytes())  # copied in by hand
    (tmp_path / "x.jpg").write_bytes(b"outside")
    front = "title: A vote\ndate: 2019-07-12\nsummary: The Council voted.\nimage_alt: A dot\nimage: "
    cases = {"good": stored.image, "missing": "media/missing.jpg", "up": "media/../x.jpg", "absolute": "/etc/x.jpg",
             "other": "images/x.jpg", "by-hand": "media/photo.jpg", "nested": f"media/sub/{stored.path.name}"}
    for name, value in cases.items():
        write_item(name, front + value)

    result = run(["validate"], queue_dir, tmp_path)

    lines = result.stdout.splitlines()[:-1]  # the summary line ends the report
    assert result.exit_code == 1 and len(lines) == len(cases) - 1, result.output
    said = {Path(line.split(":")[0]).stem: line for line in lines}
    assert "good" not in said
    assert said["missing"].endswith(f"image: media/missing.jpg does not exist in {queue_dir / 'media'}: add the "
                                    "picture with `bot media add FILE` (or the composer's upload) and use the path "
                                    "it gives")
    assert said["up"].endswith("image: 'media/../x.jpg' leaves the media folder: add the picture with `bot media "
                               "add FILE` (or the composer's upload) and use the path it gives, media/NAME")
    assert ": image: '/etc/x.jpg' is an absolute path" in said["absolute"]
    assert said["other"].endswith(": image: must be a full web address starting with https:// (or http://), or "
                                  "media/NAME for a picture added with `bot media add FILE` or the composer's upload; "
                                  "'images/x.jpg' is neither")
    assert said["by-hand"].endswith(f"image: media/photo.jpg was not stored by Herald: run `bot media add "
                                    f"{queue_dir / 'media' / 'photo.jpg'}` and use the path it prints")
    assert ": image: 'media/sub/" in said["nested"]
