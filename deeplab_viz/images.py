"""One safe loader for every untrusted image: uploads, bundled samples and CLI paths.

:func:`load_image` turns a path, ``bytes`` or a binary file-like object (e.g. Streamlit's
``UploadedFile`` or :class:`io.BytesIO`) into a :class:`LoadedImage` whose ``rgb`` array is
always ``(H, W, 3)`` ``uint8``, upright, at most ``max_side`` pixels on its longest side and
read-only. Anything we refuse raises :class:`ImageError` with a single human-readable line
that names the file, suitable to show as-is in the UI.

Design choices
--------------
* **Transparency is composited over white.** RGBA, LA, PA, ``P`` with a transparent palette
  index and ``L``/``I;16``/``RGB`` with a ``tRNS`` colour are all flattened onto white,
  which is what a viewer shows for most documents and logos.
* **High bit depth is scaled by range, not clipped.** 16-bit images (``I;16*``) keep their top
  8 bits (``value >> 8``, so 65535 -> 255 and 32768 -> 128). 32-bit ``I`` images are treated
  as 8-bit if every value fits in 0..255, as 16-bit if they fit in 0..65535, else min-max
  normalised. Float ``F`` images in [0, 1] are multiplied by 255, images in [0, 255] are
  rounded, anything else is min-max normalised; NaN becomes 0.
* **Pixel cap before decoding.** ``Image.open`` only parses the header, so ``width * height``
  of the stored image is checked against ``max_pixels`` before any pixel data is decoded.
  Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``, an error at twice that)
  still applies and is reported the same way; we never change that global.
* **Aspect limit.** Images more elongated than :data:`MAX_ASPECT` (64:1) are refused, so that
  the default working size (1024 px) always leaves at least 16 px on the short side. With a
  small custom ``max_side`` the short side is never shrunk below :data:`MIN_SIDE`.
* **Truncation is detected**: pixel data is fully decoded with ``Image.load()`` and
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set. Note that libjpeg treats some damage to a
  JPEG's entropy-coded data as a warning and decodes garbage pixels; that cannot be detected.
* **Warnings never escape.** Pillow's warnings (decompression bomb, corrupt EXIF, palette
  transparency, ...) are silenced with :func:`warnings.catch_warnings` while decoding. That
  context manager swaps the process-wide filter list, so decodes are serialised by a lock
  (otherwise interleaved threads could leave the filters on "ignore" for good), and a
  warning raised by another thread during a decode may also be suppressed.
* EXIF orientation 1..8 is applied with the same transpose table as
  :func:`PIL.ImageOps.exif_transpose`; an unreadable EXIF block counts as orientation 1.
* EPS is not opened: Pillow would hand the untrusted file to Ghostscript.
* Multi-frame files (animated GIF/WebP/PNG, MPO, multi-page TIFF): the first frame is used
  and ``n_frames`` records how many there are.

This module never imports streamlit.
"""

from __future__ import annotations

import hashlib
import io
import math
import numbers
import os
import re
import struct
import threading
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "MAX_ASPECT",
    "MIN_SIDE",
    "ImageError",
    "ImageSource",
    "LoadedImage",
    "describe",
    "load_image",
]

DEFAULT_MAX_SIDE = 1024
"""Working-size cap on the longest side of the returned image, in pixels."""

DEFAULT_MAX_PIXELS = 50_000_000
"""Decompression-bomb cap on ``width * height`` of the stored image, in pixels."""

MIN_SIDE = 8
"""Images with a side shorter than this many pixels are degenerate and refused."""

MAX_ASPECT = 64
"""Longest side / shortest side above this ratio is refused as too elongated."""

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]
"""What :func:`load_image` accepts: a file path, raw bytes, or a binary file-like object."""

# Everything Pillow's plugins are known to raise on malformed input. Our own ImageError is a
# ValueError, so it is always re-raised before this tuple is consulted.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # "broken PNG file", "not a TIFF file", ...
    ValueError,
    TypeError,
    ArithmeticError,
    LookupError,
    EOFError,
    struct.error,
    MemoryError,
    RuntimeError,
)

# Same table as PIL.ImageOps.exif_transpose.
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112

_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_REFUSED_FORMATS = frozenset({"EPS"})
_WARNINGS_LOCK = threading.Lock()


