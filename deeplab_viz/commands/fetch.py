"""``python -m deeplab_viz fetch [--all | NAME...]``: every model's weights into the cache.

For preparing a machine at home to teach offline: each model's weights file is
downloaded into the app's cache folder (``DEEPLAB_VIZ_CACHE``) with a progress bar
on stderr and checked: the TFLite file against its full sha256, torchvision's files
against the sha256 prefix in their names (torch hub's own check). A file already in
the weights folder or the cache is checked and kept; a damaged copy in the cache is
downloaded again. Models that ship in ``deeplab_viz/assets/models`` are already here.

One JSON line per model on stdout: ``name``, ``ok``, then ``path`` and ``status``
(``downloaded``, ``already here``, ``ships with the app``) or ``error``.
Exit codes: 0 all OK, 1 any failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="download and check every model's weights into the cache (to teach offline)",
        description="Download each model's weights file into the cache folder and check its "
        "sha256, so the app runs with no network afterwards.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="models to fetch")
    p.add_argument("--all", action="store_true", help="every model")
    p.set_defaults(func=cmd_fetch)


def chosen(names: list[str], every: bool) -> list[str]:
    """The models to fetch, in registry order for ``--all``; a usage error otherwise."""
    from ..models import REGISTRY

    if every and names:
        raise UsageError("fetch: give model names or --all, not both")
    if every:
        return list(REGISTRY)
    if not names:
        raise UsageError("fetch: name the models to fetch, or --all (see --help)")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(
            f"fetch: unknown model {unknown[0]!r}; choose from {', '.join(REGISTRY)} or --all"
        )
    return list(dict.fromkeys(names))


class ProgressBar:
    """A tqdm bar on stderr for one download, made on the first progress call."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=self.label, unit="B", unit_scale=True, file=sys.stderr
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fetch_model(name: str) -> dict:
    """One model's JSON record: its weights downloaded (or found) and checked."""
    from .. import weights as W
    from ..models import REGISTRY
    from ..models.registry import LOCAL_DIR, remote_file

    entry = REGISTRY[name]
    if entry.kind == "local":
        path = LOCAL_DIR / f"{entry.local_file}.pt"
        if path.is_file():
            return {"name": name, "ok": True, "path": str(path), "status": "ships with the app"}
        return {"name": name, "ok": False, "error": f"{path} is missing from this copy"}
    remote = remote_file(name)
    assert remote is not None
    bar = ProgressBar(name)
    try:
        path, downloaded = W.ensure(remote, progress=bar)
    except W.WeightsUnavailable as exc:
        return {"name": name, "ok": False, "error": exc.message}
    finally:
        bar.close()
    status = "downloaded" if downloaded else "already here"
    return {"name": name, "ok": True, "path": str(path), "status": status}


def cmd_fetch(args: argparse.Namespace) -> int:
    failed = 0
    for name in chosen(args.names, args.all):
        record = fetch_model(name)
        failed += not record["ok"]
        print(json.dumps(record), flush=True)
    return 1 if failed else 0
