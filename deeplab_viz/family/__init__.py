"""The DeepLab family, v1 → v3+: heads as modules, drawn from their own structure.

One concept per module:

- :mod:`.heads`: :func:`v1_head` and :func:`v2_head`, small *architecture-only*
  modules (random weights) with the layers of DeepLab-v1 and DeepLab-v2's summed ASPP;
  :func:`model_head` (a trained model's ``aspp`` + ``head``, v3 / v3+) and
  :func:`torchvision_v3_head`.
- :mod:`.graph`: :class:`Graph` / :class:`Node`, a directed graph of layers, and
  :func:`layout`, its generic placement in columns and rows.
- :mod:`.diagram`: :func:`head_graph` walks ``named_children()`` of any head into a
  :class:`Graph` (chains, parallel branches and their merge, the v3+ decoder's two
  inputs). :func:`deeplab_viz.plots.family.graph_figure` draws it.
- :mod:`.decoder`: :func:`plus_steps`, a hook-free forward of a v3+ model that keeps
  every step of its decoder; :func:`stride_rows` and :func:`decoder_gain`, what the
  decoder buys at each output stride.
- :mod:`.separable`: :func:`separable_latency`, regular vs depthwise-separable atrous
  conv, measured; :func:`depthwise_rates` of a model; :func:`dilated_sites` of a wiring.
- :mod:`.multigrid`: :func:`multigrid_rates` / :func:`multigrid_stack`, DeepLabv3's
  multi-grid.

Every public name is re-exported here (``from deeplab_viz import family as FA;
FA.head_graph``); inside the library, import from the module that defines it.
"""

from __future__ import annotations

from .decoder import DecoderGain, PlusSteps, decoder_gain, plus_steps, stride_rows
from .diagram import head_graph
from .graph import Graph, Node, layout
from .heads import (
    V2ASPP,
    DenseCRF,
    Head,
    SumMerge,
    V1Head,
    model_head,
    torchvision_v3_head,
    v1_head,
    v2_head,
)
from .multigrid import (
    MULTI_GRIDS,
    multigrid_erf,
    multigrid_rates,
    multigrid_stack,
    multigrid_verdict,
)
from .separable import (
    SeparableTiming,
    atrous_pair,
    depthwise_rates,
    dilated_sites,
    separable_latency,
)

__all__ = [
    "MULTI_GRIDS",
    "DecoderGain",
    "DenseCRF",
    "Graph",
    "Head",
    "Node",
    "PlusSteps",
    "SeparableTiming",
    "SumMerge",
    "V1Head",
    "V2ASPP",
    "atrous_pair",
    "decoder_gain",
    "depthwise_rates",
    "dilated_sites",
    "head_graph",
    "layout",
    "model_head",
    "multigrid_erf",
    "multigrid_rates",
    "multigrid_stack",
    "multigrid_verdict",
    "plus_steps",
    "separable_latency",
    "stride_rows",
    "torchvision_v3_head",
    "v1_head",
    "v2_head",
]
