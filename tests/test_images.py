"""Tests for deeplab_viz.images: the one loader for untrusted images.

Every test builds its own files with Pillow/numpy under ``tmp_path``; nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image, ImageFile, PngImagePlugin

from deeplab_viz.images import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    MAX_ASPECT,
    MIN_SIDE,
    ImageError,
    LoadedImage,
    _to_rgb,
    describe,
    load_image,
)

# --------------------------------------------------------------------------- helpers


def save(tmp_path: Path, im: Image.Image, filename: str, **params: object) -> Path:
    """Save ``im`` under ``tmp_path`` (format from the extension) and return the path."""
    path = tmp_path / filename
    im.save(path, **params)
    return path


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode ``im`` in memory."""
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def pattern(width: int = 24, height: int = 16) -> np.ndarray:
    """An asymmetric (H, W, 3) uint8 test pattern: every pixel differs from its mirror."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 10 % 256, yy * 15 % 256, (xx * 3 + yy * 7) % 256], axis=-1).astype(
        np.uint8
    )


def smooth(width: int, height: int) -> np.ndarray:
    """A smooth, asymmetric (H, W, 3) uint8 gradient that survives JPEG well."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = 255 * xx / max(width - 1, 1)
    green = 255 * yy / max(height - 1, 1)
    blue = 128 + 100 * (xx >= width // 3) * (yy < height // 2)
    return np.stack([red, green, np.broadcast_to(blue, red.shape)], axis=-1).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, compressed row by row (tiny, cheap)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0 + packed zero bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def assert_rgb(img: LoadedImage, width: int, height: int) -> None:
    """The invariants of every LoadedImage.rgb."""
    assert img.rgb.shape == (height, width, 3)
    assert img.rgb.dtype == np.uint8
    assert img.rgb.flags.c_contiguous
    assert not img.rgb.flags.writeable
    assert img.size == (width, height)


def assert_clean_error(err: ImageError, filename: str) -> None:
    """An ImageError message is one line, names the file and has no traceback or repr."""
    message = str(err)
    assert message == err.message
    assert message
    assert "\n" not in message and "\r" not in message
    assert filename in message
    assert "Traceback" not in message
    assert " object at 0x" not in message


# --------------------------------------------------------------------------- modes


def test_rgb_png_roundtrip_exact(tmp_path: Path) -> None:
    arr = pattern()
    img = load_image(save(tmp_path, Image.fromarray(arr), "p.png"))
    assert_rgb(img, 24, 16)
    np.testing.assert_array_equal(img.rgb, arr)
    assert (img.source_format, img.source_mode) == ("PNG", "RGB")
    assert (img.resized, img.n_frames, img.exif_orientation) == (False, 1, 1)
    assert img.original_size == (24, 16)
    assert img.name == "p.png"


def test_grayscale_l(tmp_path: Path) -> None:
    img = load_image(save(tmp_path, Image.new("L", (10, 9), 100), "g.png"))
    assert img.source_mode == "L"
    assert_rgb(img, 10, 9)
    assert (img.rgb == 100).all()


def test_bilevel_mode_1(tmp_path: Path) -> None:
    im = Image.new("1", (16, 8), 0)
    im.paste(1, (8, 0, 16, 8))
    img = load_image(save(tmp_path, im, "b.png"))
    assert img.source_mode == "1"
    assert (img.rgb[:, :8] == 0).all()
    assert (img.rgb[:, 8:] == 255).all()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(65535, 255), (32768, 128), (65280, 255), (256, 1), (255, 0), (0, 0)],
)
def test_16bit_gray_png_scales_by_range(tmp_path: Path, value: int, expected: int) -> None:
    im = Image.fromarray(np.full((8, 8), value, dtype=np.uint16))
    img = load_image(save(tmp_path, im, "g16.png"))
    assert img.source_mode.startswith("I;16")
    assert (img.rgb == expected).all()


