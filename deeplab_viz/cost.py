"""What output stride and atrous rates cost: FLOPs, latency, memory, and what they buy.

Conventions (say them wherever a number is shown):

* **FLOPs** are counted by ``torch.utils.flop_counter.FlopCounterMode``: **2 FLOPs per
  multiply-add** of convolutions and matrix products. Bias additions, activations,
  normalisation, pooling and interpolation are not counted (the convention of
  :func:`deeplab_viz.atrous.conv_cost`). The count depends on shapes only, so it runs on
  fake tensors (no arithmetic) and falls back to a real forward if that is unavailable.
* **Latency** is wall-clock time of one forward of a batch of one, under
  ``torch.inference_mode``, CUDA synchronised before and after every run; the median
  and the 90th percentile of ``repeats`` runs after ``warmup`` runs.
* **Peak memory** on CUDA is ``torch.cuda.max_memory_allocated`` during one forward
  minus what was allocated before it (activations, workspaces and the output; not the
  weights nor the input). On a CPU it is the growth of the process's resident memory
  (RSS) during the forward, sampled every ~1 ms with ``psutil`` after
  ``malloc_trim``: a coarse, whole-process figure (other threads count too; the
  allocator may reuse pages, and in a server thread freed pages are seldom given back,
  so a forward that reuses them shows little growth). Alongside it, in the same forward,
  the peak of the bytes torch's CPU allocator handed out (``torch.profiler`` with
  ``profile_memory``): activations, outputs and workspaces, deterministic, the CPU
  counterpart of ``max_memory_allocated``. :func:`activation_bytes` is a third,
  computed companion: the bytes of every feature map a probe kept.

Every function only *reads* the model it is given: no hooks are put on it (the FLOP
counter's module tracker uses global hooks that it removes on exit), no ``.train()``,
no in-place edits, so the shared, cached models of the app can be measured safely.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import psutil
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .atrous import effective_kernel_size, valid_tap_fraction
from .boundary import boundary_mask
from .models import REGISTRY, LoadedModel, ModelSpec, build_model
from .models.registry import DTYPES, resolve_device
from .probe import Probe

__all__ = [
    "CUDA_METHOD",
    "FLOP_CONVENTION",
    "RSS_METHOD",
    "ALLOC_NOTE",
    "CostPoint",
    "LatencyResult",
    "MemoryResult",
    "RatePoint",
    "StrideRow",
    "TapRow",
    "activation_bytes",
    "benchmark_models",
    "agreement",
    "boundary_zoom",
    "compare_strides",
    "count_flops",
    "crop_box",
    "cudnn_benchmark",
    "cudnn_compare",
    "flops_by_part",
    "machine_info",
    "measure_config",
    "measure_latency",
    "memory_vs_rate",
    "most_disagreement",
    "peak_memory",
    "rate_verdict",
    "ratios",
    "tap_table",
    "valid_tap_share",
]

FLOP_CONVENTION = (
    "FLOPs as counted by torch.utils.flop_counter: 2 per multiply-add of every convolution "
    "and matrix product; bias, activations, pooling and resizing not counted."
)
CUDA_METHOD = "cuda max_memory_allocated"
RSS_METHOD = "RSS growth"
ALLOC_NOTE = (
    "peak of the bytes torch's CPU allocator handed out during the forward (torch.profiler, "
    "profile_memory): activations, outputs and workspaces, not the weights; deterministic"
)
METHOD_NOTES = {
    CUDA_METHOD: "peak CUDA memory allocated during the forward, minus what was allocated "
    "before it (weights and input excluded)",
    RSS_METHOD: "growth of the whole process's resident memory during the forward, sampled "
    "every ~1 ms: coarse (other threads count, the allocator may reuse pages)",
}


# --------------------------------------------------------------------------- helpers


def _hw(input_hw: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(input_hw, (int, np.integer)):
        h = w = int(input_hw)
    else:
        h, w = (int(v) for v in input_hw)
    if h < 1 or w < 1:
        raise ValueError(f"input size must be positive, got {input_hw!r}")
    return h, w


def _zeros(model: LoadedModel, input_hw: int | Sequence[int]) -> torch.Tensor:
    h, w = _hw(input_hw)
    return torch.zeros((1, 3, h, w), device=model.device, dtype=model.dtype)  # (1, 3, H, W)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


# --------------------------------------------------------------------------- FLOPs


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


# --------------------------------------------------------------------------- latency


@dataclass(frozen=True)
class LatencyResult:
    """Wall-clock time of one forward, milliseconds."""

    median_ms: float
    p90_ms: float
    runs: tuple[float, ...]  # every timed run, in order


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


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryResult:
    """Extra memory one forward needed, bytes, and how it was measured."""

    bytes: int
    method: str  # CUDA_METHOD or RSS_METHOD
    allocated_bytes: int | None = None  # CPU: torch allocator peak in the same forward

    @property
    def note(self) -> str:
        return METHOD_NOTES.get(self.method, self.method)

    @property
    def best_bytes(self) -> int:
        """The most precise figure: the allocator peak where there is one."""
        return self.bytes if self.allocated_bytes is None else self.allocated_bytes

    @property
    def best_method(self) -> str:
        return self.method if self.allocated_bytes is None else "torch CPU allocations"


_PROCESS = psutil.Process()


def _rss() -> int:
    """Resident memory of this process, bytes (psutil: Linux, macOS and Windows alike)."""
    return int(_PROCESS.memory_info().rss)


def _malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc), so RSS growth starts from a floor."""
    with contextlib.suppress(Exception):
        name = ctypes.util.find_library("c")
        if name:
            ctypes.CDLL(name).malloc_trim(0)


