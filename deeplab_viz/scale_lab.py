"""The scale lab: which object sizes a DeepLab keeps at output stride 8/16/32, and why.

- :func:`~deeplab_viz.shapes_world.custom_scene`: a ShapesWorld scene (same textures, colours and exact masks
  as :func:`deeplab_viz.shapes_world.generate_scene`) whose object diameters, number
  and classes the user picks.
- :func:`predict`: a hook-free batched forward of a ShapesWorld model (or any
  :class:`~deeplab_viz.models.layers.DeepLabV3` with ``features``/``aspp``/``decode``)
  that returns the class maps with all ASPP branches on and with each branch in
  ``drops`` switched off (zeros in the concatenation, as :func:`deeplab_viz.aspp.ablate`
  does); the backbone runs once for every branch configuration. The shared model is
  only read.
- :func:`size_scores`: IoU per size bucket (the held-out metric of
  :mod:`deeplab_viz.eval_shapes`, on one scene or a batch), mIoU and boundary F.
- :func:`rf_reach`: the receptive field of a picked pixel against the extent of the
  object under it: does a square of side *S* centred at the pixel reach the object's
  outline, does it hold the whole object?
- The Scale lab page's tables and the numbers its sentences choose from: score tables
  (:func:`score_table`, :func:`reference_table`), the fields drawn around a picked pixel
  (:func:`rf_fields`, :func:`reach_table`), the shipped trends (:func:`size_trends`,
  :func:`kept_shares`, :func:`branch_summary`, :func:`hardly_found`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import eval_shapes as ES
from . import shapes_world as SW
from .eval_shapes import normalise  # the models' input; SL.normalise for pages and tests
from .receptive_field.model import model_rf_table

STRIDES: tuple[int, ...] = (8, 16, 32)  # the output strides the scale lab compares

# --------------------------------------------------------------------------- scenes


# --------------------------------------------------------------------------- forward


@torch.inference_mode()
def predict(
    module,
    rgb: np.ndarray,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    drops: Sequence[int | None] = (None,),
) -> dict[int | None, np.ndarray]:
    """Class maps ``{drop: (N, H, W) uint8}`` of images ``rgb`` ((N, H, W, 3) or (H, W, 3)).

    ``drop`` None: the full model; ``drop = i``: ASPP branch ``i`` switched off
    (its output replaced by zeros before the projection). Hook-free: walks the
    model's own submodules (``features`` → ``aspp.branch_outputs`` →
    ``aspp.project`` → ``decode``/``head`` → ``upsample``) and never changes it.
    """
    p = next(module.parameters())
    x = normalise(rgb, mean, std).to(device=p.device, dtype=p.dtype)
    feats = module.features(x)
    outs = module.aspp.branch_outputs(next(reversed(feats.values())))
    result: dict[int | None, np.ndarray] = {}
    for d in drops:
        if d is not None and not 0 <= d < len(outs):
            raise ValueError(f"no ASPP branch {d}; the model has {len(outs)}")
        logits = module.logits_from_branches(outs, feats, x.shape[-2:], off={d} - {None})
        result[d] = logits.argmax(1).to(torch.uint8).cpu().numpy()
    return result


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class SizeScores:
    """Scores of one configuration on one or more scenes (see :mod:`eval_shapes`)."""

    iou_by_size: dict[str, float | None]  # bucket → mean IoU of the object classes, None: absent
    miou: float
    boundary_f: float
    n_images: int
    objects_by_size: dict[str, int] = field(default_factory=dict)  # bucket → object count


def size_scores(
    preds: np.ndarray | Sequence[np.ndarray],
    scenes: SW.Scene | Sequence[SW.Scene],
    class_names: Sequence[str] = SW.CLASS_NAMES,
) -> SizeScores:
    """IoU per size bucket, mIoU and boundary F of ``preds`` against ``scenes``.

    The very metric of the shipped held-out numbers
    (:class:`deeplab_viz.eval_shapes.Accumulator`): confusion matrices accumulated
    over all scenes, each bucket over its own region (its objects' pixels plus a
    3-pixel margin), mean over the object classes present.
    """
    if isinstance(scenes, SW.Scene):
        scenes, preds = [scenes], [np.asarray(preds)]
    if len(preds) != len(scenes):
        raise ValueError("one prediction per scene")
    acc = ES.Accumulator(len(class_names))
    counts = dict.fromkeys(SW.BUCKET_NAMES, 0)
    for p, s in zip(preds, scenes, strict=True):
        p = np.asarray(p)
        if p.shape != s.mask.shape:
            raise ValueError(f"prediction {p.shape} does not match the scene {s.mask.shape}")
        acc.add(p, s, ES.bucket_regions(s))
        for o in s.objects:
            if o.pixels > 0:
                counts[o.bucket] += 1
    rep = acc.report(class_names)
    return SizeScores(
        iou_by_size=rep["iou_by_size"],
        miou=rep["miou"],
        boundary_f=rep["boundary_f"],
        n_images=rep["n_images"],
        objects_by_size=counts,
    )


@dataclass(frozen=True)
class ConfigRow:
    """One configuration of the scale table: an output stride, maybe a branch off."""

    label: str  # "OS 16", "OS 16 − rate 4"
    output_stride: int
    dropped: str | None  # branch display name
    scores: SizeScores


@dataclass(frozen=True)
class Configuration:
    """Class maps of one configuration: an output stride, maybe one ASPP branch off."""

    label: str  # "OS 16", "OS 16 − rate 4"
    output_stride: int
    dropped: str | None  # branch display name
    maps: np.ndarray = field(repr=False)  # (N, H, W) uint8


def configurations(
    modules: dict[int, object],
    rgb: np.ndarray,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    drop_at: int | None = 16,
) -> list[Configuration]:
    """Class maps of images ``rgb`` at each output stride (``modules``: OS → model module)
    and, at ``drop_at``, with each ASPP branch switched off in turn; one backbone pass
    per stride (:func:`predict`). The one forward behind the scale table, its pictures
    and the depth profile."""
    out: list[Configuration] = []
    for os_, module in sorted(modules.items()):
        names = module.aspp.names
        drops: tuple[int | None, ...] = (None,)
        if os_ == drop_at:
            drops = (None, *range(len(names)))
        preds = predict(module, rgb, mean=mean, std=std, drops=drops)
        for d in drops:
            label = f"OS {os_}" if d is None else f"OS {os_} − {names[d]}"
            out.append(Configuration(label, os_, None if d is None else names[d], preds[d]))
    return out


def scale_rows(
    configs: Sequence[Configuration],
    scenes: Sequence[SW.Scene],
    class_names: Sequence[str] = SW.CLASS_NAMES,
) -> list[ConfigRow]:
    """One :class:`ConfigRow` (scores on ``scenes``) per configuration."""
    return [
        ConfigRow(
            label=c.label,
            output_stride=c.output_stride,
            dropped=c.dropped,
            scores=size_scores(c.maps, scenes, class_names),
        )
        for c in configs
    ]


def scale_table(
    modules: dict[int, object],
    scenes: Sequence[SW.Scene],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    drop_at: int | None = 16,
    class_names: Sequence[str] = SW.CLASS_NAMES,
) -> list[ConfigRow]:
    """Scores per output stride (``modules``: OS → model module) and, at ``drop_at``,
    with each ASPP branch switched off in turn. Scenes must share one size."""
    rgb = np.stack([s.rgb for s in scenes])
    configs = configurations(modules, rgb, mean=mean, std=std, drop_at=drop_at)
    return scale_rows(configs, scenes, class_names)


def load_metrics(path: Path | None = None) -> dict | None:
    """The shipped held-out metrics (``deeplab_viz/assets/models/shapes_metrics.json``) or None."""
    p = Path(ES.METRICS_FILE if path is None else path)
    try:
        table = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) and isinstance(table.get("results"), list) else None


def metrics_rows(table: dict, model: str, drops_at: int | None = 16) -> list[dict]:
    """The shipped rows of one model: all branches on at OS 8, 16, 32, then each branch
    off at ``drops_at`` (None: at every stride)."""
    rows = [
        r
        for r in table["results"]
        if r.get("model") == model
        and (r.get("dropped") is None or drops_at is None or r["output_stride"] == drops_at)
    ]
    return sorted(
        rows,
        key=lambda r: (
            r.get("dropped") is not None,
            r["output_stride"],
            r.get("dropped_index") or 0,
        ),
    )


def vanishing_trend(table: dict, model: str, bucket: str = "tiny") -> dict[int, float | None]:
    """``bucket``'s held-out IoU at OS 8/16/32 (all branches on)."""
    out: dict[int, float | None] = {}
    for os_ in (8, 16, 32):
        try:
            out[os_] = ES.find_result(table, model, os_)["iou_by_size"].get(bucket)
        except KeyError:
            out[os_] = None
    return out


