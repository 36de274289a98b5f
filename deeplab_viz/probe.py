"""One forward pass that keeps every intermediate the pages need.

:func:`run_probe` walks the model stage by stage (backbone stages → each ASPP
branch → projection → head → upsampling) exactly as ``DeepLabV3.forward`` does, so
it needs no hooks: the shared, cached model is only read, never touched, and any
number of threads may probe it at once.

Everything in a :class:`Probe` is a read-only numpy array (float32, CPU), so one
probe can be cached and handed to every session without copies and without risk
of one page changing what another sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .inference import DEFAULT_SIZE, Prepared, logits_to_image, prepare
from .models import LoadedModel


def _frozen(t: torch.Tensor) -> np.ndarray:
    """A read-only CPU view: float32 for features, unchanged for integer maps.

    No copy on a CPU: a channels-last tensor (the fast path's) stays strided.
    """
    t = t.detach().cpu()
    a = (t if not t.is_floating_point() else t.float()).numpy()
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Branch:
    """One ASPP branch's output on one image."""

    name: str  # "1×1", "rate 12", "image pooling"
    kind: str  # "1x1", "atrous" or "pooling"
    rate: int | None  # dilation as wired now (atrous branches only)
    output: np.ndarray = field(repr=False)  # (C_b, h, w), after the branch's activation


@dataclass(frozen=True)
class Probe:
    """Every intermediate of one forward pass, read-only."""

    model_label: str
    output_stride: int
    image_hw: tuple[int, int]  # the image the user gave, pixels
    model_input_hw: tuple[int, int]  # the resized image the network saw (before padding)
    padded_hw: tuple[int, int]  # the tensor the network got, pixels
    align_corners: bool  # how feature cells sit on pixels (see atrous.image_taps)
    stages: dict[str, np.ndarray] = field(repr=False)  # name -> (C_s, h_s, w_s)
    branches: tuple[Branch, ...] = field(repr=False)
    projection: np.ndarray = field(repr=False)  # (C_p, h, w) ASPP output after `project`
    logits: np.ndarray = field(repr=False)  # (classes, H, W) on the image grid
    class_map: np.ndarray = field(repr=False)  # (H, W) uint8
    class_names: tuple[str, ...]
    timings_ms: dict[str, float]  # per part, and "total"

    @property
    def aspp_input(self) -> np.ndarray:
        """The backbone output that every ASPP branch reads, (C, h, w)."""
        return self.stages[next(reversed(self.stages))]

    def stage_sizes(self) -> dict[str, tuple[int, int, int]]:
        """(channels, h, w) of every stage and of the ASPP input."""
        return {k: tuple(int(s) for s in v.shape) for k, v in self.stages.items()}

    def fractions(self) -> dict[str, float]:
        counts = np.bincount(self.class_map.ravel(), minlength=len(self.class_names))
        return {
            self.class_names[i]: float(c / counts.sum())
            for i, c in sorted(enumerate(counts), key=lambda ic: -ic[1])
            if c > 0
        }


class _Clock:
    """Wall time per part in ms, synchronising CUDA so the numbers mean something."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + (now - self._t) * 1000
        self._t = now


@torch.inference_mode()
def probe_prepared(model: LoadedModel, prepared: Prepared) -> Probe:
    """Probe an already prepared input (see :func:`deeplab_viz.inference.prepare`)."""
    net = model.runner
    clock = _Clock(model.device)
    start = time.perf_counter()
    x = model.runner_input(prepared.tensor)  # (1, 3, Hp, Wp)
    stages: dict[str, torch.Tensor] = {}
    for name, stage in net.stages.items():
        x = stage(x)  # e.g. (1, 160, Hp/8, Wp/8) for the last stage at OS 8
        stages[name] = x
        clock.lap(f"stage {name}")
    outs = net.aspp.branch_outputs(x)  # each (1, C_b, h, w)
    clock.lap("ASPP branches")
    projection = net.aspp.project(torch.cat(outs, dim=1))  # (1, C_p, h, w)
    clock.lap("ASPP projection")
    logits = net.upsample(
        net.decode(projection, stages), prepared.tensor.shape[-2:]
    )  # (1, K, Hp, Wp)
    clock.lap("head + upsampling")
    image_logits = logits_to_image(logits, prepared)  # (1, K, H, W) float32 CPU
    class_map = image_logits[0].argmax(0).to(torch.uint8)
    clock.lap("to image")
    clock.times["total"] = (time.perf_counter() - start) * 1000
    aspp = net.aspp
    branches = tuple(
        Branch(name=n, kind=k, rate=r, output=_frozen(o[0]))
        for n, k, r, o in zip(aspp.names, aspp.kinds, aspp.rates, outs, strict=True)
    )
    return Probe(
        model_label=model.spec.label,
        output_stride=model.spec.output_stride,
        image_hw=prepared.image_hw,
        model_input_hw=prepared.valid_hw,
        padded_hw=tuple(prepared.tensor.shape[-2:]),
        align_corners=net.align_corners,
        stages={k: _frozen(v[0]) for k, v in stages.items()},
        branches=branches,
        projection=_frozen(projection[0]),
        logits=_frozen(image_logits[0]),
        class_map=_frozen(class_map),
        class_names=model.class_names,
        timings_ms={k: round(v, 3) for k, v in clock.times.items()},
    )


def run_probe(model: LoadedModel, rgb: np.ndarray, *, size: int = DEFAULT_SIZE) -> Probe:
    """Segment ``rgb`` with ``model`` and keep every intermediate (one forward pass)."""
    return probe_prepared(model, prepare(rgb, model, size=size))
