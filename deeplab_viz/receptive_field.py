"""Theoretical receptive field of a stack of convolutions, one formula per function.

Units are *input pixels*; input pixel ``i`` is centred at coordinate ``i`` (so the first
pixel is at 0.0). For each layer we track, after that layer:

* ``size`` - side of the receptive field of one unit (input pixels);
* ``jump`` - distance between neighbouring units, in input pixels (the output stride);
* ``start`` - input coordinate of the centre of the receptive field of unit 0
  (can be negative or fractional: padding shifts it, even kernels put it between pixels).

Padding convention (PyTorch, symmetric): a layer pads ``padding`` pixels on *each* side
and unit ``o`` reads ``o*stride - padding + t*dilation``; ``padding=None`` means
``(k_eff - 1) // 2`` (the "same" padding of an odd kernel, torchvision's ``padding=dilation``
for a 3x3). TensorFlow's asymmetric ``SAME`` padding of strided layers shifts ``start``
by up to half a jump; sizes and jumps are identical.

Only the longest path counts: residual/skip branches see a subset of it and do not
enlarge the receptive field; pooling layers behave like convolutions here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .atrous import conv_output_size, effective_kernel_size

__all__ = [
    "PRESETS",
    "HDCFix",
    "HDCResult",
    "Layer",
    "RFRow",
    "dilate_for_output_stride",
    "format_layers",
    "hdc_check",
    "parse_layers",
    "rf_bounds",
    "rf_footprint",
    "rf_jump",
    "rf_size",
    "rf_start",
    "rf_table",
    "suggest_hdc_fix",
    "with_aspp_branch",
]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Layer:
    """One convolution or pooling layer (square kernel, same settings on both axes).

    ``padding`` is in input pixels per side; ``None`` = ``(k_eff - 1) // 2``.
    """

    kernel: int
    stride: int = 1
    dilation: int = 1
    padding: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        for field in ("kernel", "stride", "dilation"):
            value = getattr(self, field)
            if not _is_int(value) or value < 1:
                raise ValueError(f"Layer.{field} must be a positive integer, got {value!r}")
        if self.padding is not None and (not _is_int(self.padding) or self.padding < 0):
            raise ValueError(f"Layer.padding must be None or an integer >= 0, got {self.padding!r}")

    @property
    def effective_kernel(self) -> int:
        """Span of the dilated kernel in this layer's input pixels."""
        return effective_kernel_size(self.kernel, self.dilation)

    @property
    def resolved_padding(self) -> int:
        """Padding actually used (input pixels per side)."""
        return (self.effective_kernel - 1) // 2 if self.padding is None else self.padding


# --------------------------------------------------------------------------- formulas


def rf_size(size_in: int, k_eff: int, jump_in: int) -> int:
    """Receptive field after a layer: ``r_out = r_in + (k_eff - 1) * j_in`` (input pixels)."""
    return size_in + (k_eff - 1) * jump_in


def rf_jump(jump_in: int, stride: int) -> int:
    """Distance between neighbouring output units: ``j_out = j_in * s`` (input pixels)."""
    return jump_in * stride


def rf_start(start_in: float, k_eff: int, padding: int, jump_in: int) -> float:
    """Centre of unit 0's receptive field: ``start_in + ((k_eff - 1)/2 - p) * j_in``.

    Input-pixel coordinates (pixel ``i`` centred at ``i``).
    """
    return start_in + ((k_eff - 1) / 2 - padding) * jump_in


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
    centre = row.start + row.jump * index
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


# --------------------------------------------------------------------------- text


