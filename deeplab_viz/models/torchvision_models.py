"""torchvision's DeepLabV3 models, regrouped into Atrous Lab's :class:`DeepLabV3`.

The modules (and so the weights) are torchvision's own; only the grouping changes:
backbone children become named stages, ``classifier[0]`` is the ASPP with its five
branches named, the rest of ``classifier`` is the head. The auxiliary classifier is
not used for inference and is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import segmentation as tvseg

from .layers import ASPP, DeepLabV3


@dataclass(frozen=True)
class TorchvisionArch:
    """What Atrous Lab needs to know about one torchvision DeepLabV3 builder."""

    builder: Callable[..., nn.Module]
    weights_enum: type
    backbone: str  # "resnet" or "mobilenet_v3"


ARCHS: dict[str, TorchvisionArch] = {
    "deeplabv3_mobilenet_v3_large": TorchvisionArch(
        tvseg.deeplabv3_mobilenet_v3_large,
        tvseg.DeepLabV3_MobileNet_V3_Large_Weights,
        "mobilenet_v3",
    ),
    "deeplabv3_resnet50": TorchvisionArch(
        tvseg.deeplabv3_resnet50, tvseg.DeepLabV3_ResNet50_Weights, "resnet"
    ),
    "deeplabv3_resnet101": TorchvisionArch(
        tvseg.deeplabv3_resnet101, tvseg.DeepLabV3_ResNet101_Weights, "resnet"
    ),
}


def default_weights(name: str):
    """The torchvision weights entry (URL, file name, categories) for a model."""
    return ARCHS[name].weights_enum.DEFAULT


def class_names(name: str) -> tuple[str, ...]:
    """Category names from the weights' metadata (also used for random weights)."""
    return tuple(default_weights(name).meta["categories"])


def build_torchvision(
    name: str, *, state_dict: dict[str, torch.Tensor] | None, seed: int = 0
) -> DeepLabV3:
    """Build ``name`` with the given trained state dict, or seeded random weights.

    Never downloads: fetching weights is :mod:`deeplab_viz.weights`' job.
    """
    arch = ARCHS[name]
    num_classes = len(class_names(name))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tv = arch.builder(
            weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=True
        )
    if state_dict is not None:
        tv.load_state_dict(state_dict)
    model = regroup(tv, arch.backbone)
    model.eval()
    return model


def regroup(tv: nn.Module, backbone: str) -> DeepLabV3:
    """torchvision ``DeepLabV3`` → Atrous Lab ``DeepLabV3`` sharing the same modules."""
    body = tv.backbone  # IntermediateLayerGetter: an ordered ModuleDict
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    if backbone == "resnet":
        stages["stem"] = nn.Sequential(body.conv1, body.bn1, body.relu, body.maxpool)
        for name in ("layer1", "layer2", "layer3", "layer4"):
            stages[name] = getattr(body, name)
    elif backbone == "mobilenet_v3":
        # Stages end where torchvision marks a strided block (_is_cn) or at the end.
        children = list(body.children())
        cuts = [i for i, b in enumerate(children) if getattr(b, "_is_cn", False)]
        bounds = [0, *cuts, len(children)]
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            stages["stem" if k == 0 else f"stage{k + 1}"] = nn.Sequential(*children[a:b])
    else:
        raise ValueError(f"unknown backbone family {backbone!r}")

    tv_aspp = tv.classifier[0]
    convs = list(tv_aspp.convs)  # [1×1, rate a, rate b, rate c, pooling]
    aspp = ASPP(
        convs, kinds=["1x1", "atrous", "atrous", "atrous", "pooling"], project=tv_aspp.project
    )
    head = nn.Sequential(*list(tv.classifier.children())[1:])
    return DeepLabV3(stages, aspp, head, align_corners=False)