def _rss_growth(fn: Callable[[], object], interval_s: float = 0.001) -> MemoryResult:
    _malloc_trim()
    base = _rss()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            stop.wait(interval_s)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        out = fn()
        peak[0] = max(peak[0], _rss())  # the output is still alive here
    finally:
        stop.set()
        sampler.join()
    del out
    return MemoryResult(max(0, peak[0] - base), RSS_METHOD)


_PROFILER_LOCK = threading.Lock()  # one profiler at a time in a process
# Kineto (the profiler's C++ side) writes "profiler_start"/"Completed Stage" lines and
# a GPU-count error to stderr on every run, which would fill a server's log. Level 6
# is above its highest (USDT = 5), so it prints nothing; it reads this when a
# profiler starts, so setting it here works even after torch is imported.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def _allocated_peak(fn: Callable[[], object]) -> tuple[object, int | None]:
    """Run ``fn`` under ``torch.profiler`` (memory only) and return its result and the
    peak of live bytes allocated by torch on the CPU during it (None if unavailable)."""
    if not _PROFILER_LOCK.acquire(blocking=False):  # another session is profiling
        return fn(), None
    try:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = fn()
        try:
            events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
            events.sort(key=lambda e: e.start_ns())
            live = peak = 0
            for e in events:
                live += int(e.nbytes())
                peak = max(peak, live)
            return out, peak
        except Exception:  # an internal API: report nothing rather than a wrong number
            return out, None
    finally:
        _PROFILER_LOCK.release()


def _peak(fn: Callable[[], object], device: torch.device) -> MemoryResult:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        del out
        return MemoryResult(max(0, int(peak - before)), CUDA_METHOD)
    allocated: list[int | None] = [None]

    def run() -> object:
        out, allocated[0] = _allocated_peak(fn)
        return out

    rss = _rss_growth(run)
    return dataclasses.replace(rss, allocated_bytes=allocated[0])


def peak_memory(model: LoadedModel, input_hw: int | Sequence[int]) -> MemoryResult:
    """Extra memory of one forward of ``model`` (CUDA statistics, or RSS growth on a CPU).

    Run it after a warm-up (e.g. :func:`measure_latency`) so one-off allocations such
    as cuDNN's algorithm search are not counted.
    """
    x = model.runner_input(_zeros(model, input_hw))
    with torch.inference_mode():
        return _peak(lambda: model.runner(x), model.device)


def activation_bytes(probe: Probe, *, itemsize: int = 4) -> int:
    """Bytes of every backbone stage output, ASPP branch output and the projection kept
    by ``probe`` (at ``itemsize`` bytes per value: 4 for float32, 2 for float16).

    Deterministic: what the feature maps of one forward weigh, the memory that output
    stride changes the most (not counting the image-sized logits or workspaces).
    """
    arrays = [*probe.stages.values(), *(b.output for b in probe.branches), probe.projection]
    return int(sum(a.size for a in arrays) * itemsize)


# --------------------------------------------------------------------------- atrous rate


def valid_tap_share(rate: int, feature_hw: int | Sequence[int], kernel: int = 3) -> float:
    """Share of a k×k branch's taps (over all output cells) that land on real feature cells.

    Rate 36 on a 17×17 map ("same" padding 36): only the centre tap is ever real, 1/9.
    """
    return valid_tap_fraction(_hw(feature_hw), kernel, int(rate))


