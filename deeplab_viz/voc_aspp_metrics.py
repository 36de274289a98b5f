"""What ``voc-mobilenetv2-aspp`` is worth on real labels, and what each ASPP branch does.

Two measurements on a PASCAL VOC val folder (the shared 445-image subset), both
with the app's default settings (longest side 513 px, rates scaled with the stride):

- :func:`accuracy_by_stride`: pixel accuracy, mIoU over the classes present and
  the core-7 mIoU at output stride 8, 16 and 32 (:func:`deeplab_viz.evaluate.evaluate_voc`).
- :func:`branch_ablation`: IoU by object size with each branch switched off, at the
  trained stride. Objects are the connected components (8-connected) of each
  class in the ground truth; a component is *small* under 32² pixels, *medium*
  under 96², *large* from 96² (COCO's area thresholds, in pixels of the original
  image). A size's IoU is counted on its own objects grown by
  :data:`MARGIN` pixels, minus other objects, so a prediction spilling over the
  outline counts against it; it is the mean IoU over the object classes present
  there. A branch is switched off by zeroing its output before the projection,
  as the ASPP explorer's ablation does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from .aspp import ablate
from .boundary import dilate
from .evaluate import IGNORE, VOC_SUBSET_CORE, confusion, evaluate_voc, scores, voc_ids
from .images import load_image
from .inference import DEFAULT_SIZE
from .models import LoadedModel, ModelSpec, build_model, load_base
from .probe import run_probe

SIZE_BUCKETS = ("small", "medium", "large")
SMALL_MAX = 32**2  # pixels: components below are "small"
MEDIUM_MAX = 96**2  # pixels: below are "medium", the rest "large"
MARGIN = 3  # pixels around each object counted with it
NAME = "voc-mobilenetv2-aspp"

Log = Callable[[str], None]


def size_bucket(area: int) -> str:
    """COCO's size name for an object of ``area`` pixels."""
    return "small" if area < SMALL_MAX else "medium" if area < MEDIUM_MAX else "large"


