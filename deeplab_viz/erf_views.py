"""Small pure helpers that turn :mod:`deeplab_viz.erf` results into things to look at.

Used by the "Receptive fields" page (tab 3): which gradients are slow enough to wait
for a click, which runs a view compares, the theoretical RF square drawn over an ERF,
the ERF's column profiles, and the numbers its caption quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .receptive_field.boxes import RFBox, rf_box

if TYPE_CHECKING:
    from .erf import ImageErf

__all__ = [
    "QUICK_TARGETS",
    "erf_runs",
    "gradient_seconds",
    "is_rescaled",
    "profiles",
    "rf_square",
    "slow_on_cpu",
]

QUICK_TARGETS = ("stage:stem", "stage:layer1", "stage:layer2")  # quick even on a ResNet


def slow_on_cpu(family: str, device_type: str, target: str) -> bool:
    """Whether one gradient takes tens of seconds: through a ResNet on a CPU, past
    layer2 (measured in bench/page_latency.py)."""
    return family == "resnet" and device_type == "cpu" and target not in QUICK_TARGETS


def erf_runs(trained: bool, compare: bool) -> list[tuple[str, bool]]:
    """``(label, random weights?)`` of each ERF a view shows: the model as loaded, then
    (``compare``) a random-weights copy of it."""
    runs = [("trained weights", False)] if trained else [("random weights (as loaded)", False)]
    if compare:
        runs.append(("random weights", True))
    return runs


def rf_square(res: ImageErf) -> RFBox:
    """The theoretical RF of the unit on the model input; for a global RF (image pooling)
    the RF of its local path, which is the square worth drawing."""
    if res.row.size is not None:
        return res.box
    return rf_box(res.row.local_size, res.centre_input_yx, res.valid_hw)


def profiles(results: Sequence[tuple[str, ImageErf]]) -> dict[str, np.ndarray]:
    """Each result's gradient summed down every column of the model input."""
    return {label: res.erf_input.sum(axis=0) for label, res in results}


def is_rescaled(res: ImageErf, tolerance: float = 0.01) -> bool:
    """Whether the model sees the image at another scale than the user's pixels."""
    return abs(res.scale_yx[1] - 1) > tolerance


def gradient_seconds(results: Sequence[tuple[str, ImageErf]]) -> float:
    """Wall time of all the gradients shown, in seconds."""
    return sum(r.ms for _, r in results) / 1000
