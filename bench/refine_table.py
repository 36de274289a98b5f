"""DeepLab's test-time extras measured on real labels: plain, multi-scale + flip, CRF, both.

For each model and output stride, every val image is run once through
:func:`deeplab_viz.multiscale.multiscale` at DeepLab's six scales with flips; the
plain prediction is that run's own scale-1, unflipped view (the same forward as
:func:`deeplab_viz.inference.segment`), the CRF runs on the plain softmax and on the
merged one. So the four variants of one image come from one pass, and the table
costs one multi-scale run plus two CRFs per image instead of four separate runs.

Scores are the CLI's (``eval-voc``): core-7 mIoU, mIoU over the classes present
in the labels, pixel accuracy, boundary F-score within 3 px. Time per image is
the sum of the forward passes the variant needs (and its CRF), as measured inside
the pass, in milliseconds. ``part`` holds the same scores over the first
``--part`` images, which ``tests/test_refine_table.py`` reproduces with the CLI.

    python bench/refine_table.py --val ../shared/eval/voc2012_val_subset \\
        --models voc-mobilenetv2 voc-mobilenetv2-aspp --out deeplab_viz/assets/metrics/refine_voc.json

Run with ``DEEPLAB_VIZ_WEIGHTS_DIR`` pointing at the folder with deeplabv3.tflite.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deeplab_viz.boundary import boundary_f  # noqa: E402
from deeplab_viz.crf import DEEPLAB_LARGEFOV, dense_crf  # noqa: E402
from deeplab_viz.evaluate import (  # noqa: E402
    BOUNDARY_TOLERANCE,
    IGNORE,
    VOC_SUBSET_CORE,
    confusion,
    scores,
    voc_ids,
)
from deeplab_viz.images import load_image  # noqa: E402
from deeplab_viz.inference import DEFAULT_SIZE  # noqa: E402
from deeplab_viz.models import ModelSpec, build_model, load_base  # noqa: E402
from deeplab_viz.multiscale import DEEPLAB_SCALES, multiscale  # noqa: E402

VARIANTS = ("plain", "ms_flip", "crf", "ms_flip_crf")


class Tally:
    """Running scores of one variant."""

    def __init__(self, n: int) -> None:
        self.conf = np.zeros((n, n), dtype=np.int64)
        self.bf: list[float] = []
        self.ms: list[float] = []

    def add(self, pred: np.ndarray, label: np.ndarray, ms: float) -> None:
        self.conf += confusion(pred, label, self.conf.shape[0])
        self.bf.append(boundary_f(pred, label, BOUNDARY_TOLERANCE, ignore_index=IGNORE))
        self.ms.append(ms)

    def report(self, names: tuple[str, ...]) -> dict:
        s = scores(self.conf, names)
        out = {
            "n_images": len(self.bf),
            "miou_core7": round(s.mean_iou(VOC_SUBSET_CORE), 5)
            if all(c in s.iou for c in VOC_SUBSET_CORE)
            else None,
            "miou": round(s.miou, 5),
            "pixel_accuracy": round(s.pixel_accuracy, 5),
            "boundary_f": round(float(np.mean(self.bf)), 5),
            "ms_per_image_median": round(float(np.median(self.ms)), 1),
            "ms_per_image_mean": round(float(np.mean(self.ms)), 1),
        }
        return out


def run(val: Path, name: str, stride: int, *, limit: int | None, part: int) -> dict:
    spec = ModelSpec(name=name, output_stride=stride)
    model = build_model(spec, base=load_base(name, pretrained=True))
    ids = voc_ids(val, limit=limit)
    n = len(model.class_names)
    tallies = {v: Tally(n) for v in VARIANTS}
    part_report: dict | None = None
    for k, image_id in enumerate(tqdm(ids, desc=f"{name} OS{stride}", mininterval=30)):
        img = load_image(val / "JPEGImages" / f"{image_id}.jpg", max_side=None)
        label = np.asarray(Image.open(val / "SegmentationClass" / f"{image_id}.png"))
        ms = multiscale(model, img.rgb, size=DEFAULT_SIZE, scales=DEEPLAB_SCALES, flip=True)
        one = next(v for v in ms.views if v.scale == 1.0 and not v.flipped)
        plain_probs = torch.softmax(one.logits.double(), dim=1)[0].float().numpy()  # (C, H, W)
        plain_map = plain_probs.argmax(0).astype(np.uint8)
        merged_probs = ms.probs[0].float().numpy()
        crf_plain = dense_crf(img.rgb, plain_probs, DEEPLAB_LARGEFOV)
        crf_ms = dense_crf(img.rgb, merged_probs, DEEPLAB_LARGEFOV)
        tallies["plain"].add(plain_map, label, one.ms)
        tallies["ms_flip"].add(ms.class_map, label, ms.ms)
        tallies["crf"].add(crf_plain.class_map, label, one.ms + crf_plain.ms)
        tallies["ms_flip_crf"].add(crf_ms.class_map, label, ms.ms + crf_ms.ms)
        if k + 1 == part:
            part_report = {v: t.report(model.class_names) for v, t in tallies.items()}
    return {
        "model": name,
        "output_stride": stride,
        "variants": {v: t.report(model.class_names) for v, t in tallies.items()},
        "part": part_report,
    }


SETTINGS = ("dataset", "size", "scales", "flip", "crf", "part_images", "boundary_tolerance_px")


def merge(table: dict, others: list[dict]) -> dict:
    """``table`` with the rows of ``others`` added (same settings; a row replaces its twin).

    Each row keeps the thread count and torch version of the run that measured it.
    """
    out = dict(table, rows=[dict(r) for r in table["rows"]])
    for r in out["rows"]:
        r.setdefault("threads", table.get("threads"))
        r.setdefault("torch", table.get("torch"))
    for other in others:
        for key in SETTINGS:
            if other.get(key) != table.get(key):
                raise ValueError(f"cannot merge: {key} differs ({other.get(key)!r})")
        for row in other["rows"]:
            row = dict(row, threads=row.get("threads", other.get("threads")))
            row.setdefault("torch", other.get("torch"))
            twin = (row["model"], row["output_stride"])
            out["rows"] = [r for r in out["rows"] if (r["model"], r["output_stride"]) != twin]
            out["rows"].append(row)
    order = {"voc-mobilenetv2": 0, "voc-mobilenetv2-aspp": 1}
    out["rows"].sort(key=lambda r: (order.get(r["model"], 9), -r["output_stride"]))
    out.pop("threads", None)  # per row now
    out.pop("torch", None)
    return out


def markdown(table: dict) -> str:
    """The README's table: core-7 mIoU / boundary F per variant, and time per image."""
    lines = [
        "| model | OS | plain | multi-scale + flip | CRF | both | ms / image (plain → MS → CRF → both) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table["rows"]:
        v = row["variants"]
        cells = " | ".join(f"{v[k]['miou_core7']:.4f} / {v[k]['boundary_f']:.3f}" for k in VARIANTS)
        ms = " → ".join(f"{v[k]['ms_per_image_median']:.0f}" for k in VARIANTS)
        threads = row.get("threads", table.get("threads"))
        ms += f" ({threads} thread{'s' if threads != 1 else ''})" if threads else ""
        lines.append(f"| {row['model']} | {row['output_stride']} | {cells} | {ms} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--val", type=Path, default=ROOT.parent / "shared/eval/voc2012_val_subset")
    p.add_argument("--models", nargs="+", default=["voc-mobilenetv2", "voc-mobilenetv2-aspp"])
    p.add_argument("--strides", nargs="+", type=int, default=[8, 16, 32])
    p.add_argument("--limit", type=int, default=None, help="first N val images")
    p.add_argument("--part", type=int, default=8, help="also score the first N images")
    p.add_argument(
        "--out", type=Path, default=ROOT / "deeplab_viz" / "assets" / "metrics" / "refine_voc.json"
    )
    p.add_argument("--markdown", action="store_true", help="print the README table of --out")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="add the rows of these JSON files (from runs with --out elsewhere) to --out",
    )
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    if args.merge:
        out = merge(
            json.loads(args.out.read_text()), [json.loads(f.read_text()) for f in args.merge]
        )
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(markdown(out))
        return 0
    out = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
    t0 = time.perf_counter()
    for name in args.models:
        for stride in args.strides:
            row = run(args.val, name, stride, limit=args.limit, part=args.part)
            out["rows"] = [
                r for r in out["rows"] if (r["model"], r["output_stride"]) != (name, stride)
            ] + [row]
            out.update(
                {
                    "dataset": "PASCAL VOC 2012 val subset (../shared/eval/voc2012_val_subset)",
                    "size": DEFAULT_SIZE,
                    "scales": list(DEEPLAB_SCALES),
                    "flip": True,
                    "crf": DEEPLAB_LARGEFOV.as_dict(),
                    "part_images": args.part,
                    "boundary_tolerance_px": BOUNDARY_TOLERANCE,
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                }
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1) + "\n")  # after every row: resumable
            print(
                json.dumps(
                    {k: row[k] for k in ("model", "output_stride")}
                    | {v: row["variants"][v]["miou_core7"] for v in VARIANTS}
                ),
                flush=True,
            )
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