def test_16bit_big_endian_tiff(tmp_path: Path) -> None:
    values = np.array([[0, 255, 32768, 65535] * 2] * 8, dtype=np.uint16)
    im = Image.frombytes("I;16B", (8, 8), values.astype(">u2").tobytes())
    img = load_image(save(tmp_path, im, "g16b.tif"))
    assert img.source_mode == "I;16B"
    np.testing.assert_array_equal(img.rgb[0, :4, 0], [0, 0, 128, 255])


def test_16bit_gray_transparency_is_white(tmp_path: Path) -> None:
    values = np.full((8, 8), 4096, dtype=np.uint16)
    values[0, 0] = 7
    im = Image.fromarray(values)
    img = load_image(save(tmp_path, im, "t16.png", transparency=7))
    assert tuple(img.rgb[0, 0]) == (255, 255, 255)
    assert tuple(img.rgb[1, 1]) == (16, 16, 16)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 100, 200, 255], [0, 100, 200, 255]),  # fits 8 bits: kept
        ([0, 256, 32768, 65535], [0, 1, 128, 255]),  # fits 16 bits: >> 8
        ([-1000, 0, 1000, 1000], [0, 128, 255, 255]),  # anything else: min-max
    ],
)
def test_32bit_int_mode_i(tmp_path: Path, values: list[int], expected: list[int]) -> None:
    im = Image.fromarray(np.array([values * 2] * 8, dtype=np.int32))
    img = load_image(save(tmp_path, im, "i32.tif"))
    assert img.source_mode == "I"
    np.testing.assert_array_equal(img.rgb[0, :4, 1], expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0, 1.0], [0, 128, 255, 255]),  # [0, 1]: * 255
        ([0.0, 10.4, 254.6, 255.0], [0, 10, 255, 255]),  # [0, 255]: rounded
        ([-1.0, 0.0, 1.0, float("nan")], [0, 128, 255, 128]),  # min-max, NaN -> 0
    ],
)
def test_float_mode_f(tmp_path: Path, values: list[float], expected: list[int]) -> None:
    im = Image.fromarray(np.array([values * 2] * 8, dtype=np.float32))
    img = load_image(save(tmp_path, im, "f.tif"))
    assert img.source_mode == "F"
    np.testing.assert_array_equal(img.rgb[0, :4, 2], expected)


def test_rgba_transparent_pixels_become_white(tmp_path: Path) -> None:
    arr = np.zeros((8, 12, 4), dtype=np.uint8)
    arr[..., 0] = 200  # red everywhere
    arr[:, :4, 3] = 0  # transparent
    arr[:, 4:8, 3] = 128  # half
    arr[:, 8:, 3] = 255  # opaque
    img = load_image(save(tmp_path, Image.fromarray(arr), "a.png"))
    assert img.source_mode == "RGBA"
    assert (img.rgb[:, :4] == 255).all()
    np.testing.assert_allclose(img.rgb[0, 5], [227, 127, 127], atol=1)
    assert tuple(img.rgb[0, 10]) == (200, 0, 0)


def test_la_transparent_pixels_become_white(tmp_path: Path) -> None:
    arr = np.zeros((8, 8, 2), dtype=np.uint8)
    arr[..., 0] = 50
    arr[:, 4:, 1] = 255
    img = load_image(save(tmp_path, Image.fromarray(arr, "LA"), "la.png"))
    assert img.source_mode == "LA"
    assert (img.rgb[:, :4] == 255).all()
    assert (img.rgb[:, 4:] == 50).all()


@pytest.mark.parametrize("filename", ["pt.png", "pt.gif"])
def test_palette_with_transparency_index_becomes_white(tmp_path: Path, filename: str) -> None:
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 9))
    im.paste(2, (0, 0, 4, 8))
    img = load_image(save(tmp_path, im, filename, transparency=2))
    assert img.source_mode == "P"
    assert (img.rgb[:, :4] == 255).all()
    assert (img.rgb[:, 4:] == [10, 20, 30]).all()


def test_palette_without_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 10, 20, 30] + [0] * (256 * 3 - 6))
    img = load_image(save(tmp_path, im, "p.png"))
    assert (img.rgb == [10, 20, 30]).all()


