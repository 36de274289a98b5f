"""One convolution or pooling layer, the unit every receptive-field function reads.

Padding convention (PyTorch, symmetric): a layer pads ``padding`` pixels on *each* side
and unit ``o`` reads ``o*stride - padding + t*dilation``; ``padding=None`` means
``(k_eff - 1) // 2`` (the "same" padding of an odd kernel, torchvision's
``padding=dilation`` for a 3x3). TensorFlow's asymmetric ``SAME`` padding of strided
layers shifts ``start`` by up to half a jump; sizes and jumps are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..atrous import effective_kernel_size
from .formulas import same_padding


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
        return same_padding(self.effective_kernel) if self.padding is None else self.padding
