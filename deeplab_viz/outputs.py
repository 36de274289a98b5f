"""The CLI's output files: written whole or not at all, and one sentence when they cannot be.

Each PNG is written under a hidden temporary name in its own folder and renamed
into place (``os.replace``) only once it is complete, so a full disk, a quota or
a killed process never leaves a half-written file under a real name. The files
of one input are written together and removed together when one of them fails.
Every failure is an :class:`OutputError` whose message is one sentence naming the
file or folder; callers print it as ``{"path", "error"}`` and go on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

__all__ = ["MAX_STEM_BYTES", "OutputError", "output_stem", "prepare_folder", "write_images"]

MAX_STEM_BYTES = 200
"""Longest output stem, bytes: file names stop at 255 bytes and suffixes are added."""


class OutputError(Exception):
    """An output that cannot be written; ``str(err)`` is one sentence for the user."""


def _reason(exc: OSError) -> str:
    """``No space left on device``: the OS's words, without errno or file name."""
    return exc.strerror or type(exc).__name__


def prepare_folder(out: Path) -> None:
    """Create ``out`` (and its parents) if needed; OutputError when it cannot be a folder."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {_reason(exc)}.") from None
    if not out.is_dir():
        raise OutputError(f"the output folder {out} is not a folder.")


def output_stem(name: str) -> str:
    """The stem an input's outputs are named after (``photo.jpg`` → ``photo``).

    Raises OutputError when no file name can be formed from it: a stem of dots
    only (``..jpg`` → ``.``) or one longer than :data:`MAX_STEM_BYTES`.
    """
    stem = Path(name).stem
    if not stem.strip(". "):
        raise OutputError(
            f"cannot form an output file name from {Path(name).name!r}; rename the file."
        )
    if len(stem.encode("utf-8", "surrogateescape")) > MAX_STEM_BYTES:
        raise OutputError(
            f"cannot form an output file name from a name of more than {MAX_STEM_BYTES} "
            "bytes; rename the file."
        )
    return stem


def _write_png(path: Path, image: Image.Image) -> None:
    """Write ``image`` as a PNG to a temporary name next to ``path``, then rename it."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}.") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)


def write_images(files: Sequence[tuple[Path, Image.Image]]) -> None:
    """Write every ``(path, image)`` as a PNG, all or none.

    If one fails, the ones already written for this call are removed and the
    failure is raised as OutputError (one sentence).
    """
    written: list[Path] = []
    try:
        for path, image in files:
            _write_png(path, image)
            written.append(path)
    except OutputError:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        raise
