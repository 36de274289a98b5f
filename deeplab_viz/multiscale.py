"""Multi-scale and left-right flipped inputs at test time, as DeepLab v3 evaluates.

The image is fed at several working sizes (``scale × size`` pixels on its longest
side) and, with ``flip``, mirrored left-right as well. Every view goes through the
app's own :func:`~deeplab_viz.inference.prepare` and
:func:`~deeplab_viz.inference.forward_logits` (resizing, normalisation, the
``OS·k + 1`` padding of align-corners models, cropping, bilinear upsampling), so
its logits land on the image's own grid; a flipped view's logits are mirrored back.
The views are merged by **averaging their softmax probabilities**, which is what
DeepLab's released code does: ``predict_labels_multi_scale`` in
tensorflow/models ``research/deeplab/model.py`` resizes each view's logits to the
image, applies ``tf.nn.softmax``, appends the flipped view's softmax, and takes
``tf.reduce_mean`` over all of them before the argmax. DeepLab v3 (Chen et al.,
arXiv:1706.05587, "Inference strategy on val set") evaluates with the scales
{0.5, 0.75, 1.0, 1.25, 1.5, 1.75} and left-right flips: :data:`DEEPLAB_SCALES`.
Averaging probabilities differs from averaging logits: one confident view can
outvote several mildly opposed ones under logits, not under probabilities.

Works for every model at every output stride: the scale changes only the input.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .inference import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, forward_logits, prepare
from .models import LoadedModel

DEEPLAB_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
MAX_SCALE = 4.0
MAX_SCALES = 8


def scaled_size(size: int, scale: float) -> int:
    """Working size (longest side, pixels) of ``scale`` at working size ``size``."""
    return int(round(size * scale))


def check_scales(scales: Sequence[float], size: int | None = DEFAULT_SIZE) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, or a one-line ValueError.

    Each scale is in (0, :data:`MAX_SCALE`], at most :data:`MAX_SCALES` distinct
    values, and (unless ``size`` is None) ``scale × size`` must be a working size
    the app accepts.
    """
    out = tuple(scales)
    if not out:
        raise ValueError("give at least one scale")
    if len(out) > MAX_SCALES:
        raise ValueError(f"at most {MAX_SCALES} scales, got {len(out)}")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s):
            raise ValueError(f"scales must be numbers, got {s!r}")
        if not 0 < s <= MAX_SCALE:
            raise ValueError(f"scales must be in (0, {MAX_SCALE:g}], got {s:g}")
        if size is not None and not MIN_SIZE <= (px := scaled_size(size, s)) <= MAX_SIZE:
            raise ValueError(
                f"scale {s:g} × size {size} = {px} px is outside the working sizes "
                f"{MIN_SIZE}–{MAX_SIZE} px"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"scales must differ, got {', '.join(f'{s:g}' for s in out)}")
    return tuple(float(s) for s in out)


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.5,0.75,1"`` → (0.5, 0.75, 1.0), checked by :func:`check_scales` without a size."""
    items = [t.strip() for t in str(text).split(",")]
    try:
        values = tuple(float(t) for t in items)
    except ValueError:
        raise ValueError(f"scales must be numbers separated by commas, got {text!r}") from None
    return check_scales(values, size=None)


@dataclass(frozen=True)
class View:
    """One input of a multi-scale run."""

    scale: float
    size: int  # longest side fed to the model, pixels
    flipped: bool  # mirrored left-right on the way in (and its logits back on the way out)
    input_hw: tuple[int, int]  # (h, w) the network saw, before padding
    ms: float  # forward time, milliseconds
    logits: torch.Tensor | None = field(default=None, repr=False)  # (1, C, H, W) image grid


@dataclass(frozen=True)
class MultiScale:
    """The merged prediction of all views, and the views themselves."""

    probs: torch.Tensor = field(repr=False)  # (1, C, H, W) float64: mean softmax over views
    views: tuple[View, ...]
    class_names: tuple[str, ...]
    # scale -> (H, W) uint8 argmax of that scale's views alone (with its flip): the
    # small multiples of a page, kept even when the logits are not
    scale_maps: dict[float, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def logits(self) -> torch.Tensor:
        """(1, C, H, W) float32 log of :attr:`probs`: logits whose softmax is the average."""
        return torch.log(self.probs.clamp_min(1e-30)).float()

    @property
    def class_map(self) -> np.ndarray:
        """(H, W) uint8 argmax of the averaged probabilities."""
        return self.probs[0].argmax(0).to(torch.uint8).numpy()

    @property
    def ms(self) -> float:
        """Forward time of all views, milliseconds."""
        return float(sum(v.ms for v in self.views))

    def scale_probs(self, scale: float) -> torch.Tensor:
        """(1, C, H, W) float32 mean softmax of the views at ``scale`` (needs kept logits)."""
        views = [v for v in self.views if v.scale == scale]
        if not views or any(v.logits is None for v in views):
            raise ValueError(f"no kept logits at scale {scale:g}")
        return sum(torch.softmax(v.logits.double(), dim=1) for v in views).float() / len(views)


def multiscale(
    model: LoadedModel,
    rgb: np.ndarray,
    *,
    size: int = DEFAULT_SIZE,
    scales: Sequence[float] = DEEPLAB_SCALES,
    flip: bool = True,
    keep_logits: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> MultiScale:
    """Run ``model`` on (H, W, 3) uint8 ``rgb`` at every scale (and mirrored, with ``flip``).

    Returns the mean of the views' softmax on the image grid; with ``keep_logits``
    each :class:`View` carries its own (1, C, H, W) image-grid logits (a page's
    small multiples), otherwise they are dropped as soon as they are averaged.
    ``scales=(1.0,), flip=False`` is :func:`~deeplab_viz.inference.segment`'s run.
    ``progress(done, total)`` is called after every view (a page's progress bar).
    """
    scales = check_scales(scales, size=size)
    mirrored = np.ascontiguousarray(rgb[:, ::-1]) if flip else None
    views: list[View] = []
    scale_maps: dict[float, np.ndarray] = {}
    total: torch.Tensor | None = None  # (1, C, H, W) float64 sum of probabilities
    for s in scales:
        px = scaled_size(size, s)
        pair: torch.Tensor | None = None  # this scale's views, summed first: flip-symmetric
        for flipped in (False, True) if flip else (False,):
            prepared = prepare(mirrored if flipped else rgb, model, size=px)
            logits, ms = forward_logits(model, prepared)  # (1, C, H, W) image grid
            if flipped:
                logits = logits.flip(-1)
            p = torch.softmax(logits.double(), dim=1)  # float64: argmax ties only if logits tie
            pair = p if pair is None else pair + p
            views.append(
                View(s, px, flipped, prepared.valid_hw, ms, logits if keep_logits else None)
            )
            if progress is not None:
                progress(len(views), len(scales) * (2 if flip else 1))
        assert pair is not None
        scale_maps[s] = pair[0].argmax(0).to(torch.uint8).numpy()
        total = pair if total is None else total + pair
    assert total is not None
    return MultiScale(
        probs=total / len(views),
        views=tuple(views),
        class_names=model.class_names,
        scale_maps=scale_maps,
    )