def test_palette_with_alpha_pa(tmp_path: Path) -> None:
    im = Image.new("PA", (8, 8), (1, 255))
    im.putpalette([0, 0, 0, 10, 20, 30] + [0] * (256 * 3 - 6))
    im.paste((1, 0), (0, 0, 4, 8))
    img = load_image(save(tmp_path, im, "pa.tif"))
    assert img.source_mode == "PA"
    assert (img.rgb[:, :4] == 255).all()
    assert (img.rgb[:, 4:] == [10, 20, 30]).all()


def test_l_and_rgb_trns_colour_become_white(tmp_path: Path) -> None:
    gray = Image.new("L", (8, 8), 5)
    gray.paste(9, (0, 0, 4, 8))
    img = load_image(save(tmp_path, gray, "lt.png", transparency=5))
    assert (img.rgb[:, 4:] == 255).all() and (img.rgb[:, :4] == 9).all()
    rgb = Image.new("RGB", (8, 8), (1, 2, 3))
    img = load_image(save(tmp_path, rgb, "rt.png", transparency=(1, 2, 3)))
    assert (img.rgb == 255).all()


def test_cmyk_jpeg_adobe_inverted_pure_cyan(tmp_path: Path) -> None:
    im = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    img = load_image(save(tmp_path, im, "cyan.jpg", quality=95))
    assert (img.source_format, img.source_mode) == ("JPEG", "CMYK")
    np.testing.assert_allclose(img.rgb.reshape(-1, 3).mean(axis=0), [0, 255, 255], atol=3)


def test_cmyk_tiff(tmp_path: Path) -> None:
    im = Image.new("CMYK", (8, 8), (0, 255, 0, 0))
    img = load_image(save(tmp_path, im, "magenta.tif"))
    assert img.source_mode == "CMYK"
    assert (img.rgb == [255, 0, 255]).all()


def test_ycbcr_and_lab_tiff(tmp_path: Path) -> None:
    arr = smooth(16, 8)
    for mode in ("YCbCr", "LAB"):
        im = Image.fromarray(arr).convert(mode)
        img = load_image(save(tmp_path, im, f"{mode}.tif"))
        assert img.source_mode == mode
        np.testing.assert_array_equal(img.rgb, np.asarray(im.convert("RGB")))
        # The RGB -> mode -> RGB round trip itself is only approximate for saturated colours.
        assert np.abs(img.rgb.astype(int) - arr).mean() < 6


def test_in_memory_only_modes_convert() -> None:
    """HSV and premultiplied La cannot be stored in a file; check the converter directly."""
    hsv = Image.new("HSV", (8, 8), (85, 255, 255))
    assert np.array(_to_rgb(hsv, "x")).tolist()[0][0] == [0, 255, 0]
    la = Image.new("La", (8, 8), (0, 0))
    assert (np.array(_to_rgb(la, "x")) == 255).all()


# --------------------------------------------------------------------------- EXIF


def _upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for pixels ``stored`` tagged with ``orientation`` (EXIF spec)."""
    transforms: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirror horizontal
        3: lambda a: a[::-1, ::-1],  # rotate 180
        4: lambda a: a[::-1, :],  # mirror vertical
        5: lambda a: a.transpose(1, 0, 2),  # transpose (main diagonal)
        6: lambda a: np.rot90(a, k=-1),  # rotate 90 clockwise
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transverse (anti-diagonal)
        8: lambda a: np.rot90(a, k=1),  # rotate 90 counter-clockwise
    }
    return np.ascontiguousarray(transforms[orientation](stored))


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_all_eight(tmp_path: Path, orientation: int) -> None:
    stored = pattern(24, 16)
    path = save(tmp_path, Image.fromarray(stored), "o.png", exif=_exif(orientation))
    img = load_image(path)
    expected = _upright(stored, orientation)
    np.testing.assert_array_equal(img.rgb, expected)
    assert img.exif_orientation == orientation
    assert img.original_size == (expected.shape[1], expected.shape[0])
    assert ("EXIF orientation" in describe(img)) == (orientation != 1)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_jpeg(tmp_path: Path, orientation: int) -> None:
    stored = smooth(48, 32)
    path = save(tmp_path, Image.fromarray(stored), "o.jpg", exif=_exif(orientation), quality=95)
    img = load_image(path)
    expected = _upright(stored, orientation)
    assert img.rgb.shape == expected.shape
    diff = np.abs(img.rgb.astype(int) - expected.astype(int))
    assert diff.mean() < 4


def test_exif_orientation_with_resize(tmp_path: Path) -> None:
    stored = smooth(200, 100)
    path = save(tmp_path, Image.fromarray(stored), "r.png", exif=_exif(6))
    img = load_image(path, max_side=50)
    assert img.size == (25, 50)
    assert img.original_size == (100, 200)
    assert describe(img) == (
        "r.png · 25×50 px · PNG RGB (resized from 100×200) (EXIF orientation 6 applied)"
    )


def test_invalid_exif_orientation_is_ignored(tmp_path: Path) -> None:
    stored = pattern()
    img = load_image(save(tmp_path, Image.fromarray(stored), "o9.png", exif=_exif(9)))
    assert img.exif_orientation == 1
    np.testing.assert_array_equal(img.rgb, stored)


# --------------------------------------------------------------------------- pixel caps


_BOMB_CHILD = """
import json, resource, sys
from deeplab_viz.images import ImageError, load_image

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

