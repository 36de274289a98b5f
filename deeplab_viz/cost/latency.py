"""Wall-clock time of one forward, and cuDNN's autotuner that can change it.

Latency is the time of one forward of a batch of one, under ``torch.inference_mode``,
CUDA synchronised before and after every run; the median and the 90th percentile of
``repeats`` runs after ``warmup`` runs.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from ..models import LoadedModel
from ..timing import Spread, interleaved, spread
from .inputs import _zeros

K = TypeVar("K", bound=Hashable)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class LatencyResult:
    """Wall-clock time of one forward, milliseconds."""

    median_ms: float
    p90_ms: float
    runs: tuple[float, ...]  # every timed run, in order

    def spread(self) -> Spread:
        """The runs as a :class:`~deeplab_viz.timing.Spread` (median, middle half)."""
        return spread(self.runs)


def _latency(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int):
    if warmup < 0 or repeats < 1:
        raise ValueError("warmup must be >= 0 and repeats >= 1")
    for _ in range(warmup):
        fn()
    _sync(device)
    runs = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        runs.append((time.perf_counter() - t0) * 1000)
    return LatencyResult(
        median_ms=round(float(statistics.median(runs)), 3),
        p90_ms=round(float(np.percentile(runs, 90)), 3),
        runs=tuple(round(r, 3) for r in runs),
    )


def measure_latency(
    model: LoadedModel, input_hw: int | Sequence[int], *, warmup: int = 1, repeats: int = 5
) -> LatencyResult:
    """Median and 90th-percentile forward time of ``model`` on a (1, 3, h, w) input.

    Times the module the app runs (:attr:`LoadedModel.runner`: the fused copy on a CPU).
    """
    x = model.runner_input(_zeros(model, input_hw))
    with torch.inference_mode():
        return _latency(lambda: model.runner(x), model.device, warmup, repeats)


def interleaved_latency(
    runs: Mapping[K, tuple[LoadedModel, int | Sequence[int]]],
    *,
    warmup: int = 1,
    repeats: int = 5,
) -> dict[K, LatencyResult]:
    """The forward time of several models (e.g. one per output stride), interleaved.

    Round-robin with the order rotating each round (:func:`deeplab_viz.timing.interleaved`),
    so a change of load on a shared machine hits every model alike and their medians
    can be compared. Each run ends with a device sync.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError("warmup must be >= 0 and repeats >= 1")
    fns = {}
    for key, (model, hw) in runs.items():
        x = model.runner_input(_zeros(model, hw))

        def fn(model=model, x=x) -> None:
            model.runner(x)
            _sync(model.device)

        fns[key] = fn
    with torch.inference_mode():
        spreads = interleaved(fns, repeats=repeats, warmup=warmup)
    return {
        k: LatencyResult(
            median_ms=round(sp.median_ms, 3),
            p90_ms=round(float(np.percentile(sp.runs_ms, 90)), 3),
            runs=tuple(round(r, 3) for r in sp.runs_ms),
        )
        for k, sp in spreads.items()
    }


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool | None) -> Iterator[None]:
    """Set ``torch.backends.cudnn.benchmark`` for a block and restore it (None: leave it).

    A process-wide switch: in a server it applies to every session while the block runs.
    """
    if enabled is None:
        yield
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def cudnn_compare(
    model: LoadedModel, input_hw: int | Sequence[int], *, warmup: int = 2, repeats: int = 10
) -> dict[bool, LatencyResult]:
    """Latency with ``torch.backends.cudnn.benchmark`` off, then on (CUDA only).

    With it on, cuDNN times its algorithms for each new input shape and keeps the
    fastest; the warm-up pays for that search. The setting is restored afterwards.
    """
    if model.device.type != "cuda":
        raise ValueError("cudnn.benchmark applies to CUDA devices only")
    out = {}
    for flag in (False, True):
        with cudnn_benchmark(flag):
            out[flag] = measure_latency(model, input_hw, warmup=warmup, repeats=repeats)
    return out
