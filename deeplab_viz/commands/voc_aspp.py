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
    p.add_argument("--out", default=None, metavar="DIR", help="default: deeplab_viz/assets/models")
    p.add_argument("--steps", type=positive_int, default=None, help="head updates (default 600)")
    p.add_argument("--crops-per-image", type=positive_int, default=None)
    p.add_argument("--limit-images", type=positive_int, default=None, help="first N (tests)")
    p.add_argument("--measure-limit", type=positive_int, default=None, help="first N val images")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--measure-only", action="store_true", help="measure the model in --out")
    p.add_argument(
        "--cache-dir", default=None, metavar="DIR",
        help="keep the frozen-backbone features here (a few GB) for the next run",
    )  # fmt: skip
    p.add_argument("--lr", type=float, default=None, help="base learning rate (default 0.01)")
    p.add_argument("--distill-weight", type=float, default=None, help="KL weight (default 1)")
    p.add_argument(
        "--void-band", type=int, default=None, metavar="PX",
        help="give SBD masks VOC's void band, PX each side of an outline (default 0: off)",
    )  # fmt: skip
    p.add_argument(
        "--dev-from", choices=["all", "voc_masks"], default=None,
        help="draw the dev set from all training photos (default) or those with VOC's own masks",
    )  # fmt: skip
    p.add_argument("--dev-every", type=int, default=None, help="every Nth of that pool (10)")
    p.add_argument("--eval-every", type=positive_int, default=None, help="steps between dev scores")
    p.add_argument(
        "--keep", choices=["best_dev", "last"], default=None,
        help="keep the best dev checkpoint (default) or the end of the schedule",
    )  # fmt: skip
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
                "lr": args.lr,
                "distill_weight": args.distill_weight,
                "void_band": args.void_band,
                "dev_from": args.dev_from,
                "dev_every": args.dev_every,
                "eval_every": args.eval_every,
                "keep": args.keep,
            }.items()
            if v is not None
        }
        try:
            cfg = TrainConfig(**kw)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            train_ids(Path(args.data))
        except TrainDataError as exc:
            raise UsageError(str(exc)) from None
        teacher, names = load_base(TFLITE_MODEL)
        cache_dir = Path(args.cache_dir) if args.cache_dir else None
        model, meta = train(teacher, names, Path(args.data), cfg, log=_log, cache_dir=cache_dir)
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