before = peak_mib()  # this fresh process's own peak: the interpreter and the imports
try:
    load_image(sys.argv[1])
    error = None
except ImageError as exc:
    error = str(exc)
print(json.dumps({"before_mib": before, "after_mib": peak_mib(), "error": error}))
"""


def test_pixel_bomb_refused_before_decoding(tmp_path: Path) -> None:
    """Measured in a fresh process, whose peak memory no earlier test has raised: the
    400-megapixel image is refused from its header and never allocated."""
    data = blank_bilevel_png(20_000, 20_000)  # 400 megapixels, a few tens of KiB
    assert len(data) < 1_000_000
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    run = subprocess.run(
        [sys.executable, "-c", _BOMB_CHILD, str(path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["error"] is not None and "bomb.png" in out["error"]
    assert "too large" in out["error"] or "too many pixels" in out["error"]
    assert "Traceback" not in out["error"] and "\n" not in out["error"]
    assert out["after_mib"] - out["before_mib"] < 100  # 400 MB if it had been decoded
    with pytest.raises(ImageError) as info:  # and in this process, the same clean error
        load_image(path)
    assert_clean_error(info.value, "bomb.png")


def test_own_pixel_cap_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """64 MP is under Pillow's own guard but over DEFAULT_MAX_PIXELS: we refuse from the header."""
    data = blank_bilevel_png(8_000, 8_000)

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixel data must not be decoded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    with pytest.raises(ImageError) as info:
        load_image(data, name="wide.png")
    assert_clean_error(info.value, "wide.png")
    assert "8000×8000 = 64,000,000 pixels, the limit is 50,000,000 pixels" in str(info.value)


def test_pillow_decompression_bomb_error_becomes_image_error() -> None:
    """Even with our own cap lifted, Pillow's guard (2x MAX_IMAGE_PIXELS) is reported cleanly."""
    limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as info:
        load_image(blank_bilevel_png(20_000, 20_000), name="bomb.png", max_pixels=10**12)
    assert_clean_error(info.value, "bomb.png")
    assert Image.MAX_IMAGE_PIXELS == limit


def test_custom_max_pixels(tmp_path: Path) -> None:
    path = save(tmp_path, Image.new("RGB", (300, 300)), "big.png")
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=89_999)
    assert_clean_error(info.value, "big.png")
    assert "300×300 = 90,000 pixels, the limit is 89,999 pixels" in str(info.value)
    assert load_image(path, max_pixels=90_000).size == (300, 300)  # the cap is inclusive


def test_pillow_bomb_warning_and_error_do_not_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    warned = encode(Image.new("L", (40, 40), 7), "PNG")  # 1600 px: Pillow only warns
    refused = encode(Image.new("L", (64, 64), 7), "PNG")  # 4096 px > 2x: Pillow raises
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (load_image(warned).rgb == 7).all()
        with pytest.raises(ImageError) as info:
            load_image(refused, name="refused.png")
    assert_clean_error(info.value, "refused.png")


