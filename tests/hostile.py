"""Hostile and awkward image files, made on the fly (nothing is stored in the repo).

Each entry: file name -> (bytes, expectation). "ok": the loader handles it and the
model runs; "refused": one clear sentence; "either": one of the two, never a crash.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _photo(w: int = 320, h: int = 240) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 64) * 4], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def bomb_png(side: int = 20000) -> bytes:
    """A valid side×side 1-bit PNG of a few tens of KB (a decompression bomb)."""
    raw_row = b"\x00" + b"\x00" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(raw_row) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def hostile_files() -> dict[str, tuple[bytes, str]]:
    photo = _photo()
    good_jpeg = _jpeg(photo)
    corrupt = bytearray(good_jpeg)
    mid = len(corrupt) // 2
    corrupt[mid : mid + 512] = b"\xff\xd9" + bytes(range(256)) * 2  # EOI marker mid-stream + junk
    good_png = _png(photo)

    g16 = Image.fromarray((np.linspace(0, 65535, 200 * 150).reshape(150, 200)).astype(np.uint16))
    cmyk = photo.convert("CMYK")
    frames = [_photo(160, 120).rotate(a) for a in (0, 90, 180)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgba = photo.convert("RGBA")
    alpha = np.zeros((240, 320), np.uint8)
    alpha[60:180, 80:240] = 255
    rgba.putalpha(Image.fromarray(alpha))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display upright
    rotated = _jpeg(_photo(320, 240), exif=exif.tobytes())
    panorama = _jpeg(_photo(10000, 200))

    return {
        # damaged entropy data: libjpeg recovers (with artefacts), as browsers do
        "corrupt.jpg": (bytes(corrupt), "either"),
        "truncated.png": (good_png[: len(good_png) // 2], "refused"),
        "text_renamed.jpg": (b"This is a text file, not a picture.\n" * 20, "refused"),
        "zero_bytes.png": (b"", "refused"),
        "one_pixel.png": (_png(Image.new("RGB", (1, 1), (255, 0, 0))), "refused"),
        "bomb_20000x20000.png": (bomb_png(), "refused"),
        "gray16.png": (_png(g16), "ok"),
        "cmyk.jpg": (_jpeg(cmyk), "ok"),
        "animated.gif": (gif.getvalue(), "ok"),
        "rgba_transparent.png": (_png(rgba), "ok"),
        "exif_rotated.jpg": (rotated, "ok"),
        "panorama_10000x200.jpg": (panorama, "ok"),
    }
