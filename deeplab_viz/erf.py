"""Effective receptive field (Luo et al., 2016): where an output unit's gradient lives.

The theoretical receptive field says which input pixels *can* influence a unit; the
effective one weighs each pixel by ``|d unit / d pixel|``. It is concentrated near the
centre (roughly Gaussian), so it covers only a fraction of the theoretical one.

The model is treated as a shared, read-only object: only ``torch.autograd.grad`` with
respect to a fresh copy of the input is used, so no hooks are registered, no ``.grad``
is written, and neither ``requires_grad`` nor train/eval mode of the model is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ErfResult", "erf_map", "erf_to_trf_ratio", "mass_square"]


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


def _unit_gradient(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    out_yx: tuple[int, int],
    channel: int | None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    # inference_mode(False) + enable_grad: works even when called under no_grad/inference_mode.
    with torch.inference_mode(False), torch.enable_grad():
        inp = x.detach().clone().requires_grad_(True)
        out = model_fn(inp)
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"model_fn must return a (1, C, h, w) tensor, got {shape}")
        _, c, h, w = out.shape
        y, xx = out_yx
        if not (0 <= y < h and 0 <= xx < w):
            raise ValueError(f"out_yx {out_yx} is outside the {h}x{w} output")
        if channel is not None and not 0 <= channel < c:
            raise ValueError(f"channel {channel} is outside 0..{c - 1}")
        unit = out[0, :, y, xx].sum() if channel is None else out[0, channel, y, xx]
        if not unit.requires_grad:
            raise ValueError("the output does not depend on the input through autograd")
        (grad,) = torch.autograd.grad(unit, inp, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(inp)
    return grad.detach().abs().sum(dim=(0, 1)).to(torch.float64), (h, w)


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
        gen = torch.Generator().manual_seed(int(seed))
        acc = None
        for _ in range(n_samples):
            sample = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
            g, out_hw = _unit_gradient(model_fn, sample, yx, channel)
            acc = g if acc is None else acc + g
        acc = acc / n_samples
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
