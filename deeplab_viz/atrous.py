"""Atrous (dilated) convolution, one formula per function.

Everything here is plain arithmetic or a thin torch call, so that the teaching pages,
the CLI and the tests share one definition of each quantity.

Conventions (they match ``torch.nn.functional.conv2d``):

* Coordinates are integer pixel indices of the *input* of a layer; input pixel ``i``
  is centred at coordinate ``i``.
* Output unit ``o`` of a convolution with kernel ``k``, stride ``s``, padding ``p`` and
  rate (dilation) ``r`` reads the input at ``o*s - p + t*r`` for taps ``t = 0..k-1``.
  A coordinate outside ``0..size-1`` falls into the (zero) padding.
* When a padding argument is ``None`` it defaults to ``(k_eff - 1) // 2`` with
  ``k_eff = k + (k-1)(r-1)``: the "same" padding of an odd kernel; for an even kernel
  the extra tap goes to the right/bottom, like ``padding="same"`` in torch.
* Convolution is cross-correlation (no kernel flip), as in every deep-learning library.
* Costs: one multiply-add (MAC) = 2 FLOPs. Bias additions are not counted in MACs/FLOPs
  (the convention of ``torch.utils.flop_counter``) but bias parameters are counted in
  ``params`` when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "KERNELS",
    "ConvCost",
    "CostComparison",
    "ImageTaps",
    "Stacked1D",
    "TapGrid",
    "apply_dilated_filter",
    "atrous_conv2d_via_subimages",
    "batch_to_space",
    "conv_cost",
    "conv_output_size",
    "default_padding",
    "effective_kernel_size",
    "image_taps",
    "kernel_params",
    "sampling_taps",
    "separable_vs_regular",
    "space_to_batch",
    "stacked_1d_rf",
    "subimages",
    "tap_grid",
    "tap_offsets",
    "valid_tap_fraction",
]


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _pair(name: str, value: int | Sequence[int], *, minimum: int) -> tuple[int, int]:
    """An int or a (y, x) pair -> a validated (y, x) pair."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        v = _check_int(name, value, minimum=minimum)
        return v, v
    if isinstance(value, Sequence) and len(value) == 2:
        return (
            _check_int(f"{name}[0]", value[0], minimum=minimum),
            _check_int(f"{name}[1]", value[1], minimum=minimum),
        )
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


# --------------------------------------------------------------------------- sizes


def effective_kernel_size(k: int, r: int) -> int:
    """Span of a ``k``-tap kernel at rate ``r``, in input pixels: ``k + (k-1)(r-1)``."""
    k = _check_int("k", k, minimum=1)
    r = _check_int("r", r, minimum=1)
    return k + (k - 1) * (r - 1)


def default_padding(k: int, r: int = 1) -> int:
    """Padding (input pixels per side) used when none is given: ``(k_eff - 1) // 2``.

    For an odd kernel this is the "same" padding that keeps the size at stride 1.
    """
    return (effective_kernel_size(k, r) - 1) // 2