def branch_costs(table: dict, model: str, output_stride: int) -> dict[str, dict[str, float]]:
    """IoU each size bucket loses when one ASPP branch is switched off (shipped table).

    ``{branch name: {bucket: full IoU − IoU without the branch}}`` at ``output_stride``;
    buckets missing from either row are left out. Positive: the branch was helping.
    """
    full = ES.find_result(table, model, output_stride)["iou_by_size"]
    out: dict[str, dict[str, float]] = {}
    for r in table["results"]:
        if r.get("model") != model or r.get("output_stride") != output_stride:
            continue
        if not r.get("dropped"):
            continue
        out[r["dropped"]] = {
            b: full[b] - v
            for b, v in r["iou_by_size"].items()
            if v is not None and full.get(b) is not None
        }
    return out


def most_needed(
    costs: dict[str, dict[str, float]], bucket: str, *, prefix: str = ""
) -> tuple[str, float] | None:
    """(branch, IoU lost) of the branch whose loss costs ``bucket`` the most, among the
    branches whose name starts with ``prefix`` ("rate ": the atrous ones), or None."""
    have = [
        (name, c[bucket]) for name, c in costs.items() if bucket in c and name.startswith(prefix)
    ]
    return max(have, key=lambda t: t[1]) if have else None


# --------------------------------------------------------------------------- RF vs object


