"""The DeepLab family, v1 → v3+: heads as modules, drawn from their own structure.

- :func:`v1_head` and :func:`v2_head` are small *architecture-only* modules (random
  weights) with the layers of DeepLab-v1 (Chen et al. 2014, ICLR 2015: VGG-16, the
  last two poolings without subsampling, conv5 at rate 2, fc6 at rate 4, output
  stride 8, dense CRF after) and DeepLab-v2's ASPP (Chen et al. 2016, TPAMI 2018:
  four 3×3 classifiers at rates 6/12/18/24 on ResNet-101, outputs *summed*).
- v3 (Chen et al. 2017) and v3+ (Chen et al. 2018) are the real ones: the trained
  ShapesWorld models' ``aspp`` + ``head`` and torchvision's ResNet ``DeepLabHead``.
- :func:`head_graph` walks ``named_children()`` of any head and returns nodes and
  edges: ``nn.Sequential`` and plain modules are chains, an ``nn.ModuleList`` is a
  set of parallel branches merged by a concatenation (or by a sum when the parent
  says ``merge = "sum"``), a conv followed by its batch norm / activation is one node;
  the v3+ decoder's two inputs are drawn as they are used in its ``forward``.
  :func:`deeplab_viz.plots.family.graph_figure` draws it.
- :func:`plus_steps`: a hook-free forward of a v3+ model that keeps every step of its
  decoder (ASPP output at 1/16, ×4, the 48-channel low-level features, after the two
  3×3 convs, logits at 1/4, final ×4).
- :func:`separable_latency`: regular vs depthwise-separable atrous conv, measured.
- :func:`multigrid_rates` / :func:`multigrid_stack`: DeepLabv3's multi-grid.
"""

from __future__ import annotations

import statistics
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- v1 / v2 heads


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


# --------------------------------------------------------------------------- diagrams


@dataclass
class Node:
    id: int
    label: str  # first line: what the layer is
    detail: str  # second line: channels, module path
    kind: str  # "input", "conv", "atrous", "1x1", "depthwise", "pool", "merge", "resize", "post", "output"
    path: str  # module path ("" for operations that are not modules)
    col: int = 0
    row: float = 0.0


