"""Does a large atrous rate cost time or memory? One 3×3 convolution, swept over rates.

The convolution keeps "same" padding (= rate), so its output, weights and FLOPs are
the same at every rate; :func:`memory_vs_rate` measures what changes, and
:func:`rate_verdict` says it in words from the sweep's own numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..models.registry import DTYPES, resolve_device
from .flops import _count_flops
from .inputs import _hw
from .latency import LatencyResult, _latency, cudnn_benchmark
from .memory import RSS_METHOD, MemoryResult, _peak
from .taps import valid_tap_share


@dataclass(frozen=True)
class RatePoint:
    """One 3×3 convolution (channels → channels, "same" padding) at one rate."""

    rate: int
    channels: int
    feature_hw: tuple[int, int]
    dtype: str
    device: str
    latency: LatencyResult
    memory: MemoryResult
    flops: int
    valid_tap_share: float
    output_bytes: int  # the output feature map
    padded_input_bytes: int  # the input with its zero padding, were it materialised
    cudnn_benchmark: bool | None  # None off CUDA


def _check_dtype(device: str, dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    if dtype != "float32" and device != "cuda":
        raise ValueError(f"{dtype} is offered on CUDA only; use float32 on {device}")
    return DTYPES[dtype]


def memory_vs_rate(
    rates: Sequence[int],
    *,
    channels: int = 256,
    feature_hw: int | Sequence[int] = (65, 65),
    device: str = "cpu",
    dtype: str = "float32",
    cudnn_benchmark_on: bool | None = None,
    warmup: int = 1,
    repeats: int = 3,
    seed: int = 0,
) -> list[RatePoint]:
    """Latency and peak memory of one 3×3 conv (channels → channels) at each rate.

    The conv has "same" padding (= rate), so its output, its weights and its FLOPs are
    the same at every rate: only where its taps read changes. This tests the claim that
    large rates cost memory. ``cudnn_benchmark_on`` sets cuDNN's autotuner for the
    sweep (CUDA only; ``None`` leaves it as it is).
    """
    dev = resolve_device(device)
    tdtype = _check_dtype(dev, dtype)
    h, w = _hw(feature_hw)
    if channels < 1:
        raise ValueError("channels must be >= 1")
    torch_device = torch.device(dev)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((1, channels, h, w), generator=gen).to(torch_device, tdtype)  # (1, C, h, w)
    weight = (torch.randn((channels, channels, 3, 3), generator=gen) / (3 * channels**0.5)).to(
        torch_device, tdtype
    )
    on_cuda = torch_device.type == "cuda"
    flag = cudnn_benchmark_on if on_cuda else None
    itemsize = torch.empty((), dtype=tdtype).element_size()
    points = []
    with cudnn_benchmark(flag), torch.inference_mode():
        for rate in rates:
            r = int(rate)
            if r < 1:
                raise ValueError(f"rates must be >= 1, got {rate}")
            conv = nn.Conv2d(channels, channels, 3, padding=r, dilation=r, bias=False)
            conv = conv.to(torch_device, tdtype).eval()
            conv.weight.copy_(weight)

            def fn(conv: nn.Module = conv) -> torch.Tensor:
                return conv(x)  # (1, C, h, w)

            latency = _latency(fn, torch_device, warmup, repeats)
            memory = _peak(fn, torch_device)
            flops = _count_flops(conv, lambda: (x,), fake=True)
            points.append(
                RatePoint(
                    rate=r,
                    channels=channels,
                    feature_hw=(h, w),
                    dtype=dtype,
                    device=dev,
                    latency=latency,
                    memory=memory,
                    flops=flops,
                    valid_tap_share=valid_tap_share(r, (h, w)),
                    output_bytes=channels * h * w * itemsize,
                    padded_input_bytes=channels * (h + 2 * r) * (w + 2 * r) * itemsize,
                    cudnn_benchmark=flag,
                )
            )
    return points


def _mb(n: float) -> str:
    return f"{n / 1024**2:.1f} MB"


def rate_verdict(points: Sequence[RatePoint]) -> str:
    """A short conclusion drawn from a :func:`memory_vs_rate` sweep's own numbers."""
    pts = sorted(points, key=lambda p: p.rate)
    if len(pts) < 2:
        return "Measure at least two rates to compare."
    lo, hi = pts[0], pts[-1]
    mems = [p.memory.best_bytes for p in pts]
    m_lo, m_hi = mems[0], mems[-1]
    spread = max(mems) - min(mems)
    h, w = lo.feature_hw
    method = lo.memory.best_method
    head = (
        f"Measured here ({method} on {lo.device}): one 3×3 conv, {lo.channels} "
        f"channels on a {h}×{w} map, needed {_mb(m_lo)} at rate {lo.rate} and "
        f"{_mb(m_hi)} at rate {hi.rate}; the largest difference between any two "
        f"rates was {_mb(spread)}."
    )
    floor = 1024**2 if method == RSS_METHOD else 64 * 1024  # RSS: page-level noise
    if max(mems) < floor:
        return head + (
            " That is too little to tell apart with this measurement: choose more channels or a"
            " bigger feature map."
        )
    if spread <= max(0.25 * max(mems), floor):
        mem = (
            " So on this machine a large rate does **not** cost memory: weights, FLOPs and "
            "output are the same at every rate, only where the taps read changes."
        )
    elif m_hi > m_lo:
        mem = (
            f" So on this machine memory **does** grow with the rate ({m_hi / max(m_lo, 1):.1f}×):"
            " the convolution's implementation keeps something that grows with the rate"
            f" (the zero-padded input alone would be {_mb(hi.padded_input_bytes)} at rate {hi.rate})."
        )
    else:
        mem = (
            " Memory is not larger at the large rate here (it is lower): on this machine a"
            " large rate does **not** cost memory."
        )
    t = (
        f" Time: {lo.latency.median_ms:.1f} ms at rate {lo.rate}, {hi.latency.median_ms:.1f} ms"
        f" at rate {hi.rate}. What a large rate does cost on a small map is *useful taps*:"
        f" at rate {hi.rate} only {100 * hi.valid_tap_share:.0f}% of them land on real cells."
    )
    return head + mem + t