@dataclass(frozen=True)
class Reach:
    """A receptive field of side ``rf_size`` (None: global) centred at a pixel, against
    the object under that pixel."""

    rf_size: int | None
    reaches_outline: bool  # the square holds a pixel outside the object (its outline is in view)
    covers_object: bool  # the square holds the object's whole bounding box


@dataclass(frozen=True)
class PixelObject:
    """The object under a picked pixel and how far that pixel is from its outline."""

    pixel_yx: tuple[int, int]
    index: int | None  # into scene.objects; None: background
    class_name: str
    diameter: float | None
    bucket: str | None
    bbox: tuple[int, int, int, int] | None  # (y0, x0, y1, x1) inclusive, visible pixels
    outline_distance: int | None  # Chebyshev px to the nearest pixel not in the object

    def reach(self, rf_size: int | None) -> Reach:
        """Whether a square RF of side ``rf_size`` centred here reaches the outline."""
        if rf_size is None:
            return Reach(None, self.index is not None and self.outline_distance is not None, True)
        half = (int(rf_size) - 1) // 2
        if self.index is None:
            return Reach(int(rf_size), True, True)
        py, px = self.pixel_yx
        y0, x0, y1, x1 = self.bbox  # type: ignore[misc]
        covers = py - half <= y0 and px - half <= x0 and py + half >= y1 and px + half >= x1
        near = self.outline_distance is not None and half >= self.outline_distance
        return Reach(int(rf_size), near, covers)


def depth_map(mask: np.ndarray, *, border_outside: bool = False) -> np.ndarray:
    """Chebyshev distance (px) from each pixel of ``mask`` to the nearest pixel outside it
    (0 outside; −1 inside when no pixel of the image is outside). Exact: the outside
    grows by one 3×3 step at a time, and a pixel's depth is the step that reaches it.
    ``border_outside``: count the ring just beyond the image as outside too."""
    m = np.asarray(mask, dtype=bool)
    depth = np.zeros(m.shape, np.int64)
    outside = ~m
    if not outside.any() and not border_outside:
        return np.where(m, -1, 0)
    t = torch.from_numpy(outside.astype(np.float32))[None, None]
    k = 0
    while not bool(t.min()):
        k += 1
        src = torch.nn.functional.pad(t, (1, 1, 1, 1), value=1.0) if border_outside else t
        grown = torch.nn.functional.max_pool2d(src, 3, stride=1, padding=0 if border_outside else 1)
        new = (grown > t)[0, 0].numpy()
        depth[new] = k
        t = grown
    return depth


def outline_distance(mask: np.ndarray, pixel_yx: Sequence[int]) -> int | None:
    """Chebyshev distance (px) from ``pixel_yx`` to the nearest pixel *outside* ``mask``
    (None when every pixel of the image is inside). A square of side ``2d + 1`` centred
    at the pixel is the smallest one that sees across the object's outline."""
    d = int(depth_map(mask)[int(pixel_yx[0]), int(pixel_yx[1])])
    return None if d < 0 else d


