"""``train-shapes`` and ``eval-shapes``: the scale lab's models on the command line.

``python -m deeplab_viz train-shapes [--arch v3|v3plus] [--minutes M] [--out DIR]``
trains a ShapesWorld model on the CPU within a wall-time budget and writes its
weights and metadata JSON (see :mod:`deeplab_viz.train_shapes`).

``python -m deeplab_viz eval-shapes [--model shapes-deeplabv3|shapes-deeplabv3plus]
[--output-stride N] [--drop-branch NAME_OR_INDEX] [--n-images N]`` prints one JSON
object: ``model``, ``output_stride``, ``dropped``, ``n_images``, ``miou``, ``iou``
per class, ``iou_by_size`` per size bucket, ``boundary_f`` and ``ms`` (see
:mod:`deeplab_viz.eval_shapes`). ``eval-shapes --write-table FILE`` writes the
whole table of both models × OS 8/16/32 × every dropped branch (the shipped
``deeplab_viz/assets/models/shapes_metrics.json``).

Exit codes: 0 done, 1 model files missing, 2 bad arguments (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import UsageError, positive_int

SHAPES_MODELS = {"shapes-deeplabv3": "v3", "shapes-deeplabv3plus": "v3plus"}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-shapes",
        help="train the ShapesWorld DeepLabv3 / v3+ on the CPU within a time budget",
        description="Train on scenes generated on the fly; write <stem>.pt and <stem>.json.",
    )
    p.add_argument("--arch", choices=["v3", "v3plus"], default="v3")
    p.add_argument("--minutes", type=_positive_float, default=20.0, help="wall-time budget")
    p.add_argument("--steps", type=positive_int, default=None, help="fixed steps (smoke tests)")
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--workers", type=int, default=1, help="scene-generating processes")
    p.add_argument("--out", default="deeplab_viz/assets/models", metavar="DIR")
    p.add_argument("--checkpoint", default=None, metavar="FILE", help="periodic state dict")
    p.add_argument("--init", default=None, metavar="FILE", help="continue from a state dict")
    p.add_argument("--lr", type=_positive_float, default=2e-3)
    p.add_argument("--seed-start", type=int, default=0, help="first training seed")
    p.add_argument(
        "--output-stride",
        type=int,
        choices=[8, 16, 32],
        default=16,
        help="stride of the first phase; ASPP rates 2/4/6 at 16 scale with it (4/8/12 at 8)",
    )
    p.add_argument(
        "--finetune-stride",
        choices=["8", "16", "32", "none"],
        default="8",
        help="stride of the last phase (the shipped model's stride), or none for one phase",
    )
    p.add_argument(
        "--finetune-fraction",
        type=_positive_float,
        default=0.4,
        help="share of the budget spent at the fine-tuning stride, at the end (below 1)",
    )
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "eval-shapes",
        help="mIoU, IoU per size bucket and boundary F on the held-out ShapesWorld set",
        description="Evaluate a ShapesWorld model on the held-out generated scenes.",
    )
    p.add_argument("--model", choices=list(SHAPES_MODELS), default="shapes-deeplabv3")
    p.add_argument("--output-stride", type=int, choices=[8, 16, 32], default=None)
    p.add_argument(
        "--drop-branch",
        default=None,
        metavar="NAME_OR_INDEX",
        help="switch one ASPP branch off: its index or name ('1×1', '1x1', 'rate 4', "
        "'image pooling', 'pooling')",
    )
    p.add_argument("--n-images", type=positive_int, default=None, help="first N held-out scenes")
    p.add_argument("--aspp-rates", choices=["scale", "keep"], default="scale")
    p.add_argument(
        "--write-table",
        default=None,
        metavar="FILE",
        help="evaluate both models at OS 8/16/32 with every branch dropped in turn and "
        "write the table (how deeplab_viz/assets/models/shapes_metrics.json is made)",
    )
    p.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from ..train_shapes import TrainConfig, train

    if args.threads < 0 or args.workers < 0:
        raise UsageError("train-shapes: --threads and --workers must be ≥ 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"train-shapes: --out {out} exists and is not a folder")
    cfg = TrainConfig(
        arch=args.arch,
        minutes=args.minutes,
        steps=args.steps,
        batch=max(2, args.batch),
        threads=args.threads,
        workers=args.workers,
        lr=args.lr,
        seed_start=args.seed_start,
        init=args.init,
        output_stride=args.output_stride,
        aspp_rates=tuple(max(1, r * 16 // args.output_stride) for r in (2, 4, 6)),
        finetune_stride=None if args.finetune_stride == "none" else int(args.finetune_stride),
        finetune_fraction=args.finetune_fraction,
    )
    if not args.finetune_fraction < 1:
        raise UsageError("train-shapes: --finetune-fraction must be below 1")
    if args.init and not Path(args.init).is_file():
        raise UsageError(f"train-shapes: --init {args.init} is not a file")
    if not 0 <= args.seed_start < 1_000_000 - 100_000:
        raise UsageError(
            "train-shapes: --seed-start must be from 0 to 899999 (held-out seeds follow)"
        )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    _, meta = train(
        cfg, out, log=log, checkpoint=Path(args.checkpoint) if args.checkpoint else None
    )
    t = meta["training"]
    print(
        json.dumps(
            {
                "model": meta["name"],
                "steps": t["steps_done"],
                "wall_time_s": t["wall_time_s"],
                "val_miou": t["final_val_miou_32_scenes"],
                "out": str(out),
            }
        )
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..eval_shapes import EvalError, evaluate_shapes, write_metrics

    if args.write_table:
        try:
            table = write_metrics(Path(args.write_table), n_images=args.n_images or 200)
        except FileNotFoundError as exc:
            print(f"model unavailable: {exc}", file=sys.stderr)
            return 1
        print(json.dumps({"written": args.write_table, "rows": len(table["results"])}))
        return 0
    try:
        report = evaluate_shapes(
            args.model,
            output_stride=args.output_stride,
            drop=args.drop_branch,
            n_images=args.n_images,
            rate_policy=args.aspp_rates,
        )
    except EvalError as exc:
        raise UsageError(f"eval-shapes: {exc}") from None
    except FileNotFoundError as exc:
        print(f"model unavailable: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0
