"""Gridding inside a real network: the gradient ERF of one dilated backbone stage.

A stage of a DeepLab backbone at output stride 8 or 16 is a stack of blocks whose
spatial convolutions are dilated (e.g. rates 2 then 4). The gradient of the centre
unit of the stage's output with respect to the stage's *input* feature map shows
which input cells the stage reads: where every path has a rate sharing a factor,
whole rows and columns get exactly zero gradient, the checkerboard of gridding.

The model is shared and read-only: the stage module is only called (through
:func:`deeplab_viz.erf.erf_map`, which differentiates with respect to a fresh copy
of the input); nothing on it is changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .erf import erf_map
from .inference import DEFAULT_SIZE, prepare
from .models import LoadedModel

__all__ = [
    "StageErf",
    "StageInfo",
    "dilated_stages",
    "previous_stage",
    "stage_erf",
    "stage_infos",
    "stage_input",
]


@dataclass(frozen=True)
class StageInfo:
    """One backbone stage: its name and its spatial convs' (kernel, dilation), in order."""

    name: str
    convs: tuple[tuple[int, int], ...]

    @property
    def dilations(self) -> tuple[int, ...]:
        return tuple(d for _, d in self.convs)

    @property
    def dilated(self) -> bool:
        return any(d > 1 for d in self.dilations)


def stage_infos(module: nn.Module) -> list[StageInfo]:
    """Every stage of a :class:`~deeplab_viz.models.DeepLabV3`, with its spatial convs."""
    out = []
    for name, stage in module.stages.items():
        convs = tuple(
            (int(m.kernel_size[0]), int(m.dilation[0]))
            for m in stage.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1
        )
        out.append(StageInfo(name, convs))
    return out


def dilated_stages(module: nn.Module) -> list[StageInfo]:
    """The stages with at least one spatial conv at dilation > 1 (none at OS 32)."""
    return [s for s in stage_infos(module) if s.dilated]


def stage_input(
    model: LoadedModel, rgb: np.ndarray, stage: str, *, size: int = DEFAULT_SIZE
) -> torch.Tensor:
    """The feature map that enters ``stage`` for this image (no gradient kept).

    The app reads the same tensor from its cached probe instead
    (``probe.stages[previous_stage(...)]``); this runs the earlier stages itself.
    """
    names = list(model.module.stages.keys())
    if stage not in names:
        raise ValueError(f"no stage {stage!r}; this model has {', '.join(names)}")
    x = prepare(rgb, model, size=size).tensor
    with torch.no_grad():
        for name, mod in model.module.stages.items():
            if name == stage:
                break
            x = mod(x)
    return x


@dataclass(frozen=True)
class StageErf:
    """``|d centre unit / d stage input|`` (summed over channels), normalised to sum 1.

    ``erf`` is (h, w) on the stage's input grid (feature cells); ``centre_yx`` the
    output unit, which for a stride-1 stage sits on the same cell of the input grid;
    ``hole_share`` the share of cells with exactly zero gradient inside the smallest
    square (centred on the unit) that holds every non-zero cell: the gridding holes.
    """

    stage: str
    dilations: tuple[int, ...]
    erf: np.ndarray
    centre_yx: tuple[int, int]
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]
    random_input: bool
    n_samples: int
    reach: int  # half-side of that square, cells
    hole_share: float


def _holes(erf: np.ndarray, centre: tuple[int, int]) -> tuple[int, float]:
    nz = np.argwhere(erf > 0)
    if nz.size == 0:
        return 0, 0.0
    cy, cx = centre
    reach = int(np.max(np.abs(nz - np.array([cy, cx]))))
    h, w = erf.shape
    box = erf[
        max(cy - reach, 0) : min(cy + reach + 1, h), max(cx - reach, 0) : min(cx + reach + 1, w)
    ]
    return reach, float(np.count_nonzero(box == 0)) / box.size


def previous_stage(module: nn.Module, stage: str) -> str | None:
    """The stage that feeds ``stage`` (None for the first one)."""
    names = list(module.stages.keys())
    if stage not in names:
        raise ValueError(f"no stage {stage!r}; this model has {', '.join(names)}")
    i = names.index(stage)
    return names[i - 1] if i else None


def stage_erf(
    model: LoadedModel,
    stage: str,
    x: torch.Tensor,
    *,
    random_input: bool = False,
    n_samples: int = 1,
    seed: int = 0,
) -> StageErf:
    """Gradient ERF of the centre output unit of ``stage`` w.r.t. the stage's input.

    ``x`` (1, C, h, w) is what enters the stage: the previous stage's output for an
    image (e.g. from a cached probe, or :func:`stage_input`); it is moved to the
    model's device and dtype. ``random_input=True`` uses standard-normal inputs of
    the same shape instead, averaged over ``n_samples`` draws, to separate the
    architecture from the image.
    """
    info = {s.name: s for s in stage_infos(model.module)}
    if stage not in info:
        raise ValueError(f"no stage {stage!r}; this model has {', '.join(info)}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("x must be a (1, C, h, w) tensor: the input of the stage")
    mod = model.module.stages[stage]
    x = x.detach().to(device=model.device, dtype=model.dtype)
    with torch.no_grad():
        oh, ow = mod(x).shape[-2:]
    centre = (int(oh) // 2, int(ow) // 2)
    if random_input and n_samples == 1:
        gen = torch.Generator().manual_seed(int(seed))
        x = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)
        res = erf_map(mod, x, out_yx=centre)
    elif random_input:
        res = erf_map(mod, x, out_yx=centre, n_samples=n_samples, seed=seed)
    else:
        res = erf_map(mod, x, out_yx=centre)
    erf = np.asarray(res.erf, dtype=np.float64)
    ih, iw = erf.shape
    # the unit's cell on the input grid (a strided stage maps cell c to c * stride)
    sy, sx = max(1, round(ih / oh)), max(1, round(iw / ow))
    in_centre = (min(centre[0] * sy, ih - 1), min(centre[1] * sx, iw - 1))
    reach, holes = _holes(erf, in_centre)
    return StageErf(
        stage=stage,
        dilations=info[stage].dilations,
        erf=erf,
        centre_yx=in_centre,
        input_hw=(int(ih), int(iw)),
        output_hw=(int(oh), int(ow)),
        random_input=bool(random_input),
        n_samples=int(n_samples) if random_input else 1,
        reach=reach,
        hole_share=holes,
    )
