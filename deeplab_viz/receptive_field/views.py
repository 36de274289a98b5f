"""What the "Receptive fields" page shows of a layer stack and of a real model, as data.

Plain rows for its two tables (one per layer of a stack, one per part of a model around
the picked pixel) and the parts it can draw on the image, with the ones drawn before
anyone chooses. The page only renders them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..atrous import effective_kernel_size
from .coordinates import PlacedRF
from .stack import RFRow

__all__ = ["default_boxes", "drawable", "layer_records", "placed_records"]


def layer_records(table: Sequence[RFRow]) -> list[dict]:
    """One row per layer: its name, effective kernel, RF size, jump and start."""
    return [
        {
            "layer": r.name,
            "k_eff": effective_kernel_size(r.kernel, r.dilation),
            "RF size": r.size,
            "jump": r.jump,
            "start": r.start,
        }
        for r in table
    ]


def placed_records(placed: Sequence[PlacedRF]) -> list[dict]:
    """One row per part of the model: RF side ("global" for image pooling), jump, and the
    share of the RF square around the picked pixel that lies on the image."""
    return [
        {
            "part": p.row.title,
            "RF (px)": p.row.size_label,
            "jump": p.row.jump,
            "on image": "100%" if p.row.size is None else f"{p.box.inside_fraction:.0%}",
        }
        for p in placed
    ]


def drawable(placed: Sequence[PlacedRF]) -> list[str]:
    """Keys of the parts with a local RF, in order: a global one is the whole image."""
    return [p.row.key for p in placed if p.row.size is not None]


def default_boxes(placed: Sequence[PlacedRF]) -> list[str]:
    """What is drawn before anyone chooses: every backbone stage, and the widest local
    ASPP branch (if the model has one)."""
    widest = max(
        (p.row for p in placed if p.row.part == "aspp" and p.row.size is not None),
        key=lambda r: r.size,
        default=None,
    )
    stages = [p.row.key for p in placed if p.row.part == "stage"]
    return stages + ([widest.key] if widest is not None else [])
