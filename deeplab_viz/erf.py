"""Effective receptive field (Luo et al., 2016): where an output unit's gradient lives.

The theoretical receptive field says which input pixels *can* influence a unit; the
effective one weighs each pixel by ``|d unit / d pixel|``. It is concentrated near the
centre (roughly Gaussian), so it covers only a fraction of the theoretical one.

The model is treated as a shared, read-only object: only ``torch.autograd.grad`` with
respect to a fresh copy of the input is used, so no hooks are registered, no ``.grad``
is written, and neither ``requires_grad`` nor train/eval mode of the model is touched.
:func:`random_like` makes a re-initialised *copy* for the "trained vs random weights"
comparison (Luo et al. show training widens the ERF); :func:`image_erf` runs the whole
recipe on a user's image for one target of a real DeepLabV3 (a stage, an ASPP branch or
the logits), with the model's own preprocessing.

Reference: W. Luo, Y. Li, R. Urtasun, R. Zemel, "Understanding the Effective Receptive
Field in Deep Convolutional Neural Networks", NIPS 2016.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .models import LoadedModel
    from .receptive_field.boxes import RFBox
    from .receptive_field.model import ModelRFRow

__all__ = [
    "ErfResult",
    "ImageErf",
    "UnitGradients",
    "MASS_FRACTIONS",
    "erf_map",
    "erf_targets",
    "erf_to_trf_ratio",
    "image_erf",
    "image_graph",
    "mass_square",
    "random_like",
    "target_fn",
]

MASS_FRACTIONS = (0.2, 0.5, 0.95)


@dataclass(frozen=True)
class ErfResult:
    """An effective receptive field.

    ``erf``: (H, W) float64 map of ``|gradient|`` summed over input channels (and averaged
    over samples), normalised to sum 1 (all zeros if the gradient vanished);
    ``total``: the gradient mass before normalisation (sum over pixels and channels,
    averaged over samples); ``out_yx`` the output unit (feature-map cells); ``output_hw``
    the feature-map size; ``channel`` None when all output channels were summed.
    """

    erf: np.ndarray
    total: float
    out_yx: tuple[int, int]
    output_hw: tuple[int, int]
    channel: int | None
    n_samples: int

    @property
    def peak_yx(self) -> tuple[int, int]:
        """Input pixel with the largest gradient share."""
        y, x = np.unravel_index(int(np.argmax(self.erf)), self.erf.shape)
        return int(y), int(x)


class UnitGradients:
    """One forward kept for many backwards: ``|∂ unit / ∂ input|`` for any unit of one map.

    The forward of ``model_fn`` at ``x`` (N, C, H, W) runs once, here, and its autograd
    graph is kept, so each unit asked for afterwards costs one backward only (no second
    forward: 0.54× the time of a forward+backward on the default MobileNetV2 at 513 px,
    ``bench/erf_graph.py``). Backwards through one graph are serialised by a lock, so
    one object can be shared between threads (a cached resource). Memory: the
    activations the backward needs (about 270 MB on that model and size), held until
    the object is dropped.

    Each sample's unit depends only on its own input (eval mode), so one backward of the
    units' sum gives every sample's gradient in its own slot, and ``|·|`` is taken per
    sample before summing over the batch and the input channels.
    """

    def __init__(
        self,
        model_fn: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        *,
        target: str | None = None,
    ):
        # inference_mode(False) + enable_grad: works under no_grad/inference_mode too.
        with torch.inference_mode(False), torch.enable_grad():
            self._inp = x.detach().clone().requires_grad_(True)
            out = model_fn(self._inp)
        n = x.shape[0]
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != n:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"model_fn must return a ({n}, C, h, w) tensor, got {shape}")
        if not out.requires_grad:
            raise ValueError("the output does not depend on the input through autograd")
        self._out = out
        self.input_shape = tuple(x.shape)
        self.output_hw = (int(out.shape[-2]), int(out.shape[-1]))
        self._lock = threading.Lock()
        self.target = target  # the map it is of, when known (image_graph's target)

    def __call__(
        self, out_yx: tuple[int, int], channel: int | None = None, *, keep: bool = True
    ) -> torch.Tensor:
        """(H, W) float64: Σ over the batch and input channels of ``|∂ unit / ∂ input|``.

        ``keep=False`` frees the graph after this backward (a one-off use).
        """
        _, c, h, w = self._out.shape
        y, xx = out_yx
        if not (0 <= y < h and 0 <= xx < w):
            raise ValueError(f"out_yx {out_yx} is outside the {h}x{w} output")
        if channel is not None and not 0 <= channel < c:
            raise ValueError(f"channel {channel} is outside 0..{c - 1}")
        with self._lock, torch.inference_mode(False), torch.enable_grad():
            out = self._out
            unit = out[:, :, y, xx].sum() if channel is None else out[:, channel, y, xx].sum()
            (grad,) = torch.autograd.grad(unit, self._inp, retain_graph=keep, allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(self._inp)
        return grad.detach().abs().sum(dim=(0, 1)).to(torch.float64)


def _unit_gradient(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    out_yx: tuple[int, int],
    channel: int | None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """One unit's gradient (see :class:`UnitGradients`), the graph freed afterwards."""
    graph = UnitGradients(model_fn, x)
    return graph(out_yx, channel, keep=False), graph.output_hw