def pixel_object(scene: SW.Scene, pixel_yx: Sequence[int]) -> PixelObject:
    """The object under ``pixel_yx`` (row, column) of ``scene``, its box and outline distance."""
    py, px = (int(v) for v in pixel_yx)
    h, w = scene.mask.shape
    if not (0 <= py < h and 0 <= px < w):
        raise ValueError(f"pixel {(py, px)} is outside the {h}×{w} scene")
    inst = int(scene.instances[py, px])
    if inst == 0:
        return PixelObject((py, px), None, "background", None, None, None, None)
    own = scene.instances == inst
    ys, xs = np.nonzero(own)
    o = scene.objects[inst - 1]
    return PixelObject(
        pixel_yx=(py, px),
        index=inst - 1,
        class_name=o.class_name,
        diameter=o.diameter,
        bucket=o.bucket,
        bbox=(int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())),
        outline_distance=outline_distance(own, (py, px)),
    )


DEPTH_BINS: tuple[int, ...] = (1, 4, 8, 16, 10_000)  # px from the outline, [lo, hi)


def object_depths(scene: SW.Scene, bucket: str | None = "large") -> np.ndarray:
    """(H, W) int: for each visible pixel of an object of ``bucket`` (None: any object),
    its Chebyshev distance in pixels to the nearest pixel outside the object (1 on the
    outline; the image edge counts as outside); 0 everywhere else."""
    out = np.zeros(scene.mask.shape, np.int64)
    for i, o in enumerate(scene.objects):
        if bucket is not None and o.bucket != bucket:
            continue
        own = scene.instances == i + 1
        if own.any():
            out[own] = depth_map(own, border_outside=True)[own]
    return out


@dataclass(frozen=True)
class DepthProfile:
    """Pixel accuracy against distance to the object's outline (lesson (a) of the scale lab).

    ``accuracy[config][k]``: share of object pixels at depth ``bins[k] ≤ d < bins[k+1]``
    labelled with their true class (None: no pixel at that depth); ``pixels[k]``: how many.
    """

    bins: tuple[int, ...]
    accuracy: dict[str, list[float | None]]
    pixels: list[int]


def depth_profile(
    preds: dict[str, np.ndarray],
    scenes: Sequence[SW.Scene],
    *,
    bucket: str | None = "large",
    bins: Sequence[int] = DEPTH_BINS,
) -> DepthProfile:
    """:class:`DepthProfile` of class maps ``preds`` (label → (N, H, W)) on ``scenes``."""
    if len(bins) < 2 or any(b >= c for b, c in zip(bins, bins[1:], strict=False)):
        raise ValueError("bins must be at least two increasing depths")
    depth = np.stack([object_depths(s, bucket) for s in scenes])  # (N, H, W)
    truth = np.stack([s.mask for s in scenes])
    masks = [(depth >= lo) & (depth < hi) for lo, hi in zip(bins, bins[1:], strict=False)]
    acc: dict[str, list[float | None]] = {}
    for label, p in preds.items():
        p = np.asarray(p)
        if p.shape != truth.shape:
            raise ValueError(f"{label}: predictions {p.shape} do not match the scenes")
        acc[label] = [float((p[m] == truth[m]).mean()) if m.any() else None for m in masks]
    return DepthProfile(tuple(int(b) for b in bins), acc, [int(m.sum()) for m in masks])


def depth_profile_at(
    configs: Sequence[Configuration],
    scenes: Sequence[SW.Scene],
    output_stride: int,
    *,
    bucket: str | None = "large",
    bins: Sequence[int] = DEPTH_BINS,
) -> DepthProfile:
    """:func:`depth_profile` of the configurations at ``output_stride`` (labels "all
    branches", "− <branch name>")."""
    labelled = {
        ("all branches" if c.dropped is None else f"− {c.dropped}"): c.maps
        for c in configs
        if c.output_stride == output_stride
    }
    return depth_profile(labelled, scenes, bucket=bucket, bins=bins)


