"""``voc-mobilenetv2-aspp``: the VOC MobileNetV2 of ``deeplabv3.tflite`` with DeepLabv3's full ASPP.

The TFLite model's head has only two ASPP branches (1×1 and image pooling), so
the lesson "what does each atrous rate contribute" cannot be shown on it. This
model keeps its trained backbone and puts torchvision's ``DeepLabHead`` on top,
trained on real PASCAL VOC photos by :mod:`deeplab_viz.train_voc_aspp`::

    MobileNetV2 (depth 0.5, from deeplabv3.tflite)      # (N, 160, H/16, W/16) at OS 16
    ASPP: 1×1 ‖ 3×3 rate 6 ‖ rate 12 ‖ rate 18 ‖ image pooling,
          each conv → BN → ReLU, 256 channels           # 5 × (N, 256, H/16, W/16)
    projection 1×1 (1280 → 256) → BN → ReLU → dropout   # (N, 256, H/16, W/16)
    head: 3×3 conv 256 → BN → ReLU → 1×1 classifier     # (N, 21, H/16, W/16)
    bilinear upsampling, align_corners=True             # (N, 21, H, W)

The model is trained (and shipped) at output stride 16 with rates 6/12/18, as
DeepLabv3 was; it rewires to 8 (rates 12/24/36) and 32 (3/6/9) like the others.
The shipped file holds the whole network, backbone included, so it runs with no
download; the backbone derives from the Apache-2.0 TFLite Task Library model.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models.segmentation.deeplabv3 import DeepLabHead

from ..paths import MODELS_DIR
from .layers import ASPP, DeepLabV3
from .tflite_mnv2 import BlockWidths, block_widths, mnv2_stages

NAME = "voc-mobilenetv2-aspp"
STEM = "voc_mobilenetv2_aspp"  # deeplab_viz/assets/models/<STEM>.pt and .json
FAMILY = "tflite_mnv2"
TRAINED_STRIDE = 16
TRAINED_RATES = (6, 12, 18)
ASPP_CHANNELS = 256  # fixed by torchvision's DeepLabHead
ASSETS = MODELS_DIR


def deeplab_head(
    in_channels: int, num_classes: int, rates: tuple[int, int, int], *, seed: int = 0
) -> tuple[ASPP, nn.Sequential]:
    """torchvision's ``DeepLabHead`` (seeded init) split into a named-branch ASPP and a head."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tv = DeepLabHead(in_channels, num_classes, list(rates))
    tv_aspp = tv[0]
    aspp = ASPP(
        list(tv_aspp.convs),  # [1×1, rate a, rate b, rate c, pooling]
        kinds=["1x1", "atrous", "atrous", "atrous", "pooling"],
        project=tv_aspp.project,
    )
    return aspp, nn.Sequential(*list(tv.children())[1:])


def on_backbone(
    stages: OrderedDict[str, nn.Module] | nn.ModuleDict,
    num_classes: int,
    *,
    rates: tuple[int, int, int] = TRAINED_RATES,
    seed: int = 0,
) -> DeepLabV3:
    """A DeepLabV3 with a fresh five-branch head on ``stages`` (the modules are shared)."""
    last = list(stages.values())[-1]
    in_channels = [m for m in last.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
    aspp, head = deeplab_head(in_channels, num_classes, rates, seed=seed)
    return DeepLabV3(OrderedDict(stages.items()), aspp, head, align_corners=True)


def architecture(model: DeepLabV3) -> dict:
    """What :func:`skeleton` needs to rebuild ``model`` (for the metadata JSON)."""
    stem, widths = block_widths(model.stages)
    return {
        "family": FAMILY,
        "output_stride": TRAINED_STRIDE,
        "aspp_rates": [r for r in model.aspp.rates if r is not None],
        "aspp_channels": ASPP_CHANNELS,
        "stem_channels": stem,
        "block_widths": [[w.cin, w.hidden, w.cout] for w in widths],
        "align_corners": True,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def skeleton(arch: dict, num_classes: int) -> DeepLabV3:
    """The network an ``architecture`` dict describes, wired as trained, untrained weights."""
    widths = [
        BlockWidths(int(a), None if b is None else int(b), int(c))
        for a, b, c in arch["block_widths"]
    ]
    stages = mnv2_stages(
        int(arch["stem_channels"]), widths, output_stride=int(arch["output_stride"])
    )
    rates = tuple(int(r) for r in arch["aspp_rates"])
    if len(rates) != 3:
        raise ValueError("three ASPP rates, please")
    return on_backbone(stages, num_classes, rates=rates)  # type: ignore[arg-type]


def read_metadata(folder: Path = ASSETS) -> dict:
    return json.loads((Path(folder) / f"{STEM}.json").read_text())


def load_voc_aspp(*, folder: Path = ASSETS) -> tuple[DeepLabV3, tuple[str, ...]]:
    """(model in eval mode at output stride 16, class names) from the shipped files.

    Weights are read with ``torch.load(..., weights_only=True)``; the module tree
    comes from the metadata, so no TFLite file is needed.
    """
    meta = read_metadata(folder)
    names = tuple(meta["class_names"])
    model = skeleton(meta["architecture"], len(names))
    state = torch.load(Path(folder) / f"{STEM}.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    return model, names
