"""Named layer stacks of real backbones, and the output-stride rule that dilates them.

Main paths only (1×1 convolutions included as ``k=1``): VGG, ResNet-50 at output stride
8/16/32, MobileNetV2 at 8, and ResNet-50 with one ASPP branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .layer import Layer, _is_int


def dilate_for_output_stride(layers: Sequence[Layer], output_stride: int) -> list[Layer]:
    """Trade strides for dilation once the running stride reaches ``output_stride``.

    The rule of DeepLab (TF slim ``output_stride``) and torchvision's
    ``replace_stride_with_dilation``: a layer whose stride would push the running stride
    past ``output_stride`` gets stride 1 and the current rate, and every later layer's
    rate is multiplied by that stride. 1x1 kernels keep dilation 1 (it does not matter
    for them); an explicit padding is scaled with the dilation.
    """
    if not _is_int(output_stride) or output_stride < 1:
        raise ValueError(f"output_stride must be a positive integer, got {output_stride!r}")
    current, rate = 1, 1
    out = []
    for layer in layers:
        stride = layer.stride
        layer_rate = rate
        if current == output_stride:
            rate *= stride
            stride = 1
        elif current * stride > output_stride or output_stride % (current * stride):
            raise ValueError(
                f"output stride {output_stride} is not reachable: running stride {current} "
                f"x {stride} at layer {layer.name or layer}"
            )
        else:
            current *= stride
        dilation = layer.dilation * layer_rate if layer.kernel > 1 else 1
        padding = layer.padding
        if padding is not None and layer.kernel > 1:
            padding = padding * dilation // layer.dilation
        out.append(replace(layer, stride=stride, dilation=dilation, padding=padding))
    if current != output_stride:
        raise ValueError(f"the layers only reach output stride {current} < {output_stride}")
    return out


def with_aspp_branch(layers: Sequence[Layer], rate: int, *, kernel: int = 3) -> list[Layer]:
    """Append one ASPP branch (a ``kernel x kernel`` conv at ``rate``) to a backbone."""
    return [*layers, Layer(kernel, 1, rate, name=f"ASPP rate {rate}")]


def _resnet50_nominal() -> list[Layer]:
    layers = [Layer(7, 2, name="conv1"), Layer(3, 2, name="maxpool")]
    for stage, (blocks, stride) in enumerate(((3, 1), (4, 2), (6, 2), (3, 2)), start=1):
        for b in range(blocks):
            prefix = f"layer{stage}.{b}"
            layers += [
                Layer(1, name=f"{prefix}.conv1"),
                Layer(3, stride if b == 0 else 1, name=f"{prefix}.conv2"),
                Layer(1, name=f"{prefix}.conv3"),
            ]
    return layers


# (expansion t, channels c, repeats n, first stride s) of MobileNetV2.
_MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _mobilenet_v2_nominal() -> list[Layer]:
    layers = [Layer(3, 2, name="stem conv")]
    strides = [s if i == 0 else 1 for *_, n, s in _MOBILENET_V2_SETTINGS for i in range(n)]
    layers += [Layer(3, s, name=f"block{b} depthwise") for b, s in enumerate(strides)]
    return layers


def _build_presets() -> dict[str, list[Layer]]:
    vgg = [
        Layer(3, name="conv1"),
        Layer(3, name="conv2"),
        Layer(3, name="conv3"),
        Layer(2, 2, name="pool"),
    ]
    presets = {"VGG block (3×conv3 + pool)": vgg}
    resnet = {os_: dilate_for_output_stride(_resnet50_nominal(), os_) for os_ in (8, 16, 32)}
    for os_ in (8, 16, 32):
        presets[f"ResNet-50 @ OS {os_}"] = resnet[os_]
    presets["MobileNetV2 (DeepLab, OS 8)"] = dilate_for_output_stride(_mobilenet_v2_nominal(), 8)
    for rate in (6, 12, 18):  # DeepLabv3 at OS 16
        presets[f"ResNet-50 @ OS 16 + ASPP rate {rate} branch"] = with_aspp_branch(resnet[16], rate)
    for rate in (12, 24, 36):  # the same rates doubled at OS 8 (torchvision's DeepLabv3)
        presets[f"ResNet-50 @ OS 8 + ASPP rate {rate} branch"] = with_aspp_branch(resnet[8], rate)
    return presets


PRESETS: dict[str, list[Layer]] = _build_presets()
"""Named layer stacks (main path only; 1x1 convs included as ``k=1``)."""