class ImageError(ValueError):
    """An image we refuse to load (corrupt, too large, degenerate, missing, ...).

    ``str(err)`` and ``err.message`` are the same single human-readable line: no newline,
    no traceback text, no Python repr. It is meant to be shown to the user as-is.
    """

    message: str

    def __init__(self, message: str) -> None:
        self.message = _one_line(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded, upright, size-capped RGB image plus facts about its source.

    Instances compare by identity; use :attr:`key` to compare pixel content.
    """

    rgb: np.ndarray
    """``(H, W, 3)`` ``uint8``, C-contiguous, read-only, EXIF orientation applied, resized."""
    name: str
    """Display name: the file name or the name given to :func:`load_image`."""
    original_size: tuple[int, int]
    """``(width, height)`` in pixels after EXIF transpose, before resizing."""
    source_format: str
    """Pillow's format name, e.g. ``"JPEG"``, ``"PNG"``; ``"unknown"`` if Pillow has none."""
    source_mode: str
    """Pillow mode before conversion, e.g. ``"RGB"``, ``"CMYK"``, ``"I;16"``, ``"P"``."""
    exif_orientation: int
    """EXIF orientation 1..8 that was applied; 1 when absent or unreadable."""
    resized: bool
    """Whether the image was shrunk to the working-size cap."""
    n_frames: int
    """Number of frames in the source (>1 for animations); only the first is used."""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of :attr:`rgb`, in pixels."""
        height, width = self.rgb.shape[:2]
        return (int(width), int(height))

    @cached_property
    def key(self) -> str:
        """SHA-256 hex digest of the shape and pixel bytes: a stable cache key."""
        digest = hashlib.sha256(repr(self.rgb.shape).encode("ascii"))
        digest.update(memoryview(self.rgb).cast("B"))
        return digest.hexdigest()


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode an untrusted image into an upright RGB ``uint8`` array.

    Args:
        source: a file path (``str`` or :class:`os.PathLike`), ``bytes``, or a binary
            file-like object. File-like objects are read from the start (``seek(0)`` when
            seekable) and are not closed.
        name: display name used in :class:`LoadedImage` and error messages; defaults to the
            file name (or the object's ``name`` attribute), else ``"image"``.
        max_side: working-size cap in pixels on the longest side (aspect preserved, Lanczos);
            ``None`` keeps the full resolution. Must be an ``int >= MIN_SIDE``.
        max_pixels: refuse images whose stored ``width * height`` exceeds this many pixels,
            checked before decoding pixel data. Must be a positive ``int``.

    Returns:
        The decoded :class:`LoadedImage`.

    Raises:
        ImageError: for any image we refuse (missing, unreadable, empty, not an image,
            corrupt, truncated, too many pixels, degenerate, too elongated).
        ValueError: ``max_side`` or ``max_pixels`` is invalid (a programming error).
        TypeError: ``source`` is not a path, bytes or binary file-like object.
    """
    max_side, max_pixels = _validate_limits(max_side, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        display = _clean_name(name if name is not None else path.name or str(path))
        return _load_path(path, display, max_side, max_pixels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        display = _clean_name(name if name is not None else "image")
        return _load_bytes(bytes(source), display, max_side, max_pixels)
    if hasattr(source, "read"):
        display = _clean_name(name if name is not None else _file_object_name(source))
        return _load_bytes(_read_file_object(source, display), display, max_side, max_pixels)
    raise TypeError(
        f"load_image() needs a path, bytes or a binary file object, not {type(source).__name__}"
    )


def describe(img: LoadedImage) -> str:
    """One line for the UI, e.g. ``"chelsea.png · 451×300 px · PNG RGB"``.

    Appends ``"(resized from W×H)"``, ``"(EXIF orientation N applied)"`` and
    ``"(first of N frames)"`` when they apply.
    """
    width, height = img.size
    parts = [f"{img.name} · {width}×{height} px · {img.source_format} {img.source_mode}"]
    if img.resized:
        ow, oh = img.original_size
        parts.append(f"(resized from {ow}×{oh})")
    if img.exif_orientation != 1:
        parts.append(f"(EXIF orientation {img.exif_orientation} applied)")
    if img.n_frames > 1:
        parts.append(f"(first of {img.n_frames} frames)")
    return " ".join(parts)


# --------------------------------------------------------------------------- sources


def _validate_limits(max_side: int | None, max_pixels: int) -> tuple[int | None, int]:
    """Return the caps as plain ints; ValueError for non-integers or too-small values.

    Bad caps are programming errors, not bad images, so they are not ImageError.
    """
    if max_side is not None:
        if not _is_integer(max_side) or max_side < MIN_SIDE:
            raise ValueError(f"max_side must be None or an int >= {MIN_SIDE}, got {max_side!r}")
        max_side = int(max_side)
    if not _is_integer(max_pixels) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    return max_side, int(max_pixels)


def _is_integer(value: object) -> bool:
    """True for ``int`` and numpy integers, False for ``bool``, floats and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _load_path(path: Path, name: str, max_side: int | None, max_pixels: int) -> LoadedImage:
    """Open a file path, turning file-system problems into ImageError."""
    try:
        if not path.exists():
            raise ImageError(f"{name} does not exist.")
        if path.is_dir():
            raise ImageError(f"{name} is a directory, not an image file.")
        if path.stat().st_size == 0:
            raise ImageError(f"{name} is empty (0 bytes).")
        with path.open("rb") as handle:
            return _decode(handle, name, max_side, max_pixels)
    except ImageError:
        raise
    except (OSError, ValueError) as exc:  # permission denied, vanished, NUL in path, ...
        reason = (exc.strerror if isinstance(exc, OSError) else None) or _reason(exc)
        raise ImageError(f"{name} could not be read ({reason}).") from None


def _load_bytes(data: bytes, name: str, max_side: int | None, max_pixels: int) -> LoadedImage:
    """Decode an in-memory encoded image."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")
    return _decode(io.BytesIO(data), name, max_side, max_pixels)


def _file_object_name(obj: object) -> str:
    """The base name of a file object's ``name`` attribute, or ``"image"``."""
    raw = getattr(obj, "name", None)
    if isinstance(raw, (str, os.PathLike)):
        base = os.path.basename(os.fspath(raw))
        if base:
            return base
    return "image"


def _read_file_object(obj: IO[bytes], name: str) -> bytes:
    """Read a caller's binary file object from the start without closing it."""
    seek = getattr(obj, "seek", None)
    if callable(seek):
        try:
            seek(0)
        except (OSError, ValueError):  # not seekable (a pipe) or closed; read() will tell
            pass
    try:
        data = obj.read()
    except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
        raise ImageError(f"{name} could not be read ({_reason(exc)}).") from None
    if isinstance(data, str):
        raise TypeError("load_image() needs a binary file object, not a text one")
    return bytes(data)


# --------------------------------------------------------------------------- decoding


def _decode(fp: IO[bytes], name: str, max_side: int | None, max_pixels: int) -> LoadedImage:
    """Open, check, decode and convert one image; every Pillow failure becomes ImageError."""
    # catch_warnings() saves and restores the process-wide filter list; two threads
    # interleaving enter/exit could leave "ignore" installed for good, hence the lock.
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _decode_unguarded(fp, name, max_side, max_pixels)
        except ImageError:
            raise
        except Image.DecompressionBombError:
            raise ImageError(
                f"{name} has too many pixels to open safely "
                "(Pillow refused it as a possible decompression bomb)."
            ) from None
        except UnidentifiedImageError:
            raise ImageError(
                f"{name} is not an image Pillow can read (it may be corrupt or not an image file)."
            ) from None
        except _DECODE_ERRORS as exc:
            raise ImageError(
                f"{name} could not be decoded; it may be truncated or corrupt ({_reason(exc)})."
            ) from None


def _decode_unguarded(
    fp: IO[bytes], name: str, max_side: int | None, max_pixels: int
) -> LoadedImage:
    """The decoding pipeline; may raise anything Pillow raises on bad data."""
    with Image.open(fp, formats=_open_formats()) as im:
        stored_w, stored_h = im.size
        _check_geometry(name, stored_w, stored_h, max_pixels)
        source_format = im.format or "unknown"
        n_frames = int(getattr(im, "n_frames", 1) or 1)
        target = _target_size(stored_w, stored_h, max_side)
        if target is not None:
            im.draft(im.mode, target)  # JPEG only: cheap DCT-domain downscale, >= target
        im.load()  # full decode of the first frame, so truncation is detected here
        source_mode = im.mode
        orientation = _exif_orientation(im)
        rgb = _to_rgb(im, name)
    if target is not None and rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if orientation in _ORIENTATION_TRANSPOSE:
        rgb = rgb.transpose(_ORIENTATION_TRANSPOSE[orientation])
    original = (stored_h, stored_w) if orientation >= 5 else (stored_w, stored_h)
    return LoadedImage(
        rgb=_freeze(rgb),
        name=name,
        original_size=original,
        source_format=source_format,
        source_mode=source_mode,
        exif_orientation=orientation,
        resized=target is not None,
        n_frames=n_frames,
    )


def _check_geometry(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse too many pixels, degenerate sides and extreme aspect ratios (sizes in pixels)."""
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is too large: {width}×{height} = {width * height:,} pixels, "
            f"the limit is {max_pixels:,} pixels."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name} is only {width}×{height} px; images need at least {MIN_SIDE} px on each side."
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        ratio = max(width, height) / min(width, height)
        raise ImageError(
            f"{name} is too narrow or elongated ({width}×{height} px, aspect ratio "
            f"{ratio:.0f}:1); the limit is {MAX_ASPECT}:1."
        )


def _target_size(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    """Resized ``(width, height)`` in pixels with the longest side == max_side, or None.

    The short side is rounded and kept at least :data:`MIN_SIDE` pixels.
    """
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return None
    scale = max_side / longest

    def side(value: int) -> int:
        if value == longest:
            return max_side
        return min(max_side, max(MIN_SIDE, round(value * scale)))

    return (side(width), side(height))


def _exif_orientation(im: Image.Image) -> int:
    """EXIF orientation 1..8 of an opened image; 1 when absent, invalid or unreadable."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return 1


def _open_formats() -> list[str]:
    """Every format Pillow can open except EPS, which would run Ghostscript on the data."""
    Image.init()
    return [fmt for fmt in Image.OPEN if fmt not in _REFUSED_FORMATS]


def _to_rgb(im: Image.Image, name: str) -> Image.Image:
    """Convert any Pillow mode to an 8-bit ``RGB`` image (transparency over white)."""
    if im.mode in _HIGH_BIT_MODES:
        values = np.asarray(im)
        gray = _high_bit_to_uint8(values, im.mode)
        key = im.info.get("transparency")  # e.g. a 16-bit grey PNG's tRNS value
        if isinstance(key, (int, float)) and not isinstance(key, bool):
            gray = np.where(values == key, np.uint8(255), gray)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))
    try:
        if im.mode in _ALPHA_MODES or im.info.get("transparency") is not None:
            return _composite_over_white(im)
        return im.convert("RGB")
    except ValueError:  # "conversion from X to RGB not supported"
        raise ImageError(
            f"{name} uses the colour mode {im.mode}, which cannot be converted to RGB."
        ) from None


def _composite_over_white(im: Image.Image) -> Image.Image:
    """Flatten any image with an alpha channel or transparency onto a white background."""
    if im.mode == "La":  # premultiplied; Pillow only converts it via LA
        im = im.convert("LA")
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _high_bit_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float single-channel array to ``uint8``."""
    if mode.startswith("I;16"):
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    if mode == "I":
        ints = values.astype(np.int64)
        lo, hi = (int(ints.min()), int(ints.max())) if ints.size else (0, 0)
        if lo >= 0 and hi <= 255:
            return ints.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return (ints >> 8).astype(np.uint8)
        return _minmax_to_uint8(ints.astype(np.float64))
    floats = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(floats.min()), float(floats.max())) if floats.size else (0.0, 0.0)
    if lo >= 0.0 and hi <= 1.0:
        return np.rint(floats * 255.0).astype(np.uint8)
    if lo >= 0.0 and hi <= 255.0:
        return np.rint(floats).astype(np.uint8)
    return _minmax_to_uint8(floats)


def _minmax_to_uint8(values: np.ndarray) -> np.ndarray:
    """Linearly map ``values.min()..values.max()`` to 0..255."""
    lo, hi = float(values.min()), float(values.max())
    if not math.isfinite(hi - lo) or hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _freeze(rgb: Image.Image) -> np.ndarray:
    """A C-contiguous, read-only ``(H, W, 3)`` ``uint8`` copy of an RGB image."""
    array = np.array(rgb, dtype=np.uint8, copy=True, order="C")
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got an array of shape {array.shape}")
    array.setflags(write=False)
    return array


# --------------------------------------------------------------------------- messages

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_REPR = re.compile(r"<[^<>]*>")  # "<_io.BytesIO object at 0x...>", "<_io.BufferedReader ...>"


def _one_line(text: str) -> str:
    """Collapse control characters (newlines, tabs, ...) into single spaces."""
    return _CONTROL.sub(" ", text).strip()


def _clean_name(name: str) -> str:
    """A display name safe to put in a one-line message (at most 120 characters)."""
    cleaned = _one_line(str(name)) or "image"
    return cleaned if len(cleaned) <= 120 else cleaned[:117] + "..."


def _reason(exc: BaseException) -> str:
    """A short, repr-free, one-line reason for an exception raised while decoding."""
    text = _REPR.sub("the file", _one_line(str(exc).splitlines()[0] if str(exc) else ""))
    text = text.rstrip(" .")
    if not text:
        return type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