def conv_output_size(
    i: int, k: int, *, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Output length (cells) of a convolution over ``i`` input pixels.

    ``floor((i + 2p - r(k-1) - 1) / s) + 1``, the formula of ``torch.nn.Conv2d``.
    Raises ``ValueError`` when the padded input is shorter than the dilated kernel.
    """
    i = _check_int("i", i, minimum=1)
    k = _check_int("k", k, minimum=1)
    s = _check_int("stride", stride, minimum=1)
    p = _check_int("padding", padding, minimum=0)
    r = _check_int("dilation", dilation, minimum=1)
    span = i + 2 * p - r * (k - 1) - 1
    if span < 0:
        raise ValueError(
            f"input of {i} px (+{p} padding per side) is smaller than the dilated kernel "
            f"(k={k}, rate={r}: {effective_kernel_size(k, r)} px)"
        )
    return span // s + 1


# --------------------------------------------------------------------------- costs


def kernel_params(k: int, c_in: int, c_out: int, *, bias: bool = True) -> int:
    """Learnable parameters of a dense ``k x k`` convolution: ``k² c_in c_out (+ c_out)``.

    Independent of the rate: dilation spreads the same weights further apart.
    """
    k = _check_int("k", k, minimum=1)
    c_in = _check_int("c_in", c_in, minimum=1)
    c_out = _check_int("c_out", c_out, minimum=1)
    return k * k * c_in * c_out + (c_out if bias else 0)


@dataclass(frozen=True)
class ConvCost:
    """Cost of one convolution layer on one image.

    ``macs`` are multiply-adds, ``flops = 2 * macs`` (bias additions not counted, as in
    ``torch.utils.flop_counter``); ``params`` counts weights (and biases if asked for).
    """

    separable: bool
    params: int
    macs: int
    flops: int


def conv_cost(
    k: int,
    c_in: int,
    c_out: int,
    h_out: int,
    w_out: int,
    *,
    separable: bool,
    bias: bool = False,
) -> ConvCost:
    """Parameters and FLOPs of a (possibly atrous) ``k x k`` convolution.

    ``separable=False``: one dense conv, ``k² c_in c_out`` MACs per output cell.
    ``separable=True``: depthwise ``k x k`` conv (``groups=c_in``, ``k² c_in`` MACs per cell)
    followed by a pointwise ``1 x 1`` conv (``c_in c_out`` MACs per cell), as in
    DeepLabv3+'s atrous separable convolution. ``h_out x w_out`` is the output size in
    cells; the rate changes neither count (only, through padding, the output size).
    """
    k = _check_int("k", k, minimum=1)
    c_in = _check_int("c_in", c_in, minimum=1)
    c_out = _check_int("c_out", c_out, minimum=1)
    cells = _check_int("h_out", h_out, minimum=1) * _check_int("w_out", w_out, minimum=1)
    if separable:
        params = k * k * c_in + c_in * c_out + ((c_in + c_out) if bias else 0)
        macs = (k * k * c_in + c_in * c_out) * cells
    else:
        params = kernel_params(k, c_in, c_out, bias=bias)
        macs = k * k * c_in * c_out * cells
    return ConvCost(separable=separable, params=params, macs=macs, flops=2 * macs)


@dataclass(frozen=True)
class CostComparison:
    """Regular vs depthwise-separable cost; ratios are ``separable / regular``.

    Both ratios equal ``1/c_out + 1/k²`` (without bias).
    """

    regular: ConvCost
    separable: ConvCost
    param_ratio: float
    flop_ratio: float


def separable_vs_regular(
    k: int, c_in: int, c_out: int, h_out: int, w_out: int, *, bias: bool = False
) -> CostComparison:
    """Compare a dense ``k x k`` conv with its depthwise-separable replacement."""
    regular = conv_cost(k, c_in, c_out, h_out, w_out, separable=False, bias=bias)
    separable = conv_cost(k, c_in, c_out, h_out, w_out, separable=True, bias=bias)
    return CostComparison(
        regular=regular,
        separable=separable,
        param_ratio=separable.params / regular.params,
        flop_ratio=separable.flops / regular.flops,
    )


# --------------------------------------------------------------------------- taps


def tap_offsets(k: int, r: int) -> np.ndarray:
    """1-D tap offsets (input pixels) relative to the output unit's anchor.

    ``t*r - ((k-1)*r)//2`` for ``t = 0..k-1``: symmetric ``(-r, 0, r)`` for ``k=3``;
    for an even ``k`` the extra half goes right (torch ``padding="same"``).
    """
    k = _check_int("k", k, minimum=1)
    r = _check_int("r", r, minimum=1)
    return np.arange(k, dtype=np.int64) * r - ((k - 1) * r) // 2


def sampling_taps(k: int, r: int, *, center: int | Sequence[int] = (0, 0)) -> np.ndarray:
    """Positions (input pixels) that a ``k x k`` kernel at rate ``r`` reads around ``center``.

    ``center`` an int -> 1-D: shape ``(k,)``.
    ``center`` a ``(y, x)`` pair -> 2-D: shape ``(k*k, 2)`` of ``(y, x)`` rows in the
    row-major order of the kernel weights (tap ``(i, j)`` is row ``i*k + j``).
    Neighbouring taps are ``r`` pixels apart; see :func:`tap_offsets` for even ``k``.
    """
    off = tap_offsets(k, r)
    if isinstance(center, (int, np.integer)) and not isinstance(center, bool):
        return int(center) + off
    if not (isinstance(center, Sequence) and len(center) == 2):
        raise ValueError(f"center must be an int (1-D) or a (y, x) pair, got {center!r}")
    cy, cx = (int(c) for c in center)
    yy, xx = np.meshgrid(cy + off, cx + off, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1)


@dataclass(frozen=True)
class TapGrid:
    """Input coordinates read by one output unit.

    1-D: ``positions`` ``(k,)`` and ``valid`` ``(k,)``.
    2-D: ``positions`` ``(k, k, 2)`` of ``(y, x)`` and ``valid`` ``(k, k)``.
    ``valid`` is False where the tap lands in the zero padding (outside the input).
    """

    positions: np.ndarray
    valid: np.ndarray
    out_index: int | tuple[int, int]
    output_size: int | tuple[int, int]


def _taps_1d(n: int, k: int, r: int, s: int, p: int, o: int) -> tuple[np.ndarray, np.ndarray]:
    pos = o * s - p + np.arange(k, dtype=np.int64) * r
    return pos, (pos >= 0) & (pos < n)


def tap_grid(
    input_size: int | Sequence[int],
    k: int,
    r: int,
    *,
    out_index: int | Sequence[int],
    stride: int = 1,
    padding: int | None = None,
) -> TapGrid:
    """Where each tap of output unit ``out_index`` reads the input, and whether it is real.

    Tap ``t`` of output ``o`` reads input coordinate ``o*stride - padding + t*r``
    (torch convention); ``padding=None`` means :func:`default_padding`.
    ``input_size``/``out_index``: ints for 1-D, ``(H, W)``/``(y, x)`` pairs for 2-D.
    """
    k = _check_int("k", k, minimum=1)
    r = _check_int("r", r, minimum=1)
    s = _check_int("stride", stride, minimum=1)
    p = default_padding(k, r) if padding is None else _check_int("padding", padding, minimum=0)
    two_d = not isinstance(input_size, (int, np.integer))
    sizes = _pair("input_size", input_size, minimum=1)
    index = _pair("out_index", out_index, minimum=0)
    if two_d != (not isinstance(out_index, (int, np.integer))):
        raise ValueError("input_size and out_index must both be ints (1-D) or both pairs (2-D)")
    outs = tuple(conv_output_size(n, k, stride=s, padding=p, dilation=r) for n in sizes)
    for axis, (o, m) in enumerate(zip(index, outs, strict=True)):
        if o >= m:
            raise ValueError(
                f"out_index {index[axis]} outside the output (size {m}) on axis {axis}"
            )
    (py, vy), (px, vx) = (_taps_1d(n, k, r, s, p, o) for n, o in zip(sizes, index, strict=True))
    if not two_d:
        return TapGrid(positions=py, valid=vy, out_index=index[0], output_size=outs[0])
    yy, xx = np.meshgrid(py, px, indexing="ij")
    return TapGrid(
        positions=np.stack([yy, xx], axis=-1),
        valid=np.outer(vy, vx),
        out_index=index,
        output_size=outs,
    )


def _valid_taps_per_output_1d(n: int, k: int, r: int, s: int, p: int) -> np.ndarray:
    m = conv_output_size(n, k, stride=s, padding=p, dilation=r)
    pos = np.arange(m)[:, None] * s - p + np.arange(k)[None, :] * r
    return ((pos >= 0) & (pos < n)).sum(axis=1)


def valid_tap_fraction(
    input_size: int | Sequence[int],
    k: int,
    r: int,
    *,
    padding: int | None = None,
    stride: int = 1,
) -> float:
    """Share of all (output cell, tap) pairs that read a real input pixel, not padding.

    For a 2-D ``(H, W)`` input and a ``k x k`` kernel a tap is real iff both its row and
    its column are, so the count factorises into the two 1-D counts. Large rates on small
    feature maps push most taps into the padding: the reason DeepLabv3 adds image pooling.
    """
    k = _check_int("k", k, minimum=1)
    r = _check_int("r", r, minimum=1)
    s = _check_int("stride", stride, minimum=1)
    p = default_padding(k, r) if padding is None else _check_int("padding", padding, minimum=0)
    if isinstance(input_size, (int, np.integer)) and not isinstance(input_size, bool):
        c = _valid_taps_per_output_1d(_check_int("input_size", input_size, minimum=1), k, r, s, p)
        return float(c.sum()) / (c.size * k)
    h, w = _pair("input_size", input_size, minimum=1)
    cy = _valid_taps_per_output_1d(h, k, r, s, p)
    cx = _valid_taps_per_output_1d(w, k, r, s, p)
    return float(cy.sum() * cx.sum()) / (cy.size * cx.size * k * k)


@dataclass(frozen=True)
class ImageTaps:
    """Taps of an atrous conv on a stride-``output_stride`` feature map, in image pixels.

    ``centres`` ``(k*k, 2)`` float ``(y, x)`` image-pixel centres of the feature cells read;
    ``feature_yx`` ``(k*k, 2)`` their integer feature-map indices; ``valid`` ``(k*k,)``
    False where the tap falls outside the feature map (into its zero padding);
    ``spacing`` = ``rate * output_stride`` image pixels between neighbouring taps.
    """

    centres: np.ndarray
    feature_yx: np.ndarray
    valid: np.ndarray
    centre_cell: tuple[int, int]
    feature_hw: tuple[int, int]
    spacing: int


def image_taps(
    pixel_yx: Sequence[int],
    image_hw: Sequence[int],
    k: int,
    rate: int,
    output_stride: int,
    *,
    align_corners: bool = False,
) -> ImageTaps:
    """Image-pixel positions read by an atrous ``k x k`` conv at ``rate`` on a stride-OS map.

    Two conventions place feature cells on the image; a model uses the one its
    weights were trained with (``ModelEntry.align_corners``):

    - ``align_corners=False`` (torchvision): cell ``f`` covers pixels
      ``f*OS .. f*OS + OS-1`` and is drawn at its centre ``f*OS + (OS-1)/2``; the
      map has ``ceil(H/OS)`` cells; a pixel belongs to cell ``pixel // OS``.
    - ``align_corners=True`` (TF DeepLab, inputs of ``OS*k + 1`` pixels): cell ``f``
      sits exactly on pixel ``f*OS``; ``(H-1)//OS + 1`` cells lie on the image; a
      pixel belongs to the nearest cell, ``round(pixel / OS)``.

    Taps are ``rate`` cells, i.e. ``rate*OS`` pixels, apart; a tap off the map reads
    the zero padding.
    """
    h, w = _pair("image_hw", image_hw, minimum=1)
    y, x = _pair("pixel_yx", pixel_yx, minimum=0)
    if y >= h or x >= w:
        raise ValueError(f"pixel {(y, x)} is outside the {h}x{w} image")
    os_ = _check_int("output_stride", output_stride, minimum=1)
    if align_corners:
        fh, fw = (h - 1) // os_ + 1, (w - 1) // os_ + 1
        cell = (min(int(y / os_ + 0.5), fh - 1), min(int(x / os_ + 0.5), fw - 1))
        offset = 0.0
    else:
        fh, fw = -(-h // os_), -(-w // os_)
        cell = (y // os_, x // os_)
        offset = (os_ - 1) / 2.0
    feat = sampling_taps(k, rate, center=cell)
    valid = (feat[:, 0] >= 0) & (feat[:, 0] < fh) & (feat[:, 1] >= 0) & (feat[:, 1] < fw)
    centres = feat.astype(np.float64) * os_ + offset
    return ImageTaps(
        centres=centres,
        feature_yx=feat,
        valid=valid,
        centre_cell=cell,
        feature_hw=(fh, fw),
        spacing=int(rate) * os_,
    )


# --------------------------------------------------------------------------- space-to-batch


def _check_nchw(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D (N, C, H, W) torch tensor")


def space_to_batch(x: torch.Tensor, r: int) -> torch.Tensor:
    """Split ``x`` (N, C, H, W) into its ``r²`` interleaved sub-images, stacked on the batch.

    H and W are first zero-padded at the bottom/right up to multiples of ``r`` (the extra
    zeros coincide with the zero padding of the convolution, so the identity with atrous
    convolution still holds; crop with ``batch_to_space(..., crop_hw=(H, W))``).
    Output: ``(r² N, C, ceil(H/r), ceil(W/r))``; batch entry ``(i*r + j)*N + n`` is
    ``x[n, :, i::r, j::r]`` (TensorFlow's ``space_to_batch`` order).
    """
    _check_nchw(x)
    r = _check_int("r", r, minimum=1)
    n, c, h, w = x.shape
    hp, wp = -(-h // r) * r, -(-w // r) * r
    if (hp, wp) != (h, w):
        x = F.pad(x, (0, wp - w, 0, hp - h))
    x = x.reshape(n, c, hp // r, r, wp // r, r).permute(3, 5, 0, 1, 2, 4)
    return x.reshape(r * r * n, c, hp // r, wp // r)


def batch_to_space(
    y: torch.Tensor, r: int, *, crop_hw: Sequence[int] | None = None
) -> torch.Tensor:
    """Inverse of :func:`space_to_batch`: ``(r² N, C, h, w)`` -> ``(N, C, h r, w r)``.

    ``crop_hw=(H, W)`` keeps only the top-left ``H x W`` (drops the padding added by
    :func:`space_to_batch`).
    """
    _check_nchw(y, "y")
    r = _check_int("r", r, minimum=1)
    b, c, h, w = y.shape
    if b % (r * r):
        raise ValueError(f"batch size {b} is not a multiple of r² = {r * r}")
    n = b // (r * r)
    out = y.reshape(r, r, n, c, h, w).permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * r, w * r)
    if crop_hw is not None:
        ch, cw = _pair("crop_hw", crop_hw, minimum=1)
        if ch > h * r or cw > w * r:
            raise ValueError(f"crop_hw {(ch, cw)} is larger than the result {(h * r, w * r)}")
        out = out[:, :, :ch, :cw]
    return out


def atrous_conv2d_via_subimages(
    x: torch.Tensor, weight: torch.Tensor, rate: int, *, padding: int | None = None
) -> torch.Tensor:
    """``conv2d(x, weight, dilation=rate, padding=rate*padding)`` computed without dilation.

    The classic identity (TF ``atrous_conv2d``): a rate-``r`` convolution equals an
    ordinary convolution applied to each of the ``r²`` interleaved sub-images.
    ``padding`` is in *taps* (sub-image pixels, default ``(k-1)//2``); the dilated
    convolution it reproduces pads ``rate*padding`` input pixels. Stride 1 only.
    """
    _check_nchw(x)
    r = _check_int("rate", rate, minimum=1)
    if weight.dim() != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"weight must be (C_out, C_in, k, k), got {tuple(weight.shape)}")
    k = weight.shape[-1]
    p = (k - 1) // 2 if padding is None else _check_int("padding", padding, minimum=0)
    h, w = x.shape[-2:]
    out_h = conv_output_size(h, k, padding=r * p, dilation=r)
    out_w = conv_output_size(w, k, padding=r * p, dilation=r)
    y = F.conv2d(space_to_batch(x, r), weight, padding=p)
    return batch_to_space(y, r, crop_hw=(out_h, out_w))


def subimages(image: np.ndarray, r: int) -> list[np.ndarray]:
    """The ``r²`` interleaved sub-images ``image[i::r, j::r]`` of an (H, W[, C]) array.

    Ordered ``i*r + j`` like :func:`space_to_batch`, each a copy of its exact size
    (``ceil((H-i)/r) x ceil((W-j)/r)``, no padding): a rate-``r`` conv looks at one of them
    at a time.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    r = _check_int("r", r, minimum=1)
    return [image[i::r, j::r].copy() for i in range(r) for j in range(r)]


# --------------------------------------------------------------------------- 1-D stack


@dataclass(frozen=True)
class Stacked1D:
    """A 1-D stack of dilated convs (WaveNet style) seen from its top output.

    ``rf_sizes[l]``: receptive field (input positions) of one unit after layer ``l``
    (``l = 0`` is the input itself: 1). ``connected``: bool ``(len(rates)+1, n_positions)``;
    row 0 is the input, row ``l`` the output of layer ``l``; True where that unit lies
    on a path to the top output ``top_index`` (last row).
    """

    rates: tuple[int, ...]
    kernel: int
    causal: bool
    n_positions: int
    top_index: int
    rf_sizes: tuple[int, ...]
    connected: np.ndarray


def _layer_offsets_1d(k: int, r: int, causal: bool) -> np.ndarray:
    # Input positions (relative to the output position) read by one unit.
    return (np.arange(k) - (k - 1)) * r if causal else tap_offsets(k, r)


def stacked_1d_rf(rates: Sequence[int], k: int = 2, *, causal: bool = True) -> Stacked1D:
    """Which positions of each layer feed the top output of a 1-D dilated stack.

    ``causal=True`` (WaveNet, rates ``1, 2, 4, 8`` with ``k=2``): a unit at ``t`` reads
    ``t - (k-1-i)*r``, ``i=0..k-1``, and the top output is the last position.
    ``causal=False``: taps as :func:`tap_offsets`, top output centred. The positions
    shown are exactly the ``1 + (k-1)*sum(rates)`` of the top unit's receptive field.
    """
    rates = tuple(_check_int("rate", r, minimum=1) for r in rates)
    if not rates:
        raise ValueError("rates must not be empty")
    k = _check_int("k", k, minimum=1)
    n = 1 + (k - 1) * sum(rates)
    top = n - 1 if causal else sum(((k - 1) * r) // 2 for r in rates)
    conn = np.zeros((len(rates) + 1, n), dtype=bool)
    conn[-1, top] = True
    for layer in range(len(rates), 0, -1):
        offs = _layer_offsets_1d(k, rates[layer - 1], causal)
        src = (np.flatnonzero(conn[layer])[:, None] + offs[None, :]).ravel()
        conn[layer - 1, src] = True
    sizes = tuple(1 + (k - 1) * sum(rates[:i]) for i in range(len(rates) + 1))
    return Stacked1D(
        rates=rates,
        kernel=k,
        causal=causal,
        n_positions=n,
        top_index=top,
        rf_sizes=sizes,
        connected=conn,
    )


# --------------------------------------------------------------------------- image filters


def _frozen(a: list[list[float]]) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    arr.setflags(write=False)
    return arr


KERNELS: dict[str, np.ndarray] = {
    "box blur": _frozen([[1 / 9] * 3] * 3),
    "sobel x": _frozen([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel y": _frozen([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "laplacian": _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "sharpen": _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
}
"""Named 3x3 kernels (read-only float32), applied as cross-correlation."""

_PAD_MODES = {"reflect": "reflect", "zeros": "constant", "replicate": "replicate"}


def apply_dilated_filter(
    image: np.ndarray,
    kernel: np.ndarray,
    rate: int,
    *,
    padding_mode: str = "reflect",
) -> np.ndarray:
    """Apply one ``k x k`` kernel at ``rate`` to every channel of an image (same size out).

    ``image``: (H, W) or (H, W, C); uint8 is scaled to [0, 1], floats are used as they are.
    Returns float32 of the same shape. The kernel is cross-correlated (torch ``conv2d``,
    ``groups=C``) after padding ``(k_eff-1)//2`` pixels top/left and the rest bottom/right
    with ``padding_mode``: ``"reflect"`` (default: no dark border; needs the image larger
    than the padding), ``"replicate"`` or ``"zeros"``.
    """
    if padding_mode not in _PAD_MODES:
        raise ValueError(f"padding_mode must be one of {sorted(_PAD_MODES)}, got {padding_mode!r}")
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {arr.shape}")
    kern = np.asarray(kernel, dtype=np.float32)
    if kern.ndim != 2 or kern.shape[0] != kern.shape[1]:
        raise ValueError(f"kernel must be a square 2-D array, got shape {kern.shape}")
    r = _check_int("rate", rate, minimum=1)
    img = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    hwc = img[..., None] if img.ndim == 2 else img
    h, w, c = hwc.shape
    k = kern.shape[0]
    total = effective_kernel_size(k, r) - 1
    lo, hi = total // 2, total - total // 2
    if padding_mode == "reflect" and (hi >= h or hi >= w):
        raise ValueError(
            f"reflect padding of {hi} px needs an image larger than that (got {h}x{w}); "
            "use a smaller rate or padding_mode='replicate'/'zeros'"
        )
    x = torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))[None]
    x = F.pad(x, (lo, hi, lo, hi), mode=_PAD_MODES[padding_mode])
    weight = torch.from_numpy(kern.copy())[None, None].expand(c, 1, k, k).contiguous()
    with torch.no_grad():
        y = F.conv2d(x, weight, dilation=r, groups=c)
    out = y[0].numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(out[..., 0] if img.ndim == 2 else out)
