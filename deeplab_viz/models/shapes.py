"""The ShapesWorld models: a small residual backbone, DeepLabv3 and DeepLabv3+.

Both are put into Atrous Lab's one shape (:class:`~deeplab_viz.models.layers.DeepLabV3`),
so the probe, the ASPP explorer, the rewiring and the receptive-field tools see
named stages, a named-branch ASPP and a head.

Backbone ("shapes_resnet" family, ~0.9 M parameters): a stem (3×3 conv, stride 2)
and four stages of basic residual blocks, each block ``conv1 (3×3, may stride) →
BN → ReLU → conv2 (3×3) → BN`` plus an identity or a strided 1×1 projection
shortcut, then ReLU:

=========  ========  ==========  ====================
stage      blocks    channels    stride at OS 32
=========  ========  ==========  ====================
stem       conv      16          2
layer1     1         32          4   (v3+ low-level features)
layer2     1         64          8
layer3     2         96          16
layer4     2         128         32
=========  ========  ==========  ====================

Every 3×3 conv of the blocks is a stride site (the first conv of a stage's first
block natively strides by 2, the others by 1) and rewiring follows the "after"
convention of torchvision's ResNet: a conv that gives up its stride keeps its
dilation, the convs after it get the multiplied one. The models are trained at
output stride 16 (``layer4`` dilated by 2), then fine-tuned at 8 (``layer3``
dilated by 2, ``layer4`` by 4; see :mod:`deeplab_viz.train_shapes`), so their
shipped, native stride is 8; they rewire to 16 and 32 exactly like the other
backbones.

ASPP: torchvision's own ``ASPP`` modules with 64 channels per branch: 1×1, three
3×3 atrous branches (rates 4/8/12 at OS 8, 2/4/6 at OS 16: 32/64/96 image pixels
between taps either way) and image pooling; projection 1×1 (320 → 64) + BN + ReLU + dropout (0.1).

- **DeepLabv3** head: 3×3 conv 64 + BN + ReLU, 1×1 conv to the 5 classes (the
  shape of torchvision's ``DeepLabHead`` after its ASPP). Logits at the output
  stride are upsampled bilinearly (``align_corners=False``) to the input.
- **DeepLabv3+** (:class:`DeepLabV3Plus`): the same backbone and ASPP; the head
  is a :class:`PlusDecoder`: the ASPP output upsampled to the stride-4 map of
  ``layer1`` (2× at OS 8, 4× at OS 16), concatenated with ``layer1`` reduced to
  48 channels by a 1×1 conv + BN + ReLU, two 3×3 depthwise-separable convs (depthwise 3×3 → BN →
  ReLU → pointwise 1×1 → BN → ReLU; 64 channels), a 1×1 classifier, then the
  model's usual upsampling (4×) to the input. The decoder is the only place with
  depthwise-separable convolutions; the ASPP is kept identical to the v3 one so
  the two models differ by the decoder alone.

Because the v3+ head needs the low-level stage as well as the ASPP output,
:class:`DeepLabV3Plus` provides ``decode(projection, stages)`` (and so does
:func:`decode` for any model): code that walks the model stage by stage calls
``decode`` where it called ``head(projection)``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

from ..paths import MODELS_DIR
from .layers import ASPP, DeepLabV3
from .output_stride import plan, set_conv

FAMILY = "shapes_resnet"
STEM_STRIDE = 2
STAGE_CHANNELS: dict[str, int] = {"layer1": 32, "layer2": 64, "layer3": 96, "layer4": 128}
STAGE_BLOCKS: dict[str, int] = {"layer1": 1, "layer2": 1, "layer3": 2, "layer4": 2}
STEM_CHANNELS = 16
ASPP_CHANNELS = 64
LOW_LEVEL_STAGE = "layer1"
LOW_LEVEL_CHANNELS = 48
DECODER_CHANNELS = 64
ARCHS = ("v3", "v3plus")

ASSETS = MODELS_DIR
MODEL_FILES = {"v3": "shapes_deeplabv3", "v3plus": "shapes_deeplabv3plus"}


def _bn_relu(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]


class ResBlock(nn.Module):
    """Basic residual block; ``conv1`` and ``conv2`` are its two stride sites."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.native_stride = stride  # at output stride 32
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Sequential | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def stride_sites(self) -> list[tuple[nn.Conv2d, int, nn.Conv2d | None]]:
        """(conv, native stride, strided shortcut conv or None) for output-stride rewiring."""
        short = self.shortcut[0] if self.shortcut is not None else None
        return [(self.conv1, self.native_stride, short), (self.conv2, 1, None)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


def sites(model: nn.Module) -> list[tuple[nn.Conv2d, int, nn.Conv2d | None]]:
    """(conv, native stride, strided shortcut conv or None) of every stride site, in order."""
    return [site for m in model.modules() if isinstance(m, ResBlock) for site in m.stride_sites()]


class SeparableConv(nn.Sequential):
    """Depthwise 3×3 (atrous by ``rate``) → BN → ReLU → pointwise 1×1 → BN → ReLU."""

    def __init__(self, cin: int, cout: int, rate: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, 1, rate, dilation=rate, groups=cin, bias=False),
            *_bn_relu(cin),
            nn.Conv2d(cin, cout, 1, bias=False),
            *_bn_relu(cout),
        )


