"""``python -m deeplab_viz``: the same library functions the app's pages use.

Exit codes: 0 all went well, 1 some inputs (or the model) failed, 2 usage errors.
Every error is one line on stderr; results are JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import weights as W
from .commands import (
    Parser,
    UsageError,
    add_model_args,
    load_model,
    load_or_fall_back,
    positive_int,
    progress_printer,
    spec_from_args,
)
from .first_run import fix_command
from .images import ImageError, load_image
from .models import REGISTRY, LoadedModel
from .models.registry import remote_file
from .outputs import OutputError, output_stem, prepare_folder, write_images
from .palette import class_image, overlay
from .refine import PLAIN, InferenceOptions, json_fields, segment_refined


def _scales(text: str) -> tuple[float, ...]:
    from .multiscale import parse_scales

    try:
        return parse_scales(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_refine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crf", action="store_true", help="dense CRF with DeepLab's settings")
    p.add_argument(
        "--scales", type=_scales, default=(1.0,), metavar="S,S,…", help="input scales, e.g. 0.5,1"
    )
    p.add_argument("--flip", action="store_true", help="add left-right flipped inputs")


def _options(args: argparse.Namespace) -> InferenceOptions:
    from .crf import CRFParams
    from .multiscale import check_scales

    try:
        check_scales(args.scales, size=args.size)
        return InferenceOptions(args.scales, args.flip, CRFParams() if args.crf else None)
    except ValueError as exc:
        raise UsageError(f"{args.command}: {exc}") from None


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
    spec, options = spec_from_args(args), _options(args)
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


def weights_status(name: str) -> tuple[bool, str]:
    """(trained weights usable here?, where they are or how to get them)."""
    entry = REGISTRY[name]
    if entry.kind == "local":  # ships in the repository (deeplab_viz/assets/models)
        from .models.registry import LOCAL_DIR

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


def cmd_eval_voc(args: argparse.Namespace) -> int:
    from .evaluate import DatasetError, evaluate_voc, voc_ids

    spec, options = spec_from_args(args), _options(args)
    try:
        voc_ids(Path(args.dir), limit=args.limit)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    model = load_model(spec)
    try:
        report = evaluate_voc(
            Path(args.dir),
            model,
            size=args.size,
            limit=args.limit,
            progress=progress_printer("eval-voc"),
            options=options,
        )
    except DatasetError as exc:
        print(f"eval-voc: {exc}", file=sys.stderr)
        return 1
    report["model"] = spec.label
    print(json.dumps(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m deeplab_viz",
        description="Atrous Lab on the command line: the functions the app's pages use.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("segment", help="segment images; write class PNGs and overlays")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    add_model_args(p)
    _add_refine_args(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("models", help="list the models and whether their weights are here")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line (the default; kept for old scripts)",
    )
    p.add_argument("--table", action="store_true", help="an aligned table for people instead")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("eval-voc", help="pixel accuracy and IoU on a PASCAL VOC-style folder")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--limit", type=positive_int, default=None, help="first N images of val.txt")
    add_model_args(p)
    _add_refine_args(p)
    p.set_defaults(func=cmd_eval_voc)

    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules():
    """Subcommand modules in deeplab_viz.commands, in name order."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        yield importlib.import_module(f"{commands.__name__}.{info.name}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except W.WeightsUnavailable as exc:
        print(f"model unavailable: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
