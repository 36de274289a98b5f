"""The receptive-field recurrences, one formula per function, units in every docstring.

After each layer of a stack, three numbers describe the units of its output (Araujo,
Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill
2019):

* ``size``: side of the receptive field of one unit, input pixels;
* ``jump``: distance between neighbouring units, input pixels (the output stride);
* ``start``: input coordinate of the centre of unit 0's receptive field, input pixels
  (pixel ``i`` is centred at ``i``; padding shifts it, even kernels put it between
  pixels).

The input itself is ``size = 1, jump = 1, start = 0``. A layer's dilated kernel spans
``k_eff = k + (k - 1)(d - 1)`` of its input pixels
(:func:`deeplab_viz.atrous.effective_kernel_size`). Plain arithmetic: no numpy, no torch.
"""

from __future__ import annotations


def rf_size(size_in: int, k_eff: int, jump_in: int) -> int:
    """Receptive field after a layer: ``r_out = r_in + (k_eff - 1) * j_in``.

    Args:
        size_in: receptive field side before the layer, input pixels.
        k_eff: the layer's effective (dilated) kernel side, in its own input cells.
        jump_in: distance between the layer's input cells, input pixels.

    Returns:
        The receptive field side after the layer, input pixels.
    """
    return size_in + (k_eff - 1) * jump_in


def rf_jump(jump_in: int, stride: int) -> int:
    """Distance between neighbouring output units: ``j_out = j_in * s``.

    Args:
        jump_in: distance between the layer's input cells, input pixels.
        stride: the layer's stride, in its own input cells.

    Returns:
        The distance between its output units, input pixels.
    """
    return jump_in * stride


def rf_start(start_in: float, k_eff: int, padding: int, jump_in: int) -> float:
    """Centre of unit 0's receptive field: ``start_in + ((k_eff - 1)/2 - p) * j_in``.

    Args:
        start_in: centre of the receptive field of input cell 0, input-pixel coordinate.
        k_eff: the layer's effective (dilated) kernel side, in its own input cells.
        padding: the layer's padding on each side, in its own input cells.
        jump_in: distance between the layer's input cells, input pixels.

    Returns:
        The centre of output unit 0's receptive field, input-pixel coordinate (pixel
        ``i`` centred at ``i``).
    """
    return start_in + ((k_eff - 1) / 2 - padding) * jump_in


def rf_centre(start: float, jump: int, index: int) -> float:
    """Centre of unit ``index``'s receptive field: ``start + jump * index``.

    Args:
        start: centre of unit 0's receptive field, input-pixel coordinate.
        jump: distance between neighbouring units, input pixels.
        index: the unit, along one axis (0-based).

    Returns:
        The centre of that unit's receptive field, input-pixel coordinate.
    """
    return start + jump * index


def same_padding(k_eff: int) -> int:
    """The "same" padding of an odd kernel: ``(k_eff - 1) // 2``.

    Args:
        k_eff: effective (dilated) kernel side, in the layer's input cells.

    Returns:
        Padding on each side, in the layer's input cells (torchvision's
        ``padding=dilation`` for a 3×3).
    """
    return (k_eff - 1) // 2
