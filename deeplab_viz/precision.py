"""A reduced precision against float32 on one image: how many pixels change class, and speed.

bfloat16 keeps float32's range but only 8 bits of mantissa, so logits move by
about 1e-2 and pixels near a class boundary can flip. The app offers it on a CPU
only as a visible choice, with this comparison on the user's own image beside it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

from .inference import DEFAULT_SIZE, forward_logits, prepare
from .models import LoadedModel


@dataclass(frozen=True)
class PrecisionCheck:
    """``low`` against ``reference`` on one image."""

    dtype: str  # the reduced precision, e.g. "bfloat16"
    changed_share: float  # pixels whose class differs from float32's, 0–1
    low_ms: float  # median forward time, milliseconds
    reference_ms: float  # median float32 forward time, milliseconds

    @property
    def speed_ratio(self) -> float:
        """Reduced-precision forward time ÷ float32's (below 1: faster)."""
        return self.low_ms / self.reference_ms

    def sentence(self) -> str:
        return (
            f"{self.dtype} changes the class of {self.changed_share:.2%} of this image's "
            f"pixels against float32; its forward takes {self.speed_ratio:.2f}× float32's "
            f"({self.low_ms:.0f} against {self.reference_ms:.0f} ms, median of interleaved runs)."
        )


def compare_precision(
    low: LoadedModel,
    reference: LoadedModel,
    rgb: np.ndarray,
    *,
    size: int = DEFAULT_SIZE,
    repeats: int = 3,
) -> PrecisionCheck:
    """Class maps and forward times of ``low`` and ``reference`` (float32) on ``rgb``.

    Both models see the same resized image; the runs alternate so drift on a
    busy machine hits both alike.
    """
    if reference.spec.dtype != "float32":
        raise ValueError("the reference must be float32")
    p_low, p_ref = prepare(rgb, low, size=size), prepare(rgb, reference, size=size)
    times: dict[str, list[float]] = {"low": [], "ref": []}
    maps: dict[str, torch.Tensor] = {}
    for _ in range(max(1, repeats)):
        for key, model, prepared in (("low", low, p_low), ("ref", reference, p_ref)):
            logits, ms = forward_logits(model, prepared)  # (1, K, H, W) float32
            times[key].append(ms)
            maps[key] = logits[0].argmax(0)
    return PrecisionCheck(
        dtype=low.spec.dtype,
        changed_share=float((maps["low"] != maps["ref"]).float().mean()),
        low_ms=statistics.median(times["low"]),
        reference_ms=statistics.median(times["ref"]),
    )