class PlusDecoder(nn.Module):
    """DeepLabv3+ decoder: (ASPP output, low-level features) → logits at stride 4."""

    def __init__(self, aspp_channels: int, low_channels: int, classes: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(low_channels, LOW_LEVEL_CHANNELS, 1, bias=False),
            *_bn_relu(LOW_LEVEL_CHANNELS),
        )
        self.fuse = nn.Sequential(
            SeparableConv(aspp_channels + LOW_LEVEL_CHANNELS, DECODER_CHANNELS),
            SeparableConv(DECODER_CHANNELS, DECODER_CHANNELS),
        )
        self.classifier = nn.Conv2d(DECODER_CHANNELS, classes, 1)

    def forward(
        self, projection: torch.Tensor, low_level: torch.Tensor | None = None
    ) -> torch.Tensor:
        if low_level is None:
            raise ValueError(
                "the DeepLabv3+ head needs the low-level features too: "
                "call model.decode(projection, stages) instead of model.head(projection)"
            )
        low = self.reduce(low_level)  # (N, 48, H/4, W/4)
        up = F.interpolate(
            projection, size=low.shape[-2:], mode="bilinear", align_corners=False
        )  # (N, C_p, H/4, W/4)
        return self.classifier(self.fuse(torch.cat([up, low], dim=1)))  # (N, K, H/4, W/4)


class DeepLabV3Plus(DeepLabV3):
    """DeepLabV3 with a decoder: the head reads the ASPP output and one named stage."""

    def __init__(
        self,
        stages: OrderedDict[str, nn.Module],
        aspp: ASPP,
        head: PlusDecoder,
        *,
        low_level: str,
        align_corners: bool,
    ) -> None:
        super().__init__(stages, aspp, head, align_corners=align_corners)
        if low_level not in self.stages:
            raise ValueError(f"no stage {low_level!r}")
        self.low_level = low_level

    def decode(self, projection: torch.Tensor, stages: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits at the low-level stage's stride from the ASPP output and the stages."""
        return self.head(projection, stages[self.low_level])


def _wire(model: nn.Module, output_stride: int) -> None:
    """Set the sites of a freshly built (OS 32) backbone for ``output_stride``."""
    found = sites(model)
    wiring = plan(
        [s for _, s, _ in found],
        stem_stride=STEM_STRIDE,
        output_stride=output_stride,
        convention="after",
    )
    for (conv, _, short), (stride, dilation) in zip(found, wiring, strict=True):
        set_conv(conv, stride, dilation)
        if short is not None:
            short.stride = (stride, stride)


def build_shapes_model(
    arch: str = "v3",
    *,
    num_classes: int = 5,
    output_stride: int = 16,
    rates: Sequence[int] = (2, 4, 6),
    seed: int = 0,
) -> DeepLabV3:
    """A ShapesWorld DeepLabv3 (``arch="v3"``) or v3+ (``"v3plus"``), seeded random weights.

    ``output_stride`` is the stride it is built (and trained) at; ``rates`` are the
    ASPP rates at that stride.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if len(rates) != 3:
        raise ValueError("three ASPP rates, please")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["stem"] = nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False), *_bn_relu(STEM_CHANNELS)
        )
        cin = STEM_CHANNELS
        for name, cout in STAGE_CHANNELS.items():
            blocks = [ResBlock(cin, cout, 2)]
            blocks += [ResBlock(cout, cout, 1) for _ in range(STAGE_BLOCKS[name] - 1)]
            stages[name] = nn.Sequential(*blocks)
            cin = cout
        tv = TorchvisionASPP(cin, list(rates), ASPP_CHANNELS)
        tv.project[3] = nn.Dropout(0.1)  # torchvision's 0.5 slows a short training down
        aspp = ASPP(
            list(tv.convs),
            kinds=["1x1", "atrous", "atrous", "atrous", "pooling"],
            project=tv.project,
        )
        if arch == "v3":
            head = nn.Sequential(
                nn.Conv2d(ASPP_CHANNELS, ASPP_CHANNELS, 3, padding=1, bias=False),
                *_bn_relu(ASPP_CHANNELS),
                nn.Conv2d(ASPP_CHANNELS, num_classes, 1),
            )
            model: DeepLabV3 = DeepLabV3(stages, aspp, head, align_corners=False)
        else:
            decoder = PlusDecoder(ASPP_CHANNELS, STAGE_CHANNELS[LOW_LEVEL_STAGE], num_classes)
            model = DeepLabV3Plus(
                stages, aspp, decoder, low_level=LOW_LEVEL_STAGE, align_corners=False
            )
    _wire(model, output_stride)
    return model


# ------------------------------------------------------------------------ shipped files


def metadata_path(stem: str, folder: Path = ASSETS) -> Path:
    return Path(folder) / f"{stem}.json"


def weights_path(stem: str, folder: Path = ASSETS) -> Path:
    return Path(folder) / f"{stem}.pt"


def read_metadata(stem: str, folder: Path = ASSETS) -> dict:
    """The JSON that ships next to a model's weights (class names, settings, training)."""
    return json.loads(metadata_path(stem, folder).read_text())


def model_from_metadata(meta: dict, *, seed: int = 0) -> DeepLabV3:
    """The architecture a metadata JSON describes, with seeded random weights."""
    a = meta["architecture"]
    return build_shapes_model(
        a["arch"],
        num_classes=len(meta["class_names"]),
        output_stride=int(a["output_stride"]),
        rates=tuple(a["aspp_rates"]),
        seed=seed,
    )


def load_shapes_model(
    stem: str, *, pretrained: bool = True, folder: Path = ASSETS
) -> tuple[DeepLabV3, tuple[str, ...]]:
    """(model in eval mode at its trained stride, class names) from the shipped files.

    Weights are read with ``torch.load(..., weights_only=True)`` and cast to
    float32. Raises ``FileNotFoundError`` when the files are missing.
    """
    meta = read_metadata(stem, folder)
    model = model_from_metadata(meta)
    if pretrained:
        state = torch.load(weights_path(stem, folder), map_location="cpu", weights_only=True)
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
    model.eval()
    return model, tuple(meta["class_names"])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
