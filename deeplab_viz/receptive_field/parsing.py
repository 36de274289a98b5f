"""Layer lists typed by a person: text (``"k,s,d;k,s,d"``), table rows, and their limits.

Untrusted input (the page's editable table, a link, the CLI's ``--layers``): bad input
gets a ``ValueError`` of one sentence naming the layer or row, and every function that
returns layers refuses stacks past :data:`MAX_LAYERS` layers, values past
:data:`MAX_VALUE` and receptive fields past :data:`MAX_SPAN` pixels
(:func:`check_span`) before any table is built.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .formulas import rf_jump, rf_size
from .layer import Layer

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
