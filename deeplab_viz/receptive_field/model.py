"""The receptive fields of a real DeepLabV3: its layers read off its modules, a row per part.

:func:`model_layers` walks a :class:`~deeplab_viz.models.DeepLabV3` as it is wired
now (a rewired output stride shows up as strides traded for dilations);
:func:`model_rf_table` tabulates the receptive field of every backbone stage, every
ASPP branch and the logits (:class:`ModelRFRow`), optionally placed on an image.
Units: model-input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal

from torch import nn

from .boxes import RFBox, nearest_unit, rf_box
from .formulas import rf_centre
from .layer import Layer
from .stack import rf_table

_SKIPPED_CHILDREN = ("downsample", "shortcut")  # residual projections: never the longest path


def _square(value: object, what: str, module: nn.Module) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"{type(module).__name__}: non-square {what} {value} not supported")
        value = value[0]
    return int(value)


def layer_of_module(module: nn.Module, name: str = "") -> Layer | None:
    """The :class:`Layer` of one spatial module, or None if it is not one.

    ``nn.Conv2d`` (and subclasses), ``nn.MaxPool2d`` and ``nn.AvgPool2d`` map to a layer
    with their kernel, stride, dilation and padding. ``SameConv2d`` (TF "SAME") pads per
    input: it gets ``padding=None`` = ``(k_eff - 1) // 2``, exact for stride 1 and for
    stride 2 on odd inputs (which ``inference.prepare`` always gives TF models: sides of
    ``OS·k + 1``); on even inputs TF puts the extra pixel at the bottom/right, so the RF
    centre (``start``) shifts by half of that layer's output jump. ``padding="same"``
    maps to None, ``"valid"`` to 0. A 1×1 stride-1 convolution changes nothing and is
    None (so are all other modules).
    """
    from ..models.layers import SameConv2d

    if isinstance(module, nn.Conv2d):
        kernel = _square(module.kernel_size, "kernel", module)
        stride = _square(module.stride, "stride", module)
        dilation = _square(module.dilation, "dilation", module)
        pad = module.padding
        if isinstance(module, SameConv2d) or pad == "same":
            padding = None
        elif pad == "valid":
            padding = 0
        else:
            padding = _square(pad, "padding", module)
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _square(module.kernel_size, "kernel", module)
        stride = _square(module.stride if module.stride else module.kernel_size, "stride", module)
        dilation = _square(getattr(module, "dilation", 1), "dilation", module)
        padding = _square(module.padding, "padding", module)
    else:
        return None
    if kernel == 1 and stride == 1:
        return None
    if kernel == 1:
        dilation, padding = 1, 0 if padding is None else padding
    return Layer(kernel, stride, dilation, padding, name=name)


def _is_squeeze_excite(module: nn.Module) -> bool:
    # torchvision.ops.SqueezeExcitation (MobileNetV3); matched by name so no import is needed.
    return "SqueezeExcit" in type(module).__name__


def _walk(module: nn.Module, prefix: str) -> tuple[list[Layer], bool]:
    """Spatial layers of ``module`` in registration (= forward) order; and global pooling?"""
    layers: list[Layer] = []
    is_global = False
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if name in _SKIPPED_CHILDREN or _is_squeeze_excite(child):
            continue
        if isinstance(child, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            is_global = True
            continue
        layer = layer_of_module(child, path)
        if layer is not None:
            layers.append(layer)
        elif not isinstance(child, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            sub, sub_global = _walk(child, path)
            layers += sub
            is_global = is_global or sub_global
    return layers, is_global


def model_layers(model: nn.Module) -> dict[str, list[Layer]]:
    """Spatial layers of each backbone stage of a :class:`~deeplab_viz.models.DeepLabV3`.

    ``{stage name: [Layer, ...]}`` in forward order, each layer named by its module path
    (e.g. ``"layer4.0.conv2"``), as the model is wired now (so a rewired output stride
    shows up as strides traded for dilations). Only layers that move or widen the field
    are listed: convolutions with ``k > 1`` or stride > 1, max/avg pooling (see
    :func:`layer_of_module` for TF "SAME" padding).

    Walking registration order equals forward order for every backbone here (ResNet
    bottlenecks, MobileNet inverted residuals). Residual shortcuts (``downsample``) are
    skipped: an identity or strided 1×1 shortcut reads a subset of what the main path
    reads, so it never enlarges the RF. Squeeze-and-excitation blocks (MobileNetV3)
    multiply each channel by a gate computed from a *global* average pool, so strictly
    their units depend on the whole image; they are ignored here, and the table is the RF
    of the convolutional path (the gate is one number per channel, not a spatial filter).
    """
    module = getattr(model, "module", model)  # a LoadedModel works too
    stages = getattr(module, "stages", None)
    if stages is None:
        raise ValueError("model_layers() needs a deeplab_viz DeepLabV3 (with .stages)")
    return {name: _walk(stage, name)[0] for name, stage in stages.items()}


@dataclass(frozen=True)
class ModelRFRow:
    """Theoretical RF of one part of a real model, in model-input pixels.

    ``part``: "stage" (cumulative through that backbone stage), "aspp" (the backbone plus
    one ASPP branch) or "logits" (backbone, each branch, projection and head).
    ``size`` is None for a global RF (image pooling sees the whole image); ``local_size``
    is then the RF of the longest convolutional path (for a stage or a local branch it is
    ``size``). ``key`` identifies the row ("stage:layer4", "aspp:1", "logits").
    ``centre_box`` (with ``image_hw``) is the RF of the unit nearest the image centre,
    placed on the image: clipped or not, and which fraction of it lies on the image.
    """

    part: Literal["stage", "aspp", "logits"]
    key: str
    name: str
    size: int | None
    local_size: int
    jump: int
    start: float
    layers: tuple[Layer, ...] = dc_field(repr=False)
    image_hw: tuple[int, int] | None = None
    centre_box: RFBox | None = None

    @property
    def is_global(self) -> bool:
        return self.size is None

    @property
    def size_label(self) -> str:
        return "global" if self.size is None else str(self.size)

    @property
    def title(self) -> str:
        """How the row is named on the page: "layer4", "ASPP rate 12", "logits"."""
        return f"ASPP {self.name}" if self.part == "aspp" else self.name

    def box(self, centre_yx: Sequence[float], image_hw: Sequence[int]) -> RFBox:
        return rf_box(self.size, centre_yx, image_hw)

    def output_hw(self, input_hw: Sequence[int]) -> tuple[int, int]:
        """Feature-map size (cells) of this part for an input of ``input_hw`` pixels."""
        if not self.layers:
            return int(input_hw[0]), int(input_hw[1])
        h, w = (rf_table(self.layers, input_size=int(n))[-1].output_size for n in input_hw)
        return int(h), int(w)  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        """JSON-ready: size is "global" for a global RF."""
        out = {
            "part": self.part,
            "name": self.name,
            "size": self.size_label if self.size is None else self.size,
            "local_size": self.local_size,
            "jump": self.jump,
            "start": self.start,
            "layers": len(self.layers),
        }
        if self.centre_box is not None:
            b = self.centre_box
            out.update(
                image_hw=list(b.image_hw),
                clipped=b.is_clipped,
                inside_fraction=round(b.inside_fraction, 4),
                covers_image=b.covers_image,
            )
        return out


def _path_row(
    part: str, key: str, name: str, layers: list[Layer], is_global: bool
) -> tuple[str, str, str, int | None, int, int, float, tuple[Layer, ...]]:
    if layers:
        last = rf_table(layers)[-1]
        size, jump, start = last.size, last.jump, last.start
    else:
        size, jump, start = 1, 1, 0.0
    return part, key, name, None if is_global else size, size, jump, start, tuple(layers)


def model_rf_table(model: nn.Module, *, image_hw: Sequence[int] | None = None) -> list[ModelRFRow]:
    """Theoretical RF of every backbone stage, every ASPP branch and the logits.

    Stages are cumulative (input → end of that stage). An ASPP branch adds its own
    convolution to the backbone: a 3×3 at rate ``r`` adds ``2·r·jump`` pixels, a 1×1
    adds nothing, and the image-pooling branch averages the whole feature map, so its RF
    is "global" (``size`` None). The logits row follows every local branch through the
    projection and the head (torchvision's head has one more 3×3); it is global as soon as
    the model has an image-pooling branch, and ``local_size`` is its largest local path.

    With ``image_hw`` (the model input without padding, pixels) each row gets
    ``centre_box``: the RF of the unit nearest the image centre, with how much of it is
    clipped by the image. Units: model-input pixels. See :func:`model_layers` for what is
    ignored (shortcuts, squeeze-and-excitation).
    """
    module = getattr(model, "module", model)
    stage_layers = model_layers(module)
    aspp = module.aspp
    raw: list[tuple] = []
    backbone: list[Layer] = []
    for name, layers in stage_layers.items():
        backbone = backbone + layers
        raw.append(_path_row("stage", f"stage:{name}", name, backbone, False))
    project, _ = _walk(aspp.project, "aspp.project")
    head, head_global = _walk(module.head, "head")
    logits_paths: list[list[Layer]] = []
    any_global = head_global
    for i, (branch, kind, name) in enumerate(
        zip(aspp.branches, aspp.kinds, aspp.names, strict=True)
    ):
        own, own_global = _walk(branch, f"aspp.{i}")
        is_global = kind == "pooling" or own_global
        path = backbone + ([] if is_global else own)
        raw.append(_path_row("aspp", f"aspp:{i}", name, path, is_global))
        any_global = any_global or is_global
        if not is_global:
            logits_paths.append(path + project + head)
    if not logits_paths:
        logits_paths.append(backbone + project + head)
    longest = max(logits_paths, key=lambda p: rf_table(p)[-1].size if p else 1)
    raw.append(_path_row("logits", "logits", "logits", longest, any_global))

    rows = []
    for part, key, name, size, local, jump, start, layers in raw:
        box = None
        hw = None
        if image_hw is not None:
            hw = (int(image_hw[0]), int(image_hw[1]))
            centre = tuple(
                rf_centre(start, jump, nearest_unit(start, jump, (n - 1) / 2)) for n in hw
            )
            box = rf_box(size, centre, hw)
        rows.append(ModelRFRow(part, key, name, size, local, jump, start, layers, hw, box))
    return rows