# --------------------------------------------------------------------------- working size


def test_default_max_side_resizes_longest_side(tmp_path: Path) -> None:
    im = Image.fromarray(smooth(2000, 1000))
    img = load_image(save(tmp_path, im, "wide.png"))
    assert_rgb(img, DEFAULT_MAX_SIDE, 512)
    assert img.resized and img.original_size == (2000, 1000)
    assert "(resized from 2000×1000)" in describe(img)
    # Lanczos keeps a smooth gradient's values: left edge red ~0, right edge red ~255.
    assert img.rgb[:, 0, 0].max() < 5 and img.rgb[:, -1, 0].min() > 250


def test_large_jpeg_resized_to_exact_size(tmp_path: Path) -> None:
    im = Image.new("RGB", (4000, 3000), (10, 200, 30))
    img = load_image(save(tmp_path, im, "huge.jpg"))
    assert_rgb(img, 1024, 768)
    assert img.original_size == (4000, 3000)
    np.testing.assert_allclose(img.rgb.reshape(-1, 3).mean(axis=0), [10, 200, 30], atol=3)


def test_large_jpeg_with_exif_rotation_resized(tmp_path: Path) -> None:
    stored = np.zeros((1500, 2000, 3), dtype=np.uint8)
    stored[:, :1000] = (255, 0, 0)  # left half red, right half blue
    stored[:, 1000:] = (0, 0, 255)
    path = save(tmp_path, Image.fromarray(stored), "cam.jpg", exif=_exif(6))
    img = load_image(path, max_side=400)
    assert_rgb(img, 300, 400)
    assert img.original_size == (1500, 2000)
    # Rotated 90° clockwise: the red left half is now the top half.
    np.testing.assert_allclose(img.rgb[50, 150], [254, 0, 0], atol=4)
    np.testing.assert_allclose(img.rgb[350, 150], [0, 0, 254], atol=4)


def test_custom_max_side_and_none(tmp_path: Path) -> None:
    path = save(tmp_path, Image.fromarray(smooth(300, 200)), "m.png")
    assert load_image(path, max_side=100).size == (100, 67)
    assert load_image(path, max_side=300).resized is False
    full = load_image(path, max_side=None)
    assert full.size == (300, 200) and not full.resized
    small = load_image(path, max_side=MIN_SIDE)
    assert small.size == (8, 8)  # short side never below MIN_SIDE


def test_small_image_not_resized(tmp_path: Path) -> None:
    img = load_image(save(tmp_path, Image.new("RGB", (100, 50)), "s.png"))
    assert img.size == (100, 50) and not img.resized
    assert "resized" not in describe(img)


def test_panorama_10000x200(tmp_path: Path) -> None:
    img = load_image(save(tmp_path, Image.fromarray(smooth(10_000, 200)), "pano.png"))
    assert_rgb(img, 1024, 20)
    assert img.original_size == (10_000, 200)


def test_too_elongated_refused(tmp_path: Path) -> None:
    ok = save(tmp_path, Image.new("L", (8 * MAX_ASPECT, 8)), "edge.png")
    assert load_image(ok).size == (8 * MAX_ASPECT, 8)
    path = save(tmp_path, Image.new("L", (10_000, 100)), "strip.png")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert_clean_error(info.value, "strip.png")
    assert "elongated" in str(info.value)


# --------------------------------------------------------------------------- bad input


def _corrupt_jpeg(tmp_path: Path) -> Path:
    data = bytearray(encode(Image.fromarray(smooth(128, 96)), "JPEG", quality=95))
    scan = data.index(b"\xff\xda")  # start of scan: entropy-coded data follows
    middle = (scan + len(data)) // 2
    noise = np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes()
    # libjpeg shrugs off many bit errors (warning + garbage pixels); a stray marker it cannot
    # ignore makes the damage detectable, so the random block starts with one.
    data[middle : middle + 512] = b"\xff\x99" + noise[2:]
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(bytes(data))
    return path


