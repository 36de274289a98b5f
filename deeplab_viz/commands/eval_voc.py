"""``python -m deeplab_viz eval-voc DIR``: pixel accuracy and IoU on a VOC-style folder.

One JSON report on stdout; progress on stderr. Exit codes: 0 done, 1 the data set
failed part-way, 2 usage error (not a VOC folder, bad flags).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import (
    UsageError,
    add_model_args,
    add_refine_args,
    load_model,
    positive_int,
    progress_printer,
    refine_options,
    spec_from_args,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval-voc", help="pixel accuracy and IoU on a PASCAL VOC-style folder"
    )
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--limit", type=positive_int, default=None, help="first N images of val.txt")
    add_model_args(p)
    add_refine_args(p)
    p.set_defaults(func=cmd_eval_voc)


def cmd_eval_voc(args: argparse.Namespace) -> int:
    from ..evaluate import DatasetError, evaluate_voc, voc_ids

    spec, options = spec_from_args(args), refine_options(args)
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
