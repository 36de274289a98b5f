"""``python -m deeplab_viz segment IMAGE... --out DIR``: class PNGs and overlays.

One JSON line per input on stdout (its classes, sizes, time and output files, or its
``error``); each input's two PNGs are written both or neither. Exit codes: 0 all
went well, 1 some inputs failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..images import ImageError, load_image
from ..models import LoadedModel
from ..outputs import OutputError, output_stem, prepare_folder, write_images
from ..palette import class_image, overlay
from ..refine import PLAIN, InferenceOptions, json_fields, segment_refined
from . import (
    UsageError,
    add_model_args,
    add_refine_args,
    load_or_fall_back,
    refine_options,
    spec_from_args,
)


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="segment images; write class PNGs and overlays")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    add_model_args(p)
    add_refine_args(p)
    p.set_defaults(func=cmd_segment)


def _unique_stem(stem: str, used: set[str]) -> str:
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def _segment_one(
    model: LoadedModel,
    name: str,
    out: Path,
    used: set[str],
    size: int,
    options: InferenceOptions = PLAIN,
) -> dict:
    """Segment one input and write its two PNGs (both or neither); its JSON record.

    Raises ImageError for an unreadable input and OutputError when its outputs
    cannot be named or written.
    """
    from PIL import Image

    stem = _unique_stem(output_stem(name), used)
    img = load_image(Path(name))
    seg = segment_refined(model, img.rgb, size=size, options=options)
    mask, over = out / f"{stem}.png", out / f"{stem}_overlay.png"
    write_images(
        [
            (mask, class_image(seg.class_map)),
            (over, Image.fromarray(overlay(img.rgb, seg.class_map))),
        ]
    )
    h, w = seg.model_input_hw
    return {
        "path": name,
        "model": model.spec.label,
        "output_stride": model.spec.output_stride,
        "size": [w, h],
        "image_size": list(img.size),
        "classes": {k: round(v, 5) for k, v in seg.fractions().items()},
        "ms": round(seg.ms, 2),
        "outputs": [str(mask), str(over)],
        **json_fields(options, seg),
    }


def cmd_segment(args: argparse.Namespace) -> int:
    spec, options = spec_from_args(args), refine_options(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    try:
        prepare_folder(out)
    except OutputError as exc:  # nothing can be written: every input fails alike
        for name in args.images:
            print(json.dumps({"path": name, "error": str(exc)}), flush=True)
        return 1
    model = load_or_fall_back(spec)
    failed, used = 0, set()
    for name in args.images:
        try:
            record = _segment_one(model, name, out, used, args.size, options)
        except ImageError as exc:
            record = {"path": name, "error": exc.message}
        except OutputError as exc:
            record = {"path": name, "error": str(exc)}
        failed += "error" in record
        print(json.dumps(record), flush=True)
    return 1 if failed else 0
