"""A head drawn from its own structure: ``named_children()`` walked into a graph.

:func:`head_graph` walks ``named_children()`` of any head and returns nodes and
edges: ``nn.Sequential`` and plain modules are chains, an ``nn.ModuleList`` is a
set of parallel branches merged by a concatenation (or by a sum when the parent
says ``merge = "sum"``), a conv followed by its batch norm / activation is one node;
the v3+ decoder's two inputs are drawn as they are used in its ``forward``. The graph
is laid out by :func:`deeplab_viz.family.graph.layout`.
"""

from __future__ import annotations

from torch import nn

from .graph import Graph, Node, layout
from .heads import DenseCRF, SumMerge

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