@dataclass
class Graph:
    """A head as a directed graph: nodes in forward order, edges (from, to) by id."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    branches: int = 0  # parallel branches of the widest ModuleList

    def by_path(self, path: str) -> Node:
        return next(n for n in self.nodes if n.path == path)

    def kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.kind] = out.get(n.kind, 0) + 1
        return out

    def successors(self, node_id: int) -> list[int]:
        return [b for a, b in self.edges if a == node_id]


_FOLD = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Dropout, nn.Dropout2d, nn.Identity)


def _is_fold(m: nn.Module) -> bool:
    return isinstance(m, _FOLD) and not isinstance(m, DenseCRF)


def _conv_node(m: nn.Conv2d) -> tuple[str, str, str]:
    k, r = m.kernel_size[0], m.dilation[0]
    cin, cout = m.in_channels, m.out_channels
    if m.groups == cin and cin > 1 and k > 1:
        label, kind = f"{k}×{k} depthwise" + (f", rate {r}" if r > 1 else ""), "depthwise"
        detail = f"{cin} ch, one filter each"
    else:
        atrous = k > 1 and r > 1
        label = f"{k}×{k} conv" + (f", rate {r}" if atrous else "")
        kind = "atrous" if atrous else "1x1" if k == 1 else "conv"
        detail = f"{cin}→{cout} ch"
    if m.stride[0] > 1:
        label += f", stride {m.stride[0]}"
    return label, detail, kind


def _leaf(m: nn.Module) -> tuple[str, str, str]:
    """(label, detail, kind) of a module drawn as one node."""
    if isinstance(m, nn.Conv2d):
        return _conv_node(m)
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "global average pool", "whole map → 1×1", "pool"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        s = m.stride if isinstance(m.stride, int) else m.stride[0]
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        return f"{k}×{k} max pool, stride {s}", "no subsampling" if s == 1 else "", "pool"
    if isinstance(m, nn.Upsample):
        f = m.scale_factor
        return f"bilinear ×{int(f) if f else '?'}", "to the image", "resize"
    if isinstance(m, DenseCRF):
        return "dense CRF", "post-processing", "post"
    if isinstance(m, SumMerge):
        return "sum", "", "merge"
    return type(m).__name__, "", "conv"


class _Builder:
    def __init__(self, title: str) -> None:
        self.g = Graph(title)

    def node(self, label: str, detail: str, kind: str, path: str) -> int:
        n = Node(len(self.g.nodes), label, detail, kind, path)
        self.g.nodes.append(n)
        return n.id

    def edge(self, a: int | None, b: int) -> None:
        if a is not None:
            self.g.edges.append((a, b))

    # A chain: returns (first node, last node) of what was drawn, linked after `prev`.
    def chain(self, module: nn.Module, path: str, prev: int | None) -> int | None:
        children = list(module.named_children())
        if not children:
            if _is_fold(module):
                if prev is not None:
                    self._fold(prev, module)
                    return prev
            label, detail, kind = _leaf(module)
            nid = self.node(label, detail, kind, path)
            self.edge(prev, nid)
            return nid
        special = getattr(self, f"_special_{type(module).__name__}", None)
        if special is not None:
            return special(module, path, prev)
        last = prev
        for name, child in children:
            cpath = f"{path}.{name}" if path else name
            if isinstance(child, nn.ModuleList):
                last = self.parallel(child, cpath, last, getattr(module, "merge", "concat"))
            elif isinstance(child, SumMerge):
                continue  # drawn as the merge of the branches before it
            else:
                last = self.chain(child, cpath, last)
        return last

    def parallel(self, branches: nn.ModuleList, path: str, prev: int | None, merge: str) -> int:
        ends = []
        for i, b in enumerate(branches):
            ends.append(self.chain(b, f"{path}.{i}", prev))
        self.g.branches = max(self.g.branches, len(branches))
        m = self.node(
            "concatenate" if merge == "concat" else "sum",
            f"{len(branches)} branches",
            "merge",
            "",
        )
        for e in ends:
            self.edge(e, m)
        return m

    def _fold(self, nid: int, m: nn.Module) -> None:
        n = self.g.nodes[nid]
        tag = {
            nn.BatchNorm2d: "BN",
            nn.ReLU: "ReLU",
            nn.ReLU6: "ReLU6",
            nn.Dropout: "dropout",
            nn.Dropout2d: "dropout",
        }.get(type(m))
        if tag:
            n.detail = f"{n.detail} · {tag}" if n.detail else tag

    # -- modules whose forward is not a plain chain --------------------------------

    def _special_ASPPPooling(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        last = prev
        for name, child in m.named_children():
            last = self.chain(child, f"{path}.{name}", last)
        nid = self.node("broadcast back", "1×1 → every position", "resize", "")
        self.edge(last, nid)
        return nid

    def _special_ImagePooling(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        pool = self.node("global average pool", "whole map → 1×1", "pool", path)
        self.edge(prev, pool)
        last = self.chain(m.conv, f"{path}.conv", pool)
        nid = self.node("broadcast back", "1×1 → every position", "resize", "")
        self.edge(last, nid)
        return nid

    def _special_ASPP(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        # torchvision's ASPP (``convs``) and Atrous Lab's (``branches``): concat → project
        names = dict(m.named_children())
        key = "convs" if "convs" in names else "branches"
        last = self.parallel(names[key], f"{path}.{key}", prev, "concat")
        self.g.nodes[last].label = "concatenate"
        return self.chain(names["project"], f"{path}.project", last)

    def _special_SeparableConv(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        # depthwise k×k (atrous) → BN → ReLU → pointwise 1×1 → BN → ReLU: one node
        dw, pw = (c for c in m.children() if isinstance(c, nn.Conv2d))
        r = dw.dilation[0]
        label = f"{dw.kernel_size[0]}×{dw.kernel_size[0]} separable conv" + (
            f", rate {r}" if r > 1 else ""
        )
        nid = self.node(
            label, f"depthwise + 1×1, {dw.in_channels}→{pw.out_channels} ch", "depthwise", path
        )
        self.edge(prev, nid)
        return nid

    def _chain_children(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        last = prev
        for name, child in m.named_children():
            last = self.chain(child, f"{path}.{name}", last)
        return last

    def _special_PlusDecoder(self, m: nn.Module, path: str, prev: int | None) -> int | None:
        up = self.node("bilinear ×4", "to the stride-4 grid", "resize", "")
        self.edge(prev, up)
        low = self.node("low-level features", "layer1, stride 4", "input", "")
        red = self._chain_children(m.reduce, f"{path}.reduce", low)
        cat = self.node("concatenate", "ASPP ×4 + low-level", "merge", "")
        self.edge(up, cat)
        self.edge(red, cat)
        fused = self._chain_children(m.fuse, f"{path}.fuse", cat)
        cls = self.chain(m.classifier, f"{path}.classifier", fused)
        out = self.node("bilinear ×4", "to the image", "resize", "")
        self.edge(cls, out)
        return out


def head_graph(
    module: nn.Module,
    *,
    title: str = "",
    input_label: str = "backbone features",
    input_detail: str = "",
    output: bool = True,
) -> Graph:
    """Nodes and edges of ``module`` walked through ``named_children()`` (see module doc).

    Node ``path`` is the module path of the layer it shows ("" for an operation
    that is no module: concatenation, broadcast, resizing); columns and rows are
    laid out for drawing (:func:`layout`).
    """
    b = _Builder(title)
    start = b.node(input_label, input_detail, "input", "")
    last = b.chain(module, "", start)
    if output:
        end = b.node("class scores", "", "output", "")
        b.edge(last, end)
    layout(b.g)
    return b.g


def layout(g: Graph) -> None:
    """Columns: longest path from the main input (node 0); a second input and its chain
    (the v3+ low-level features) sit as late as they can. Rows: a chain keeps its row,
    parallel branches spread around their source, a merge sits between its inputs."""
    preds: dict[int, list[int]] = {n.id: [] for n in g.nodes}
    succs: dict[int, list[int]] = {n.id: [] for n in g.nodes}
    for a, b in g.edges:
        preds[b].append(a)
        succs[a].append(b)
    main = {0}
    for n in g.nodes:  # nodes are created in topological order
        if any(p in main for p in preds[n.id]):
            main.add(n.id)
    for n in g.nodes:
        if n.id in main:
            n.col = 1 + max((g.nodes[p].col for p in preds[n.id] if p in main), default=-1)
    for n in reversed(g.nodes):
        if n.id not in main:
            n.col = min((g.nodes[s].col for s in succs[n.id]), default=1) - 1
    for n in g.nodes:
        if n.id not in main:
            continue
        ps = [p for p in preds[n.id] if p in main]
        if not ps:
            n.row = 0.0
        elif len(ps) == 1:
            p = g.nodes[ps[0]]
            sib = [s for s in succs[p.id] if s in main]
            i = sib.index(n.id)
            n.row = p.row + (i - (len(sib) - 1) / 2) * 1.0
        else:
            n.row = sum(g.nodes[p].row for p in ps) / len(ps)
    low = max((n.row for n in g.nodes if n.id in main), default=0.0) + 1.2
    for n in g.nodes:
        if n.id not in main:
            n.row = low
    for n in g.nodes:  # a merge fed by a second input sits between the two rows
        ps = preds[n.id]
        if n.id in main and any(p not in main for p in ps):
            n.row = sum(g.nodes[p].row for p in ps) / len(ps)
    # everything after such a merge follows its row
    for n in g.nodes:
        ps = preds[n.id]
        if len(ps) == 1 and len(succs[ps[0]]) == 1 and n.id in main:
            n.row = g.nodes[ps[0]].row


# --------------------------------------------------------------------------- v3+ steps


@dataclass(frozen=True)
class PlusSteps:
    """Every step of a v3+ decoder on one image, (C, h, w) float32 arrays."""

    aspp: np.ndarray  # ASPP output (projection), stride 16
    aspp_up: np.ndarray  # upsampled ×4 to the low-level grid
    low: np.ndarray  # low-level features after the 1×1 reduction to 48 channels
    fused: np.ndarray  # after the two 3×3 (separable) convs
    logits_low: np.ndarray  # classifier output at stride 4
    logits: np.ndarray  # final ×4 upsampling, on the image
    class_map: np.ndarray  # (H, W) uint8


@torch.inference_mode()
def plus_steps(module: nn.Module, x: torch.Tensor) -> PlusSteps:
    """Run a :class:`~deeplab_viz.models.shapes.DeepLabV3Plus` step by step (no hooks).

    Calls the decoder's own submodules in the order of its ``forward``; the result
    equals ``module(x)`` (tested).
    """
    dec = module.head
    feats = module.features(x)
    proj = module.aspp(next(reversed(feats.values())))
    low = dec.reduce(feats[module.low_level])
    up = F.interpolate(proj, size=low.shape[-2:], mode="bilinear", align_corners=False)
    fused = dec.fuse(torch.cat([up, low], dim=1))
    lg = dec.classifier(fused)
    out = module.upsample(lg, x.shape[-2:])

    def a(t: torch.Tensor) -> np.ndarray:
        return t[0].detach().float().cpu().numpy()

    return PlusSteps(
        aspp=a(proj),
        aspp_up=a(up),
        low=a(low),
        fused=a(fused),
        logits_low=a(lg),
        logits=a(out),
        class_map=out[0].argmax(0).to(torch.uint8).cpu().numpy(),
    )


# --------------------------------------------------------------------------- separable


def atrous_pair(channels: int, rate: int, *, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(regular 3×3 atrous conv, depthwise 3×3 atrous + pointwise 1×1), no bias, seeded."""
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        regular = nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate, bias=False)
        separable = nn.Sequential(
            nn.Conv2d(
                channels, channels, 3, padding=rate, dilation=rate, groups=channels, bias=False
            ),
            nn.Conv2d(channels, channels, 1, bias=False),
        )
    return regular.eval(), separable.eval()


