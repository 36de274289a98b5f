"""Output stride 8, 16 or 32 from the same weights: rewire strides into dilations.

DeepLab's "dense feature extraction without retraining": where a strided layer
would take the feature map past the wanted output stride, set its stride to 1 and
multiply the dilation of the layers after it by the stride it gave up, so every
kernel still spans the same image pixels. Rewiring always happens on a deep copy;
the model it was given is never touched.

Two conventions exist for the layer that gives up its stride:

- "after" (TF DeepLab, torchvision ResNet): it keeps the dilation it had; the
  layers after it get the multiplied one.
- "at" (torchvision MobileNetV3): it already takes the multiplied dilation.

Each family uses the one its weights were trained with, so rewiring a model to its
native output stride reproduces it exactly (tested).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from torch import nn

from .layers import DeepLabV3, SameConv2d, atrous_conv_of

OUTPUT_STRIDES = (8, 16, 32)
RatePolicy = Literal["scale", "keep"]


@dataclass(frozen=True)
class StrideSite:
    """One place where the backbone may stride by 2."""

    conv: nn.Conv2d  # the spatial conv whose stride and dilation are set
    native_stride: int  # its stride in the plain output-stride-32 network
    shortcut: nn.Conv2d | None = None  # a strided 1×1 projection shortcut, if any


@dataclass(frozen=True)
class Family:
    """How to find the stride sites of one backbone family."""

    stem_stride: int  # stride of everything before the first site, pixels
    convention: Literal["after", "at"]


FAMILIES: dict[str, Family] = {
    "tflite_mnv2": Family(stem_stride=2, convention="after"),
    "resnet": Family(stem_stride=4, convention="after"),
    "mobilenet_v3": Family(stem_stride=2, convention="at"),
    "shapes_resnet": Family(stem_stride=2, convention="after"),  # models/shapes.py
}


def plan(
    native_strides: Sequence[int],
    *,
    stem_stride: int,
    output_stride: int,
    convention: Literal["after", "at"],
) -> list[tuple[int, int]]:
    """(stride, dilation) for each site so the network ends at ``output_stride``.

    Pure arithmetic on the sites' strides at output stride 32; see the module doc
    for the two conventions.
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
    current, rate, out = stem_stride, 1, []
    for s in native_strides:
        if s > 1 and current * s > output_stride:
            if convention == "at":
                rate *= s
                out.append((1, rate))
            else:
                out.append((1, rate))
                rate *= s
        else:
            current *= s
            out.append((s, rate))
    if current != output_stride:
        raise ValueError(f"this backbone cannot reach output stride {output_stride}")
    return out


def stride_sites(model: DeepLabV3, family: str) -> list[StrideSite]:
    """The stride sites of a model, in forward order."""
    if family in ("tflite_mnv2", "shapes_resnet"):
        # this project's own blocks name their sites (models/tflite_mnv2.py, models/shapes.py)
        return [
            StrideSite(conv, native, short)
            for m in model.stages.modules()
            if callable(getattr(m, "stride_sites", None))
            for conv, native, short in m.stride_sites()
        ]
    if family == "resnet":
        from torchvision.models.resnet import Bottleneck

        sites = []
        for name in ("layer1", "layer2", "layer3", "layer4"):
            for i, block in enumerate(model.stages[name]):
                assert isinstance(block, Bottleneck)
                native = 2 if i == 0 and name != "layer1" else 1
                shortcut = block.downsample[0] if block.downsample is not None else None
                sites.append(StrideSite(block.conv2, native, shortcut))
        return sites
    if family == "mobilenet_v3":
        from torchvision.models.mobilenetv3 import InvertedResidual as TVInvertedResidual

        sites = []
        for m in model.stages.modules():
            if isinstance(m, TVInvertedResidual):
                dw = next(
                    c
                    for c in m.modules()
                    if isinstance(c, nn.Conv2d) and c.groups == c.in_channels > 1
                )
                sites.append(StrideSite(dw, 2 if m._is_cn else 1))
        return sites
    raise ValueError(f"unknown family {family!r}")


def set_conv(conv: nn.Conv2d, stride: int, dilation: int) -> None:
    """Rewire one conv to ``stride`` and ``dilation`` (padding follows, except TF SAME)."""
    conv.stride = (stride, stride)
    conv.dilation = (dilation, dilation)
    if not isinstance(conv, SameConv2d):  # SAME convs pad themselves per input
        pad = (conv.kernel_size[0] - 1) // 2 * dilation
        conv.padding = (pad, pad)


def current_wiring(model: DeepLabV3, family: str) -> list[tuple[int, int]]:
    """(stride, dilation) of every site as the model is wired now."""
    return [(s.conv.stride[0], s.conv.dilation[0]) for s in stride_sites(model, family)]


def max_dilation(model: DeepLabV3, family: str) -> int:
    """The largest dilation the backbone uses instead of a stride, as wired now (1: none)."""
    return max((d for _, d in current_wiring(model, family)), default=1)


def scaled_rates(
    trained_rates: Sequence[int], *, trained_stride: int, output_stride: int, policy: RatePolicy
) -> tuple[int, ...]:
    """ASPP rates for ``output_stride``.

    "scale" keeps each branch's reach in image pixels (rate × output stride)
    constant: 12/24/36 at stride 8 become 6/12/18 at 16 and 3/6/9 at 32. "keep"
    leaves the trained rates, so the reach in pixels grows with the stride.
    """
    if policy == "keep":
        return tuple(trained_rates)
    if policy != "scale":
        raise ValueError(f"rate policy must be 'scale' or 'keep', got {policy!r}")
    out = []
    for r in trained_rates:
        scaled = r * trained_stride / output_stride
        out.append(max(1, round(scaled)))
    return tuple(out)


def rewire(
    model: DeepLabV3,
    *,
    family: str,
    output_stride: int,
    trained_stride: int,
    rate_policy: RatePolicy = "scale",
) -> DeepLabV3:
    """A rewired deep copy of ``model``; ``model`` itself is left as it was."""
    fam = FAMILIES[family]
    native = [s.native_stride for s in stride_sites(model, family)]
    kw = {"stem_stride": fam.stem_stride, "convention": fam.convention}
    if current_wiring(model, family) != plan(native, output_stride=trained_stride, **kw):
        # Rates are read from the model, so it must be wired as it was trained.
        raise ValueError("rewire() takes the model as trained, not an already rewired copy")
    new = copy.deepcopy(model)
    sites = stride_sites(new, family)
    wiring = plan(native, output_stride=output_stride, **kw)
    for site, (stride, dilation) in zip(sites, wiring, strict=True):
        set_conv(site.conv, stride, dilation)
        if site.shortcut is not None:
            site.shortcut.stride = (stride, stride)
    aspp = new.aspp
    atrous = [b for b, kind in zip(aspp.branches, aspp.kinds, strict=True) if kind == "atrous"]
    trained = [int(atrous_conv_of(b).dilation[0]) for b in atrous]
    rates = scaled_rates(
        trained, trained_stride=trained_stride, output_stride=output_stride, policy=rate_policy
    )
    for branch, rate in zip(atrous, rates, strict=True):
        set_conv(atrous_conv_of(branch), 1, rate)
    return new
