"""Peak memory of one forward, and the bytes of the feature maps it keeps.

On CUDA: ``torch.cuda.max_memory_allocated`` during one forward minus what was
allocated before it (activations, workspaces and the output; not the weights nor the
input). On a CPU: the growth of the process's resident memory (RSS) during the
forward, sampled every ~1 ms with ``psutil`` after ``malloc_trim``: a coarse,
whole-process figure (other threads count too; the allocator may reuse pages, and in a
server thread freed pages are seldom given back, so a forward that reuses them shows
little growth). Alongside it, in the same forward, the peak of the bytes torch's CPU
allocator handed out (``torch.profiler`` with ``profile_memory``): activations,
outputs and workspaces, deterministic, the CPU counterpart of ``max_memory_allocated``.
:func:`activation_bytes` is a third, computed companion: the bytes of every feature
map a probe kept.

Importing this module sets ``KINETO_LOG_LEVEL`` (unless it is set), so the profiler
writes nothing to a server's log.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil
import torch

from ..models import LoadedModel
from ..probe import Probe
from .inputs import _zeros

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