@dataclass(frozen=True)
class TapRow:
    """One atrous ASPP branch at one output stride."""

    output_stride: int
    rate: int
    feature_hw: tuple[int, int]  # the ASPP input, cells
    spacing_px: int  # image pixels between neighbouring taps: rate × output stride
    span_px: int  # the 3×3 kernel's span in image pixels: (k_eff − 1) × OS + 1
    valid_share: float  # of all (cell, tap) pairs, those on real feature cells


def tap_table(
    rates_by_stride: Mapping[int, Sequence[int | None]],
    feature_hw_by_stride: Mapping[int, Sequence[int]],
    *,
    kernel: int = 3,
) -> list[TapRow]:
    """A :class:`TapRow` per atrous rate per stride (``None`` rates, 1×1/pooling, skipped)."""
    rows = []
    for os_, rates in rates_by_stride.items():
        hw = _hw(feature_hw_by_stride[os_])
        for r in rates:
            if r is None:
                continue
            rows.append(
                TapRow(
                    output_stride=int(os_),
                    rate=int(r),
                    feature_hw=hw,
                    spacing_px=int(r) * int(os_),
                    span_px=(effective_kernel_size(kernel, int(r)) - 1) * int(os_) + 1,
                    valid_share=valid_tap_share(int(r), hw, kernel),
                )
            )
    return rows


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


# --------------------------------------------------------------------------- models


def benchmark_models() -> tuple[str, ...]:
    """The DeepLab models a cost benchmark covers: the offline VOC model and the
    torchvision ones (models added to the registry for other lessons are left out)."""
    return tuple(n for n, e in REGISTRY.items() if e.kind in ("tflite", "torchvision"))


@dataclass(frozen=True)
class CostPoint:
    """What one model costs at one output stride, precision and input size."""

    model: str
    label: str  # ModelSpec.label: says "architecture only (random weights)" when so
    weights: str  # "trained" or "random"
    output_stride: int
    dtype: str
    size: int  # square input side, pixels
    device: str
    flops: int
    latency: LatencyResult
    memory: MemoryResult
    cudnn_benchmark: bool | None = None


def measure_config(
    spec: ModelSpec,
    size: int,
    *,
    base: tuple[nn.Module, tuple[str, ...]] | None = None,
    warmup: int = 1,
    repeats: int = 3,
    model: LoadedModel | None = None,
) -> CostPoint:
    """FLOPs, latency and peak memory of ``spec`` on a square ``size`` input.

    Pass ``model`` to measure an already built model, or ``base`` (from
    :func:`deeplab_viz.models.load_base`) to build one; neither is modified.
    """
    if model is None:
        model = build_model(spec, base=base)
    hw = (int(size), int(size))
    latency = measure_latency(model, hw, warmup=warmup, repeats=repeats)
    memory = peak_memory(model, hw)
    on_cuda = model.device.type == "cuda"
    return CostPoint(
        model=spec.name,
        label=model.spec.label,
        weights="trained" if model.spec.pretrained else "random",
        output_stride=model.spec.output_stride,
        dtype=model.spec.dtype,
        size=int(size),
        device=model.spec.device,
        flops=count_flops(model, hw),
        latency=latency,
        memory=memory,
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark) if on_cuda else None,
    )


def ratios(points: Sequence[CostPoint]) -> dict[str, dict[str, float]]:
    """Ratios measured in one run: latency and FLOPs of OS 8 and OS 32 over OS 16 (per
    model, precision, size), and of float16/bfloat16 over float32 (per model, stride,
    size). Keys read like ``"deeplabv3_resnet50 · float32 · 513 px"``."""
    by_key = {(p.model, p.output_stride, p.dtype, p.size): p for p in points}
    out: dict[str, dict[str, float]] = {}
    for (name, os_, dt, size), p in by_key.items():
        if os_ == 16:
            row = {}
            for other in (8, 32):
                q = by_key.get((name, other, dt, size))
                if q is not None:
                    row[f"latency OS{other}/OS16"] = round(
                        q.latency.median_ms / p.latency.median_ms, 3
                    )
                    row[f"FLOPs OS{other}/OS16"] = round(q.flops / p.flops, 3)
            if row:
                out.setdefault(f"{name} · {dt} · {size} px", {}).update(row)
        if dt == "float32":
            for low in ("float16", "bfloat16"):
                q = by_key.get((name, os_, low, size))
                if q is not None:
                    key = f"{name} · OS {os_} · {size} px"
                    out.setdefault(key, {})[f"latency {low}/float32"] = round(
                        q.latency.median_ms / p.latency.median_ms, 3
                    )
    return out


