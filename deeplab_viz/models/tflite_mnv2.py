"""DeepLabV3 + MobileNetV2 (PASCAL VOC), rebuilt in PyTorch from ``deeplabv3.tflite``.

The TFLite file (TensorFlow Lite Task Library test model, Apache-2.0) is read with
the ``tflite`` flatbuffer package: no TensorFlow at run time. Batch norm is already
folded into the convolution biases, convolutions use TF "SAME" padding, and the
class names come from the label map packed in the file's metadata.

Graph (depth multiplier 0.5, native output stride 8)::

    input (N, 3, H, W) in [-1, 1]
    MobilenetV2/Conv            3×3 s2                     # (N,  16, H/2, W/2)
    expanded_conv               dw3×3 → 1×1                # (N,   8, H/2, W/2)
    expanded_conv_1 .. _16      1×1 expand → dw3×3 → 1×1   # ... (N, 160, H/8, W/8)
        strides 2 at blocks 1 and 3; blocks 6 and 13 would stride at OS 32 but are
        dilated instead: rate 2 for blocks 7-13, rate 4 for blocks 14-16
    aspp0 (1×1) ‖ image_pooling (global mean → 1×1)        # 2 × (N, 256, H/8, W/8)
    concat_projection 1×1 → logits/semantic 1×1            # (N, 21, H/8, W/8)
    bilinear upsampling, align_corners=True                # (N, 21, H, W)
"""

from __future__ import annotations

import io
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .layers import ASPP, DeepLabV3, ImagePooling, SameConv2d
from .output_stride import FAMILIES, plan

# MobileNetV2 inverted-residual blocks: (expansion, stride at output stride 32).
# Channels are read from the weights, so any depth multiplier loads.
_MNV2_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 1),  # expanded_conv (no expansion layer)
    (6, 2), (6, 1),
    (6, 2), (6, 1), (6, 1),
    (6, 2), (6, 1), (6, 1), (6, 1),
    (6, 1), (6, 1), (6, 1),
    (6, 2), (6, 1), (6, 1),
    (6, 1),
)  # fmt: skip

# Stage boundaries (block index after which a stage ends) and names; at OS 32 each
# stage ends at the stride written in its name.
MNV2_STAGES: tuple[tuple[str, int], ...] = (
    ("stem", 0),  # Conv + expanded_conv, stride 2
    ("stage2", 2),  # stride 4
    ("stage3", 5),  # stride 8
    ("stage4", 12),  # stride 16 at OS 32
    ("stage5", 16),  # stride 32 at OS 32
)

PREFIX = "MobilenetV2"


class TFLiteError(ValueError):
    """The file is not the DeepLabV3 MobileNetV2 TFLite graph this importer knows."""


@dataclass(frozen=True)
class TFLiteGraph:
    """Float tensors of a TFLite model by name, with each conv's stride and dilation."""

    tensors: dict[str, np.ndarray]
    conv_options: dict[str, tuple[int, int]]  # weight-tensor name -> (stride, dilation)
    labels: tuple[str, ...]


def read_tflite(data: bytes) -> TFLiteGraph:
    """Parse a TFLite flatbuffer into named float32 arrays (no TensorFlow needed)."""
    import tflite  # imported here: only this importer needs it

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise TFLiteError("not a readable TFLite model file") from exc
    tensors: dict[str, np.ndarray] = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        buf = model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0 or t.Type() != tflite.TensorType.FLOAT32:
            continue
        shape = tuple(int(s) for s in t.ShapeAsNumpy())
        arr = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype="<f4").reshape(shape)
        tensors[t.Name().decode()] = arr
    conv_options: dict[str, tuple[int, int]] = {}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CONV_2D:
            opts = tflite.Conv2DOptions()
        elif builtin == tflite.BuiltinOperator.DEPTHWISE_CONV_2D:
            opts = tflite.DepthwiseConv2DOptions()
        else:
            continue
        table = op.BuiltinOptions()
        opts.Init(table.Bytes, table.Pos)
        weight_name = graph.Tensors(op.Inputs(1)).Name().decode()
        conv_options[weight_name] = (opts.StrideH(), opts.DilationHFactor())
    return TFLiteGraph(tensors, conv_options, _labels_from_metadata(data))