@dataclass(frozen=True)
class SeparableTiming:
    channels: int
    rate: int
    hw: int
    params: dict[str, int]  # counted on the modules
    flops: dict[str, int]  # torch.utils.flop_counter, 2 per multiply-add
    median_ms: dict[str, float]
    runs_ms: dict[str, tuple[float, ...]]


def separable_latency(
    channels: int = 256,
    rate: int = 2,
    hw: int = 33,
    *,
    repeats: int = 7,
    warmup: int = 2,
    threads: int | None = None,
) -> SeparableTiming:
    """Measure a regular and a depthwise-separable 3×3 atrous conv at the same rate
    on a (1, channels, hw, hw) input: parameters, FLOPs and median wall time (CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    if not (1 <= channels <= 2048 and 1 <= rate <= 64 and 3 <= hw <= 257):
        raise ValueError("channels 1–2048, rate 1–64, size 3–257")
    regular, separable = atrous_pair(channels, rate)
    x = torch.randn(1, channels, hw, hw, generator=torch.Generator().manual_seed(0))
    mods = {"regular": regular, "separable": separable}
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in mods.items()}
    flops, med, runs = {}, {}, {}
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for k, m in mods.items():
                with FlopCounterMode(display=False) as fc:
                    m(x)
                flops[k] = int(fc.get_total_flops())
            order = ["regular", "separable"]
            for _ in range(warmup):
                for k in order:
                    mods[k](x)
            times: dict[str, list[float]] = {k: [] for k in order}
            for i in range(repeats):  # interleaved, so load changes hit both
                for k in order if i % 2 == 0 else order[::-1]:
                    t0 = time.perf_counter()
                    mods[k](x)
                    times[k].append((time.perf_counter() - t0) * 1000)
    finally:
        if threads is not None:
            torch.set_num_threads(old)
    for k, ts in times.items():
        med[k] = round(float(statistics.median(ts)), 3)
        runs[k] = tuple(round(t, 3) for t in ts)
    return SeparableTiming(channels, rate, hw, params, flops, med, runs)


def depthwise_rates(module: nn.Module) -> dict[int, int]:
    """``{rate: count}`` of the dilated depthwise 3×3 convs of a model as wired now."""
    out: dict[int, int] = {}
    for m in module.modules():
        if (
            isinstance(m, nn.Conv2d)
            and m.groups == m.in_channels > 1
            and m.kernel_size[0] > 1
            and m.dilation[0] > 1
        ):
            out[m.dilation[0]] = out.get(m.dilation[0], 0) + 1
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- multi-grid

MULTI_GRIDS: dict[str, tuple[int, int, int]] = {
    "(1, 1, 1)": (1, 1, 1),
    "(1, 2, 1)": (1, 2, 1),
    "(2, 2, 2)": (2, 2, 2),
    "(1, 2, 4)": (1, 2, 4),
}


def multigrid_rates(unit_rates: Sequence[int], block_rate: int) -> tuple[int, ...]:
    """The rates of the last block's three 3×3 convs: unit rate × the block's rate
    (DeepLabv3: Multi_Grid = (1, 2, 4) at block rate 2 gives 2, 4, 8)."""
    if block_rate < 1 or any(int(r) < 1 for r in unit_rates):
        raise ValueError("rates must be positive integers")
    return tuple(int(r) * int(block_rate) for r in unit_rates)


def multigrid_verdict(base, chosen, unit: str, block_rate: int) -> str:
    """One sentence comparing two :class:`~deeplab_viz.gridding.Coverage`: (1, 1, 1) and
    ``unit`` at ``block_rate``, read off their numbers (cells read, share of the field).

    More cells read does not mean a larger share: at block rate 2 every rate shares
    the factor 2, so both read at most a quarter of their field.
    """
    if chosen.rates == base.rates:
        return (
            f"{unit} × {block_rate} is the plain stack: {base.covered} of {base.rf_cells} "
            f"cells ({base.coverage:.1%})."
        )
    more = chosen.covered / base.covered
    if abs(chosen.coverage - base.coverage) < 5e-4:
        share = "and the same"
    else:
        share = "and a larger" if chosen.coverage > base.coverage else "but a smaller"
    reach = (
        f"the same {base.covered} cells as"
        if chosen.covered == base.covered
        else f"**{more:.1f}×** the {base.covered} cells of"
    )
    return (
        f"**{unit} × {block_rate}** reads {chosen.covered} cells of a {chosen.side}×"
        f"{chosen.side} field, {reach} (1, 1, 1) × {block_rate} ({base.side}×{base.side}), "
        f"{share} share of its own field: {chosen.coverage:.1%} against {base.coverage:.1%}."
        + (
            f" The block's rate {block_rate} is a factor of every rate, so at most one cell in "
            f"{block_rate**2} can be read whatever the unit rates: multi-grid buys reach, "
            "not density."
            if block_rate > 1
            else ""
        )
    )


def multigrid_stack(rates: Sequence[int], channels: int = 4, *, seed: int = 0) -> nn.Module:
    """A small stride-1 stack of 3×3 convs + ReLU at ``rates`` (seeded random weights,
    positive so no path cancels), for a gradient ERF next to the exact coverage."""
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cin = 1
        for r in rates:
            conv = nn.Conv2d(cin, channels, 3, padding=int(r), dilation=int(r), bias=False)
            with torch.no_grad():
                conv.weight.uniform_(0.5, 1.5)
            layers += [conv, nn.ReLU()]
            cin = channels
    return nn.Sequential(*layers).eval()


def multigrid_erf(rates: Sequence[int], *, n_samples: int = 4, seed: int = 0):
    """ERF (:func:`deeplab_viz.erf.erf_map`) of the centre unit of :func:`multigrid_stack`,
    on an input just big enough for its receptive field."""
    from .erf import erf_map

    side = 1 + 2 * sum(int(r) for r in rates)
    n = side + 8
    stack = multigrid_stack(rates, seed=seed)
    x = torch.zeros(1, 1, n, n)
    return erf_map(stack, x, out_yx=(n // 2, n // 2), n_samples=n_samples, seed=seed)
