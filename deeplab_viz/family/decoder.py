"""DeepLab-v3+'s decoder, step by step.

:func:`plus_steps`: a hook-free forward of a v3+ model that keeps every step of its
decoder (ASPP output at 1/16, ×4, the 48-channel low-level features, after the two
3×3 convs, logits at 1/4, final ×4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PlusSteps:
    """Every step of a v3+ decoder on one image, (C, h, w) float32 arrays."""

    aspp: np.ndarray  # ASPP output (projection), stride 16
    aspp_up: np.ndarray  # upsampled ×4 to the low-level grid
    low: np.ndarray  # low-level features after the 1×1 reduction to 48 channels
    fused: np.ndarray  # after the two 3×3 (separable) convs
    logits_low: np.ndarray  # classifier output at stride 4
    logits: np.ndarray  # final ×4 upsampling, on the image
    class_map: np.ndarray  # (H, W) uint8


@torch.inference_mode()
def plus_steps(module: nn.Module, x: torch.Tensor) -> PlusSteps:
    """Run a :class:`~deeplab_viz.models.shapes.DeepLabV3Plus` step by step (no hooks).

    Calls the decoder's own submodules in the order of its ``forward``; the result
    equals ``module(x)`` (tested).
    """
    dec = module.head
    feats = module.features(x)
    proj = module.aspp(next(reversed(feats.values())))
    low = dec.reduce(feats[module.low_level])
    up = F.interpolate(proj, size=low.shape[-2:], mode="bilinear", align_corners=False)
    fused = dec.fuse(torch.cat([up, low], dim=1))
    lg = dec.classifier(fused)
    out = module.upsample(lg, x.shape[-2:])

    def a(t: torch.Tensor) -> np.ndarray:
        return t[0].detach().float().cpu().numpy()

    return PlusSteps(
        aspp=a(proj),
        aspp_up=a(up),
        low=a(low),
        fused=a(fused),
        logits_low=a(lg),
        logits=a(out),
        class_map=out[0].argmax(0).to(torch.uint8).cpu().numpy(),
    )