def _truncated_png(tmp_path: Path) -> Path:
    data = encode(Image.fromarray(pattern(64, 64)), "PNG")
    path = tmp_path / "half.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(tmp_path: Path) -> Path:
    data = encode(Image.fromarray(smooth(128, 96)), "JPEG")
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def _text_as_jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\nsecond line\n")
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return path


def _one_pixel(tmp_path: Path) -> Path:
    return save(tmp_path, Image.new("RGB", (1, 1)), "dot.png")


def _thin(tmp_path: Path) -> Path:
    return save(tmp_path, Image.new("RGB", (100, MIN_SIDE - 1)), "thin.png")


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.png"


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.png"
    path.mkdir()
    return path


BAD_FILES: dict[str, Callable[[Path], Path]] = {
    "corrupt jpeg": _corrupt_jpeg,
    "truncated png": _truncated_png,
    "truncated jpeg": _truncated_jpeg,
    "text named .jpg": _text_as_jpeg,
    "zero bytes": _empty,
    "1x1": _one_pixel,
    "side below MIN_SIDE": _thin,
    "nonexistent": _missing,
    "directory": _directory,
}


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files_raise_clean_image_error(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError) as info:
            load_image(path)
    assert type(info.value) is ImageError
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None
    assert_clean_error(info.value, path.name)


@pytest.mark.parametrize(
    "make",
    [_corrupt_jpeg, _truncated_png, _text_as_jpeg, _empty, _one_pixel],
    ids=["corrupt jpeg", "truncated png", "text", "empty", "1x1"],
)
def test_bad_bytes_and_streams_raise_clean_image_error(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    data = make(tmp_path).read_bytes()
    for source in (data, io.BytesIO(data)):
        with pytest.raises(ImageError) as info:
            load_image(source, name="upload.bin")
        assert_clean_error(info.value, "upload.bin")


def test_specific_messages(tmp_path: Path) -> None:
    cases = {
        _text_as_jpeg: "is not an image Pillow can read",
        _empty: "is empty (0 bytes)",
        _one_pixel: "is only 1×1 px",
        _missing: "does not exist",
        _directory: "is a directory",
        _truncated_png: "truncated or corrupt",
    }
    for make, expected in cases.items():
        with pytest.raises(ImageError, match=re.escape(expected)):
            load_image(make(tmp_path))


def test_name_with_newline_is_flattened() -> None:
    with pytest.raises(ImageError) as info:
        load_image(b"garbage", name="evil\nname.png")
    assert "\n" not in str(info.value)
    assert "evil name.png" in str(info.value)


# --------------------------------------------------------------------------- frames


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (16, 12), c) for c in colours]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(path)
    assert img.n_frames == 3
    assert (img.rgb == colours[0]).all()
    assert describe(img).endswith("(first of 3 frames)")


# --------------------------------------------------------------------------- sources


def test_path_bytes_and_file_objects_agree(tmp_path: Path) -> None:
    path = save(tmp_path, Image.fromarray(pattern()), "same.png")
    data = path.read_bytes()
    stream = io.BytesIO(data)
    stream.seek(17)  # a caller's half-read object is rewound
    with path.open("rb") as handle:
        results = [
            load_image(path),
            load_image(str(path)),
            load_image(data, name="same.png"),
            load_image(bytearray(data), name="same.png"),
            load_image(stream, name="same.png"),
            load_image(handle),
        ]
        assert not handle.closed
    assert not stream.closed
    assert {r.key for r in results} == {results[0].key}
    assert {r.name for r in results} == {"same.png"}
    for r in results:
        np.testing.assert_array_equal(r.rgb, results[0].rgb)


def test_default_and_given_names(tmp_path: Path) -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    assert load_image(data).name == "image"
    assert load_image(io.BytesIO(data)).name == "image"
    path = save(tmp_path, Image.new("RGB", (8, 8)), "real.png")
    assert load_image(path, name="shown.png").name == "shown.png"


def test_unsupported_source_type() -> None:
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- result


