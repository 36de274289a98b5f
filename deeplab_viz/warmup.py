"""One-time costs paid once at server start, not on a lecturer's first click.

A fresh Python process pays, the first time a page needs them: importing
torchvision (Scale lab, DeepLab family: seconds), importing captum (ASPP
explorer) and tracing the first FLOP count on fake tensors (Output stride, which
pulls in ``torch._dynamo``). :func:`warm` does all three on a tiny network, so a
background thread started with the server takes them off every page's first run.
"""

from __future__ import annotations

import time

import torch
from torch import nn


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(4, 2, 1))


def warm() -> dict[str, float]:
    """Pay the one-time costs; returns the milliseconds of each step."""
    from .cost.flops import _count_flops

    out: dict[str, float] = {}
    t = time.perf_counter()
    import torchvision.models.segmentation  # noqa: F401  (Scale lab, DeepLab family)

    out["torchvision"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    import captum.attr  # noqa: F401  (ASPP explorer's attributions)

    out["captum"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    net = _tiny().eval()
    flops = _count_flops(net, lambda: (torch.zeros(1, 3, 17, 17),), fake=True)
    out["flop_count"] = (time.perf_counter() - t) * 1000
    if flops <= 0:
        raise RuntimeError("the warm-up FLOP count found no work")
    return out
