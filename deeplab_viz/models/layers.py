"""The one DeepLabV3 shape every model in Atrous Lab is put into.

Every model, whether imported from TFLite or built by torchvision, becomes a
:class:`DeepLabV3`: an ordered set of named backbone *stages*, an explicit
:class:`ASPP` whose branches are listed by name, and a *head* that turns the ASPP
output into logits. With that one shape the probe, the ASPP explorer and the
output-stride rewiring need no model-specific code and no forward hooks.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``padding="SAME"``, computed per input size.

    TF pads ``max((ceil(i/s) - 1)*s + (k - 1)*d + 1 - i, 0)`` pixels in total, the
    odd pixel at the bottom/right. For stride 1 that is ``d*(k-1)/2`` on each side;
    for stride 2 it depends on the parity of the input, which is why it cannot be a
    fixed ``padding=`` argument. Output size is ``ceil(i / s)`` pixels.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    @staticmethod
    def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
        """(before, after) padding in pixels for one spatial axis."""
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph = self.same_pads(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        pw = self.same_pads(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if any(ph) or any(pw):
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global average, a 1×1 conv, then broadcast back.

    ``align_corners`` only matters for bilinear upsampling of a 1×1 map, which is a
    broadcast either way; it is kept to mirror the source graph.
    """

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = self.conv(x.mean(dim=(-2, -1), keepdim=True))  # (N, C, 1, 1)
        return y.expand(-1, -1, *size)  # (N, C, h, w)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with named branches.

    ``branches[i]`` maps the backbone output ``(N, C_in, h, w)`` to ``(N, C_b, h, w)``;
    their outputs are concatenated in order and ``project`` maps the concatenation
    to ``(N, C_out, h, w)``. ``project`` begins with a 1×1 convolution, so the
    pre-activation projection is linear in the concatenation and splits exactly
    into one term per branch (used by the ASPP explorer).
    """

    KINDS = ("1x1", "atrous", "pooling")

    def __init__(
        self,
        branches: Sequence[nn.Module],
        kinds: Sequence[str],
        project: nn.Module,
    ) -> None:
        super().__init__()
        if len(branches) != len(kinds) or not set(kinds) <= set(self.KINDS):
            raise ValueError(f"one kind per branch, each one of {self.KINDS}")
        self.branches = nn.ModuleList(branches)
        self.kinds: tuple[str, ...] = tuple(kinds)
        self.project = project

    @property
    def rates(self) -> tuple[int | None, ...]:
        """Dilation of each atrous branch as wired now (None for 1×1 and pooling)."""
        return tuple(
            int(atrous_conv_of(b).dilation[0]) if kind == "atrous" else None
            for b, kind in zip(self.branches, self.kinds, strict=True)
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Display names: "1×1", "rate 12", ..., "image pooling"."""
        labels = {"1x1": "1×1", "pooling": "image pooling"}
        return tuple(
            f"rate {r}" if kind == "atrous" else labels[kind]
            for kind, r in zip(self.kinds, self.rates, strict=True)
        )

    def branch_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [b(x) for b in self.branches]  # each (N, C_b, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat(self.branch_outputs(x), dim=1))


def atrous_conv_of(branch: nn.Module) -> nn.Conv2d:
    """The first spatial (k > 1) convolution inside an ASPP branch."""
    for m in branch.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1:
            return m
    raise ValueError("branch has no spatial convolution")


class DeepLabV3(nn.Module):
    """Backbone stages → ASPP → head → logits upsampled to the input size.

    Stage outputs are kept by name so a probe can read them without hooks.
    ``align_corners`` is the upsampling convention the weights were trained with
    (TF DeepLab: True; torchvision: False).
    """

    def __init__(
        self,
        stages: OrderedDict[str, nn.Module],
        aspp: ASPP,
        head: nn.Module,
        *,
        align_corners: bool,
    ) -> None:
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.aspp = aspp
        self.head = head
        self.align_corners = align_corners

    def features(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        """Every stage's output, in order; the last one feeds the ASPP."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, stage in self.stages.items():
            x = stage(x)
            out[name] = x
        return out

    def decode(self, projection: torch.Tensor, stages: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits from the ASPP output; ``stages`` are the backbone's outputs by name.

        DeepLabV3 only needs the projection; a model with a decoder (v3+) overrides
        this to read a low-level stage too. Everything that runs a model part by
        part (probe, ablation, ERF, FLOPs) goes through here.
        """
        return self.head(projection)

    def upsample(self, logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return F.interpolate(
            logits, size=tuple(size), mode="bilinear", align_corners=self.align_corners
        )

    def logits_from_branches(
        self,
        outs: Sequence[torch.Tensor],
        stages: Mapping[str, torch.Tensor],
        size: Sequence[int],
        *,
        off: Iterable[int] = (),
    ) -> torch.Tensor:
        """ASPP branch outputs → logits upsampled to ``size``; branches in ``off`` switched off.

        A switched-off branch contributes zeros to the concatenation, so the
        projection, the head and the upsampling run exactly as in :meth:`forward`.
        The one place every "switch a branch off" view (ASPP explorer, scale lab,
        ShapesWorld evaluation) runs the model's tail.
        """
        off = set(off)
        cat = torch.cat(
            [torch.zeros_like(o) if i in off else o for i, o in enumerate(outs)], dim=1
        )  # (N, ΣC_b, h, w)
        projection = self.aspp.project(cat)  # (N, C_p, h, w)
        logits = self.decode(projection, stages)  # (N, classes, H/OS, W/OS)
        return self.upsample(logits, size)  # (N, classes, *size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)
        outs = self.aspp.branch_outputs(next(reversed(feats.values())))  # each (N, C_b, h, w)
        return self.logits_from_branches(outs, feats, x.shape[-2:])  # (N, classes, H, W)
