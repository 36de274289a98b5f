"""``python -m deeplab_viz models [--table]``: every model, and whether its weights are here.

One JSON object per line (``--table``: an aligned table for people instead).
"""

from __future__ import annotations

import argparse
import json

from .. import weights as W
from ..first_run import fix_command
from ..models import REGISTRY
from ..models.registry import remote_file


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the models and whether their weights are here")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line (the default; kept for old scripts)",
    )
    p.add_argument("--table", action="store_true", help="an aligned table for people instead")
    p.set_defaults(func=cmd_models)


def weights_status(name: str) -> tuple[bool, str]:
    """(trained weights usable here?, where they are or how to get them)."""
    entry = REGISTRY[name]
    if entry.kind == "local":  # ships in the repository (deeplab_viz/assets/models)
        from ..models.registry import LOCAL_DIR

        path = LOCAL_DIR / f"{entry.local_file}.pt"
        if not path.is_file():
            return False, f"{path} is missing; run {fix_command(entry)}"
        return True, str(path)
    remote = remote_file(name)
    assert remote is not None
    local = W.find(remote, include_torch_hub=entry.kind == "torchvision")
    if local is None:
        return False, f"not here; {fix_command(entry)} downloads it from {remote.url}"
    if not W.verified(remote, local):
        return False, f"{local} fails its sha256 check; run {fix_command(entry)}"
    return True, str(local)


def cmd_models(args: argparse.Namespace) -> int:
    for name, entry in REGISTRY.items():
        ok, where = weights_status(name)
        row = {
            "name": name,
            "title": entry.title,
            "native_output_stride": entry.native_stride,
            "aspp_rates": list(entry.trained_rates),
            "trained_weights_available": ok,
            "weights": where,
            "random_weights": entry.kind in ("torchvision", "local"),
            "dataset": entry.dataset,
            "license": entry.license,
        }
        if not args.table:
            print(json.dumps(row))
        else:
            mark = "yes" if ok else "no "
            print(f"{name:30s} OS {entry.native_stride:<2d}  weights here: {mark}  {where}")
    return 0
