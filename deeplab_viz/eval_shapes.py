"""Held-out metrics of the ShapesWorld models: mIoU, IoU per size bucket, boundary F.

All numbers are computed on the held-out scenes :data:`~deeplab_viz.shapes_world.HELDOUT_SEEDS`
(160 px, never used in training), fed at their own size (no resizing), logits
upsampled bilinearly to the scene and arg-maxed.

- **mIoU** and **IoU per class**: from one confusion matrix accumulated over all
  pixels of all scenes (:func:`deeplab_viz.evaluate.scores`): the mean over the
  classes present in the labels, background included.
- **IoU per size bucket** (``iou_by_size``): for bucket *b* and each scene, the
  region ``R_b`` is the union of the visible pixels of the scene's objects of
  bucket *b*, dilated by :data:`BUCKET_MARGIN` pixels (a square max-pool), minus
  the visible pixels of objects of other buckets. A confusion matrix is
  accumulated over ``R_b`` of all scenes; ``iou_by_size[b]`` is the mean IoU over
  the *object* classes with ground truth in ``R_b`` (background is left out of the
  mean: inside ``R_b`` it is only the thin margin, but background *predicted* on
  an object counts as a miss, and an object class predicted on the margin counts
  as a false positive). An object that vanishes at a coarse output stride, its
  pixels labelled background, therefore drives its bucket's IoU down. Buckets
  are by the object's diameter: tiny < 12 px, small 12–32, medium 32–80,
  large ≥ 80.
- **Boundary F-score** (``boundary_f``): per scene, the boundary of a label map is
  the set of pixels with a 4-neighbour of another class (class-agnostic, both
  sides of an outline). Precision is the share of predicted boundary pixels within
  :data:`BOUNDARY_TOLERANCE` pixels (Chebyshev distance, via binary dilation) of
  a true boundary pixel, recall the share of true boundary pixels within that
  distance of a predicted one, ``F = 2PR / (P + R)`` (0 when either is 0; 1 when
  both maps have no boundary). ``boundary_f`` is the mean F over scenes.
- **Dropping a branch**: its output is replaced by zeros in the concatenation
  before the ASPP projection, as :func:`deeplab_viz.aspp.ablate` does; the
  backbone runs once per batch for every branch configuration.
- ``ms``: mean wall time of the network per scene (batched, CPU), milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import shapes_world as SW
from .boundary import BOUNDARY_TOLERANCE, boundary_f, dilate
from .evaluate import confusion, scores
from .paths import MODELS_DIR

BUCKET_MARGIN = 3  # pixels around each object's mask that belong to its bucket's region
BATCH = 20
METRICS_FILE = MODELS_DIR / "shapes_metrics.json"
MODELS = ("shapes-deeplabv3", "shapes-deeplabv3plus")


class EvalError(ValueError):
    """Bad arguments for an evaluation (reported as a usage error)."""


# --------------------------------------------------------------------------- metrics


def bucket_regions(scene: SW.Scene, margin: int = BUCKET_MARGIN) -> dict[str, np.ndarray]:
    """Per size bucket, the (H, W) bool region its IoU is counted on (see module doc)."""
    inst = scene.instances
    ids = {b: [] for b in SW.BUCKET_NAMES}
    for i, o in enumerate(scene.objects):
        ids[o.bucket].append(i + 1)
    own = {b: np.isin(inst, v) if v else np.zeros(inst.shape, bool) for b, v in ids.items()}
    grown = dilate(np.stack([own[b] for b in SW.BUCKET_NAMES]), margin)
    objects = inst > 0
    out = {}
    for k, b in enumerate(SW.BUCKET_NAMES):
        out[b] = grown[k] & ~(objects & ~own[b])
    return out


@dataclass
class Accumulator:
    """Running counts for one model configuration."""

    k: int
    conf: np.ndarray = field(init=False)
    bucket_conf: dict[str, np.ndarray] = field(init=False)
    bf: list[float] = field(default_factory=list)
    ms: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.conf = np.zeros((self.k, self.k), np.int64)
        self.bucket_conf = {b: np.zeros((self.k, self.k), np.int64) for b in SW.BUCKET_NAMES}

    def add(self, pred: np.ndarray, scene: SW.Scene, regions: dict[str, np.ndarray]) -> None:
        self.conf += confusion(pred, scene.mask, self.k)
        for b, region in regions.items():
            if region.any():
                self.bucket_conf[b] += confusion(pred[region], scene.mask[region], self.k)
        self.bf.append(boundary_f(pred, scene.mask))
        self.n += 1

    def report(self, names: Sequence[str]) -> dict:
        s = scores(self.conf, tuple(names))
        by_size = {}
        for b, conf in self.bucket_conf.items():
            tp = np.diag(conf).astype(np.float64)
            union = conf.sum(0) + conf.sum(1) - tp
            present = [c for c in range(1, self.k) if conf[c].sum() > 0]
            by_size[b] = (
                round(float(np.mean([tp[c] / union[c] for c in present])), 6) if present else None
            )
        return {
            "n_images": self.n,
            "miou": round(s.miou, 6),
            "pixel_accuracy": round(s.pixel_accuracy, 6),
            "iou": {k: round(v, 6) for k, v in s.iou.items()},
            "iou_by_size": by_size,
            "boundary_f": round(float(np.mean(self.bf)), 6) if self.bf else None,
            "ms": round(self.ms / max(self.n, 1), 3),
        }


# ---------------------------------------------------------------------------- models


@lru_cache(maxsize=4)
def _heldout(n: int, size: int) -> tuple[SW.Scene, ...]:
    return tuple(SW.scenes(SW.heldout_seeds(n), size=size))


def load(name: str, output_stride: int | None = None, rate_policy: str = "scale"):
    """The registry's :class:`~deeplab_viz.models.LoadedModel` for a ShapesWorld model."""
    from .models import ModelSpec, build_model, load_base
    from .weights import WeightsUnavailable

    if name not in MODELS:
        raise EvalError(f"model must be one of {MODELS}, got {name!r}")
    try:
        spec = ModelSpec(
            name=name, output_stride=output_stride, aspp_rates=rate_policy, device="cpu"
        )
    except ValueError as exc:
        raise EvalError(str(exc)) from None
    try:
        base = load_base(name)
    except WeightsUnavailable as exc:
        raise FileNotFoundError(exc.message) from None
    return build_model(spec, base=base)


