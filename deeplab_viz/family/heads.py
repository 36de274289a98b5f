"""The DeepLab heads as modules: v1 and v2 architecture-only, v3 and v3+ as trained.

- :func:`v1_head` and :func:`v2_head` are small *architecture-only* modules (random
  weights) with the layers of DeepLab-v1 (Chen et al. 2014, ICLR 2015: VGG-16, the
  last two poolings without subsampling, conv5 at rate 2, fc6 at rate 4, output
  stride 8, dense CRF after) and DeepLab-v2's ASPP (Chen et al. 2016, TPAMI 2018:
  four 3×3 classifiers at rates 6/12/18/24 on ResNet-101, outputs *summed*).
- v3 (Chen et al. 2017) and v3+ (Chen et al. 2018) are the real ones: the trained
  ShapesWorld models' ``aspp`` + ``head`` (:func:`model_head`) and torchvision's ResNet
  ``DeepLabHead`` (:func:`torchvision_v3_head`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn


class DenseCRF(nn.Identity):
    """Marks the fully connected CRF (Krähenbühl & Koltun 2011) run *after* the network
    in DeepLab v1/v2: post-processing of the upsampled scores, not a trained layer."""


class SumMerge(nn.Module):
    """Adds the branch outputs (DeepLab-v2's ASPP fuses its classifiers by a sum)."""

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(xs)).sum(0)


class V1Head(nn.Sequential):
    """DeepLab-v1 (LargeFOV-style) top of VGG-16 at output stride 8.

    pool4 and pool5 keep stride 1 (3×3, padding 1); the three conv5 layers then run at
    rate 2 and the subsampled fc6 (3×3, 1024 channels) at rate 4, so every kernel keeps
    the reach it had on the subsampled map. ``width`` scales the channels down for a
    light, architecture-only copy (1.0: the paper's 512 / 1024).
    """

    def __init__(self, num_classes: int = 21, width: float = 1.0) -> None:
        c5, c6 = max(8, int(512 * width)), max(8, int(1024 * width))
        super().__init__(
            OrderedDict(
                [
                    ("pool4", nn.MaxPool2d(3, stride=1, padding=1)),
                    ("conv5_1", nn.Conv2d(c5, c5, 3, padding=2, dilation=2)),
                    ("relu5_1", nn.ReLU(inplace=True)),
                    ("conv5_2", nn.Conv2d(c5, c5, 3, padding=2, dilation=2)),
                    ("relu5_2", nn.ReLU(inplace=True)),
                    ("conv5_3", nn.Conv2d(c5, c5, 3, padding=2, dilation=2)),
                    ("relu5_3", nn.ReLU(inplace=True)),
                    ("pool5", nn.MaxPool2d(3, stride=1, padding=1)),
                    ("fc6", nn.Conv2d(c5, c6, 3, padding=4, dilation=4)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("drop6", nn.Dropout2d(0.5)),
                    ("fc7", nn.Conv2d(c6, c6, 1)),
                    ("relu7", nn.ReLU(inplace=True)),
                    ("drop7", nn.Dropout2d(0.5)),
                    ("fc8", nn.Conv2d(c6, num_classes, 1)),
                    ("upsample", nn.Upsample(scale_factor=8, mode="bilinear")),
                    ("crf", DenseCRF()),
                ]
            )
        )


class V2ASPP(nn.Module):
    """DeepLab-v2's ASPP on ResNet-101: one 3×3 classifier per rate, outputs summed."""

    merge = "sum"

    def __init__(
        self,
        in_channels: int = 2048,
        num_classes: int = 21,
        rates: Sequence[int] = (6, 12, 18, 24),
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in rates
        )
        self.sum = SumMerge()
        self.upsample = nn.Upsample(scale_factor=8, mode="bilinear")
        self.crf = DenseCRF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.crf(self.upsample(self.sum([b(x) for b in self.branches])))


def v1_head(num_classes: int = 21, width: float = 1.0) -> V1Head:
    return V1Head(num_classes, width).eval()


def v2_head(in_channels: int = 2048, num_classes: int = 21) -> V2ASPP:
    return V2ASPP(in_channels, num_classes).eval()


class Head(nn.Module):
    """A model's ASPP and its head (v3) or decoder (v3+), as one module to draw."""

    def __init__(self, aspp: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.aspp = aspp
        self.head = head


def model_head(module: nn.Module) -> Head:
    """``aspp`` + ``head`` of a DeepLabV3 / DeepLabV3Plus as one module. The submodules
    are shared, not copied: draw it, never change it."""
    return Head(module.aspp, module.head)


def torchvision_v3_head(in_channels: int = 2048, num_classes: int = 21) -> nn.Module:
    """torchvision's ResNet DeepLabV3 head (ASPP 1×1, rates 12/24/36, image pooling;
    3×3 conv; 1×1 classifier), random weights: the architecture only."""
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead

    return DeepLabHead(in_channels, num_classes).eval()
