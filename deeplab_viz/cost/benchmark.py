"""What each model costs at each output stride, precision and input size.

:func:`bench_plan` lists the configurations of one run and :func:`bench_spec` the model
each one measures; :func:`measure_config` measures one configuration (FLOPs, latency,
peak memory); :func:`ratios` compares the configurations of one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..models import REGISTRY, LoadedModel, ModelSpec, build_model
from .flops import count_flops
from .latency import LatencyResult, measure_latency
from .memory import MemoryResult, peak_memory


def benchmark_models() -> tuple[str, ...]:
    """The DeepLab models a cost benchmark covers: the offline VOC model and the
    torchvision ones (models added to the registry for other lessons are left out)."""
    return tuple(n for n, e in REGISTRY.items() if e.kind in ("tflite", "torchvision"))


def bench_spec(name: str, output_stride: int, dtype: str, device: str) -> ModelSpec:
    """The model a benchmark measures: trained weights for the offline model, random ones
    for torchvision models (weights do not change what a forward costs)."""
    pretrained = REGISTRY[name].kind == "tflite"
    return ModelSpec(name, output_stride, pretrained=pretrained, device=device, dtype=dtype)


def model_title(name: str) -> str:
    """A benchmark model's name as shown, saying when its weights are random."""
    suffix = "" if REGISTRY[name].kind == "tflite" else " · random weights"
    return f"{name}{suffix}"


def bench_plan(
    names: Sequence[str], dtypes: Sequence[str], strides: Sequence[int], sizes: Sequence[int]
) -> list[tuple[str, int, str, int]]:
    """Every ``(model, output stride, dtype, size)`` of one run, in the order it runs: by
    model, then precision, then stride and size from small to large."""
    return [
        (n, s, d, z) for n in names for d in dtypes for s in sorted(strides) for z in sorted(sizes)
    ]


def cudnn_label(name: str, output_stride: int, dtype: str, size: int) -> str:
    """The short name of one cudnn.benchmark comparison (``"resnet50 · OS 16 · float32 · 513
    px"``)."""
    return f"{name.replace('deeplabv3_', '')} · OS {output_stride} · {dtype} · {size} px"


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