def branch_index(names: Sequence[str], item: str | int | None) -> int | None:
    """Index of the branch ``item`` names: an index, a display name or a short name."""
    if item is None:
        return None
    text = str(item).strip()
    if text.lstrip("-").isdigit():
        i = int(text)
        if not 0 <= i < len(names):
            raise EvalError(f"branch index must be from 0 to {len(names) - 1}, got {i}")
        return i

    def norm(s: str) -> str:
        return s.lower().replace("×", "x").replace(" ", "").replace("image", "")

    for i, n in enumerate(names):
        if norm(n) == norm(text):
            return i
    raise EvalError(f"no branch {text!r}; branches are {', '.join(names)} (or 0–{len(names) - 1})")


def normalise(
    rgb: np.ndarray | torch.Tensor | Sequence[np.ndarray],
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 images (an array, a tensor or a list of arrays)
    → (N, 3, H, W) float32 ``(x − mean) / std``: the ShapesWorld models' input."""
    if not isinstance(rgb, torch.Tensor):
        rgb = torch.from_numpy(np.array(rgb, dtype=np.uint8))  # a writable copy
    if rgb.ndim == 3:
        rgb = rgb[None]
    x = rgb.permute(0, 3, 1, 2).float()
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.inference_mode()
def evaluate_module(
    module,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str],
    drops: Sequence[int | None] = (None,),
    n_images: int = SW.HELDOUT_COUNT,
    size: int = SW.DEFAULT_SIZE,
) -> dict[int | None, dict]:
    """One report per branch configuration in ``drops`` (None: all branches on)."""
    module.eval()
    scenes = _heldout(n_images, size)
    accs = {d: Accumulator(len(class_names)) for d in drops}
    for start in range(0, len(scenes), BATCH):
        chunk = scenes[start : start + BATCH]
        x = normalise([s.rgb for s in chunk], mean, std)
        t0 = time.perf_counter()
        feats = module.features(x)
        outs = module.aspp.branch_outputs(next(reversed(feats.values())))
        base_ms = (time.perf_counter() - t0) * 1000
        regions = [bucket_regions(s) for s in chunk]
        for d in drops:
            t1 = time.perf_counter()
            logits = module.logits_from_branches(outs, feats, x.shape[-2:], off={d} - {None})
            pred = logits.argmax(1).to(torch.uint8).numpy()
            accs[d].ms += base_ms + (time.perf_counter() - t1) * 1000
            for p, s, r in zip(pred, chunk, regions, strict=True):
                accs[d].add(p, s, r)
    return {d: acc.report(class_names) for d, acc in accs.items()}


