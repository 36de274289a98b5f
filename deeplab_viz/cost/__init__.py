"""What output stride and atrous rates cost: FLOPs, latency, memory, and what they buy.

One concept per module; each states its convention (say it wherever a number is shown):

* :mod:`.flops`: FLOPs, **2 per multiply-add** of convolutions and matrix products
  (``torch.utils.flop_counter``), counted on fake tensors; whole model or by part.
* :mod:`.latency`: wall-clock time of one forward (median and 90th percentile), and
  cuDNN's autotuner (``cudnn.benchmark``) on and off.
* :mod:`.memory`: peak extra memory of one forward (CUDA allocator statistics; on a CPU
  RSS growth plus the peak of torch's CPU allocations), and the bytes of a probe's
  feature maps.
* :mod:`.taps`: the share of an atrous kernel's taps that land on real feature cells.
* :mod:`.rate`: one 3×3 convolution swept over rates (time, memory), and its verdict.
* :mod:`.benchmark`: each model at each stride, precision and size; ratios between them.
* :mod:`.machine`: where the numbers were measured.
* :mod:`.strides`: what each output stride costs and buys on one image.
* :mod:`.inputs`: the zeros input the model measurements run on.

Every function only *reads* the model it is given: no hooks are put on it (the FLOP
counter's module tracker uses global hooks that it removes on exit), no ``.train()``,
no in-place edits, so the shared, cached models of the app can be measured safely.

The names below are re-exported here, so ``from deeplab_viz import cost; cost.X`` works
for all of them; inside the library, import from the module that defines a name.
:func:`agreement`, :func:`crop_box`, :func:`boundary_zoom` and
:func:`most_disagreement` compare two class maps: they live in
:mod:`deeplab_viz.agreement` and are re-exported here for the pages that show them next
to the costs.
"""

from __future__ import annotations

from ..agreement import agreement, boundary_zoom, crop_box, most_disagreement
from .benchmark import CostPoint, benchmark_models, measure_config, ratios
from .flops import FLOP_CONVENTION, count_flops, flops_by_part
from .latency import (
    LatencyResult,
    cudnn_benchmark,
    cudnn_compare,
    interleaved_latency,
    measure_latency,
)
from .machine import machine_info
from .memory import (
    ALLOC_NOTE,
    CUDA_METHOD,
    METHOD_NOTES,
    RSS_METHOD,
    MemoryResult,
    activation_bytes,
    peak_memory,
)
from .rate import RatePoint, memory_vs_rate, rate_verdict
from .strides import StrideRow, compare_strides
from .taps import TapRow, tap_table, valid_tap_share

__all__ = [
    "CUDA_METHOD",
    "FLOP_CONVENTION",
    "RSS_METHOD",
    "ALLOC_NOTE",
    "METHOD_NOTES",
    "CostPoint",
    "LatencyResult",
    "MemoryResult",
    "RatePoint",
    "StrideRow",
    "TapRow",
    "activation_bytes",
    "benchmark_models",
    "agreement",
    "boundary_zoom",
    "compare_strides",
    "count_flops",
    "crop_box",
    "cudnn_benchmark",
    "cudnn_compare",
    "flops_by_part",
    "machine_info",
    "measure_config",
    "interleaved_latency",
    "measure_latency",
    "memory_vs_rate",
    "most_disagreement",
    "peak_memory",
    "rate_verdict",
    "ratios",
    "tap_table",
    "valid_tap_share",
]
