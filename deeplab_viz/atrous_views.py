"""Small pure helpers that turn :mod:`deeplab_viz.atrous` into things to look at.

Used by the "Dilated convolution" and "Gridding" pages: the live space-to-batch
identity check, filters at several rates made displayable, image resizing to the
size the model sees, and nearest-neighbour zooms that keep single pixels visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .atrous import (
    KERNELS,
    apply_dilated_filter,
    atrous_conv2d_via_subimages,
    conv_output_size,
    effective_kernel_size,
)
from .timing import Comparison, Spread, compare, interleaved

__all__ = [
    "SpaceToBatchCheck",
    "filter_at_rates",
    "resize_longest",
    "space_to_batch_check",
    "to_display",
    "to_uint8",
    "with_pixel_noise",
    "zoom_crop",
]


def resize_longest(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 with its longest side at ``size`` pixels, aspect kept.

    The same rounding as :func:`deeplab_viz.inference.resized_hw`, so pixel
    coordinates match the image the model sees.
    """
    from .inference import resized_hw

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise ValueError("expected an (H, W, C) uint8 array")
    h, w = resized_hw((arr.shape[0], arr.shape[1]), int(size))
    if (h, w) == arr.shape[:2]:
        return arr
    return np.asarray(Image.fromarray(arr).resize((w, h), Image.Resampling.LANCZOS))


@dataclass(frozen=True)
class SpaceToBatchCheck:
    """A rate-``rate`` conv computed twice: dilated, and as a plain conv on sub-images.

    ``max_abs_diff`` is the largest absolute difference between the two outputs
    (float32 round-off only); times in milliseconds.
    """

    rate: int
    kernel: int
    out_channels: int
    output_hw: tuple[int, int]
    n_subimages: int
    max_abs_diff: float
    max_abs_value: float
    dilated: Spread  # conv(dilation=r), interleaved with the sub-image route
    subimages: Spread

    @property
    def dilated_ms(self) -> float:
        return self.dilated.median_ms

    @property
    def subimage_ms(self) -> float:
        return self.subimages.median_ms

    def speed(self) -> Comparison:
        """The two routes' times compared, ranked only where the difference shows."""
        return compare("dilated conv", self.dilated, "sub-images", self.subimages)


def space_to_batch_check(
    rgb: np.ndarray,
    rate: int,
    *,
    kernel: int = 3,
    out_channels: int = 8,
    seed: int = 0,
    repeats: int = 5,
) -> SpaceToBatchCheck:
    """Verify on an image that ``conv(dilation=r)`` equals a plain conv on the r² sub-images.

    The image is scaled to [0, 1]; the kernel is standard normal
    ``(out_channels, C, k, k)`` from ``torch.Generator().manual_seed(seed)``; padding
    ``r * (k-1)//2`` ("same" for odd ``k``). Both routes are timed ``repeats`` times,
    interleaved, after a warm-up (:func:`deeplab_viz.timing.interleaved`).
    """
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {arr.shape}")
    img = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.randn((out_channels, x.shape[1], kernel, kernel), generator=gen)
    pad = (kernel - 1) // 2
    # fails here, with a clear ValueError, if the image is smaller than the kernel
    conv_output_size(x.shape[-1], kernel, padding=rate * pad, dilation=rate)
    conv_output_size(x.shape[-2], kernel, padding=rate * pad, dilation=rate)
    with torch.no_grad():
        direct = F.conv2d(x, w, dilation=rate, padding=rate * pad)
        via = atrous_conv2d_via_subimages(x, w, rate, padding=pad)
        times = interleaved(
            {
                "dilated": lambda: F.conv2d(x, w, dilation=rate, padding=rate * pad),
                "subimages": lambda: atrous_conv2d_via_subimages(x, w, rate, padding=pad),
            },
            repeats=repeats,
            warmup=0,  # the two calls above were the warm-up
        )
    return SpaceToBatchCheck(
        rate=int(rate),
        kernel=int(kernel),
        out_channels=int(out_channels),
        output_hw=(int(direct.shape[-2]), int(direct.shape[-1])),
        n_subimages=int(rate) ** 2,
        max_abs_diff=float((direct - via).abs().max()),
        max_abs_value=float(direct.abs().max()),
        dilated=times["dilated"],
        subimages=times["subimages"],
    )


