"""DeepLab-v3+'s decoder, step by step.

:func:`plus_steps`: a hook-free forward of a v3+ model that keeps every step of its
decoder (ASPP output at 1/16, ×4, the 48-channel low-level features, after the two
3×3 convs, logits at 1/4, final ×4). :func:`stride_rows` and :func:`decoder_gain` read
what the decoder buys at each output stride off the held-out metrics
(:func:`deeplab_viz.eval_shapes.decoder_by_stride`).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def stride_rows(by_stride: Sequence[dict]) -> list[dict[str, object]]:
    """Rows of :func:`~deeplab_viz.eval_shapes.decoder_by_stride` as a table to show: the
    output stride, then mIoU and boundary F of v3 and v3+, each to three decimals."""
    return [
        {
            "output stride": r["output_stride"],
            "mIoU v3": f"{r['miou_v3']:.3f}",
            "mIoU v3+": f"{r['miou_plus']:.3f}",
            "boundary F v3": f"{r['boundary_f_v3']:.3f}",
            "boundary F v3+": f"{r['boundary_f_plus']:.3f}",
        }
        for r in by_stride
    ]


@dataclass(frozen=True)
class DecoderGain:
    """What the v3+ decoder buys, read off the rows of
    :func:`~deeplab_viz.eval_shapes.decoder_by_stride`, as values for two sentences.

    ``trained``: at the stride both models were trained at (``None`` when that stride
    has no row): ``trained`` (the stride), ``up`` (the decoder's ×upsampling there),
    ``bf_v3`` and ``bf_plus`` (boundary F, two decimals). ``coarse``: at the strides
    coarser than that (``None`` when there are none): ``v3_scores`` ("0.40 at 32, …")
    and ``plus_scores`` ("0.50, …").
    """

    trained: dict[str, object] | None
    coarse: dict[str, str] | None


def decoder_gain(by_stride: Sequence[dict], trained: int) -> DecoderGain:
    """:class:`DecoderGain` of ``by_stride`` for models trained at output stride ``trained``."""
    at = {r["output_stride"]: r for r in by_stride}
    native = None
    if trained in at:
        r = at[trained]
        native = {
            "trained": trained,
            "up": max(1, trained // 4),
            "bf_v3": f"{r['boundary_f_v3']:.2f}",
            "bf_plus": f"{r['boundary_f_plus']:.2f}",
        }
    rows = [r for r in by_stride if r["output_stride"] > trained]
    coarse = None
    if rows:
        coarse = {
            "v3_scores": ", ".join(
                f"{r['boundary_f_v3']:.2f} at {r['output_stride']}" for r in rows
            ),
            "plus_scores": ", ".join(f"{r['boundary_f_plus']:.2f}" for r in rows),
        }
    return DecoderGain(native, coarse)
