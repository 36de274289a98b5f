"""``train-voc-aspp``: train the five-branch ASPP of ``voc-mobilenetv2-aspp`` on real photos.

``python -m deeplab_viz train-voc-aspp --data DIR [--val DIR] [--steps N] [--out DIR]``
builds the frozen-backbone feature cache, trains the head (see
:mod:`deeplab_viz.train_voc_aspp`), writes ``voc_mobilenetv2_aspp.pt`` and ``.json``
into ``--out``, and with ``--val`` measures the result on a VOC val folder
(accuracy at output stride 8/16/32 and IoU by object size with each branch off)
into the JSON. ``--measure-only`` re-measures the model already in ``--out``.

Exit codes: 0 done, 1 the teacher's weights are missing, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import UsageError, positive_int

DEFAULT_DATA = "../shared/train/voc2012_trainaug_subset"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-voc-aspp",
        help="train voc-mobilenetv2-aspp (five-branch ASPP) on PASCAL VOC photos",
        description="Train DeepLabv3's ASPP on the frozen VOC MobileNetV2 backbone.",
    )
    p.add_argument("--data", default=DEFAULT_DATA, metavar="DIR", help="VOC train_aug folder")
    p.add_argument("--val", default=None, metavar="DIR", help="VOC val folder to measure on")
    p.add_argument("--out", default=None, metavar="DIR", help="default: assets/models")
    p.add_argument("--steps", type=positive_int, default=None, help="head updates (default 600)")
    p.add_argument("--crops-per-image", type=positive_int, default=None)
    p.add_argument("--limit-images", type=positive_int, default=None, help="first N (tests)")
    p.add_argument("--measure-limit", type=positive_int, default=None, help="first N val images")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--measure-only", action="store_true", help="measure the model in --out")
    p.set_defaults(func=cmd_train_voc_aspp)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_train_voc_aspp(args: argparse.Namespace) -> int:
    import torch

    from ..models.registry import LOCAL_DIR, TFLITE_MODEL, load_base, register_local_models
    from ..train_voc_aspp import TrainConfig, TrainDataError, save, train, train_ids

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out is not None else LOCAL_DIR
    if args.measure_only and args.val is None:
        raise UsageError("--measure-only needs --val DIR")
    if args.val is not None and not Path(args.val).is_dir():
        raise UsageError(f"--val {args.val} is not a folder")
    if args.val is not None and out.resolve() != LOCAL_DIR.resolve():
        raise UsageError(f"--val measures the model in {LOCAL_DIR}; use --out {LOCAL_DIR}")
    if not args.measure_only:
        kw = {
            k: v
            for k, v in {
                "steps": args.steps,
                "crops_per_image": args.crops_per_image,
                "limit_images": args.limit_images,
            }.items()
            if v is not None
        }
        cfg = TrainConfig(**kw)
        try:
            train_ids(Path(args.data))
        except TrainDataError as exc:
            raise UsageError(str(exc)) from None
        teacher, names = load_base(TFLITE_MODEL)
        model, meta = train(teacher, names, Path(args.data), cfg, log=_log)
        pt, js = save(model, meta, out)
        _log(f"wrote {pt} and {js}")
        register_local_models()
    if args.val is not None:
        from ..voc_aspp_metrics import measure

        metrics = measure(Path(args.val), limit=args.measure_limit, log=_log)
        js = out / "voc_mobilenetv2_aspp.json"
        meta = json.loads(js.read_text())
        meta["metrics"] = metrics
        js.write_text(json.dumps(meta, indent=2) + "\n")
        print(json.dumps(metrics))
    return 0
