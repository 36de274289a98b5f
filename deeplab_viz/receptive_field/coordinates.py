"""Image pixels ↔ model-input pixels, and a model's receptive fields around a picked pixel.

The model sees the image resized from ``image_hw`` to ``input_hw`` (bilinear,
``align_corners=False``: pixel centres map to pixel centres). Plot coordinates put image
pixel ``i`` at ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .boxes import RFBox, nearest_unit, rf_box
from .formulas import rf_centre

if TYPE_CHECKING:
    from .model import ModelRFRow


def image_to_input(
    pixel_yx: Sequence[float], *, input_hw: Sequence[int], image_hw: Sequence[int]
) -> tuple[float, float]:
    """Image pixel (row, col) → model-input coordinate, for a resize of ``image_hw`` to
    ``input_hw`` (pixel centres, as bilinear resizing with ``align_corners=False``)."""
    return tuple(  # type: ignore[return-value]
        (p + 0.5) * n_in / n_img - 0.5
        for p, n_in, n_img in zip(pixel_yx, input_hw, image_hw, strict=True)
    )


def input_to_image_edges(
    y0: float,
    y1: float,
    x0: float,
    x1: float,
    *,
    input_hw: Sequence[int],
    image_hw: Sequence[int],
) -> tuple[float, float, float, float]:
    """Model-input pixels ``y0..y1, x0..x1`` (inclusive) → ``(top, bottom, left, right)``
    edges in image-pixel plot coordinates (image pixel ``i`` centred at ``i``)."""
    sy, sx = input_hw[0] / image_hw[0], input_hw[1] / image_hw[1]
    return (y0 / sy - 0.5, (y1 + 1) / sy - 0.5, x0 / sx - 0.5, (x1 + 1) / sx - 0.5)


@dataclass(frozen=True)
class PlacedRF:
    """One row's RF for the unit nearest a picked image pixel.

    ``box`` in model-input pixels (against ``input_hw``), ``edges`` = its unclipped
    ``(top, bottom, left, right)`` in image-pixel plot coordinates, ``centre_image_yx``
    the unit's centre on the image.
    """

    row: ModelRFRow
    unit_yx: tuple[int, int]
    box: RFBox
    edges: tuple[float, float, float, float]
    centre_image_yx: tuple[float, float]


def place_on_image(
    rows: Sequence[ModelRFRow],
    pixel_yx: Sequence[int],
    *,
    input_hw: Sequence[int],
    image_hw: Sequence[int],
) -> list[PlacedRF]:
    """Each row's RF around the unit of that row nearest image pixel ``pixel_yx``.

    ``input_hw``: the image as the model sees it (resized, unpadded). Units of coarser
    rows sit on a coarser grid, so their centres may differ from the pixel by up to half
    a jump. Global rows cover the whole input.
    """
    in_hw = (int(input_hw[0]), int(input_hw[1]))
    img_hw = (int(image_hw[0]), int(image_hw[1]))
    ry, rx = image_to_input(pixel_yx, input_hw=in_hw, image_hw=img_hw)
    out = []
    for row in rows:
        oh, ow = row.output_hw(in_hw)
        unit = (
            nearest_unit(row.start, row.jump, ry, oh),
            nearest_unit(row.start, row.jump, rx, ow),
        )
        centre = (rf_centre(row.start, row.jump, unit[0]), rf_centre(row.start, row.jump, unit[1]))
        box = rf_box(row.size, centre, in_hw)
        edges = input_to_image_edges(
            box.y0, box.y1, box.x0, box.x1, input_hw=in_hw, image_hw=img_hw
        )
        sy, sx = in_hw[0] / img_hw[0], in_hw[1] / img_hw[1]
        centre_img = ((centre[0] + 0.5) / sy - 0.5, (centre[1] + 0.5) / sx - 0.5)
        out.append(PlacedRF(row, unit, box, edges, centre_img))
    return out
