"""Pictures for the media tests, made with Pillow on the spot: a phone photo full of traces, big ones, bombs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageCms

SERIAL = "SN-4242-0815-SOURCE"
COMMENT = b"taken outside the safe house"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:City="Secretville"/>'
       b"</rdf:RDF></x:xmpmeta>")
RED, BLUE = (220, 20, 20), (20, 20, 220)


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: which way up it ends can be read from its pixels."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def phone_photo(width: int = 300, height: int = 200, orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: GPS position, camera make, model and serial, a comment, XMP, an ICC profile,
    and an orientation tag (6: the camera was turned, the viewer must turn the picture 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif.get_ifd(0x8769)[0xA431] = SERIAL  # BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (46.0, 13.0, 20.5), 3: "E", 4: (6.0, 8.0, 40.25)})
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encoded(halves(width, height), "JPEG", quality=95, exif=exif, comment=COMMENT, icc_profile=profile,
                   xmp=XMP)


def noise(width: int, height: int) -> Image.Image:
    """Pure noise: the worst case for every encoder."""
    return Image.merge("RGB", [Image.effect_noise((width, height), 128).convert("L") for _ in range(3)])


def transparent_png(width: int = 400, height: int = 300) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((11, 57, 84, 255), (50, 50, width - 50, height - 50))
    return encoded(image, "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("P", (120, 80), index) for index in (1, 2, 3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 200] + [0] * 756)
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def bomb_png(width: int, height: int) -> bytes:
    """A real PNG of width x height black pixels in a few kilobytes: decoded, hundreds of megabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte, then one bit a pixel
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