def to_display(out: np.ndarray, kernel_name: str) -> np.ndarray:
    """A filter response as a uint8 picture.

    Kernels whose weights sum to zero (edges: Sobel, Laplacian) respond with signed
    values around 0: shown as the magnitude, averaged over channels, scaled so the
    99.5th percentile is white. Others (blur, sharpen) are clipped to [0, 1].
    """
    arr = np.asarray(out, dtype=np.float32)
    kern = KERNELS.get(kernel_name)
    zero_sum = kern is not None and abs(float(kern.sum())) < 1e-6
    if zero_sum:
        mag = np.abs(arr).mean(axis=-1) if arr.ndim == 3 else np.abs(arr)
        top = float(np.percentile(mag, 99.5)) or 1.0
        return (np.clip(mag / top, 0, 1) * 255).astype(np.uint8)
    return (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)


def filter_at_rates(
    rgb: np.ndarray, kernel_name: str, rates: Sequence[int]
) -> list[tuple[int, np.ndarray]]:
    """``(rate, displayable uint8 image)`` for one named kernel at each rate.

    Reflect padding (no dark frame) where the image is large enough, else replicate.
    """
    if kernel_name not in KERNELS:
        raise ValueError(f"unknown kernel {kernel_name!r}; choose from {', '.join(KERNELS)}")
    kern = KERNELS[kernel_name]
    h, w = np.asarray(rgb).shape[:2]
    out = []
    for r in rates:
        half = effective_kernel_size(kern.shape[0], int(r)) // 2
        mode = "reflect" if half < min(h, w) else "replicate"
        res = apply_dilated_filter(rgb, kern, int(r), padding_mode=mode)
        out.append((int(r), to_display(res, kernel_name)))
    return out


def zoom_box(hw: Sequence[int], centre_yx: Sequence[int], side: int) -> tuple[int, int, int, int]:
    """The ``side x side`` square around ``centre_yx``, moved inside an image of size ``hw``.

    Returns (y0, x0, y1, x1) in pixels, end exclusive; ``side`` is clipped to the image.
    """
    h, w = (int(v) for v in hw[:2])
    side = max(1, min(int(side), h, w))
    cy, cx = (int(c) for c in centre_yx)
    y0 = int(np.clip(cy - side // 2, 0, h - side))
    x0 = int(np.clip(cx - side // 2, 0, w - side))
    return y0, x0, y0 + side, x0 + side


def zoom_crop(image: np.ndarray, centre_yx: Sequence[int], side: int, factor: int) -> np.ndarray:
    """The :func:`zoom_box` crop around ``centre_yx``, enlarged ``factor`` times by pixel
    repetition, so single pixels stay sharp squares."""
    arr = np.asarray(image)
    y0, x0, y1, x1 = zoom_box(arr.shape, centre_yx, side)
    f = max(1, int(factor))
    return np.repeat(np.repeat(arr[y0:y1, x0:x1], f, axis=0), f, axis=1)


def with_pixel_noise(rgb: np.ndarray, sigma: float, *, seed: int = 0) -> np.ndarray:
    """The image in [0, 1] (float32) plus grey Gaussian noise of std ``sigma``, clipped.

    Pixel noise is the finest texture there is: the place where the holes of a
    gridded stack show (neighbouring outputs never average the same pixels).
    ``sigma = 0`` returns the image scaled to [0, 1].
    """
    arr = np.asarray(rgb)
    img = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return img
    noise = np.random.default_rng(int(seed)).normal(0.0, float(sigma), img.shape[:2])
    if img.ndim == 3:
        noise = noise[..., None]
    return np.clip(img + noise, 0.0, 1.0).astype(np.float32)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (clipped) as uint8."""
    return (np.clip(np.asarray(img, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
