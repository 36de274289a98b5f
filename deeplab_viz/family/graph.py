"""A directed graph of layers to draw, and its layout in columns and rows.

Generic: nodes and edges by id, nothing about torch. :func:`layout` places any such
graph; :func:`deeplab_viz.family.diagram.head_graph` builds one from a module, and
:func:`deeplab_viz.plots.family.graph_figure` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """Layers (a head) as a directed graph: nodes in forward order, edges (from, to) by id.

    :func:`layout` needs what every builder gives it: node 0 is the main input, and
    nodes are listed in topological order.
    """

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
