"""``python -m deeplab_viz rf``: receptive-field tables as JSON, one object per line.

Two forms, exactly one of them:

* ``rf --layers "k,s,d[,p];..."`` - a stack of layers (kernel, stride, dilation, optional
  padding; ``;`` between layers): one object per layer with ``name``, ``kernel``,
  ``stride``, ``dilation``, ``padding``, ``size``, ``jump``, ``start`` (input pixels).
* ``rf --model NAME [--output-stride N] [--random-weights]`` - a real DeepLabV3 as wired
  at that output stride: one object per backbone stage, per ASPP branch and for the
  logits, with ``part``, ``name``, ``size`` (``"global"`` for image pooling), ``jump``,
  ``start``; ``--input-size H W`` adds how the RF of the centre unit is clipped by an
  input of that size.
"""

from __future__ import annotations

import argparse
import json

from . import UsageError, positive_int


def register(subparsers) -> None:
    from ..models import OUTPUT_STRIDES, REGISTRY

    p = subparsers.add_parser(
        "rf",
        help="receptive field of a layer stack or of a model's stages and ASPP branches",
        description="Theoretical receptive fields (size, jump, start in input pixels) as JSON.",
    )
    p.add_argument(
        "--layers",
        metavar="K,S,D;...",
        help='layer stack, e.g. "3,1,1;3,2,1;3,1,2" (kernel,stride,dilation[,padding])',
    )
    p.add_argument("--model", choices=list(REGISTRY), help="a model of the registry")
    p.add_argument(
        "--output-stride",
        type=int,
        choices=OUTPUT_STRIDES,
        default=None,
        help="with --model: 8, 16 or 32 (default: the stride it was trained at)",
    )
    p.add_argument(
        "--aspp-rates",
        choices=["scale", "keep"],
        default=None,
        help="with --model: scale ASPP rates with the stride (default) or keep them",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="with --model: build the architecture only (no weights needed)",
    )
    p.add_argument(
        "--input-size",
        nargs=2,
        type=positive_int,
        metavar=("H", "W"),
        help="with --model: also report how an H×W input clips each RF",
    )
    p.set_defaults(func=cmd_rf)


def _layers_rows(text: str) -> list[dict]:
    from ..receptive_field.parsing import parse_layers
    from ..receptive_field.stack import rf_table

    try:
        rows = rf_table(parse_layers(text))
    except ValueError as exc:
        raise UsageError(f"rf: --layers: {exc}") from None
    return [
        {
            "name": r.name,
            "kernel": r.kernel,
            "stride": r.stride,
            "dilation": r.dilation,
            "padding": r.padding,
            "size": r.size,
            "jump": r.jump,
            "start": r.start,
        }
        for r in rows
    ]


def _model_rows(args: argparse.Namespace) -> list[dict]:
    from ..models import ModelSpec, build_model
    from ..models.registry import load_base
    from ..receptive_field.model import model_rf_table

    try:
        spec = ModelSpec(
            name=args.model,
            output_stride=args.output_stride,
            aspp_rates=args.aspp_rates or "scale",
            pretrained=not args.random_weights,
            device="cpu",  # the table reads the wiring; no need for a GPU
        )
    except ValueError as exc:
        raise UsageError(f"rf: {exc}") from None
    base = load_base(spec.name, pretrained=spec.pretrained)  # WeightsUnavailable → exit 1
    model = build_model(spec, base=base)
    rows = model_rf_table(model.module, image_hw=args.input_size)
    out = []
    for r in rows:
        d = {"model": spec.label, "output_stride": spec.output_stride}
        d.update(r.as_dict())
        out.append(d)
    return out


def cmd_rf(args: argparse.Namespace) -> int:
    if (args.layers is None) == (args.model is None):
        raise UsageError("rf: give exactly one of --layers or --model (see --help)")
    if args.layers is not None:
        model_only = {
            "--output-stride": args.output_stride is not None,
            "--aspp-rates": args.aspp_rates is not None,
            "--random-weights": args.random_weights,
            "--input-size": args.input_size is not None,
        }
        extra = [name for name, given in model_only.items() if given]
        if extra:
            raise UsageError(f"rf: {', '.join(extra)} can only be used with --model")
        rows = _layers_rows(args.layers)
    else:
        rows = _model_rows(args)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0
