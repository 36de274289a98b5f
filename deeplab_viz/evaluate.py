"""Accuracy on real labels: pixel accuracy and IoU on a PASCAL VOC-style folder.

Layout: ``JPEGImages/<id>.jpg``, ``SegmentationClass/<id>.png`` (palette PNG whose
values are class indices; 255 = void, ignored) and ``ImageSets/Segmentation/val.txt``.

Besides IoU, the report has a boundary F-score (``boundary_f``): per image, the
share of predicted outline pixels within :data:`BOUNDARY_TOLERANCE` px of the true
outline and of true outline pixels within that distance of a predicted one,
``F = 2PR / (P + R)``, averaged over images. The true outline runs through VOC's
void band (:func:`deeplab_viz.boundary.true_outline`); void pixels away from
it are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .boundary import boundary_f
from .images import ImageError, load_image
from .inference import DEFAULT_SIZE
from .models import LoadedModel
from .refine import InferenceOptions, segment_refined

IGNORE = 255
BOUNDARY_TOLERANCE = 3  # pixels: the boundary F-score's tolerance on VOC
# The classes the shared 445-image VOC val subset covers well (see its SOURCES.md).
VOC_SUBSET_CORE = ("background", "cat", "cow", "dog", "horse", "person", "sheep")


class DatasetError(ValueError):
    """The folder is not a VOC-style dataset; the message says what is missing."""


def voc_ids(root: Path, *, limit: int | None = None) -> list[str]:
    root = Path(root)
    listing = root / "ImageSets" / "Segmentation" / "val.txt"
    for need in (root / "JPEGImages", root / "SegmentationClass", listing):
        if not need.exists():
            raise DatasetError(
                f"{root} is not a VOC-style folder: {need.relative_to(root)} is missing"
            )
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    if limit is not None:
        if limit < 1:
            raise DatasetError("limit must be at least 1")
        ids = ids[:limit]
    return ids


def confusion(pred: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts, rows = true class, columns = predicted; void pixels skipped."""
    keep = label != IGNORE
    idx = label[keep].astype(np.int64) * n + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=n * n).reshape(n, n)


@dataclass(frozen=True)
class Scores:
    pixel_accuracy: float
    iou: dict[str, float]  # classes present in the labels or the predictions
    miou: float  # mean over classes present in the labels

    def mean_iou(self, classes: tuple[str, ...]) -> float:
        return float(np.mean([self.iou[c] for c in classes]))


def scores(conf: np.ndarray, names: tuple[str, ...]) -> Scores:
    tp = np.diag(conf).astype(np.float64)
    gt = conf.sum(1)
    union = gt + conf.sum(0) - tp
    iou = {names[i]: float(tp[i] / union[i]) for i in range(len(names)) if union[i] > 0}
    present = [names[i] for i in range(len(names)) if gt[i] > 0]
    return Scores(
        pixel_accuracy=float(tp.sum() / max(conf.sum(), 1)),
        iou=iou,
        miou=float(np.mean([iou[c] for c in present])) if present else 0.0,
    )


def evaluate_voc(
    root: Path,
    model: LoadedModel,
    *,
    size: int = DEFAULT_SIZE,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    options: InferenceOptions | None = None,
) -> dict:
    """Evaluate ``model`` on the folder; returns the JSON-ready report.

    ``options``: test-time extras (scales, flips, CRF; :mod:`deeplab_viz.refine`);
    None or the default is the plain model. ``ms.per_image_*`` time the whole
    prediction of one image (every forward pass, merging, CRF), ``forward_*`` the
    network alone (summed over views), ``total_per_image`` adds reading and scoring.
    """

    options = options if options is not None else InferenceOptions()
    root = Path(root)
    ids = voc_ids(root, limit=limit)
    n = len(model.class_names)
    conf = np.zeros((n, n), dtype=np.int64)
    ms: list[float] = []
    per_image: list[float] = []
    crf_ms: list[float] = []
    bf: list[float] = []
    t0 = time.perf_counter()
    for k, image_id in enumerate(ids):
        try:
            img = load_image(root / "JPEGImages" / f"{image_id}.jpg", max_side=None)
            label = np.asarray(Image.open(root / "SegmentationClass" / f"{image_id}.png"))
        except (ImageError, OSError) as exc:
            raise DatasetError(f"{image_id}: {getattr(exc, 'message', exc)}") from None
        if label.shape != img.rgb.shape[:2]:
            raise DatasetError(f"{image_id}: mask size {label.shape} differs from the image")
        t_img = time.perf_counter()
        seg = segment_refined(model, img.rgb, size=size, options=options)
        per_image.append((time.perf_counter() - t_img) * 1000)
        conf += confusion(seg.class_map, label, n)
        bf.append(boundary_f(seg.class_map, label, BOUNDARY_TOLERANCE, ignore_index=IGNORE))
        ms.append(seg.ms)
        crf_ms.append(seg.crf_ms)
        if progress is not None:
            progress(k + 1, len(ids))
    s = scores(conf, model.class_names)
    report = {
        "dataset": str(root),
        "model": model.spec.name,
        "output_stride": model.spec.output_stride,
        "aspp_rates": model.spec.aspp_rates,
        "size": size,
        "n_images": len(ids),
        **options.record(),
        "pixel_accuracy": round(s.pixel_accuracy, 5),
        "miou": round(s.miou, 5),
        "iou": {k: round(v, 5) for k, v in s.iou.items()},
        "boundary_f": round(float(np.mean(bf)), 5),
        "boundary_tolerance_px": BOUNDARY_TOLERANCE,
        "ms": {
            "forward_mean": round(float(np.mean(ms)), 2),
            "forward_median": round(float(np.median(ms)), 2),
            "per_image_mean": round(float(np.mean(per_image)), 2),
            "per_image_median": round(float(np.median(per_image)), 2),
            "total_per_image": round((time.perf_counter() - t0) * 1000 / len(ids), 2),
        },
    }
    if options.crf is not None:
        report["ms"]["crf_mean"] = round(float(np.mean(crf_ms)), 2)
    if all(c in s.iou for c in VOC_SUBSET_CORE):
        report["miou_core7"] = round(s.mean_iou(VOC_SUBSET_CORE), 5)
    return report