def depth_profile_of(
    module,
    scenes: Sequence[SW.Scene],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    bucket: str | None = "large",
    bins: Sequence[int] = DEPTH_BINS,
) -> DepthProfile:
    """:func:`depth_profile` of one model with all branches on and each one off in turn;
    one backbone pass for every configuration."""
    rgb = np.stack([s.rgb for s in scenes])
    # one model: the key only has to match drop_at, whatever stride it runs at
    configs = configurations({0: module}, rgb, mean=mean, std=std, drop_at=0)
    return depth_profile_at(configs, scenes, 0, bucket=bucket, bins=bins)


def depth_summary(profile: DepthProfile) -> str:
    """One Markdown paragraph: which switched-off branch costs the deepest pixels most, and
    which the pixels on the outline (from :func:`depth_profile_of`'s labels)."""
    full = profile.accuracy.get("all branches")
    drops = {k: v for k, v in profile.accuracy.items() if k != "all branches"}
    if full is None or not drops:
        return ""
    rows = [k for k, n in enumerate(profile.pixels) if n > 0]
    if len(rows) < 2:
        return ""
    near, deep = rows[0], rows[-1]  # on the outline; the deepest bin with pixels

    def cost(k: int) -> dict[str, float]:
        return {n: full[k] - v[k] for n, v in drops.items() if v[k] is not None}

    def span(k: int) -> str:
        lo, hi = profile.bins[k], profile.bins[k + 1]
        return f"{lo}–{hi - 1} px" if hi < 1000 else f"{lo} px or more"

    c_near, c_deep = cost(near), cost(deep)
    worst_near = max(c_near, key=c_near.get)
    worst_deep = max(c_deep, key=c_deep.get)
    text = (
        f"On the outline ({span(near)}), switching off **{worst_near.removeprefix('− ')}** "
        f"costs the most (−{c_near[worst_near]:.2f}); deep inside ({span(deep)} from the "
        f"outline), **{worst_deep.removeprefix('− ')}** does (−{c_deep[worst_deep]:.2f})"
    )
    if worst_deep != worst_near:
        text += (
            f", while switching off {worst_near.removeprefix('− ')} costs the deep pixels "
            f"only {c_deep.get(worst_near, 0.0):.2f}"
        )
    return text + "."


def largest_object_pixel(scene: SW.Scene) -> tuple[int, int]:
    """A pixel deep inside the largest visible object (farthest from its outline)."""
    if not scene.objects:
        return scene.size // 2, scene.size // 2
    i = int(np.argmax([o.pixels for o in scene.objects]))
    own = scene.instances == i + 1
    if not own.any():
        return scene.size // 2, scene.size // 2
    depth = depth_map(own, border_outside=True)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return int(y), int(x)


# --------------------------------------------------------------------------- page tables


def fmt_score(v: float | None) -> str:
    """A score as the tables show it: two decimals, "—" when there is none."""
    return "—" if v is None else f"{v:.2f}"


def score_table(rows: Sequence[ConfigRow]) -> list[dict[str, str]]:
    """One table row per configuration: IoU per size bucket, mIoU and boundary F."""
    return [
        {
            "configuration": r.label,
            **{SW.bucket_label(b): fmt_score(r.scores.iou_by_size.get(b)) for b in SW.BUCKET_NAMES},
            "mIoU": fmt_score(r.scores.miou),
            "boundary F": fmt_score(r.scores.boundary_f),
        }
        for r in rows
    ]


def reference_table(rows: Sequence[dict]) -> list[dict[str, str]]:
    """:func:`score_table` of the shipped rows (:func:`metrics_rows`)."""
    return [
        {
            "configuration": f"OS {r['output_stride']}"
            + (f" − {r['dropped']}" if r.get("dropped") else ""),
            **{SW.bucket_label(b): fmt_score(r["iou_by_size"].get(b)) for b in SW.BUCKET_NAMES},
            "mIoU": fmt_score(r.get("miou")),
            "boundary F": fmt_score(r.get("boundary_f")),
        }
        for r in rows
    ]


def visible_counts(scene: SW.Scene) -> dict[str, int]:
    """Size bucket → how many of the scene's objects have visible pixels."""
    counts = dict.fromkeys(SW.BUCKET_NAMES, 0)
    for o in scene.objects:
        if o.pixels:
            counts[o.bucket] += 1
    return counts


