"""``python -m deeplab_viz``: the same library functions the app's pages use.

Exit codes: 0 all went well, 1 some inputs (or the model) failed, 2 usage errors.
Every error is one line on stderr; results are JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import weights as W
from .commands import Parser, UsageError, positive_int
from .first_run import fix_command
from .images import ImageError, load_image
from .inference import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE
from .models import DEFAULT_MODEL, OUTPUT_STRIDES, REGISTRY, LoadedModel, ModelSpec, build_model
from .models.registry import DEVICES, DTYPES, load_base, load_with_fallback, remote_file
from .outputs import OutputError, output_stem, prepare_folder, write_images
from .palette import class_image, overlay
from .refine import PLAIN, InferenceOptions, json_fields, segment_refined


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be a whole number, got {text!r}") from None
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size must be from {MIN_SIZE} to {MAX_SIZE} pixels")
    return value


def _progress_printer(label: str) -> Callable[[int, int | None], None]:
    """A progress bar on stderr: redrawn in place on a terminal, every 10% otherwise."""
    tty = sys.stderr.isatty()
    last = [-1]

    def show(done: int, total: int | None) -> None:
        if not total:
            return
        pct = int(100 * done / total)
        if tty:
            bar = "#" * (pct // 4)
            end = "\n" if done >= total else ""
            print(f"\r{label} [{bar:<25}] {done}/{total}", end=end, file=sys.stderr, flush=True)
        elif pct // 10 != last[0] // 10 or done >= total:
            print(f"{label}: {done}/{total} ({pct}%)", file=sys.stderr, flush=True)
        last[0] = pct

    return show


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(REGISTRY), help="model name")
    p.add_argument(
        "--output-stride",
        type=int,
        choices=OUTPUT_STRIDES,
        default=None,
        help="8, 16 or 32 (default: the stride the weights were trained at)",
    )
    p.add_argument(
        "--aspp-rates",
        choices=["scale", "keep"],
        default="scale",
        help="scale ASPP rates with the stride (default) or keep the trained ones",
    )
    p.add_argument("--random-weights", action="store_true", help="architecture only")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32", help="non-fp32 on CUDA only")
    p.add_argument(
        "--size", type=_size, default=DEFAULT_SIZE, help="longest side fed to the model, px"
    )


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


def _spec(args: argparse.Namespace) -> ModelSpec:
    try:
        return ModelSpec(
            name=args.model,
            output_stride=args.output_stride,
            aspp_rates=args.aspp_rates,
            pretrained=not args.random_weights,
            device=args.device,
            dtype=args.dtype,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _load(spec: ModelSpec) -> LoadedModel:
    base = load_base(spec.name, pretrained=spec.pretrained, progress=_progress_printer("download"))
    return build_model(spec, base=base)


def _load_or_fall_back(spec: ModelSpec) -> LoadedModel:
    """``spec``'s model or, when its weights cannot be had, the app's fallback.

    A fallback is said in one sentence on stderr (its details on the next line); the
    JSON then names the model that ran.
    """
    model, fell_back = load_with_fallback(spec, load=_load)
    if fell_back is not None:
        print(fell_back.sentence, file=sys.stderr)
        print(f"details: {fell_back.details}", file=sys.stderr, flush=True)
    return model


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
    spec, options = _spec(args), _options(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    try:
        prepare_folder(out)
    except OutputError as exc:  # nothing can be written: every input fails alike
        for name in args.images:
            print(json.dumps({"path": name, "error": str(exc)}), flush=True)
        return 1
    model = _load_or_fall_back(spec)
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

    spec, options = _spec(args), _options(args)
    try:
        voc_ids(Path(args.dir), limit=args.limit)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    model = _load(spec)
    try:
        report = evaluate_voc(
            Path(args.dir),
            model,
            size=args.size,
            limit=args.limit,
            progress=_progress_printer("eval-voc"),
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
    _add_model_args(p)
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
    _add_model_args(p)
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
