"""From an RGB image to a class map: resize, normalise, pad, run, crop, upsample.

The model sees the image with its longest side at ``size`` pixels (default 513,
the crop size the VOC DeepLab models were trained at: running near the training
scale matters far more for accuracy than the 257-pixel export size of the TFLite
file). Models trained with ``align_corners=True`` (TF DeepLab) get inputs padded to
``OS·k + 1`` pixels with the mean colour, as TF DeepLab's own evaluation does, so
feature-map cells sit exactly on image pixels; the padding is cropped off the
logits. Logits are upsampled to the image's own size before the argmax.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .models import LoadedModel

DEFAULT_SIZE = 513  # longest side fed to the model, pixels
MIN_SIZE, MAX_SIZE = 65, 2049


@dataclass(frozen=True)
class Prepared:
    """A normalised, resized and padded model input and how to undo it."""

    tensor: torch.Tensor = field(repr=False)  # (1, 3, Hp, Wp) on the model's device/dtype
    valid_hw: tuple[int, int]  # the resized image inside the padded tensor, pixels
    image_hw: tuple[int, int]  # the original image, pixels


def check_size(size: int) -> int:
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}")
    return size


def resized_hw(hw: tuple[int, int], size: int) -> tuple[int, int]:
    """(h, w) with the longest side scaled to ``size`` pixels, aspect kept."""
    h, w = hw
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def padded_side(n: int, output_stride: int) -> int:
    """Smallest ``OS·k + 1 ≥ n``, pixels: the sizes where align-corners grids line up."""
    return math.ceil((n - 1) / output_stride) * output_stride + 1


def normalised_input(
    rgb: np.ndarray,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    size: int,
    pad_stride: int | None,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Image (H, W, 3) uint8 → (1, 3, h, w) float32 input and (h, w), the longest side ``size``.

    With ``pad_stride``, the input is padded right and bottom with zeros (the mean
    colour) to ``pad_stride·k + 1`` pixels a side, where align-corners grids line up.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an (H, W, 3) uint8 RGB array")
    check_size(size)
    image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
    x = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float()  # (1,3,H,W)
    h, w = resized_hw(image_hw, size)
    if (h, w) != image_hw:
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    if pad_stride is not None:
        x = F.pad(x, (0, padded_side(w, pad_stride) - w, 0, padded_side(h, pad_stride) - h))
    return x, (h, w)


def prepare(rgb: np.ndarray, model: LoadedModel, *, size: int = DEFAULT_SIZE) -> Prepared:
    """Image (H, W, 3) uint8 → padded, normalised tensor for ``model``."""
    entry = model.entry
    pad = model.spec.output_stride if entry.align_corners else None
    x, valid_hw = normalised_input(rgb, mean=entry.mean, std=entry.std, size=size, pad_stride=pad)
    x = x.to(device=model.device, dtype=model.dtype)
    image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
    return Prepared(tensor=x, valid_hw=valid_hw, image_hw=image_hw)


def to_image_grid(
    logits: torch.Tensor, valid_hw: tuple[int, int], image_hw: tuple[int, int]
) -> torch.Tensor:
    """Model logits (1, C, Hp, Wp) → float32 CPU logits (1, C, H, W) on the image grid.

    Crops the padding off (``valid_hw``) and resizes bilinearly to ``image_hw``.
    """
    h, w = valid_hw
    logits = logits[..., :h, :w].float().cpu()
    if (h, w) != tuple(image_hw):
        logits = F.interpolate(logits, size=tuple(image_hw), mode="bilinear", align_corners=False)
    return logits


def logits_to_image(logits: torch.Tensor, prepared: Prepared) -> torch.Tensor:
    """:func:`to_image_grid` for a :class:`Prepared` input."""
    return to_image_grid(logits, prepared.valid_hw, prepared.image_hw)


@dataclass(frozen=True)
class Segmentation:
    """A class map for one image, and what it took to make it."""

    class_map: np.ndarray = field(repr=False)  # (H, W) uint8 class indices
    class_names: tuple[str, ...]
    model_input_hw: tuple[int, int]  # (h, w) the network saw, before padding
    ms: float  # wall time of the forward pass, milliseconds

    def fractions(self) -> dict[str, float]:
        """Share of pixels per class present, largest first."""
        counts = np.bincount(self.class_map.ravel(), minlength=len(self.class_names))
        total = counts.sum()
        order = np.argsort(-counts, kind="stable")
        return {self.class_names[i]: float(counts[i] / total) for i in order if counts[i] > 0}


@torch.inference_mode()
def forward_logits(model: LoadedModel, prepared: Prepared) -> tuple[torch.Tensor, float]:
    """Run the network; returns image-grid logits and the forward time in ms."""
    t0 = time.perf_counter()
    out = model.runner(model.runner_input(prepared.tensor))
    if out.device.type == "cuda":
        torch.cuda.synchronize(out.device)
    ms = (time.perf_counter() - t0) * 1000
    return logits_to_image(out, prepared), ms


def segment(model: LoadedModel, rgb: np.ndarray, *, size: int = DEFAULT_SIZE) -> Segmentation:
    """Segment one RGB image with ``model`` at working size ``size``."""
    prepared = prepare(rgb, model, size=size)
    logits, ms = forward_logits(model, prepared)
    class_map = logits[0].argmax(0).to(torch.uint8).numpy()
    return Segmentation(class_map, model.class_names, prepared.valid_hw, ms)
