"""Pieces shared by the CLI's subcommands.

Each module here (besides this one) defines ``register(subparsers)``, which adds
its subcommand(s) with ``set_defaults(func=...)``; ``deeplab_viz.cli`` calls them.
A command returns its exit code and raises :class:`UsageError` for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tqdm import tqdm

from ..inference import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE
from ..models import DEFAULT_MODEL, OUTPUT_STRIDES, REGISTRY, LoadedModel, ModelSpec, build_model
from ..models.registry import DEVICES, DTYPES, load_base, load_with_fallback
from ..refine import InferenceOptions


class UsageError(Exception):
    """Bad arguments: reported in one line on stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump)."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1, or a one-line error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return value


# --------------------------------------------------------------------------- the model flags
# Every command that runs a model takes the same flags and loads it the same way
# (segment, eval-voc, aspp, …): one definition here, imported by cli.py and by the
# command modules alike, so neither imports the other.


def size_px(text: str) -> int:
    """argparse type: the working size (longest side fed to the model), pixels."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be a whole number, got {text!r}") from None
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"size must be from {MIN_SIZE} to {MAX_SIZE} pixels")
    return value


def progress_printer(label: str) -> Callable[[int, int | None], None]:
    """A ``(done, total)`` callback drawing a tqdm bar on stderr (plain lines off a terminal)."""
    bar: list[tqdm] = []

    def show(done: int, total: int | None) -> None:
        if not total:
            return
        if not bar:
            bar.append(tqdm(total=total, desc=label, file=sys.stderr, mininterval=0.5))
        bar[0].update(done - bar[0].n)
        if done >= total:
            bar[0].close()

    return show


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --output-stride, --aspp-rates, --random-weights, --device, --dtype, --size."""
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
    p.add_argument(
        "--dtype",
        choices=list(DTYPES),
        default="float32",
        help="float16 on CUDA only; bfloat16 on CUDA and CPUs (inexact)",
    )
    p.add_argument(
        "--size", type=size_px, default=DEFAULT_SIZE, help="longest side fed to the model, px"
    )


def spec_from_args(args: argparse.Namespace) -> ModelSpec:
    """The :class:`ModelSpec` the model flags ask for; a bad combination is a usage error."""
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


def load_model(spec: ModelSpec) -> LoadedModel:
    """``spec``'s model, downloading its weights with a progress bar where needed."""
    base = load_base(spec.name, pretrained=spec.pretrained, progress=progress_printer("download"))
    return build_model(spec, base=base)


def load_or_fall_back(spec: ModelSpec) -> LoadedModel:
    """``spec``'s model or, when its weights cannot be had, the app's fallback.

    A fallback is said in one sentence on stderr (its details on the next line); the
    JSON then names the model that ran.
    """
    model, fell_back = load_with_fallback(spec, load=load_model)
    if fell_back is not None:
        print(fell_back.sentence, file=sys.stderr)
        print(f"details: {fell_back.details}", file=sys.stderr, flush=True)
    return model


# --------------------------------------------------------------------------- the refine flags


def scales_arg(text: str) -> tuple[float, ...]:
    """argparse type: input scales typed as 0.5,1,1.5."""
    from ..multiscale import parse_scales

    try:
        return parse_scales(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_refine_args(p: argparse.ArgumentParser) -> None:
    """--crf, --scales, --flip: DeepLab's test-time extras (segment, eval-voc)."""
    p.add_argument("--crf", action="store_true", help="dense CRF with DeepLab's settings")
    p.add_argument(
        "--scales",
        type=scales_arg,
        default=(1.0,),
        metavar="S,S,…",
        help="input scales, e.g. 0.5,1",
    )
    p.add_argument("--flip", action="store_true", help="add left-right flipped inputs")


def refine_options(args: argparse.Namespace) -> InferenceOptions:
    """The refine flags as options; a usage error when the scales do not fit the size."""
    from ..crf import CRFParams
    from ..multiscale import check_scales

    try:
        check_scales(args.scales, size=args.size)
        return InferenceOptions(args.scales, args.flip, CRFParams() if args.crf else None)
    except ValueError as exc:
        raise UsageError(f"{args.command}: {exc}") from None