def machine_info(device: str = "auto") -> dict[str, object]:
    """Where the numbers were measured: CPU model, cores, torch, device name."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    dev = resolve_device(device)
    info: dict[str, object] = {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": dev,
        "device_name": cpu,
        "cuda_available": torch.cuda.is_available(),
    }
    with contextlib.suppress(OSError, AttributeError):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)  # others' work skews timings
    if dev == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


# --------------------------------------------------------------------------- accuracy side


def agreement(a_map: np.ndarray, b_map: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of pixels (inside ``mask``, if given) where two class maps agree."""
    a, b = np.asarray(a_map), np.asarray(b_map)
    if a.shape != b.shape:
        raise ValueError(f"class maps differ in shape: {a.shape} vs {b.shape}")
    same = a == b
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != a.shape:
            raise ValueError("mask must have the class maps' shape")
        return float(same[m].mean()) if m.any() else 1.0
    return float(same.mean()) if same.size else 1.0


def crop_box(hw: Sequence[int], centre: Sequence[float], side: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of a ``side``-pixel square centred at ``centre`` = (y, x) as
    fractions 0…1 of the image, shifted to lie inside it (and cut to its size)."""
    h, w = (int(v) for v in hw)
    side_y, side_x = min(int(side), h), min(int(side), w)
    cy = float(np.clip(centre[0], 0, 1)) * h
    cx = float(np.clip(centre[1], 0, 1)) * w
    y0 = int(np.clip(round(cy - side_y / 2), 0, h - side_y))
    x0 = int(np.clip(round(cx - side_x / 2), 0, w - side_x))
    return y0, x0, y0 + side_y, x0 + side_x


def boundary_zoom(image: np.ndarray, box: Sequence[int], out_side: int = 384) -> np.ndarray:
    """The ``box`` (y0, x0, y1, x1) of ``image`` enlarged by nearest neighbour to about
    ``out_side`` px on its longest side (each source pixel becomes a crisp block)."""
    y0, x0, y1, x1 = (int(v) for v in box)
    crop = np.asarray(image)[y0:y1, x0:x1]
    if crop.size == 0:
        raise ValueError(f"empty crop {tuple(box)}")
    scale = max(1, int(out_side) // max(crop.shape[:2]))
    return np.repeat(np.repeat(crop, scale, axis=0), scale, axis=1)


def most_disagreement(a_map: np.ndarray, b_map: np.ndarray, side: int) -> tuple[float, float]:
    """Centre (y, x), as fractions of the image, of the ``side``-pixel window where two
    class maps disagree on the most pixels (the image centre when they agree)."""
    diff = (np.asarray(a_map) != np.asarray(b_map)).astype(np.int64)
    h, w = diff.shape
    sy, sx = min(int(side), h), min(int(side), w)
    if not diff.any():
        return 0.5, 0.5
    ii = np.pad(diff.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    sums = ii[sy:, sx:] - ii[:-sy, sx:] - ii[sy:, :-sx] + ii[:-sy, :-sx]  # window sums
    y0, x0 = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return (y0 + sy / 2) / h, (x0 + sx / 2) / w


@dataclass(frozen=True)
class StrideRow:
    """One output stride of the same model on the same image."""

    output_stride: int
    label: str
    input_hw: tuple[int, int]  # the tensor the network got, pixels
    feature_hw: tuple[int, int]  # the ASPP input, cells
    flops: int | None
    probe_ms: float  # the probe's one forward (cold, includes first-run effects)
    activation_bytes: int
    agreement: float  # with the reference stride, all pixels
    boundary_agreement: float  # with the reference stride, near its class boundaries
    stage_sizes: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def compare_strides(
    probes: Mapping[int, Probe],
    flops: Mapping[int, int] | None = None,
    *,
    reference: int = 8,
    boundary_width: int = 3,
    itemsize: int = 4,
) -> list[StrideRow]:
    """A :class:`StrideRow` per stride, agreement measured against ``reference``."""
    ref = probes[reference].class_map
    near = boundary_mask(ref, boundary_width)
    rows = []
    for os_, p in sorted(probes.items()):
        feat = p.aspp_input.shape[-2:]
        rows.append(
            StrideRow(
                output_stride=int(os_),
                label=p.model_label,
                input_hw=tuple(int(v) for v in p.padded_hw),
                feature_hw=(int(feat[0]), int(feat[1])),
                flops=None if flops is None else flops.get(os_),
                probe_ms=float(p.timings_ms["total"]),
                activation_bytes=activation_bytes(p, itemsize=itemsize),
                agreement=agreement(p.class_map, ref),
                boundary_agreement=agreement(p.class_map, ref, near),
                stage_sizes=p.stage_sizes(),
            )
        )
    return rows
