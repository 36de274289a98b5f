"""Atrous separable convolution: a regular 3×3 atrous conv against its depthwise +
pointwise pair, counted and timed, and the dilated depthwise convs of a model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


def atrous_pair(channels: int, rate: int, *, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(regular 3×3 atrous conv, depthwise 3×3 atrous + pointwise 1×1), no bias, seeded."""
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        regular = nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate, bias=False)
        separable = nn.Sequential(
            nn.Conv2d(
                channels, channels, 3, padding=rate, dilation=rate, groups=channels, bias=False
            ),
            nn.Conv2d(channels, channels, 1, bias=False),
        )
    return regular.eval(), separable.eval()


@dataclass(frozen=True)
class SeparableTiming:
    channels: int
    rate: int
    hw: int
    params: dict[str, int]  # counted on the modules
    flops: dict[str, int]  # torch.utils.flop_counter, 2 per multiply-add
    median_ms: dict[str, float]
    runs_ms: dict[str, tuple[float, ...]]


def separable_latency(
    channels: int = 256,
    rate: int = 2,
    hw: int = 33,
    *,
    repeats: int = 7,
    warmup: int = 2,
    threads: int | None = None,
) -> SeparableTiming:
    """Measure a regular and a depthwise-separable 3×3 atrous conv at the same rate
    on a (1, channels, hw, hw) input: parameters, FLOPs and median wall time (CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    if not (1 <= channels <= 2048 and 1 <= rate <= 64 and 3 <= hw <= 257):
        raise ValueError("channels 1–2048, rate 1–64, size 3–257")
    regular, separable = atrous_pair(channels, rate)
    x = torch.randn(1, channels, hw, hw, generator=torch.Generator().manual_seed(0))
    mods = {"regular": regular, "separable": separable}
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in mods.items()}
    flops, med, runs = {}, {}, {}
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for k, m in mods.items():
                with FlopCounterMode(display=False) as fc:
                    m(x)
                flops[k] = int(fc.get_total_flops())
            order = ["regular", "separable"]
            for _ in range(warmup):
                for k in order:
                    mods[k](x)
            times: dict[str, list[float]] = {k: [] for k in order}
            for i in range(repeats):  # interleaved, so load changes hit both
                for k in order if i % 2 == 0 else order[::-1]:
                    t0 = time.perf_counter()
                    mods[k](x)
                    times[k].append((time.perf_counter() - t0) * 1000)
    finally:
        if threads is not None:
            torch.set_num_threads(old)
    for k, ts in times.items():
        med[k] = round(float(statistics.median(ts)), 3)
        runs[k] = tuple(round(t, 3) for t in ts)
    return SeparableTiming(channels, rate, hw, params, flops, med, runs)


def depthwise_rates(module: nn.Module) -> dict[int, int]:
    """``{rate: count}`` of the dilated depthwise 3×3 convs of a model as wired now."""
    out: dict[int, int] = {}
    for m in module.modules():
        if (
            isinstance(m, nn.Conv2d)
            and m.groups == m.in_channels > 1
            and m.kernel_size[0] > 1
            and m.dilation[0] > 1
        ):
            out[m.dilation[0]] = out.get(m.dilation[0], 0) + 1
    return dict(sorted(out.items()))


def dilated_sites(wiring: Sequence[tuple[int, int]]) -> dict[int, int]:
    """``{rate: count}`` of the sites of a wiring (``(stride, dilation)`` per site, as
    :func:`deeplab_viz.models.output_stride.current_wiring` reads it) dilated beyond 1,
    by rate."""
    out: dict[int, int] = {}
    for _, d in wiring:
        if d > 1:
            out[d] = out.get(d, 0) + 1
    return dict(sorted(out.items()))