def rf_fields(module, size: int) -> tuple[list[tuple[str, int]], list[str]]:
    """The theoretical receptive fields drawn around a picked pixel of a ``size`` × ``size``
    scene: (name, side in px) of layer2, layer3, the ASPP input (layer4) and each atrous
    ASPP branch, in that order; then the names of the pooling branches (global)."""
    rows = {r.key: r for r in model_rf_table(module, image_hw=(size, size))}
    names, kinds = module.aspp.names, module.aspp.kinds
    drawn = [
        ("layer2", rows["stage:layer2"].size),
        ("layer3", rows["stage:layer3"].size),
        ("ASPP input (layer4)", rows["stage:layer4"].size),
    ]
    drawn += [
        (f"ASPP {names[i]}", rows[f"aspp:{i}"].size) for i, k in enumerate(kinds) if k == "atrous"
    ]
    pooling = [f"ASPP {names[i]}" for i, k in enumerate(kinds) if k == "pooling"]
    return drawn, pooling


def reach_table(obj: PixelObject, fields: Sequence[tuple[str, int | None]]) -> list[dict[str, str]]:
    """Per field (name, side; None: global): does the square reach the outline of the
    object under the pixel, does it hold the whole object (✓ / ✗)?"""
    table = []
    for name, side in fields:
        reach = obj.reach(side)
        table.append(
            {
                "field": name,
                "side": "global" if side is None else f"{side} px",
                "reaches outline": "✓" if reach.reaches_outline else "✗",
                "holds object": "✓" if reach.covers_object else "✗",
            }
        )
    return table


# --------------------------------------------------------------------------- shipped trends


def heldout_count(table: dict | None, default: int = 200) -> int:
    """How many held-out scenes the shipped table scored (``default`` without a table)."""
    if not table:
        return default
    lo, hi = table["heldout_seeds"]
    return hi - lo


def size_trends(table: dict, model: str) -> dict[str, dict[int, float | None]]:
    """Bucket → :func:`vanishing_trend` (held-out IoU at OS 8/16/32), every bucket."""
    return {b: vanishing_trend(table, model, b) for b in SW.BUCKET_NAMES}


def trend_lines(trends: dict[str, dict[int, float | None]]) -> str:
    """A Markdown list: each bucket's IoU at OS 8 → 16 → 32 ("—": no number)."""
    return "\n".join(
        f"- **{SW.bucket_label(b)}**: "
        + " → ".join("—" if trends[b][o] is None else f"**{trends[b][o]:.2f}**" for o in STRIDES)
        for b in SW.BUCKET_NAMES
    )


def kept_shares(trends: dict[str, dict[int, float | None]], trained: int) -> dict[str, float]:
    """Bucket → share of its IoU at the ``trained`` stride that is left at OS 32; buckets
    without both numbers (or with no IoU at ``trained``) are left out, and so is
    everything when the model was trained at 32."""
    if trained == 32:
        return {}
    return {
        b: trends[b][32] / trends[b][trained]
        for b in SW.BUCKET_NAMES
        if trends[b][trained] and trends[b][32] is not None
    }


def large_keeps_most(kept: dict[str, float]) -> bool:
    """Whether large objects keep the largest share of their IoU (:func:`kept_shares`)."""
    return "large" in kept and kept["large"] == max(kept.values())


@dataclass(frozen=True)
class BranchSummary:
    """(branch, IoU lost) of the branch small and large objects miss most, among all
    branches and among the atrous ones (:func:`most_needed`)."""

    small: tuple[str, float]
    small_atrous: tuple[str, float]
    large: tuple[str, float]
    large_atrous: tuple[str, float]


def branch_summary(table: dict, model: str, output_stride: int) -> BranchSummary | None:
    """Which branch serves which size at ``output_stride``, or None when the shipped table
    cannot say (no row at that stride, or no cost for one of the four)."""
    try:
        costs = branch_costs(table, model, output_stride)
    except KeyError:  # no row at this stride in the metrics file
        costs = {}
    found = (
        most_needed(costs, "small"),
        most_needed(costs, "small", prefix="rate "),
        most_needed(costs, "large"),
        most_needed(costs, "large", prefix="rate "),
    )
    if None in found:
        return None
    return BranchSummary(*found)


def hardly_found(trends: dict[str, dict[int, float | None]], below: float = 0.15) -> list[str]:
    """The small buckets ("tiny", "small") whose held-out IoU stays below ``below`` at
    every stride (a missing number counts as 0)."""
    return [b for b in ("tiny", "small") if all((trends[b][o] or 0) < below for o in STRIDES)]
