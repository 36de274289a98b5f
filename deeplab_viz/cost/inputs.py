"""Sizes and inputs of the measurements: ``_hw`` reads a size (``n`` or ``(h, w)``),
``_zeros`` makes the (1, 3, h, w) zeros input a model is measured on.

Shared by :mod:`.flops`, :mod:`.latency`, :mod:`.memory` (the input), :mod:`.taps` and
:mod:`.rate` (sizes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..models import LoadedModel


def _hw(input_hw: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_hw, (int, np.integer)):
        h = w = int(input_hw)
    else:
        h, w = (int(v) for v in input_hw)
    if h < 1 or w < 1:
        raise ValueError(f"input size must be positive, got {input_hw!r}")
    return h, w


def _zeros(model: LoadedModel, input_hw: int | Sequence[int]) -> torch.Tensor:
    h, w = _hw(input_hw)
    return torch.zeros((1, 3, h, w), device=model.device, dtype=model.dtype)  # (1, 3, H, W)
