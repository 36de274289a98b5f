"""What each output stride costs and buys, on one image: a row per stride.

Feature-map size, FLOPs, the probe's time and the bytes of its feature maps, against
how many pixels keep the class of the reference stride (all of them, and near its
class boundaries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..agreement import agreement
from ..boundary import boundary_mask
from ..probe import Probe
from .memory import activation_bytes


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
