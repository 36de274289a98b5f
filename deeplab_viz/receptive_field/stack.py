"""The receptive field of a stack of layers, layer by layer, and of one unit in it.

Only the longest path counts: residual/skip branches see a subset of it and do not
enlarge the receptive field; pooling layers behave like convolutions here.
:func:`rf_footprint` counts the paths to every pixel of the field (zeros are the holes
of gridding); Luo et al. (NIPS 2016) explain why the *effective* field is much smaller
(see :mod:`deeplab_viz.erf`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..atrous import conv_output_size
from .formulas import rf_centre, rf_jump, rf_size, rf_start
from .layer import Layer, _is_int


@dataclass(frozen=True)
class RFRow:
    """Receptive field after one layer; ``size``, ``jump``, ``start`` in input pixels.

    ``padding`` is the resolved padding; ``output_size`` the feature-map side (cells)
    when ``rf_table`` got an ``input_size``, else None.
    """

    name: str
    kernel: int
    stride: int
    dilation: int
    padding: int
    size: int
    jump: int
    start: float
    output_size: int | None = None


def rf_table(layers: Sequence[Layer], *, input_size: int | None = None) -> list[RFRow]:
    """One :class:`RFRow` per layer, from the input (size 1, jump 1, start 0) upwards.

    With ``input_size`` (pixels, square input) each row also has the output size; a
    ``ValueError`` is raised if some layer would get an empty output.
    """
    if not layers:
        raise ValueError("need at least one layer")
    size, jump, start = 1, 1, 0.0
    n = None
    if input_size is not None:
        if not _is_int(input_size) or input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
        n = int(input_size)
    rows = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"layer {i + 1} is not a Layer: {layer!r}")
        k_eff, pad = layer.effective_kernel, layer.resolved_padding
        if n is not None:
            try:
                n = conv_output_size(
                    n, layer.kernel, stride=layer.stride, padding=pad, dilation=layer.dilation
                )
            except ValueError as err:
                raise ValueError(f"layer {i + 1} ({layer.name or 'unnamed'}): {err}") from None
        size, start, jump = (
            rf_size(size, k_eff, jump),
            rf_start(start, k_eff, pad, jump),
            rf_jump(jump, layer.stride),
        )
        rows.append(
            RFRow(
                name=layer.name or f"layer {i + 1}",
                kernel=layer.kernel,
                stride=layer.stride,
                dilation=layer.dilation,
                padding=pad,
                size=size,
                jump=jump,
                start=start,
                output_size=n,
            )
        )
    return rows


def rf_bounds(row: RFRow, index: int, *, input_size: int | None = None) -> tuple[int, int]:
    """First and last input pixel (inclusive) in the receptive field of unit ``index``.

    ``centre = start + jump * index``, bounds ``centre -/+ (size - 1) / 2`` (always
    integers). With ``input_size`` they are clipped to ``0 .. input_size - 1``.
    """
    centre = rf_centre(row.start, row.jump, index)
    lo = round(centre - (row.size - 1) / 2)
    hi = lo + row.size - 1
    if input_size is not None:
        lo, hi = max(lo, 0), min(hi, input_size - 1)
    return lo, hi


def rf_footprint(layers: Sequence[Layer]) -> np.ndarray:
    """Paths from one top unit to each pixel of its receptive field, along one axis.

    Length ``size`` (the theoretical RF); entry ``i`` counts the paths reaching pixel
    ``lo + i`` (see :func:`rf_bounds`), i.e. the convolution of each layer's kernel support
    spread to ``dilation * jump_in`` input pixels. Zeros are holes (gridding). In 2-D the
    footprint of a square stack is the outer product of this with itself. The pattern is
    the same for every unit as long as no path crosses the zero padding.
    """
    if not layers:
        raise ValueError("need at least one layer")
    dtype: type = np.int64 if math.prod(la.kernel for la in layers) < 2**62 else object
    fp = np.ones(1, dtype=dtype)
    jump = 1
    for layer in layers:
        support = np.zeros((layer.kernel - 1) * layer.dilation * jump + 1, dtype=dtype)
        support[:: layer.dilation * jump] = 1
        fp = np.convolve(fp, support)
        jump = rf_jump(jump, layer.stride)
    return fp
