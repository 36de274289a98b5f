"""What each output stride costs and buys, on one image: a row per stride.

Feature-map size, FLOPs, the probe's time and the bytes of its feature maps, against
how many pixels keep the class of the reference stride (all of them, and near its
class boundaries). :func:`stride_table` lays the rows out as the Output stride page's
table, :func:`contrast` sets a fine stride against a coarse one, and
:func:`policy_tap_tables` says how many ASPP taps stay on real cells at each stride
when the rates follow the stride or keep their trained values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..agreement import agreement
from ..boundary import boundary_mask
from ..models.output_stride import RatePolicy, scaled_rates
from ..probe import Probe
from .latency import LatencyResult
from .memory import MemoryResult, activation_bytes
from .taps import TapRow, tap_table


@dataclass(frozen=True)
class StrideRow:
    """One output stride of the same model on the same image."""

    output_stride: int
    label: str
    input_hw: tuple[int, int]  # the tensor the network got, pixels
    feature_hw: tuple[int, int]  # the ASPP input, cells
    flops: int | None
    probe_ms: float  # the probe's one forward (cold, includes first-run effects)
    activation_bytes: int
    agreement: float  # with the reference stride, all pixels
    boundary_agreement: float  # with the reference stride, near its class boundaries
    stage_sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def compare_strides(
    probes: Mapping[int, Probe],
    flops: Mapping[int, int] | None = None,
    *,
    reference: int = 8,
    boundary_width: int = 3,
    itemsize: int = 4,
) -> list[StrideRow]:
    """A :class:`StrideRow` per stride, agreement measured against ``reference``."""
    ref = probes[reference].class_map
    near = boundary_mask(ref, boundary_width)
    rows = []
    for os_, p in sorted(probes.items()):
        feat = p.aspp_input.shape[-2:]
        rows.append(
            StrideRow(
                output_stride=int(os_),
                label=p.model_label,
                input_hw=tuple(int(v) for v in p.padded_hw),
                feature_hw=(int(feat[0]), int(feat[1])),
                flops=None if flops is None else flops.get(os_),
                probe_ms=float(p.timings_ms["total"]),
                activation_bytes=activation_bytes(p, itemsize=itemsize),
                agreement=agreement(p.class_map, ref),
                boundary_agreement=agreement(p.class_map, ref, near),
                stage_sizes=p.stage_sizes(),
            )
        )
    return rows


MB = 1024**2


def stride_table(
    rows: Sequence[StrideRow],
    measured: Mapping[int, tuple[LatencyResult, MemoryResult]] | None = None,
    max_dilation: Mapping[int, int] | None = None,
) -> list[dict[str, object]]:
    """The per-stride cost table: sizes (W×H), the largest dilation, GFLOPs, time (the
    measured median, else the probe's one forward), feature-map MB, the measured peaks
    (where there is a measurement) and the agreement with the reference stride."""
    table = []
    for r in rows:
        s = r.output_stride
        lat = measured[s][0] if measured else None
        row: dict[str, object] = {
            "OS": s,
            "input (px, W×H)": f"{r.input_hw[1]}×{r.input_hw[0]}",
            "ASPP input (W×H)": f"{r.feature_hw[1]}×{r.feature_hw[0]}",
            "max dilation": (max_dilation or {}).get(s, 1),
            "GFLOPs": round((r.flops or 0) / 1e9, 2),
            "time (ms)": round(lat.median_ms if lat else r.probe_ms, 1),
            "feature maps (MB)": round(r.activation_bytes / MB, 1),
        }
        if measured:
            mem = measured[s][1]
            row[f"peak, {mem.method} (MB)"] = round(mem.bytes / MB, 1)
            if mem.allocated_bytes is not None:
                row["peak, torch allocations (MB)"] = round(mem.allocated_bytes / MB, 1)
        row["same as OS 8"] = f"{100 * r.agreement:.1f}%"
        row["near boundaries"] = f"{100 * r.boundary_agreement:.1f}%"
        table.append(row)
    return table


@dataclass(frozen=True)
class Contrast:
    """A fine stride against a coarse one on the same image (the fine one the reference
    the rows' agreement was measured against)."""

    flops_ratio: float  # FLOPs, fine ÷ coarse
    bytes_ratio: float  # feature-map bytes, fine ÷ coarse
    changed: float  # share of pixels whose class differs between them


def contrast(fine: StrideRow, coarse: StrideRow) -> Contrast:
    """What the fine stride costs more than the coarse one, and what it changes."""
    return Contrast(
        flops_ratio=(fine.flops or 1) / (coarse.flops or 1),
        bytes_ratio=fine.activation_bytes / max(coarse.activation_bytes, 1),
        changed=1 - coarse.agreement,
    )


RATE_POLICIES: tuple[RatePolicy, ...] = ("scale", "keep")


def policy_tap_tables(
    feature_hw_by_stride: Mapping[int, Sequence[int]],
    *,
    trained_rates: Sequence[int],
    trained_stride: int,
    running: tuple[RatePolicy, Mapping[int, Sequence[int | None]]] | None = None,
) -> dict[RatePolicy, list[TapRow]]:
    """A :func:`~deeplab_viz.cost.taps.tap_table` per rate policy ("scale", "keep"): the
    ``trained_rates`` (at ``trained_stride``) carried to each stride by the policy.
    ``running`` = (policy, stride → rates as wired) replaces the computed rates of the
    policy the models run with the rates read off them."""
    tables = {}
    for policy in RATE_POLICIES:
        if running is not None and policy == running[0]:
            rates = dict(running[1])
        else:
            rates = {
                s: scaled_rates(
                    trained_rates, trained_stride=trained_stride, output_stride=s, policy=policy
                )
                for s in feature_hw_by_stride
            }
        tables[policy] = tap_table(rates, feature_hw_by_stride)
    return tables


def widest_rate(rows: Sequence[TapRow], output_stride: int) -> TapRow | None:
    """The row of the largest rate at ``output_stride`` (None if it has none)."""
    return max(
        (t for t in rows if t.output_stride == output_stride), key=lambda t: t.rate, default=None
    )