def test_key_is_stable_and_distinguishes_images(tmp_path: Path) -> None:
    a = save(tmp_path, Image.fromarray(pattern()), "a.png")
    b = save(tmp_path, Image.fromarray(pattern()[::-1].copy()), "b.png")
    assert load_image(a).key == load_image(a).key
    assert load_image(a).key != load_image(b).key
    assert len(load_image(a).key) == 64
    wide = load_image(encode(Image.new("RGB", (16, 8)), "PNG"))
    tall = load_image(encode(Image.new("RGB", (8, 16)), "PNG"))
    assert wide.rgb.tobytes() == tall.rgb.tobytes()
    assert wide.key != tall.key  # the shape is part of the key


def test_result_is_read_only_and_frozen(tmp_path: Path) -> None:
    img = load_image(save(tmp_path, Image.fromarray(pattern()), "ro.png"))
    with pytest.raises(ValueError):
        img.rgb[0, 0, 0] = 1
    with pytest.raises(AttributeError):
        img.name = "other"  # type: ignore[misc]


def test_describe_plain() -> None:
    img = load_image(encode(Image.new("RGB", (451, 300)), "PNG"), name="chelsea.png")
    assert describe(img) == "chelsea.png · 451×300 px · PNG RGB"


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("max_side", [0, -5, MIN_SIDE - 1, 8.5, True, "1024"])
def test_bad_max_side_is_a_programming_error(max_side: object) -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(ValueError) as info:
        load_image(data, max_side=max_side)  # type: ignore[arg-type]
    assert not isinstance(info.value, ImageError)


@pytest.mark.parametrize("max_pixels", [0, -1, 1.5, None, False])
def test_bad_max_pixels_is_a_programming_error(max_pixels: object) -> None:
    data = encode(Image.new("RGB", (8, 8)), "PNG")
    with pytest.raises(ValueError) as info:
        load_image(data, max_pixels=max_pixels)  # type: ignore[arg-type]
    assert not isinstance(info.value, ImageError)


def test_numpy_integer_caps_are_accepted() -> None:
    data = encode(Image.new("RGB", (64, 32)), "PNG")
    img = load_image(data, max_side=np.int64(16), max_pixels=np.int32(10_000))
    assert img.size == (16, 8)


def test_defaults() -> None:
    assert (DEFAULT_MAX_SIDE, DEFAULT_MAX_PIXELS, MIN_SIDE) == (1024, 50_000_000, 8)


# --------------------------------------------------------------------------- hygiene


def test_no_warnings_escape(tmp_path: Path) -> None:
    bytes_trns = Image.new("P", (8, 8), 0)
    bytes_trns.info["transparency"] = bytes([0] + [255] * 255)
    paths = [
        save(tmp_path, bytes_trns, "ptrns.png"),
        save(tmp_path, Image.new("RGB", (8, 8)), "bad-exif.jpg", exif=b"Exif\x00\x00garbage"),
        save(tmp_path, Image.new("RGBA", (30, 20), (0, 0, 0, 0)), "clear.png"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in paths:
            with Image.open(path) as im:
                width, height = im.size
            assert_rgb(load_image(path), width, height)


def test_concurrent_loads_leave_warning_filters_alone() -> None:
    data = encode(Image.fromarray(pattern()), "PNG")
    before = list(warnings.filters)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_image(data).key, range(64)))
    assert len(keys) == 1
    assert warnings.filters == before


def test_library_does_not_import_streamlit() -> None:
    code = "import sys, deeplab_viz.images; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_overlay_keeps_the_photo_readable_and_can_outline():
    from deeplab_viz.palette import class_edges, overlay, voc_colours

    rgb = np.full((6, 8, 3), 200, np.uint8)
    cm = np.zeros((6, 8), np.uint8)
    cm[:, 4:] = 8  # VOC's dark maroon "cat"
    out = overlay(rgb, cm)
    assert np.array_equal(out[:, :4], rgb[:, :4])  # background untouched
    cat = voc_colours(cm)[0, 5].astype(float)
    assert np.allclose(out[0, 6], 0.55 * 200 + 0.45 * cat, atol=1)  # the photo keeps 55%
    edged = overlay(rgb, cm, outline=True)
    assert class_edges(cm)[:, 3].all() and not class_edges(cm)[:, 5].any()
    assert (edged[:, 3] == 255).all() and np.array_equal(edged[:, 5:], out[:, 5:])
