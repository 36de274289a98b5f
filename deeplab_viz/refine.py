"""One call for a segmentation with DeepLab's test-time extras, shared by the CLI and pages.

:class:`InferenceOptions` says which extras: input scales and left-right flips
(:mod:`deeplab_viz.multiscale`, DeepLab v3) and the dense CRF on the merged
softmax (:mod:`deeplab_viz.crf`, DeepLab v1/v2). With none of them,
:func:`segment_refined` is :func:`deeplab_viz.inference.segment`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .crf import CRFParams, dense_crf
from .inference import DEFAULT_SIZE, Segmentation, resized_hw, segment
from .models import LoadedModel
from .multiscale import check_scales, multiscale
from .paths import METRICS_DIR


@dataclass(frozen=True)
class InferenceOptions:
    """Test-time extras: input scales, flips, CRF. The default is the plain model."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    crf: CRFParams | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", check_scales(self.scales, size=None))
        if not isinstance(self.flip, bool):
            raise ValueError(f"flip must be True or False, got {self.flip!r}")
        if self.crf is not None and not isinstance(self.crf, CRFParams):
            raise ValueError("crf must be a CRFParams or None")

    @property
    def plain(self) -> bool:
        """True when no extra is on: one view at the working size, no CRF."""
        return self.scales == (1.0,) and not self.flip and self.crf is None

    def record(self) -> dict:
        """JSON-ready description: scales, flip, CRF parameters (None when off)."""
        return {
            "scales": list(self.scales),
            "flip": self.flip,
            "crf": self.crf.as_dict() if self.crf is not None else None,
        }


PLAIN = InferenceOptions()  # no extras: :func:`deeplab_viz.inference.segment`


@dataclass(frozen=True)
class RefinedSegmentation(Segmentation):
    """A :class:`~deeplab_viz.inference.Segmentation` (``ms``: all forward passes)."""

    n_views: int = 1  # forward passes merged
    crf_ms: float = 0.0  # wall time of the CRF, milliseconds (0 without it)


def segment_refined(
    model: LoadedModel,
    rgb: np.ndarray,
    *,
    size: int = DEFAULT_SIZE,
    options: InferenceOptions = PLAIN,
) -> RefinedSegmentation:
    """Segment (H, W, 3) uint8 ``rgb`` with the extras in ``options``.

    Views are merged by averaging softmax (:func:`~deeplab_viz.multiscale.multiscale`);
    the CRF, when on, runs on that average at the image's resolution.
    """
    if options.plain:
        seg = segment(model, rgb, size=size)
        return RefinedSegmentation(seg.class_map, seg.class_names, seg.model_input_hw, seg.ms)
    merged = multiscale(
        model, rgb, size=size, scales=options.scales, flip=options.flip, keep_logits=False
    )
    class_map, crf_ms = merged.class_map, 0.0  # (H, W) uint8
    if options.crf is not None:
        probs = merged.probs[0].float().numpy()  # (C, H, W)
        result = dense_crf(rgb, probs, options.crf)
        class_map, crf_ms = result.class_map, result.ms
    return RefinedSegmentation(
        class_map=class_map,
        class_names=model.class_names,
        model_input_hw=resized_hw((int(rgb.shape[0]), int(rgb.shape[1])), size),
        ms=merged.ms,
        n_views=len(merged.views),
        crf_ms=crf_ms,
    )


def json_fields(options: InferenceOptions, seg: RefinedSegmentation) -> dict:
    """Extra JSON fields of one segmentation: none for the plain model, else the
    options, the number of forward passes merged and the CRF's time."""
    if options.plain:
        return {}
    return {**options.record(), "n_views": seg.n_views, "ms_crf": round(seg.crf_ms, 2)}


# --------------------------------------------------------------------------- measured table

MEASURED = METRICS_DIR / "refine_voc.json"
VARIANT_LABELS = {
    "plain": "plain",
    "ms_flip": "multi-scale + flip",
    "crf": "CRF",
    "ms_flip_crf": "multi-scale + flip + CRF",
}


def measured_table(path: Path = MEASURED) -> dict | None:
    """The table ``bench/refine_table.py`` measured on the VOC val subset, or None if absent."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def measured_rows(model_name: str, table: dict | None) -> dict[int, dict[str, dict]]:
    """``{output stride: {variant: scores}}`` of one model in ``table`` (empty if not there)."""
    if not table:
        return {}
    return {
        int(r["output_stride"]): r["variants"]
        for r in table.get("rows", [])
        if r.get("model") == model_name
    }


def gain(rows: dict[int, dict[str, dict]], stride: int, variant: str, key: str) -> float | None:
    """``variant`` minus plain in ``key`` at ``stride`` (points ×100 for scores), or None."""
    row = rows.get(stride)
    if not row or row.get(variant, {}).get(key) is None or row["plain"].get(key) is None:
        return None
    return 100 * (row[variant][key] - row["plain"][key])
