"""Where model files come from: a weights folder, the cache, or a checked download.

Lookup order for a file name:

1. the folder named by ``DEEPLAB_VIZ_WEIGHTS_DIR`` (tests and CI point it at
   ``../shared/weights``; users may drop files there),
2. the app's cache folder (``DEEPLAB_VIZ_CACHE``, default the user's cache dir),
3. for torchvision files, torch hub's own checkpoint folder,

and only then a download into the cache folder, with a progress callback and a
sha256 check. A download that fails its check is deleted, never used. Setting
``DEEPLAB_VIZ_OFFLINE=1`` forbids downloads altogether.

A file in the first two folders is checked against its sha256 every time it is
used (anyone may have put it there). A file in torch hub's checkpoint folder is
taken as it is, as torchvision itself does: torch hub writes a file there only
after its own hash check (``load_state_dict_from_url(..., check_hash=True)``,
which torchvision's builders use, downloads to a temporary file and moves it into
place once the sha256 prefix matches) and never re-hashes it afterwards. A damaged
file there is still refused, one step later: the loader cannot read it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_WEIGHTS_DIR = "DEEPLAB_VIZ_WEIGHTS_DIR"
ENV_CACHE = "DEEPLAB_VIZ_CACHE"
ENV_OFFLINE = "DEEPLAB_VIZ_OFFLINE"

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


REASONS = ("missing", "download", "damaged")


class WeightsUnavailable(RuntimeError):
    """A model file cannot be had here; ``message`` says how to get it (one line).

    ``reason`` is what went wrong, in a word of :data:`REASONS`: ``missing`` (not
    here, downloads off), ``download`` (the download failed), ``damaged`` (a local
    copy fails its check or cannot be read).
    """

    def __init__(self, message: str, *, reason: str = "missing") -> None:
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class RemoteFile:
    """A model file with a pinned public URL and a way to check it."""

    filename: str
    url: str
    sha256: str  # full hex digest, or a prefix (torchvision embeds one in file names)

    def matches(self, digest: str) -> bool:
        return len(self.sha256) >= 8 and digest.startswith(self.sha256.lower())


def cache_dir() -> Path:
    """The app's cache folder (created on first use)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "atrous-lab"


def torch_hub_checkpoints() -> Path:
    """The folder where torch hub keeps downloaded weights (follows ``TORCH_HOME``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(*, include_torch_hub: bool = False) -> list[Path]:
    """Folders searched for a model file, in order."""
    dirs = []
    env = os.environ.get(ENV_WEIGHTS_DIR)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(cache_dir())
    if include_torch_hub:
        dirs.append(torch_hub_checkpoints())
    return dirs


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find(remote: RemoteFile, *, include_torch_hub: bool = False) -> Path | None:
    """The first local copy of ``remote`` that exists, or None (not checked yet)."""
    for d in search_dirs(include_torch_hub=include_torch_hub):
        p = d / remote.filename
        if p.is_file():
            return p
    return None


def verified(remote: RemoteFile, path: Path) -> bool:
    """Whether the local copy ``path`` of ``remote`` may be used.

    A copy in torch hub's checkpoint folder was hash-checked by torch hub when it was
    downloaded and is taken as it is (see the module's docstring); any other copy
    must match its sha256 now.
    """
    if path.parent == torch_hub_checkpoints() and path.parent not in search_dirs():
        return True
    return remote.matches(sha256_file(path))


def _where_to_put(remote: RemoteFile) -> str:
    return (
        f"download {remote.url} and put {remote.filename} into {cache_dir()} "
        f"(or into the folder named by {ENV_WEIGHTS_DIR})"
    )


def fetch(
    remote: RemoteFile,
    *,
    progress: Progress | None = None,
    include_torch_hub: bool = False,
    timeout_s: float = 30.0,
) -> Path:
    """A verified local path of ``remote``, downloading it into the cache if needed.

    Raises :class:`WeightsUnavailable` (one line saying what to do) when the file is
    neither here nor downloadable, or a local copy fails its sha256 check.
    """
    local = find(remote, include_torch_hub=include_torch_hub)
    if local is not None:
        if not verified(remote, local):
            raise WeightsUnavailable(
                f"{local} does not have the expected sha256 ({remote.sha256[:12]}…); "
                f"replace it: {_where_to_put(remote)}",
                reason="damaged",
            )
        return local
    _check_online(remote)
    return download(remote, cache_dir(), progress=progress, timeout_s=timeout_s)


def _check_online(remote: RemoteFile) -> None:
    if os.environ.get(ENV_OFFLINE, "") not in ("", "0"):
        raise WeightsUnavailable(
            f"{remote.filename} is not here and downloads are off ({ENV_OFFLINE}); "
            + _where_to_put(remote)
        )


def ensure(
    remote: RemoteFile, *, progress: Progress | None = None, timeout_s: float = 30.0
) -> tuple[Path, bool]:
    """(verified path, downloaded now?) of ``remote`` in the weights folder or the cache.

    For preparing a machine: unlike :func:`fetch`, a copy in the cache folder that
    fails its check is downloaded again (the cache is the app's own), and torch
    hub's folder is not looked at, so the cache ends up holding every file. A bad
    copy in the weights folder (the user's) is reported, never replaced.
    """
    for folder in search_dirs():
        path = folder / remote.filename
        if not path.is_file():
            continue
        if remote.matches(sha256_file(path)):
            return path, False
        if folder != cache_dir():
            raise WeightsUnavailable(
                f"{path} does not have the expected sha256 ({remote.sha256[:12]}…); "
                "delete or replace it",
                reason="damaged",
            )
    _check_online(remote)
    return download(remote, cache_dir(), progress=progress, timeout_s=timeout_s), True


def download(
    remote: RemoteFile,
    folder: Path,
    *,
    progress: Progress | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """Download ``remote`` into ``folder``; the file appears only once verified."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    fd, tmp_name = tempfile.mkstemp(prefix=remote.filename + ".", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(remote.url, timeout=timeout_s) as resp,
            ):
                total = resp.headers.get("Content-Length")
                total_n = int(total) if total and total.isdigit() else None
                done = 0
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total_n)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise WeightsUnavailable(
                f"could not download {remote.filename} ({reason}); {_where_to_put(remote)}",
                reason="download",
            ) from None
        digest = h.hexdigest()
        if not remote.matches(digest):
            raise WeightsUnavailable(
                f"the download of {remote.filename} is damaged (sha256 {digest[:12]}…, "
                f"expected {remote.sha256[:12]}…) and was deleted; try again or "
                + _where_to_put(remote),
                reason="download",
            )
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)