def _labels_from_metadata(data: bytes) -> tuple[str, ...]:
    """Class names from the label map zipped into the TFLite metadata."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.endswith(".txt")]
            if names:
                text = z.read(names[0]).decode("utf-8")
                return tuple(line.strip() for line in text.splitlines() if line.strip())
    except zipfile.BadZipFile:
        pass
    return ()


class _TensorReader:
    """Turns TF-layout weights into torch modules, remembering what was used."""

    def __init__(self, graph: TFLiteGraph) -> None:
        self.graph = graph
        self.used: set[str] = set()

    def _get(self, name: str) -> np.ndarray:
        if name not in self.graph.tensors:
            raise TFLiteError(f"tensor {name!r} is missing")
        self.used.add(name)
        return self.graph.tensors[name]

    def conv(self, scope: str, *, same: bool = True) -> nn.Conv2d:
        """A CONV_2D: TF weights (O, kh, kw, I) → torch (O, I, kh, kw)."""
        w = self._get(f"{scope}/weights")
        b = self._get(f"{scope}/Conv2D_bias")
        stride, dilation = self.graph.conv_options.get(f"{scope}/weights", (1, 1))
        cls = SameConv2d if same else nn.Conv2d
        conv = cls(w.shape[3], w.shape[0], w.shape[1], stride=stride, dilation=dilation)
        conv.weight.data.copy_(torch.from_numpy(w.transpose(0, 3, 1, 2).copy()))
        conv.bias.data.copy_(torch.from_numpy(b.copy()))
        return conv

    def depthwise(self, scope: str) -> nn.Conv2d:
        """A DEPTHWISE_CONV_2D: TF weights (1, kh, kw, C) → torch (C, 1, kh, kw)."""
        w = self._get(f"{scope}/depthwise_weights")
        b = self._get(f"{scope}/depthwise_bias")
        stride, dilation = self.graph.conv_options.get(f"{scope}/depthwise_weights", (1, 1))
        c = w.shape[3]
        conv = SameConv2d(c, c, w.shape[1], stride=stride, dilation=dilation, groups=c)
        conv.weight.data.copy_(torch.from_numpy(w[0].transpose(2, 0, 1)[:, None].copy()))
        conv.bias.data.copy_(torch.from_numpy(b.copy()))
        return conv


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1×1 expand, ReLU6] → dw 3×3, ReLU6 → 1×1 project (+ input)."""

    def __init__(
        self,
        expand: nn.Conv2d | None,
        depthwise: nn.Conv2d,
        project: nn.Conv2d,
        *,
        native_stride: int,
    ) -> None:
        super().__init__()
        self.expand = nn.Sequential(expand, nn.ReLU6()) if expand is not None else nn.Identity()
        self.depthwise = nn.Sequential(depthwise, nn.ReLU6())
        self.project = project
        in_ch = expand.in_channels if expand is not None else depthwise.in_channels
        # TF adds the shortcut where the block keeps its channels and, at output
        # stride 32, its resolution. Dilating a block instead of striding it keeps
        # that decision: it is a property of the trained graph, not of the wiring.
        self.native_stride = native_stride
        self.use_residual = in_ch == project.out_channels and native_stride == 1

    @property
    def spatial_conv(self) -> nn.Conv2d:
        return self.depthwise[0]

    def stride_sites(self) -> list[tuple[nn.Conv2d, int, nn.Conv2d | None]]:
        """(conv, native stride, shortcut) for output-stride rewiring: the depthwise conv."""
        return [(self.spatial_conv, self.native_stride, None)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return y + x if self.use_residual else y


def _block_scope(i: int) -> str:
    return f"{PREFIX}/expanded_conv" + ("" if i == 0 else f"_{i}")


def _stages(stem: nn.Conv2d, blocks: list[InvertedResidual]) -> OrderedDict[str, nn.Module]:
    """The stem conv and the 17 blocks grouped into the named stages of ``MNV2_STAGES``."""
    stem_conv = nn.Sequential(stem, nn.ReLU6())
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    start = 0
    for name, end in MNV2_STAGES:
        mods = ([stem_conv] if start == 0 else []) + blocks[start : end + 1]
        stages[name] = nn.Sequential(*mods)
        start = end + 1
    return stages


@dataclass(frozen=True)
class BlockWidths:
    """Channels of one inverted-residual block: input, expanded (None: no expansion), output."""

    cin: int
    hidden: int | None
    cout: int


def block_widths(stages: nn.Module) -> tuple[int, tuple[BlockWidths, ...]]:
    """(stem channels, widths of every block) of a built MobileNetV2 backbone."""
    blocks = [m for m in stages.modules() if isinstance(m, InvertedResidual)]
    stem = next(m for m in stages.modules() if isinstance(m, nn.Conv2d))
    widths = tuple(
        BlockWidths(
            cin=b.spatial_conv.in_channels
            if isinstance(b.expand, nn.Identity)
            else b.expand[0].in_channels,
            hidden=None if isinstance(b.expand, nn.Identity) else b.expand[0].out_channels,
            cout=b.project.out_channels,
        )
        for b in blocks
    )
    return stem.out_channels, widths


def mnv2_stages(
    stem_channels: int, widths: Sequence[BlockWidths], *, output_stride: int = 8
) -> OrderedDict[str, nn.Module]:
    """An empty MobileNetV2 backbone of the given widths, wired for ``output_stride``.

    The same module tree (and so the same state-dict keys) that
    :func:`build_from_tflite` produces, with zero weights: for loading a checkpoint
    of a model built on this backbone with no TFLite file at hand. Strides and
    dilations follow :func:`~deeplab_viz.models.output_stride.plan` with TF's
    convention, which at output stride 8 is the wiring stored in the TFLite file.
    """
    if len(widths) != len(_MNV2_BLOCKS):
        raise ValueError(f"MobileNetV2 has {len(_MNV2_BLOCKS)} blocks, got {len(widths)} widths")
    fam = FAMILIES["tflite_mnv2"]
    wiring = plan(
        [s for _, s in _MNV2_BLOCKS],
        stem_stride=fam.stem_stride,
        output_stride=output_stride,
        convention=fam.convention,
    )
    blocks = []
    for (expansion, native), w, (stride, dilation) in zip(
        _MNV2_BLOCKS, widths, wiring, strict=True
    ):
        c = w.hidden if w.hidden is not None else w.cin
        if (expansion != 1) != (w.hidden is not None):
            raise ValueError("block widths do not match MobileNetV2's expansions")
        expand = SameConv2d(w.cin, c, 1) if w.hidden is not None else None
        dw = SameConv2d(c, c, 3, stride=stride, dilation=dilation, groups=c)
        blocks.append(InvertedResidual(expand, dw, SameConv2d(c, w.cout, 1), native_stride=native))
    return _stages(SameConv2d(3, stem_channels, 3, stride=2), blocks)


def build_from_tflite(data: bytes) -> tuple[DeepLabV3, tuple[str, ...]]:
    """Rebuild the PyTorch model from TFLite bytes; returns (model, class names)."""
    graph = read_tflite(data)
    reader = _TensorReader(graph)
    blocks: list[InvertedResidual] = []
    for i, (expansion, stride) in enumerate(_MNV2_BLOCKS):
        scope = _block_scope(i)
        expand = reader.conv(f"{scope}/expand") if expansion != 1 else None
        dw = reader.depthwise(f"{scope}/depthwise")
        proj = reader.conv(f"{scope}/project")
        blocks.append(InvertedResidual(expand, dw, proj, native_stride=stride))
    stages = _stages(reader.conv(f"{PREFIX}/Conv"), blocks)

    pooling = ImagePooling(nn.Sequential(reader.conv("image_pooling", same=False), nn.ReLU()))
    aspp0 = nn.Sequential(reader.conv("aspp0", same=False), nn.ReLU())
    project = nn.Sequential(reader.conv("concat_projection", same=False), nn.ReLU())
    # TF DeepLab concatenates [image pooling, 1×1] in that order.
    aspp = ASPP([pooling, aspp0], kinds=["pooling", "1x1"], project=project)
    head = reader.conv("logits/semantic", same=False)

    unused = set(graph.tensors) - reader.used - {n for n in graph.tensors if "/size" in n}
    unused = {n for n in unused if "weights" in n or "bias" in n}
    if unused:
        raise TFLiteError(f"weights not understood: {sorted(unused)[:3]}")
    model = DeepLabV3(stages, aspp, head, align_corners=True)
    model.eval()
    return model, graph.labels


def load_tflite_model(path: Path) -> tuple[DeepLabV3, tuple[str, ...]]:
    return build_from_tflite(Path(path).read_bytes())
