"""Theoretical receptive field of a stack of convolutions, one formula per function.

Units are *input pixels*; input pixel ``i`` is centred at coordinate ``i`` (so the first
pixel is at 0.0). For each layer we track, after that layer:

* ``size`` - side of the receptive field of one unit (input pixels);
* ``jump`` - distance between neighbouring units, in input pixels (the output stride);
* ``start`` - input coordinate of the centre of the receptive field of unit 0
  (can be negative or fractional: padding shifts it, even kernels put it between pixels).

Only the longest path counts: residual/skip branches see a subset of it and do not
enlarge the receptive field; pooling layers behave like convolutions here.

References: A. Araujo, W. Norris, J. Sim, "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019 (the recurrences used here); W. Luo et al., "Understanding
the Effective Receptive Field in Deep Convolutional Neural Networks", NIPS 2016 (why the
*effective* field is much smaller: see :mod:`deeplab_viz.erf`).

One concept per module:

* :mod:`.formulas`: the recurrences (``rf_size``, ``rf_jump``, ``rf_start``, a unit's
  centre, "same" padding), one small function each, units in the docstrings;
* :mod:`.layer`: :class:`Layer`, one convolution or pooling layer, and its padding
  convention;
* :mod:`.stack`: the formulas applied layer by layer (:func:`rf_table`), one unit's
  bounds, and the footprint (paths to every pixel: the holes of gridding);
* :mod:`.parsing`: layer lists typed as text or table rows, and their limits;
* :mod:`.presets`: named stacks of real backbones, and the output-stride rule;
* :mod:`.hdc`: the Hybrid Dilated Convolution rule (Wang et al. 2018) and a fix;
* :mod:`.boxes`: a receptive field placed on an image (:class:`RFBox`);
* :mod:`.model`: the layers of a real :class:`DeepLabV3` (:func:`model_layers`) and
  the receptive field of every backbone stage and ASPP branch (:func:`model_rf_table`);
* :mod:`.coordinates`: image pixels ↔ model-input pixels, and the fields around a
  picked pixel.
* :mod:`.views`: what the Receptive fields page shows of them, as rows and keys.

Every public name is re-exported here (``from deeplab_viz import receptive_field as R;
R.rf_table``); inside the library, import from the module that defines it.
"""

from __future__ import annotations

from .boxes import RFBox, nearest_unit, rf_box
from .coordinates import PlacedRF, image_to_input, input_to_image_edges, place_on_image
from .formulas import rf_centre, rf_jump, rf_size, rf_start, same_padding
from .hdc import HDCFix, HDCResult, hdc_check, suggest_hdc_fix
from .layer import Layer
from .model import ModelRFRow, layer_of_module, model_layers, model_rf_table
from .parsing import (
    MAX_LAYERS,
    MAX_SPAN,
    MAX_TEXT_CHARS,
    MAX_VALUE,
    ROW_FIELDS,
    check_span,
    format_layers,
    layers_from_rows,
    layers_from_text,
    layers_to_rows,
    parse_layers,
    parse_rows,
)
from .presets import PRESETS, dilate_for_output_stride, with_aspp_branch
from .stack import RFRow, rf_bounds, rf_footprint, rf_table
from .views import default_boxes, drawable, layer_records, placed_records

__all__ = [
    "MAX_LAYERS",
    "MAX_SPAN",
    "MAX_TEXT_CHARS",
    "MAX_VALUE",
    "PRESETS",
    "ROW_FIELDS",
    "HDCFix",
    "HDCResult",
    "Layer",
    "ModelRFRow",
    "RFBox",
    "RFRow",
    "PlacedRF",
    "check_span",
    "default_boxes",
    "drawable",
    "image_to_input",
    "input_to_image_edges",
    "layer_of_module",
    "layer_records",
    "layers_from_rows",
    "layers_from_text",
    "layers_to_rows",
    "model_layers",
    "model_rf_table",
    "nearest_unit",
    "parse_rows",
    "place_on_image",
    "placed_records",
    "rf_box",
    "dilate_for_output_stride",
    "format_layers",
    "hdc_check",
    "parse_layers",
    "rf_bounds",
    "rf_centre",
    "rf_footprint",
    "rf_jump",
    "rf_size",
    "rf_start",
    "rf_table",
    "same_padding",
    "suggest_hdc_fix",
    "with_aspp_branch",
]
