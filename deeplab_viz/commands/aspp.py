"""``python -m deeplab_viz aspp IMAGE --out DIR``: what each ASPP branch does on one image.

Runs one probe (the forward pass that keeps every intermediate), then, per ASPP
branch: writes its channel-mean map, colour-mapped and resized to the image, as
``<stem>_branch<i>_<kind>.png`` (``1x1``, ``rate12``, ``pooling``), and reports its
``energy`` (RMS activation), its exact ``share`` and ``magnitude_share`` of the
projection, and ``changed_fraction_when_off``: the share of pixels whose class
changes when that branch alone is switched off (projection and head re-run on the
cached branch outputs). One JSON object on stdout, with ``model``,
``output_stride``, ``bias_share`` and the written ``outputs``.

When the model's trained weights cannot be had, the app's fallback model runs
(one sentence on stderr says which and why; ``model`` names it).

An output folder that cannot be created or written (a full disk, say) gives
one JSON line ``{"path", "error"}``; no half-written map is left behind.

Exit codes: 0 done, 1 unreadable image, unwritable output or no model available,
2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from . import UsageError, add_model_args, load_or_fall_back, spec_from_args


def register(subparsers) -> None:

    p = subparsers.add_parser(
        "aspp",
        help="ASPP branch maps (PNG), energies, projection shares and ablations of one image",
        description="Per ASPP branch: a channel-mean map as PNG, and as JSON its energy, "
        "its exact share of the projection and how many pixels change class without it.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG maps")
    add_model_args(p)
    p.set_defaults(func=cmd_aspp)


def safe_stem(name: str) -> str:
    """A file-name-safe stem: letters, digits, ``-`` and ``_`` only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")
    return stem[:80] or "image"


def branch_slug(kind: str, rate: int | None) -> str:
    """``1x1``, ``rate12`` or ``pooling``: the branch part of a map's file name."""
    if kind == "atrous":
        return f"rate{rate}"
    return {"1x1": "1x1", "pooling": "pooling"}[kind]


def aspp_report(model, rgb, *, size: int) -> tuple[dict, list]:
    """(JSON-ready numbers, [(slug, (H, W, 3) uint8 map), ...]) for one image."""
    from .. import aspp as A
    from ..plots import aspp as P
    from ..plots.colours import value_colours
    from ..probe import run_probe

    probe = run_probe(model, rgb, size=size)
    split = A.projection_split(model, probe)
    rows, pictures = [], []
    for i, b in enumerate(probe.branches):
        off = A.ablate(model, probe, [b.name])
        rows.append(
            {
                "name": b.name,
                "kind": b.kind,
                "rate": b.rate,
                "energy": round(A.branch_energy(b.output), 6),
                "share": round(split.share[b.name], 6),
                "magnitude_share": round(split.magnitude_share[b.name], 6),
                "changed_fraction_when_off": round(off.changed_fraction, 6),
            }
        )
        mean = P.feature_to_image(
            A.branch_map(b.output, "mean"),
            padded_hw=probe.padded_hw,
            valid_hw=probe.model_input_hw,
            image_hw=probe.image_hw,
            align_corners=bool(model.module.align_corners),
        )
        pictures.append((f"branch{i}_{branch_slug(b.kind, b.rate)}", value_colours(mean)))
    h, w = probe.model_input_hw
    report = {
        "model": model.spec.label,
        "output_stride": probe.output_stride,
        "size": [w, h],
        "bias_share": round(split.bias_share, 6),
        "branches": rows,
    }
    return report, pictures


def cmd_aspp(args: argparse.Namespace) -> int:
    from PIL import Image

    from ..images import ImageError, load_image
    from ..outputs import OutputError, prepare_folder, write_images

    spec = spec_from_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"aspp: --out {out} exists and is not a folder")
    try:
        img = load_image(Path(args.image))
    except ImageError as exc:
        print(f"aspp: {exc.message}", file=sys.stderr)
        return 1
    try:
        prepare_folder(out)
    except OutputError as exc:
        print(json.dumps({"path": args.image, "error": str(exc)}), flush=True)
        return 1
    model = load_or_fall_back(spec)
    report, pictures = aspp_report(model, img.rgb, size=args.size)
    stem = safe_stem(args.image)
    files = [(out / f"{stem}_{slug}.png", Image.fromarray(rgb)) for slug, rgb in pictures]
    try:
        write_images(files)  # all maps or none
    except OutputError as exc:
        print(json.dumps({"path": args.image, "error": str(exc)}), flush=True)
        return 1
    outputs = [str(path) for path, _ in files]
    for row, path in zip(report["branches"], outputs, strict=True):
        row["output"] = path
    print(json.dumps({"path": args.image, **report, "outputs": outputs}), flush=True)
    return 0