# Random inputs per backward pass: one batched backward instead of one per sample;
# capped so the activations kept for the backward stay bounded on big inputs.
NOISE_BATCH = 4


def erf_map(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    out_yx: Sequence[int],
    channel: int | None = None,
    n_samples: int = 1,
    seed: int = 0,
) -> ErfResult:
    """Gradient map of one output unit with respect to the input.

    ``model_fn``: any callable (module or function) mapping ``(1, C, H, W)`` to
    ``(1, C', h, w)``. The unit is ``output[0, :, y, x].sum()`` (``channel=None``) or
    ``output[0, channel, y, x]``. ``n_samples == 1`` uses ``x`` itself; ``n_samples > 1``
    averages ``|gradient|`` over that many standard-normal inputs of ``x``'s shape, dtype
    and device drawn from ``torch.Generator().manual_seed(seed)`` (the classic
    random-input ERF; ``x`` then only gives the shape). Works inside ``torch.no_grad``
    and ``torch.inference_mode``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("x must be a (1, C, H, W) torch tensor")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)):
        raise ValueError(f"channel must be None or an int, got {channel!r}")
    if not (isinstance(out_yx, Sequence) and len(out_yx) == 2):
        raise ValueError(f"out_yx must be a (y, x) pair, got {out_yx!r}")
    yx = (int(out_yx[0]), int(out_yx[1]))
    if n_samples == 1:
        acc, out_hw = _unit_gradient(model_fn, x, yx, channel)
    else:
        # the same draws, in the same order, as one sample at a time; several per backward
        gen = torch.Generator().manual_seed(int(seed))
        samples = [torch.randn(x.shape, generator=gen, dtype=x.dtype) for _ in range(n_samples)]
        acc = None
        for i in range(0, n_samples, NOISE_BATCH):
            batch = torch.cat(samples[i : i + NOISE_BATCH]).to(x.device)  # (≤4, C, H, W)
            g, out_hw = _unit_gradient(model_fn, batch, yx, channel)
            acc = g if acc is None else acc + g
        acc = acc / n_samples
    return _normalised(acc, yx, out_hw, channel, n_samples)


def _normalised(
    acc: torch.Tensor, yx: tuple[int, int], out_hw: tuple[int, int], channel, n_samples: int
) -> ErfResult:
    grad = acc.cpu().numpy()
    total = float(grad.sum())
    erf = grad / total if total > 0 else np.zeros_like(grad)
    return ErfResult(
        erf=erf,
        total=total,
        out_yx=yx,
        output_hw=out_hw,
        channel=channel,
        n_samples=n_samples,
    )


def _box_sum(prefix: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> float:
    # Sum of erf[y0:y1, x0:x1] from a zero-padded 2-D prefix sum.
    return float(prefix[y1, x1] - prefix[y0, x1] - prefix[y1, x0] + prefix[y0, x0])


def mass_square(
    erf: np.ndarray,
    centre_yx: Sequence[int],
    fractions: Sequence[float] = (0.2, 0.5, 0.95),
) -> dict[float, int]:
    """Side (input pixels, odd) of the smallest centred square holding each mass fraction.

    The square of side ``2h + 1`` around ``centre_yx`` is clipped to the image; ``h``
    grows until the clipped square holds at least ``fraction`` of the total mass, so the
    largest possible answer is the side that covers the whole image from that centre.
    Returns ``{fraction: side}``; sides are non-decreasing in the fraction.
    """
    arr = np.asarray(erf, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"erf must be a 2-D map, got shape {arr.shape}")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError("erf must be finite and non-negative")
    total = float(arr.sum())
    if total <= 0:
        raise ValueError("erf has no mass (all zeros)")
    h, w = arr.shape
    cy, cx = (int(c) for c in centre_yx)
    if not (0 <= cy < h and 0 <= cx < w):
        raise ValueError(f"centre {(cy, cx)} is outside the {h}x{w} map")
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {f!r}")
    prefix = np.zeros((h + 1, w + 1))
    prefix[1:, 1:] = arr.cumsum(0).cumsum(1)
    h_max = max(cy, h - 1 - cy, cx, w - 1 - cx)
    shares = np.array(
        [
            _box_sum(prefix, max(cy - r, 0), min(cy + r + 1, h), max(cx - r, 0), min(cx + r + 1, w))
            / total
            for r in range(h_max + 1)
        ]
    )
    shares[-1] = 1.0  # the whole image, exactly
    result = {}
    for f in fractions:
        r = int(np.argmax(shares >= f - 1e-12))
        result[float(f)] = 2 * r + 1
    return result


def erf_to_trf_ratio(side: float, trf_size: float) -> float:
    """Linear ratio ``side / trf_size`` of an ERF square to the theoretical RF (pixels).

    The area ratio is its square.
    """
    if side <= 0 or trf_size <= 0:
        raise ValueError(f"side and trf_size must be positive, got {side!r}, {trf_size!r}")
    return float(side) / float(trf_size)


# --------------------------------------------------------------------------- random weights

_REINIT = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._NormBase)


def random_like(module: nn.Module, *, seed: int) -> nn.Module:
    """A deep copy of ``module`` with every conv, linear and batch-norm layer re-initialised.

    Each such layer's own ``reset_parameters()`` is called (PyTorch's standard init:
    Kaiming-uniform weights, fan-in-uniform biases; batch norm gets weight 1, bias 0 and
    running statistics 0/1, i.e. the identity in eval mode) under ``torch.manual_seed(seed)``
    in a forked RNG, so the global random state is untouched and the same seed gives the
    same copy. ``module`` itself is not modified; the copy keeps its device, dtype,
    ``requires_grad`` flags and train/eval mode. This is the "architecture only" network
    against which the trained one's ERF is compared.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    new = copy.deepcopy(module)
    cuda = sorted({p.device.index or 0 for p in new.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        torch.manual_seed(seed)
        for m in new.modules():
            if isinstance(m, _REINIT):
                m.reset_parameters()
    return new


# --------------------------------------------------------------------------- real models


def erf_targets(model: nn.Module) -> dict[str, str]:
    """``{key: label}`` of the units whose ERF can be taken in a DeepLabV3, in forward order.

    Labels: the stage name (the last one marked "(ASPP input)"), "ASPP <branch>", "logits".

    Keys match :attr:`~deeplab_viz.receptive_field.ModelRFRow.key`: ``"stage:<name>"``
    for each backbone stage (the last one is the ASPP input), ``"aspp:<i>"`` for each ASPP
    branch, ``"logits"`` for the class scores (before upsampling).
    """
    module = getattr(model, "module", model)
    out = {f"stage:{name}": str(name) for name in module.stages}
    last = list(module.stages)[-1]
    out[f"stage:{last}"] += " (ASPP input)"
    for i, name in enumerate(module.aspp.names):
        out[f"aspp:{i}"] = f"ASPP {name}"
    out["logits"] = "logits (class scores)"
    return out


def target_fn(model: nn.Module, target: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function input ``(1, 3, H, W)`` → the target's feature map ``(1, C, h, w)``.

    Runs the model's own modules (no hooks, nothing changed) and stops at the target;
    ``"logits"`` is ``decode(aspp(features))`` at the decoder's resolution.
    """
    module = getattr(model, "module", model)
    if target not in erf_targets(module):
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(erf_targets(module))}")
    part, _, name = target.partition(":")
    stages = list(module.stages.items())

    def backbone(x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        for stage_name, stage in stages:
            x = stage(x)
            if stage_name == upto:
                break
        return x

    if part == "stage":
        return lambda x: backbone(x, name)
    if part == "aspp":
        branch = module.aspp.branches[int(name)]
        return lambda x: branch(backbone(x))

    def logits(x: torch.Tensor) -> torch.Tensor:
        feats = module.features(x)
        return module.decode(module.aspp(next(reversed(feats.values()))), feats)

    return logits


@dataclass(frozen=True)
class ImageErf:
    """The ERF of one unit of a real model on an image, with its theoretical RF.

    Coordinates: ``*_input`` in model-input pixels (the image resized to ``valid_hw``,
    then padded; what the RF table counts), ``*_image`` in the user's image pixels.
    ``erf_input`` is the normalised ``|gradient|`` over the whole padded input;
    ``erf_image`` is its image part resized to the image (for display; ``image_share`` is
    the fraction of the mass that falls on the image rather than the padding).
    ``mass_sides`` are the sides (model-input pixels) of the smallest centred squares
    holding 20/50/95 % of the gradient mass; ``ratios`` divide them by the theoretical RF
    (``row.local_size`` when the RF is global). ``ms``: wall time of the gradients.
    """

    target: str
    row: ModelRFRow
    unit_yx: tuple[int, int]
    output_hw: tuple[int, int]
    centre_input_yx: tuple[float, float]
    valid_hw: tuple[int, int]
    image_hw: tuple[int, int]
    erf_input: np.ndarray = field(repr=False)
    erf_image: np.ndarray = field(repr=False)
    image_share: float
    mass_sides: dict[float, int]
    ratios: dict[float, float]
    inputs: str
    n_samples: int
    total: float
    ms: float

    @property
    def scale_yx(self) -> tuple[float, float]:
        """Model-input pixels per image pixel, per axis."""
        return (self.valid_hw[0] / self.image_hw[0], self.valid_hw[1] / self.image_hw[1])

    @property
    def centre_image_yx(self) -> tuple[float, float]:
        (cy, cx), (sy, sx) = self.centre_input_yx, self.scale_yx
        return ((cy + 0.5) / sy - 0.5, (cx + 0.5) / sx - 0.5)

    @property
    def box(self) -> RFBox:
        """The theoretical RF of the unit on the model input (``valid_hw``)."""
        return self.row.box(self.centre_input_yx, self.valid_hw)

    def to_image(self, y0: float, y1: float, x0: float, x1: float) -> tuple[float, ...]:
        """Pixel range ``y0..y1, x0..x1`` (model input, inclusive) → edges in image pixels.

        Returns ``(top, bottom, left, right)`` as plot coordinates where image pixel ``i``
        is centred at ``i`` (so its edges are ``i ± 0.5``).
        """
        from .receptive_field.coordinates import input_to_image_edges

        return input_to_image_edges(y0, y1, x0, x1, input_hw=self.valid_hw, image_hw=self.image_hw)

    def square_on_image(self, side: int) -> tuple[float, ...]:
        """A centred square of ``side`` model-input pixels, as image-pixel edges."""
        cy, cx = self.centre_input_yx
        h = (side - 1) / 2
        return self.to_image(cy - h, cy + h, cx - h, cx + h)


def padded_input_hw(model: LoadedModel, image_hw: Sequence[int], size: int) -> tuple[int, int]:
    """(h, w) of the tensor :func:`~deeplab_viz.inference.prepare` makes, model-input pixels."""
    from .inference import padded_side, resized_hw

    h, w = resized_hw((int(image_hw[0]), int(image_hw[1])), size)
    if model.entry.align_corners:
        os_ = model.spec.output_stride
        return padded_side(h, os_), padded_side(w, os_)
    return h, w


def erf_unit(
    model: LoadedModel,
    image_hw: Sequence[int],
    *,
    size: int,
    target: str,
    pixel_yx: Sequence[int],
    module: nn.Module | None = None,
) -> tuple[int, int]:
    """The ``target`` unit (feature-map cell, y, x) nearest image pixel ``pixel_yx``.

    Many neighbouring pixels share a unit (one unit spans a jump of 4–32 model-input
    pixels), so a page keys its ERF cache by this, not by the pixel.
    """
    from .inference import resized_hw
    from .receptive_field.boxes import nearest_unit
    from .receptive_field.coordinates import image_to_input
    from .receptive_field.model import model_rf_table

    net = model.module if module is None else module
    img_h, img_w = (int(v) for v in image_hw)
    h, w = resized_hw((img_h, img_w), size)
    py, px = (int(v) for v in pixel_yx)
    if not (0 <= py < img_h and 0 <= px < img_w):
        raise ValueError(f"pixel {(py, px)} is outside the {img_h}x{img_w} image")
    rows = {r.key: r for r in model_rf_table(net, image_hw=(h, w))}
    if target not in rows:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(rows)}")
    row = rows[target]
    out_hw = row.output_hw(padded_input_hw(model, (img_h, img_w), size))
    ry, rx = image_to_input((py, px), input_hw=(h, w), image_hw=(img_h, img_w))
    return (
        nearest_unit(row.start, row.jump, ry, out_hw[0]),
        nearest_unit(row.start, row.jump, rx, out_hw[1]),
    )


def image_graph(
    model: LoadedModel,
    rgb: np.ndarray,
    *,
    size: int,
    target: str,
    module: nn.Module | None = None,
) -> UnitGradients:
    """The forward of ``target`` at the image, kept for :func:`image_erf`'s ``graph=``.

    Same input as :func:`image_erf` (:func:`~deeplab_viz.inference.prepare`); every
    unit of the target map then costs one backward.
    """
    from .inference import prepare

    net = model.module if module is None else module
    x = prepare(rgb, model, size=size).tensor
    return UnitGradients(target_fn(net, target), x, target=target)


def image_erf(
    model: LoadedModel,
    rgb: np.ndarray,
    *,
    size: int,
    target: str,
    pixel_yx: Sequence[int] | None = None,
    unit_yx: Sequence[int] | None = None,
    inputs: Literal["image", "noise"] = "image",
    n_samples: int = 1,
    seed: int = 0,
    module: nn.Module | None = None,
    fractions: Sequence[float] = MASS_FRACTIONS,
    graph: UnitGradients | None = None,
) -> ImageErf:
    """ERF of one ``target`` unit: ``unit_yx`` itself, or the one nearest image pixel ``pixel_yx``.

    The input is exactly what :func:`deeplab_viz.inference.prepare` gives the model
    (resize to ``size``, normalise, pad). ``inputs="image"`` differentiates at the image
    itself (``n_samples`` must be 1); ``"noise"`` averages ``|gradient|`` over
    ``n_samples`` standard-normal inputs of the same shape (seeded), Luo et al.'s setting.
    ``module`` replaces ``model.module`` (e.g. a :func:`random_like` copy); the
    theoretical RF is read from the wiring, which a copy shares. ``graph``: the kept
    forward of :func:`image_graph` for the same model, image, size, target and module
    (``inputs="image"`` only), so this unit costs one backward and no forward.
    """
    from .inference import prepare
    from .receptive_field.model import model_rf_table

    if inputs not in ("image", "noise"):
        raise ValueError(f"inputs must be 'image' or 'noise', got {inputs!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if inputs == "image" and n_samples != 1:
        raise ValueError("n_samples > 1 needs inputs='noise' (the image is one input)")
    if (pixel_yx is None) == (unit_yx is None):
        raise ValueError("give exactly one of pixel_yx and unit_yx")
    net = model.module if module is None else module
    prepared = prepare(rgb, model, size=size)
    x = prepared.tensor
    (h, w), (img_h, img_w) = prepared.valid_hw, prepared.image_hw
    if pixel_yx is not None:
        unit_yx = erf_unit(
            model, (img_h, img_w), size=size, target=target, pixel_yx=pixel_yx, module=net
        )
    rows = {r.key: r for r in model_rf_table(net, image_hw=(h, w))}
    if target not in rows:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(rows)}")
    row = rows[target]
    out_hw = row.output_hw(x.shape[-2:])
    unit = (int(unit_yx[0]), int(unit_yx[1]))
    if not (0 <= unit[0] < out_hw[0] and 0 <= unit[1] < out_hw[1]):
        raise ValueError(f"unit {unit} is outside the {out_hw[0]}x{out_hw[1]} feature map")
    t0 = time.perf_counter()
    if graph is not None:
        if inputs != "image":
            raise ValueError("a kept graph holds the image's forward: inputs must be 'image'")
        if graph.input_shape != tuple(x.shape) or graph.target != target:
            raise ValueError(
                f"the kept graph is of {graph.target!r} at {graph.input_shape}, "
                f"not of {target!r} at {tuple(x.shape)}"
            )
        res = _normalised(graph(unit), unit, graph.output_hw, None, 1)
    else:
        fn = target_fn(net, target)
        if inputs == "noise" and n_samples == 1:
            gen = torch.Generator().manual_seed(int(seed))
            x = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
        res = erf_map(fn, x, out_yx=unit, n_samples=n_samples, seed=seed)
    ms = (time.perf_counter() - t0) * 1000
    if res.output_hw != out_hw:  # the analytic sizes are tested; this guards new models
        raise RuntimeError(f"feature map {res.output_hw} differs from the analytic {out_hw}")
    centre = tuple(float(row.start + row.jump * u) for u in unit)
    erf_full = res.erf
    share = float(erf_full[:h, :w].sum())
    crop = torch.from_numpy(np.ascontiguousarray(erf_full[:h, :w]))[None, None]
    if (h, w) != (img_h, img_w):
        crop = F.interpolate(
            crop, size=(img_h, img_w), mode="bilinear", align_corners=False, antialias=True
        )
    erf_image = crop[0, 0].clamp_min(0).numpy()
    if res.total > 0:
        cy, cx = (min(max(round(c), 0), n - 1) for c, n in zip(centre, erf_full.shape, strict=True))
        sides = mass_square(erf_full, (cy, cx), fractions)
    else:
        sides = {float(f): 0 for f in fractions}
    trf = row.local_size
    ratios = {f: (erf_to_trf_ratio(s, trf) if s > 0 else math.nan) for f, s in sides.items()}
    return ImageErf(
        target=target,
        row=row,
        unit_yx=unit,
        output_hw=out_hw,
        centre_input_yx=centre,  # type: ignore[arg-type]
        valid_hw=(h, w),
        image_hw=(img_h, img_w),
        erf_input=erf_full,
        erf_image=erf_image,
        image_share=share,
        mass_sides=sides,
        ratios=ratios,
        inputs=inputs,
        n_samples=n_samples,
        total=res.total,
        ms=ms,
    )


def erf_over_rf_note(res: ImageErf) -> str | None:
    """Why a mass square is wider than the theoretical RF (or the input), or None.

    Only image pooling can put gradient outside the local RF: it averages the whole
    feature map, so every pixel gets a small, equal share. A square *centred* on a unit
    near an edge must then reach across the whole input to collect that share, and
    can come out larger than the input itself (up to twice its side, from a corner).
    """
    wide = {f: s for f, s in res.mass_sides.items() if res.ratios.get(f, math.nan) > 1}
    if not wide:
        return None
    f = max(wide)
    side = wide[f]
    h, w = res.valid_hw
    why = (
        "image pooling averages the whole feature map, so every pixel holds a small, "
        "equal share of the gradient beyond the local RF"
        if res.row.is_global
        else "padding and resizing spread gradient past the RF's edge"
    )
    over = (
        f" It is wider than the {w}×{h} px input because the square is centred on the unit: "
        "from near an edge it has to reach across the image to collect that share."
        if side > max(h, w)
        else ""
    )
    return f"The {f:.0%} square ({side} px) is {res.ratios[f]:.2f} × the RF: {why}.{over}"
