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

References: A. Araujo, W. Norris, J. Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019 (the recurrences used here); W. Luo et al., "Understanding
the Effective Receptive Field in Deep Convolutional Neural Networks", NIPS 2016 (why the
*effective* field is much smaller: see :mod:`deeplab_viz.erf`).

The second half of the module reads the layers of a real :class:`DeepLabV3`
(:func:`model_layers`) and tabulates the receptive field of every backbone stage and
every ASPP branch (:func:`model_rf_table`), optionally against an image size.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from typing import Literal

import numpy as np
from torch import nn

from .atrous import conv_output_size, effective_kernel_size

__all__ = [
    "PRESETS",
    "HDCFix",
    "HDCResult",
    "Layer",
    "ModelRFRow",
    "RFBox",
    "RFRow",
    "PlacedRF",
    "image_to_input",
    "input_to_image_edges",
    "layer_of_module",
    "layers_from_rows",
    "layers_from_text",
    "layers_to_rows",
    "model_layers",
    "model_rf_table",
    "nearest_unit",
    "parse_rows",
    "place_on_image",
    "rf_box",
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


def _shown(part: str) -> str:
    """A piece of typed text for an error message: quoted, at most 24 characters."""
    part = part.strip()
    return repr(part if len(part) <= 24 else part[:23] + "…")


def _split_layers(text: str) -> list[str]:
    """``"k,s,d;k,s,d"`` → its layers, after the length and depth limits."""
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(
            f"the layer list is {len(text):,} characters long; at most {MAX_TEXT_CHARS:,}."
        )
    parts = text.strip().rstrip(";").split(";")
    if len(parts) > MAX_LAYERS:
        raise ValueError(f"At most {MAX_LAYERS} layers, please ({len(parts)} were given).")
    return parts


def _field(text: str) -> int | None:
    """One field of a typed layer: None when empty; ValueError unless a short integer."""
    text = text.strip()
    if not text:
        return None
    if not _FIELD.fullmatch(text):  # length first: int() never sees 4,000 digits
        raise ValueError
    return int(text)


def parse_layers(text: str) -> list[Layer]:
    """Parse ``"k,s,d;k,s,d;..."`` into layers (for the CLI ``--layers`` option).

    Each layer is 1 to 4 integers ``kernel[,stride[,dilation[,padding]]]`` (stride and
    dilation default to 1, padding to ``(k_eff-1)//2``); layers are separated by ``;``,
    whitespace is ignored, a trailing ``;`` is allowed. Layers are named ``L1``, ``L2``...
    The limits of the page's table apply (:data:`MAX_LAYERS` layers, values up to
    :data:`MAX_VALUE`, receptive field and jump up to :data:`MAX_SPAN` pixels).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError('no layers given: expected e.g. "3,1,1;3,2,1" (kernel,stride,dilation)')
    layers = []
    for i, part in enumerate(_split_layers(text), start=1):
        fields = [f.strip() for f in part.split(",")]
        if not part.strip() or not 1 <= len(fields) <= 4:
            raise ValueError(
                f"layer {i} ({_shown(part)}): expected 1-4 comma-separated integers "
                "kernel[,stride[,dilation[,padding]]]"
            )
        try:
            values = [_field(f) for f in fields]
        except ValueError:
            values = [None]
        if any(v is None for v in values):
            raise ValueError(
                f"layer {i} ({_shown(part)}): not all fields are integers of at most 7 digits"
            )
        if any(abs(v) > MAX_VALUE for v in values):  # type: ignore[arg-type]
            raise ValueError(f"layer {i} ({_shown(part)}): values go up to {MAX_VALUE}")
        k, s, d, p = values + [1, 1, None][len(values) - 1 :]
        try:
            layers.append(Layer(k, s, d, p, name=f"L{i}"))  # type: ignore[arg-type]
        except ValueError as err:
            raise ValueError(f"layer {i} ({_shown(part)}): {err}") from None
    check_span(layers)
    return layers


def format_layers(layers: Sequence[Layer]) -> str:
    """Inverse of :func:`parse_layers` (names are dropped)."""
    out = []
    for la in layers:
        fields = [la.kernel, la.stride, la.dilation] + ([] if la.padding is None else [la.padding])
        out.append(",".join(str(f) for f in fields))
    return ";".join(out)


ROW_FIELDS = ("kernel", "stride", "dilation", "padding")
MAX_LAYERS = 100
"""Deepest stack typed into the table, a link or ``--layers`` (the presets have 51)."""
MAX_VALUE = 1000
"""Largest kernel, stride, rate or padding of one typed layer."""
MAX_SPAN = 10**9
"""Largest receptive field and jump of a typed stack, pixels: far beyond any image,
and small enough for every table, chart and int64 column on the way."""
MAX_TEXT_CHARS = 4000
"""Longest layer list read from text (100 layers of ``1000,1000,1000,1000`` fit)."""
_FIELD = re.compile(r"[+-]?[0-9]{1,7}")


def check_span(layers: Sequence[Layer]) -> None:
    """Refuse a stack whose receptive field or jump would pass :data:`MAX_SPAN` pixels.

    Walks the recurrences with Python integers and stops at the first layer over
    the limit, so 110 layers of stride 1000 cost 110 small multiplications and no
    number ever grows past ``MAX_SPAN × MAX_VALUE²``. The message names the layer.
    """
    size, jump = 1, 1
    for i, layer in enumerate(layers, start=1):
        size = rf_size(size, layer.effective_kernel, jump)
        jump = rf_jump(jump, layer.stride)
        if size > MAX_SPAN or jump > MAX_SPAN:
            raise ValueError(
                f"Row {i}: the receptive field would pass {MAX_SPAN:,} px there (the limit); "
                "use smaller strides, kernels or rates, or fewer layers."
            )


def _cell(value: object) -> int | None:
    """One table cell → int or None (empty); ValueError for anything else."""
    if value is None or type(value).__name__ == "NAType":  # pandas.NA: an empty cell
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
    if isinstance(value, bool):
        raise ValueError
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError
    return int(number)


def layers_from_rows(rows: Sequence[dict]) -> list[Layer]:
    """Layers from table rows ``{"layer", "kernel", "stride", "dilation", "padding"}``.

    For the page's editable table (untrusted input). Empty stride/dilation mean 1, an
    empty padding means "same" (``(k_eff - 1) // 2``), an empty name becomes ``L<n>``;
    rows with every number empty are skipped (a row just added). Anything else that is
    not a layer raises ``ValueError`` with one sentence naming the row, e.g. "Row 3:
    kernel must be a whole number from 1 to 1000 (got 0)."
    """
    layers: list[Layer] = []
    for i, row in enumerate(rows, start=1):
        values: dict[str, int | None] = {}
        for name in ROW_FIELDS:
            raw = row.get(name)
            try:
                values[name] = _cell(raw)
            except ValueError:
                raise ValueError(f"Row {i}: {name} must be a whole number (got {raw!r}).") from None
        if all(v is None for v in values.values()):
            continue
        if values["kernel"] is None:
            raise ValueError(f"Row {i}: the kernel size is missing.")
        for name in ("kernel", "stride", "dilation"):
            v = values[name]
            if v is not None and not 1 <= v <= MAX_VALUE:
                raise ValueError(
                    f"Row {i}: {name} must be a whole number from 1 to {MAX_VALUE} (got {v})."
                )
        pad = values["padding"]
        if pad is not None and not 0 <= pad <= MAX_VALUE:
            raise ValueError(
                f"Row {i}: padding must be empty or a whole number from 0 to {MAX_VALUE} "
                f"(got {pad})."
            )
        label = row.get("layer")
        label = label.strip() if isinstance(label, str) else ""
        layers.append(
            Layer(
                values["kernel"],  # type: ignore[arg-type]
                values["stride"] or 1,
                values["dilation"] or 1,
                pad,
                name=label[:60] or f"L{len(layers) + 1}",
            )
        )
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"At most {MAX_LAYERS} layers, please.")
    if not layers:
        raise ValueError("The table is empty: add at least one layer (a kernel size).")
    check_span(layers)
    return layers


def parse_rows(text: str) -> list[dict]:
    """``"k,s,d[,p];..."`` → table rows, without checking the values (see parse_layers).

    Used to restore the page's table from a link; the rows then go through
    :func:`layers_from_rows` like an edit would. Raises ``ValueError`` (one sentence)
    when the text is not even a list of integers.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no layers given")
    rows = []
    for i, part in enumerate(_split_layers(text), start=1):
        fields = [f.strip() for f in part.split(",")]
        if not part.strip() or len(fields) > 4:
            raise ValueError(
                f"layer {i} ({_shown(part)}) is not kernel[,stride[,dilation[,padding]]]"
            )
        try:
            values = [_field(f) for f in fields]
        except ValueError:
            raise ValueError(
                f"layer {i} ({_shown(part)}) has a field that is not an integer of at most 7 digits"
            ) from None
        values += [None] * (4 - len(values))
        rows.append({"layer": f"L{i}", **dict(zip(ROW_FIELDS, values, strict=True))})
    return rows


def layers_from_text(text: str) -> list[Layer]:
    """A layer list from a link (``"k,s,d[,p];..."``), checked exactly like the table.

    :func:`parse_rows` then :func:`layers_from_rows`: every limit (depth, values,
    receptive field) is checked before the list reaches the page's table.
    """
    return layers_from_rows(parse_rows(text))


def layers_to_rows(layers: Sequence[Layer]) -> list[dict]:
    """Inverse of :func:`layers_from_rows` (padding None when it is the default)."""
    return [
        {
            "layer": la.name,
            "kernel": la.kernel,
            "stride": la.stride,
            "dilation": la.dilation,
            "padding": la.padding,
        }
        for la in layers
    ]


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


# --------------------------------------------------------------------------- boxes on an image


def nearest_unit(start: float, jump: int, coord: float, n_units: int | None = None) -> int:
    """Index of the unit whose receptive-field centre (``start + jump*i``) is nearest ``coord``.

    Clamped to ``0 .. n_units - 1`` when ``n_units`` is given (else to ``>= 0``).
    """
    i = max(0, math.floor((coord - start) / jump + 0.5))
    return min(i, n_units - 1) if n_units is not None else i


@dataclass(frozen=True)
class RFBox:
    """A square receptive field placed on an image (input-pixel coordinates, inclusive).

    ``y0..y1``, ``x0..x1`` are the first and last pixels of the RF, unclipped (they may lie
    outside the image); ``size`` None means a global RF (the whole image).
    """

    centre_yx: tuple[float, float]
    size: int | None
    y0: int
    y1: int
    x0: int
    x1: int
    image_hw: tuple[int, int]

    @property
    def clipped(self) -> tuple[int, int, int, int] | None:
        """``(y0, y1, x0, x1)`` cut to the image; None if the box misses it entirely."""
        h, w = self.image_hw
        y0, y1 = max(self.y0, 0), min(self.y1, h - 1)
        x0, x1 = max(self.x0, 0), min(self.x1, w - 1)
        return None if y0 > y1 or x0 > x1 else (y0, y1, x0, x1)

    @property
    def inside_fraction(self) -> float:
        """Share of the RF square that lies on the image (1.0: not clipped at all)."""
        if self.size is None:
            return 1.0
        c = self.clipped
        if c is None:
            return 0.0
        return (c[1] - c[0] + 1) * (c[3] - c[2] + 1) / float(self.size) ** 2

    @property
    def is_clipped(self) -> bool:
        return self.inside_fraction < 1.0

    @property
    def covers_image(self) -> bool:
        """Whether the RF contains every pixel of the image."""
        h, w = self.image_hw
        return self.y0 <= 0 and self.x0 <= 0 and self.y1 >= h - 1 and self.x1 >= w - 1


def rf_box(size: int | None, centre_yx: Sequence[float], image_hw: Sequence[int]) -> RFBox:
    """The RF square of side ``size`` centred at ``centre_yx`` on an ``image_hw`` image.

    Bounds follow :func:`rf_bounds`: ``lo = round(centre - (size - 1) / 2)``, ``hi = lo +
    size - 1``. ``size=None`` (a global RF) gives the whole image.
    """
    h, w = (int(v) for v in image_hw)
    if h < 1 or w < 1:
        raise ValueError(f"image_hw must be positive, got {tuple(image_hw)!r}")
    cy, cx = (float(c) for c in centre_yx)
    if size is None:
        return RFBox((cy, cx), None, 0, h - 1, 0, w - 1, (h, w))
    if not _is_int(size) or size < 1:
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    y0 = math.floor(cy - (size - 1) / 2 + 0.5)
    x0 = math.floor(cx - (size - 1) / 2 + 0.5)
    return RFBox((cy, cx), int(size), y0, y0 + size - 1, x0, x0 + size - 1, (h, w))


# --------------------------------------------------------------------------- real models

_SKIPPED_CHILDREN = ("downsample", "shortcut")  # residual projections: never the longest path


def _square(value: object, what: str, module: nn.Module) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"{type(module).__name__}: non-square {what} {value} not supported")
        value = value[0]
    return int(value)


def layer_of_module(module: nn.Module, name: str = "") -> Layer | None:
    """The :class:`Layer` of one spatial module, or None if it is not one.

    ``nn.Conv2d`` (and subclasses), ``nn.MaxPool2d`` and ``nn.AvgPool2d`` map to a layer
    with their kernel, stride, dilation and padding. ``SameConv2d`` (TF "SAME") pads per
    input: it gets ``padding=None`` = ``(k_eff - 1) // 2``, exact for stride 1 and for
    stride 2 on odd inputs (which ``inference.prepare`` always gives TF models: sides of
    ``OS·k + 1``); on even inputs TF puts the extra pixel at the bottom/right, so the RF
    centre (``start``) shifts by half of that layer's output jump. ``padding="same"``
    maps to None, ``"valid"`` to 0. A 1×1 stride-1 convolution changes nothing and is
    None (so are all other modules).
    """
    from .models.layers import SameConv2d

    if isinstance(module, nn.Conv2d):
        kernel = _square(module.kernel_size, "kernel", module)
        stride = _square(module.stride, "stride", module)
        dilation = _square(module.dilation, "dilation", module)
        pad = module.padding
        if isinstance(module, SameConv2d) or pad == "same":
            padding = None
        elif pad == "valid":
            padding = 0
        else:
            padding = _square(pad, "padding", module)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _square(module.kernel_size, "kernel", module)
        stride = _square(module.stride if module.stride else module.kernel_size, "stride", module)
        dilation = _square(getattr(module, "dilation", 1), "dilation", module)
        padding = _square(module.padding, "padding", module)
    else:
        return None
    if kernel == 1 and stride == 1:
        return None
    if kernel == 1:
        dilation, padding = 1, 0 if padding is None else padding
    return Layer(kernel, stride, dilation, padding, name=name)


def _is_squeeze_excite(module: nn.Module) -> bool:
    # torchvision.ops.SqueezeExcitation (MobileNetV3); matched by name so no import is needed.
    return "SqueezeExcit" in type(module).__name__


def _walk(module: nn.Module, prefix: str) -> tuple[list[Layer], bool]:
    """Spatial layers of ``module`` in registration (= forward) order; and global pooling?"""
    layers: list[Layer] = []
    is_global = False
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if name in _SKIPPED_CHILDREN or _is_squeeze_excite(child):
            continue
        if isinstance(child, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            is_global = True
            continue
        layer = layer_of_module(child, path)
        if layer is not None:
            layers.append(layer)
        elif not isinstance(child, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            sub, sub_global = _walk(child, path)
            layers += sub
            is_global = is_global or sub_global
    return layers, is_global


def model_layers(model: nn.Module) -> dict[str, list[Layer]]:
    """Spatial layers of each backbone stage of a :class:`~deeplab_viz.models.DeepLabV3`.

    ``{stage name: [Layer, ...]}`` in forward order, each layer named by its module path
    (e.g. ``"layer4.0.conv2"``), as the model is wired now (so a rewired output stride
    shows up as strides traded for dilations). Only layers that move or widen the field
    are listed: convolutions with ``k > 1`` or stride > 1, max/avg pooling (see
    :func:`layer_of_module` for TF "SAME" padding).

    Walking registration order equals forward order for every backbone here (ResNet
    bottlenecks, MobileNet inverted residuals). Residual shortcuts (``downsample``) are
    skipped: an identity or strided 1×1 shortcut reads a subset of what the main path
    reads, so it never enlarges the RF. Squeeze-and-excitation blocks (MobileNetV3)
    multiply each channel by a gate computed from a *global* average pool, so strictly
    their units depend on the whole image; they are ignored here, and the table is the RF
    of the convolutional path (the gate is one number per channel, not a spatial filter).
    """
    module = getattr(model, "module", model)  # a LoadedModel works too
    stages = getattr(module, "stages", None)
    if stages is None:
        raise ValueError("model_layers() needs a deeplab_viz DeepLabV3 (with .stages)")
    return {name: _walk(stage, name)[0] for name, stage in stages.items()}


@dataclass(frozen=True)
class ModelRFRow:
    """Theoretical RF of one part of a real model, in model-input pixels.

    ``part``: "stage" (cumulative through that backbone stage), "aspp" (the backbone plus
    one ASPP branch) or "logits" (backbone, each branch, projection and head).
    ``size`` is None for a global RF (image pooling sees the whole image); ``local_size``
    is then the RF of the longest convolutional path (for a stage or a local branch it is
    ``size``). ``key`` identifies the row ("stage:layer4", "aspp:1", "logits").
    ``centre_box`` (with ``image_hw``) is the RF of the unit nearest the image centre,
    placed on the image: clipped or not, and which fraction of it lies on the image.
    """

    part: Literal["stage", "aspp", "logits"]
    key: str
    name: str
    size: int | None
    local_size: int
    jump: int
    start: float
    layers: tuple[Layer, ...] = dc_field(repr=False)
    image_hw: tuple[int, int] | None = None
    centre_box: RFBox | None = None

    @property
    def is_global(self) -> bool:
        return self.size is None

    @property
    def size_label(self) -> str:
        return "global" if self.size is None else str(self.size)

    @property
    def title(self) -> str:
        """How the row is named on the page: "layer4", "ASPP rate 12", "logits"."""
        return f"ASPP {self.name}" if self.part == "aspp" else self.name

    def box(self, centre_yx: Sequence[float], image_hw: Sequence[int]) -> RFBox:
        return rf_box(self.size, centre_yx, image_hw)

    def output_hw(self, input_hw: Sequence[int]) -> tuple[int, int]:
        """Feature-map size (cells) of this part for an input of ``input_hw`` pixels."""
        if not self.layers:
            return int(input_hw[0]), int(input_hw[1])
        h, w = (rf_table(self.layers, input_size=int(n))[-1].output_size for n in input_hw)
        return int(h), int(w)  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        """JSON-ready: size is "global" for a global RF."""
        out = {
            "part": self.part,
            "name": self.name,
            "size": self.size_label if self.size is None else self.size,
            "local_size": self.local_size,
            "jump": self.jump,
            "start": self.start,
            "layers": len(self.layers),
        }
        if self.centre_box is not None:
            b = self.centre_box
            out.update(
                image_hw=list(b.image_hw),
                clipped=b.is_clipped,
                inside_fraction=round(b.inside_fraction, 4),
                covers_image=b.covers_image,
            )
        return out


def _path_row(
    part: str, key: str, name: str, layers: list[Layer], is_global: bool
) -> tuple[str, str, str, int | None, int, int, float, tuple[Layer, ...]]:
    if layers:
        last = rf_table(layers)[-1]
        size, jump, start = last.size, last.jump, last.start
    else:
        size, jump, start = 1, 1, 0.0
    return part, key, name, None if is_global else size, size, jump, start, tuple(layers)


def model_rf_table(model: nn.Module, *, image_hw: Sequence[int] | None = None) -> list[ModelRFRow]:
    """Theoretical RF of every backbone stage, every ASPP branch and the logits.

    Stages are cumulative (input → end of that stage). An ASPP branch adds its own
    convolution to the backbone: a 3×3 at rate ``r`` adds ``2·r·jump`` pixels, a 1×1
    adds nothing, and the image-pooling branch averages the whole feature map, so its RF
    is "global" (``size`` None). The logits row follows every local branch through the
    projection and the head (torchvision's head has one more 3×3); it is global as soon as
    the model has an image-pooling branch, and ``local_size`` is its largest local path.

    With ``image_hw`` (the model input without padding, pixels) each row gets
    ``centre_box``: the RF of the unit nearest the image centre, with how much of it is
    clipped by the image. Units: model-input pixels. See :func:`model_layers` for what is
    ignored (shortcuts, squeeze-and-excitation).
    """
    module = getattr(model, "module", model)
    stage_layers = model_layers(module)
    aspp = module.aspp
    raw: list[tuple] = []
    backbone: list[Layer] = []
    for name, layers in stage_layers.items():
        backbone = backbone + layers
        raw.append(_path_row("stage", f"stage:{name}", name, backbone, False))
    project, _ = _walk(aspp.project, "aspp.project")
    head, head_global = _walk(module.head, "head")
    logits_paths: list[list[Layer]] = []
    any_global = head_global
    for i, (branch, kind, name) in enumerate(
        zip(aspp.branches, aspp.kinds, aspp.names, strict=True)
    ):
        own, own_global = _walk(branch, f"aspp.{i}")
        is_global = kind == "pooling" or own_global
        path = backbone + ([] if is_global else own)
        raw.append(_path_row("aspp", f"aspp:{i}", name, path, is_global))
        any_global = any_global or is_global
        if not is_global:
            logits_paths.append(path + project + head)
    if not logits_paths:
        logits_paths.append(backbone + project + head)
    longest = max(logits_paths, key=lambda p: rf_table(p)[-1].size if p else 1)
    raw.append(_path_row("logits", "logits", "logits", longest, any_global))

    rows = []
    for part, key, name, size, local, jump, start, layers in raw:
        box = None
        hw = None
        if image_hw is not None:
            hw = (int(image_hw[0]), int(image_hw[1]))
            centre = tuple(start + jump * nearest_unit(start, jump, (n - 1) / 2) for n in hw)
            box = rf_box(size, centre, hw)
        rows.append(ModelRFRow(part, key, name, size, local, jump, start, layers, hw, box))
    return rows


# --------------------------------------------------------------------------- image <-> model input


def image_to_input(
    pixel_yx: Sequence[float], *, input_hw: Sequence[int], image_hw: Sequence[int]
) -> tuple[float, float]:
    """Image pixel (row, col) → model-input coordinate, for a resize of ``image_hw`` to
    ``input_hw`` (pixel centres, as bilinear resizing with ``align_corners=False``)."""
    return tuple(  # type: ignore[return-value]
        (p + 0.5) * n_in / n_img - 0.5
        for p, n_in, n_img in zip(pixel_yx, input_hw, image_hw, strict=True)
    )


def input_to_image_edges(
    y0: float,
    y1: float,
    x0: float,
    x1: float,
    *,
    input_hw: Sequence[int],
    image_hw: Sequence[int],
) -> tuple[float, float, float, float]:
    """Model-input pixels ``y0..y1, x0..x1`` (inclusive) → ``(top, bottom, left, right)``
    edges in image-pixel plot coordinates (image pixel ``i`` centred at ``i``)."""
    sy, sx = input_hw[0] / image_hw[0], input_hw[1] / image_hw[1]
    return (y0 / sy - 0.5, (y1 + 1) / sy - 0.5, x0 / sx - 0.5, (x1 + 1) / sx - 0.5)


@dataclass(frozen=True)
class PlacedRF:
    """One row's RF for the unit nearest a picked image pixel.

    ``box`` in model-input pixels (against ``input_hw``), ``edges`` = its unclipped
    ``(top, bottom, left, right)`` in image-pixel plot coordinates, ``centre_image_yx``
    the unit's centre on the image.
    """

    row: ModelRFRow
    unit_yx: tuple[int, int]
    box: RFBox
    edges: tuple[float, float, float, float]
    centre_image_yx: tuple[float, float]


def place_on_image(
    rows: Sequence[ModelRFRow],
    pixel_yx: Sequence[int],
    *,
    input_hw: Sequence[int],
    image_hw: Sequence[int],
) -> list[PlacedRF]:
    """Each row's RF around the unit of that row nearest image pixel ``pixel_yx``.

    ``input_hw``: the image as the model sees it (resized, unpadded). Units of coarser
    rows sit on a coarser grid, so their centres may differ from the pixel by up to half
    a jump. Global rows cover the whole input.
    """
    in_hw = (int(input_hw[0]), int(input_hw[1]))
    img_hw = (int(image_hw[0]), int(image_hw[1]))
    ry, rx = image_to_input(pixel_yx, input_hw=in_hw, image_hw=img_hw)
    out = []
    for row in rows:
        oh, ow = row.output_hw(in_hw)
        unit = (
            nearest_unit(row.start, row.jump, ry, oh),
            nearest_unit(row.start, row.jump, rx, ow),
        )
        centre = (row.start + row.jump * unit[0], row.start + row.jump * unit[1])
        box = rf_box(row.size, centre, in_hw)
        edges = input_to_image_edges(
            box.y0, box.y1, box.x0, box.x1, input_hw=in_hw, image_hw=img_hw
        )
        sy, sx = in_hw[0] / img_hw[0], in_hw[1] / img_hw[1]
        centre_img = ((centre[0] + 0.5) / sy - 0.5, (centre[1] + 0.5) / sx - 0.5)
        out.append(PlacedRF(row, unit, box, edges, centre_img))
    return out
