"""FLOPs of a model's forward, whole or by part.

Counted by ``torch.utils.flop_counter.FlopCounterMode``: **2 FLOPs per multiply-add**
of convolutions and matrix products. Bias additions, activations, normalisation,
pooling and interpolation are not counted (the convention of
:func:`deeplab_viz.atrous.conv_cost`). The count depends on shapes only, so it runs on
fake tensors (no arithmetic) and falls back to a real forward if that is unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..models import LoadedModel
from .inputs import _zeros

FLOP_CONVENTION = (
    "FLOPs as counted by torch.utils.flop_counter: 2 per multiply-add of every convolution "
    "and matrix product; bias, activations, pooling and resizing not counted."
)


def _count_flops(fn: Callable[..., object], make_inputs: Callable[[], tuple], fake: bool) -> int:
    """FLOPs of ``fn(*make_inputs())``; on fake tensors when ``fake`` (shapes only)."""
    if fake:
        try:
            from torch._subclasses.fake_tensor import FakeTensorMode

            with FakeTensorMode(allow_non_fake_inputs=True):
                inputs = make_inputs()
                with FlopCounterMode(display=False) as counter, torch.inference_mode():
                    fn(*inputs)
            return int(counter.get_total_flops())
        except Exception:  # a private API: count on a real forward instead
            pass
    inputs = make_inputs()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn(*inputs)
    return int(counter.get_total_flops())


def count_flops(model: LoadedModel, input_hw: int | Sequence[int], *, fake: bool = True) -> int:
    """FLOPs of one forward of ``model`` on a (1, 3, h, w) zeros input (2 per multiply-add).

    ``fake=True`` runs the forward on fake tensors (shapes only, instant); the count is
    the same as on real tensors (tested).
    """
    return _count_flops(model.module, lambda: (_zeros(model, input_hw),), fake)


def flops_by_part(
    model: LoadedModel, input_hw: int | Sequence[int], *, fake: bool = True
) -> dict[str, int]:
    """FLOPs of each part, in forward order: every backbone stage, every ASPP branch,
    the ASPP projection, and the head with its upsampling. They sum to
    :func:`count_flops`."""
    net = model.module

    def walk(x: torch.Tensor) -> dict[str, int]:
        parts: dict[str, int] = {}

        def run(name: str, fn: Callable[[], torch.Tensor]) -> torch.Tensor:
            with FlopCounterMode(display=False) as counter:
                out = fn()
            parts[name] = int(counter.get_total_flops())
            return out

        size = x.shape[-2:]
        feats: dict[str, torch.Tensor] = {}
        for name, stage in net.stages.items():
            x = run(f"stage {name}", lambda s=stage, x=x: s(x))
            feats[name] = x
        outs = [
            run(f"ASPP {n}", lambda b=b, x=x: b(x))
            for n, b in zip(net.aspp.names, net.aspp.branches, strict=True)
        ]
        proj = run("ASPP projection", lambda: net.aspp.project(torch.cat(outs, dim=1)))
        run("head + upsampling", lambda: net.upsample(net.decode(proj, feats), size))
        return parts

    def parts_of(make: Callable[[], torch.Tensor]) -> dict[str, int]:
        with torch.inference_mode():
            return walk(make())

    if fake:
        try:
            from torch._subclasses.fake_tensor import FakeTensorMode

            with FakeTensorMode(allow_non_fake_inputs=True):
                return parts_of(lambda: _zeros(model, input_hw))
        except Exception:
            pass
    return parts_of(lambda: _zeros(model, input_hw))