def evaluate_shapes(
    name: str = "shapes-deeplabv3",
    *,
    output_stride: int | None = None,
    drop: str | int | None = None,
    n_images: int | None = None,
    rate_policy: str = "scale",
) -> dict:
    """The ``eval-shapes`` report (see the module doc for every number)."""
    n = SW.HELDOUT_COUNT if n_images is None else n_images
    if not 1 <= n <= 100_000:
        raise EvalError("--n-images must be from 1 to 100000")
    model = load(name, output_stride, rate_policy)
    names = model.module.aspp.names
    d = branch_index(names, drop)
    e = model.entry
    rep = evaluate_module(
        model.module,
        mean=e.mean,
        std=e.std,
        class_names=model.class_names,
        drops=(d,),
        n_images=n,
    )[d]
    return {
        "model": name,
        "output_stride": model.spec.output_stride,
        "aspp_rates": [r for r in model.aspp_rates if r is not None],
        "dropped": None if d is None else names[d],
        "heldout_seeds": [SW.HELDOUT_START, SW.HELDOUT_START + n],
        **rep,
    }


def metrics_table(n_images: int = SW.HELDOUT_COUNT) -> dict:
    """Every shipped number: both models × OS 8/16/32 × (all branches, each one dropped)."""
    results = []
    for name in MODELS:
        for os_ in (8, 16, 32):
            model = load(name, os_)
            names = model.module.aspp.names
            e = model.entry
            reps = evaluate_module(
                model.module,
                mean=e.mean,
                std=e.std,
                class_names=model.class_names,
                drops=(None, *range(len(names))),
                n_images=n_images,
            )
            for d, rep in reps.items():
                results.append(
                    {
                        "model": name,
                        "output_stride": os_,
                        "aspp_rates": [r for r in model.aspp_rates if r is not None],
                        "dropped": None if d is None else names[d],
                        "dropped_index": d,
                        **{k: v for k, v in rep.items() if k != "ms"},
                    }
                )
    return {
        "heldout_seeds": [SW.HELDOUT_START, SW.HELDOUT_START + n_images],
        "scene_size": SW.DEFAULT_SIZE,
        "size_buckets": {
            b: [lo, None if hi == float("inf") else hi] for b, lo, hi in SW.SIZE_BUCKETS
        },
        "bucket_margin_px": BUCKET_MARGIN,
        "boundary_tolerance_px": BOUNDARY_TOLERANCE,
        "aspp_rate_policy": "scale",
        "results": results,
    }


def find_result(table: dict, model: str, output_stride: int, dropped: str | None = None) -> dict:
    """The row of :func:`metrics_table`'s output for one configuration."""
    for r in table["results"]:
        if (r["model"], r["output_stride"], r["dropped"]) == (model, output_stride, dropped):
            return r
    raise KeyError((model, output_stride, dropped))


def write_metrics(path: Path = METRICS_FILE, n_images: int = SW.HELDOUT_COUNT) -> dict:
    table = metrics_table(n_images)
    Path(path).write_text(json.dumps(table, indent=1) + "\n")
    return table


def decoder_by_stride(
    table: dict, v3: str = MODELS[0], plus: str = MODELS[1], strides: Sequence[int] = (8, 16, 32)
) -> list[dict]:
    """What the v3+ decoder buys at each output stride, from a metrics table.

    One dict per stride present for both models: ``output_stride``, ``miou_v3``,
    ``miou_plus``, ``boundary_f_v3``, ``boundary_f_plus`` (all branches on).
    """
    rows = []
    for os_ in strides:
        try:
            a, b = find_result(table, v3, os_), find_result(table, plus, os_)
        except KeyError:
            continue
        rows.append(
            {
                "output_stride": os_,
                "miou_v3": a["miou"],
                "miou_plus": b["miou"],
                "boundary_f_v3": a["boundary_f"],
                "boundary_f_plus": b["boundary_f"],
            }
        )
    return rows