def parse_layers(text: str) -> list[Layer]:
    """Parse ``"k,s,d;k,s,d;..."`` into layers (for the CLI ``--layers`` option).

    Each layer is 1 to 4 integers ``kernel[,stride[,dilation[,padding]]]`` (stride and
    dilation default to 1, padding to ``(k_eff-1)//2``); layers are separated by ``;``,
    whitespace is ignored, a trailing ``;`` is allowed. Layers are named ``L1``, ``L2``...
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError('no layers given: expected e.g. "3,1,1;3,2,1" (kernel,stride,dilation)')
    parts = [p.strip() for p in text.strip().rstrip(";").split(";")]
    layers = []
    for i, part in enumerate(parts, start=1):
        fields = [f.strip() for f in part.split(",")]
        if not part or not 1 <= len(fields) <= 4:
            raise ValueError(
                f"layer {i} ({part!r}): expected 1-4 comma-separated integers "
                "kernel[,stride[,dilation[,padding]]]"
            )
        try:
            values = [int(f) for f in fields]
        except ValueError:
            raise ValueError(f"layer {i} ({part!r}): not all fields are integers") from None
        k, s, d, p = values + [1, 1, None][len(values) - 1 :]
        try:
            layers.append(Layer(k, s, d, p, name=f"L{i}"))
        except ValueError as err:
            raise ValueError(f"layer {i} ({part!r}): {err}") from None
    return layers


def format_layers(layers: Sequence[Layer]) -> str:
    """Inverse of :func:`parse_layers` (names are dropped)."""
    out = []
    for la in layers:
        fields = [la.kernel, la.stride, la.dilation] + ([] if la.padding is None else [la.padding])
        out.append(",".join(str(f) for f in fields))
    return ";".join(out)


# --------------------------------------------------------------------------- presets


def dilate_for_output_stride(layers: Sequence[Layer], output_stride: int) -> list[Layer]:
    """Trade strides for dilation once the running stride reaches ``output_stride``.

    The rule of DeepLab (TF slim ``output_stride``) and torchvision's
    ``replace_stride_with_dilation``: a layer whose stride would push the running stride
    past ``output_stride`` gets stride 1 and the current rate, and every later layer's
    rate is multiplied by that stride. 1x1 kernels keep dilation 1 (it does not matter
    for them); an explicit padding is scaled with the dilation.
    """
    if not _is_int(output_stride) or output_stride < 1:
        raise ValueError(f"output_stride must be a positive integer, got {output_stride!r}")
    current, rate = 1, 1
    out = []
    for layer in layers:
        stride = layer.stride
        layer_rate = rate
        if current == output_stride:
            rate *= stride
            stride = 1
        elif current * stride > output_stride or output_stride % (current * stride):
            raise ValueError(
                f"output stride {output_stride} is not reachable: running stride {current} "
                f"x {stride} at layer {layer.name or layer}"
            )
        else:
            current *= stride
        dilation = layer.dilation * layer_rate if layer.kernel > 1 else 1
        padding = layer.padding
        if padding is not None and layer.kernel > 1:
            padding = padding * dilation // layer.dilation
        out.append(replace(layer, stride=stride, dilation=dilation, padding=padding))
    if current != output_stride:
        raise ValueError(f"the layers only reach output stride {current} < {output_stride}")
    return out


def with_aspp_branch(layers: Sequence[Layer], rate: int, *, kernel: int = 3) -> list[Layer]:
    """Append one ASPP branch (a ``kernel x kernel`` conv at ``rate``) to a backbone."""
    return [*layers, Layer(kernel, 1, rate, name=f"ASPP rate {rate}")]


def _resnet50_nominal() -> list[Layer]:
    layers = [Layer(7, 2, name="conv1"), Layer(3, 2, name="maxpool")]
    for stage, (blocks, stride) in enumerate(((3, 1), (4, 2), (6, 2), (3, 2)), start=1):
        for b in range(blocks):
            prefix = f"layer{stage}.{b}"
            layers += [
                Layer(1, name=f"{prefix}.conv1"),
                Layer(3, stride if b == 0 else 1, name=f"{prefix}.conv2"),
                Layer(1, name=f"{prefix}.conv3"),
            ]
    return layers


# (expansion t, channels c, repeats n, first stride s) of MobileNetV2.
_MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _mobilenet_v2_nominal() -> list[Layer]:
    layers = [Layer(3, 2, name="stem conv")]
    strides = [s if i == 0 else 1 for *_, n, s in _MOBILENET_V2_SETTINGS for i in range(n)]
    layers += [Layer(3, s, name=f"block{b} depthwise") for b, s in enumerate(strides)]
    return layers


def _build_presets() -> dict[str, list[Layer]]:
    vgg = [
        Layer(3, name="conv1"),
        Layer(3, name="conv2"),
        Layer(3, name="conv3"),
        Layer(2, 2, name="pool"),
    ]
    presets = {"VGG block (3×conv3 + pool)": vgg}
    resnet = {os_: dilate_for_output_stride(_resnet50_nominal(), os_) for os_ in (8, 16, 32)}
    for os_ in (8, 16, 32):
        presets[f"ResNet-50 @ OS {os_}"] = resnet[os_]
    presets["MobileNetV2 (DeepLab, OS 8)"] = dilate_for_output_stride(_mobilenet_v2_nominal(), 8)
    for rate in (6, 12, 18):  # DeepLabv3 at OS 16
        presets[f"ResNet-50 @ OS 16 + ASPP rate {rate} branch"] = with_aspp_branch(resnet[16], rate)
    for rate in (12, 24, 36):  # the same rates doubled at OS 8 (torchvision's DeepLabv3)
        presets[f"ResNet-50 @ OS 8 + ASPP rate {rate} branch"] = with_aspp_branch(resnet[8], rate)
    return presets


PRESETS: dict[str, list[Layer]] = _build_presets()
"""Named layer stacks (main path only; 1x1 convs included as ``k=1``)."""


# --------------------------------------------------------------------------- HDC


@dataclass(frozen=True)
class HDCResult:
    """Hybrid Dilated Convolution check (Wang et al. 2018).

    ``m[i]`` is ``M_{i+1}`` of the paper for layer ``i`` (0-based, same order as
    ``rates``): the maximum distance between two non-zero taps seen from that layer.
    ``m2`` is the paper's ``M_2`` (None for a single layer). ``passes`` is the rule
    ``r_1 == 1 and M_2 <= K``; ``full_coverage`` is the exact answer (no holes in the
    receptive field, from :func:`rf_footprint`). They agree for non-decreasing rates.
    """

    rates: tuple[int, ...]
    kernel: int
    m: tuple[int, ...]
    m2: int | None
    passes: bool
    full_coverage: bool


def _check_rates(rates: Sequence[int], kernel: int) -> tuple[tuple[int, ...], int]:
    if not _is_int(kernel) or kernel < 2:
        raise ValueError(
            f"kernel must be an integer >= 2 (a 1x1 kernel has no holes), got {kernel!r}"
        )
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence) or not rates:
        raise ValueError(f"rates must be a non-empty sequence of positive integers, got {rates!r}")
    for r in rates:
        if not _is_int(r) or r < 1:
            raise ValueError(f"rates must be positive integers, got {r!r}")
    return tuple(int(r) for r in rates), int(kernel)


def _m_values(rates: tuple[int, ...], kernel: int) -> list[int]:
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        nxt, r = m[i + 1], rates[i]
        m[i] = max(nxt - (kernel - 1) * r, nxt - 2 * (nxt - r), r)
    return m


def _full_coverage(rates: tuple[int, ...], kernel: int) -> bool:
    return bool(np.all(rf_footprint([Layer(kernel, 1, r) for r in rates]) > 0))


def hdc_check(rates: Sequence[int], kernel: int = 3) -> HDCResult:
    """Apply the HDC rule to a stack of ``kernel x kernel`` convs with these rates.

    ``M_n = r_n``, ``M_i = max(M_{i+1} - (K-1) r_i, M_{i+1} - 2(M_{i+1} - r_i), r_i)``
    (the paper writes ``2 r_i`` for its ``K = 3``; ``K - 1`` keeps the rule exact for
    other kernel sizes). The design goal is ``M_2 <= K`` with a first layer at rate 1
    (the paper's groups start at 1, e.g. ``[1, 2, 5]``); otherwise holes remain, as in
    ``[2, 2, 2]`` (``M_2 = 2`` but every odd pixel is missed).
    """
    rates, kernel = _check_rates(rates, kernel)
    m = _m_values(rates, kernel)
    m2 = m[1] if len(m) > 1 else None
    passes = rates[0] == 1 and (m2 is None or m2 <= kernel)
    return HDCResult(
        rates=rates,
        kernel=kernel,
        m=tuple(m),
        m2=m2,
        passes=passes,
        full_coverage=_full_coverage(rates, kernel),
    )


@dataclass(frozen=True)
class HDCFix:
    """A passing rate list near ``original``; RF sides in input pixels (stride 1)."""

    original: tuple[int, ...]
    suggested: tuple[int, ...]
    kernel: int
    original_rf: int
    suggested_rf: int
    strategy: str


def _rf_side(rates: Sequence[int], kernel: int) -> int:
    return 1 + (kernel - 1) * sum(rates)


def _greedy_fix(rates: tuple[int, ...], kernel: int) -> tuple[int, ...]:
    # Start at 1; keep each rate between the previous one and the span covered so far:
    # non-decreasing and hole-free at every step, hence passes.
    out = [1]
    for r in rates[1:]:
        span = _rf_side(out, kernel)
        out.append(min(max(r, out[-1]), span))
    return tuple(out)


def _search_fix(rates: tuple[int, ...], kernel: int, radius: int) -> tuple[int, ...] | None:
    target = _rf_side(rates, kernel)
    ranges = [range(1, 2)] + [range(max(1, r - radius), r + radius + 1) for r in rates[1:]]
    best = None
    for cand in itertools.product(*ranges):
        m = _m_values(cand, kernel)
        if len(m) > 1 and m[1] > kernel:
            continue
        key = (
            abs(_rf_side(cand, kernel) - target),
            sum(abs(a - b) for a, b in zip(cand, rates, strict=True)),
            cand,
        )
        if (best is None or key < best) and _full_coverage(cand, kernel):
            best = key
    return None if best is None else best[2]


def suggest_hdc_fix(
    rates: Sequence[int], kernel: int = 3, *, radius: int = 2, max_candidates: int = 200_000
) -> HDCFix:
    """Suggest a nearby rate list that passes :func:`hdc_check` and has no holes.

    Strategy: if ``rates`` already pass, return them. Otherwise set the first rate to 1
    (the rule needs it) and try every list whose other rates differ from the original by
    at most ``R`` (rates stay >= 1), keeping those that pass and cover fully; pick the one
    whose receptive field ``1 + (K-1) sum(r)`` is closest to the original, then the
    smallest total change ``sum |r'_i - r_i|``, then the smallest list. ``R`` starts at
    ``radius`` and grows by ``radius`` until something is found, as long as a round tries
    at most ``max_candidates`` lists. Failing that, a greedy fix: first rate 1, each later
    rate clamped between the previous one and the span covered so far.
    """
    rates, kernel = _check_rates(rates, kernel)
    if not _is_int(radius) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    target = _rf_side(rates, kernel)

    def make(suggested: tuple[int, ...], strategy: str) -> HDCFix:
        return HDCFix(rates, suggested, kernel, target, _rf_side(suggested, kernel), strategy)

    if hdc_check(rates, kernel).passes:
        return make(rates, "unchanged: already passes")
    r = radius
    while math.prod(min(2 * r + 1, x + r) for x in rates[1:]) <= max_candidates:
        found = _search_fix(rates, kernel, r)
        if found is not None:
            return make(found, f"search: first rate 1, the others changed by at most {r}")
        if radius == 0 or r >= max(rates):
            break
        r += radius
    return make(
        _greedy_fix(rates, kernel), "greedy: rate 1 first, then no rate above the covered span"
    )