def size_regions(
    label: np.ndarray, margin: int = MARGIN
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per size, the (H, W) bool region its IoU is counted on, and how many objects it has."""
    objects = (label != 0) & (label != IGNORE)
    own = {b: np.zeros(label.shape, bool) for b in SIZE_BUCKETS}
    count = dict.fromkeys(SIZE_BUCKETS, 0)
    for c in np.unique(label[objects]):
        comps, n = ndimage.label(label == c, structure=np.ones((3, 3), bool))
        areas = np.bincount(comps.ravel(), minlength=n + 1)
        for k in range(1, n + 1):
            b = size_bucket(int(areas[k]))
            own[b] |= comps == k
            count[b] += 1
    grown = dilate(np.stack([own[b] for b in SIZE_BUCKETS]), margin)
    regions = {b: grown[i] & ~(objects & ~own[b]) for i, b in enumerate(SIZE_BUCKETS)}
    return regions, count


def object_miou(conf: np.ndarray) -> float | None:
    """Mean IoU over the object classes (not background) present in a confusion matrix."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    present = [c for c in range(1, conf.shape[0]) if conf[c].sum() > 0]
    return float(np.mean([tp[c] / union[c] for c in present])) if present else None


@dataclass
class _Counts:
    k: int
    conf: np.ndarray = field(init=False)
    by_size: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self.conf = np.zeros((self.k, self.k), np.int64)
        self.by_size = {b: np.zeros((self.k, self.k), np.int64) for b in SIZE_BUCKETS}

    def add(self, pred: np.ndarray, label: np.ndarray, regions: dict[str, np.ndarray]) -> None:
        self.conf += confusion(pred, label, self.k)
        for b, region in regions.items():
            if region.any():
                self.by_size[b] += confusion(pred[region], label[region], self.k)

    def report(self, names: tuple[str, ...]) -> dict:
        s = scores(self.conf, names)
        sizes = {b: object_miou(c) for b, c in self.by_size.items()}
        return {
            "miou": round(s.miou, 5),
            "miou_core7": round(s.mean_iou(VOC_SUBSET_CORE), 5)
            if all(c in s.iou for c in VOC_SUBSET_CORE)
            else None,
            "iou_by_size": {b: None if v is None else round(v, 5) for b, v in sizes.items()},
        }


def branch_ablation(
    model: LoadedModel,
    root: Path,
    *,
    size: int = DEFAULT_SIZE,
    limit: int | None = None,
    log: Log | None = None,
) -> dict:
    """Full model and each branch off: mIoU, core-7 mIoU and IoU by object size."""
    ids = voc_ids(Path(root), limit=limit)
    names = model.class_names
    branches = list(model.module.aspp.names)
    counts = {b: _Counts(len(names)) for b in [None, *branches]}
    objects = dict.fromkeys(SIZE_BUCKETS, 0)
    for k, image_id in enumerate(ids):
        img = load_image(Path(root) / "JPEGImages" / f"{image_id}.jpg", max_side=None)
        label = np.asarray(Image.open(Path(root) / "SegmentationClass" / f"{image_id}.png"))
        regions, count = size_regions(label)
        for b, n in count.items():
            objects[b] += n
        probe = run_probe(model, img.rgb, size=size)
        counts[None].add(probe.class_map, label, regions)
        for b in branches:
            counts[b].add(ablate(model, probe, [b]).class_map, label, regions)
        if log is not None and ((k + 1) % 100 == 0 or k + 1 == len(ids)):
            log(f"ablation {k + 1}/{len(ids)}")
    return {
        "output_stride": model.spec.output_stride,
        "n_images": len(ids),
        "objects": objects,
        "full": counts[None].report(names),
        "branch_off": {b: counts[b].report(names) for b in branches},
    }


def accuracy_by_stride(
    base, root: Path, *, name: str = NAME, limit: int | None = None, log: Log | None = None
) -> dict[str, dict]:
    """``evaluate_voc`` at output stride 8, 16 and 32 (the JSON's ``accuracy``)."""
    out = {}
    for os_ in (8, 16, 32):
        model = build_model(ModelSpec(name=name, output_stride=os_), base=base)
        r = evaluate_voc(Path(root), model, limit=limit)
        out[str(os_)] = {
            k: r[k] for k in ("n_images", "pixel_accuracy", "miou", "miou_core7", "iou") if k in r
        }
        out[str(os_)]["ms_per_image"] = r["ms"]["total_per_image"]
        if log is not None:
            log(f"OS {os_}: core-7 mIoU {r.get('miou_core7')}, mIoU {r['miou']}")
    return out


def measure(root: Path, *, limit: int | None = None, log: Log | None = None) -> dict:
    """Both measurements for the model in ``deeplab_viz/assets/models`` (the JSON's ``metrics``)."""
    t0 = time.perf_counter()
    base = load_base(NAME)
    accuracy = accuracy_by_stride(base, root, limit=limit, log=log)
    trained = build_model(ModelSpec(name=NAME), base=base)
    ablation = branch_ablation(trained, root, limit=limit, log=log)
    return {
        "dataset": "PASCAL VOC 2012 val subset (../shared/eval/voc2012_val_subset)",
        "size": DEFAULT_SIZE,
        "accuracy": accuracy,
        "ablation": ablation,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def branch_table(ablation: dict) -> list[dict]:
    """Rows for a page or README: each branch switched off against the full model.

    ``ablation`` is the ``metrics.ablation`` part of the model's JSON. Values are
    IoU points (×100, rounded to 0.1); ``Δ`` columns are the change from the full model.
    """
    full = ablation["full"]
    rows = [{"switched off": "nothing", "mIoU": _pts(full["miou"])}]
    rows[0] |= {b: _pts(full["iou_by_size"][b]) for b in SIZE_BUCKETS}
    for name, r in ablation["branch_off"].items():
        row = {"switched off": name, "mIoU": _pts(r["miou"])}
        for b in SIZE_BUCKETS:
            v, ref = r["iou_by_size"][b], full["iou_by_size"][b]
            row[b] = _pts(v)
            row[f"Δ {b}"] = None if v is None or ref is None else round(100 * (v - ref), 1)
        rows.append(row)
    return rows


def _pts(v: float | None) -> float | None:
    return None if v is None else round(100 * v, 1)


def most_needed(ablation: dict) -> dict[str, tuple[str, float]]:
    """Per object size, the branch whose removal costs the most IoU, and the cost in points."""
    full = ablation["full"]["iou_by_size"]
    out = {}
    for b in SIZE_BUCKETS:
        costs = {
            name: 100 * (full[b] - r["iou_by_size"][b])
            for name, r in ablation["branch_off"].items()
            if full[b] is not None and r["iou_by_size"][b] is not None
        }
        if costs:
            name = max(costs, key=costs.__getitem__)
            out[b] = (name, round(costs[name], 1))
    return out


def shipped_ablation(name: str) -> dict | None:
    """The branch ablation measured when ``name`` was trained (None if it ships none)."""
    from .models.registry import LOCAL_DIR, REGISTRY

    entry = REGISTRY.get(name)
    if entry is None or entry.kind != "local" or entry.local_file is None:
        return None
    try:
        meta = json.loads((LOCAL_DIR / f"{entry.local_file}.json").read_text())
        return meta["metrics"]["ablation"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ablation_summary(ablation: dict) -> str:
    """One Markdown paragraph: what was measured and which branch each size needs most."""
    n, os_ = ablation["n_images"], ablation["output_stride"]
    objects = ablation["objects"]
    full = ablation["full"]["iou_by_size"]
    parts = []
    for size, (branch, cost) in most_needed(ablation).items():
        head = f"{size} objects ({objects[size]}, IoU {100 * full[size]:.1f})"
        if cost > 0:
            parts.append(f"{head} lose the most without **{branch}** (−{cost:.1f} points)")
        else:
            parts.append(f"{head} lose nothing when any one branch is off")
    return (
        f"Measured on {n} PASCAL VOC 2012 val photos at output stride {os_}: each branch "
        "switched off in turn, IoU counted per object size (connected components of the "
        "true mask; small < 32², medium < 96² pixels, large above). " + "; ".join(parts) + "."
    )
