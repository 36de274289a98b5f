"""Where classes meet: outlines, their neighbourhoods, and the boundary F-score.

Binary morphology is scipy's; a label map's outline is its pixels with a
4-neighbour of another label. The boundary F-score follows the DAVIS / BSDS
convention: predicted and true outlines match within a tolerance in pixels.
PASCAL VOC's void band (label 255 along every object outline) is handled as
:func:`true_outline` explains.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

# pixels: ShapesWorld's tolerance (VOC's evaluation passes evaluate.BOUNDARY_TOLERANCE)
BOUNDARY_TOLERANCE = 2


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of (…, H, W) bool masks by a (2r+1)² square; outside counts as False.

    ``scipy.ndimage.binary_dilation`` with a row then a column of 2r+1 (a square
    is separable), each mask on its own.
    """
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0:
        return mask
    lead = (1,) * (mask.ndim - 2)
    row = np.ones((*lead, 1, 2 * radius + 1), dtype=bool)
    col = np.ones((*lead, 2 * radius + 1, 1), dtype=bool)
    return ndimage.binary_dilation(ndimage.binary_dilation(mask, row), col)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """(…, H, W) bool: pixels with a 4-neighbour of another label."""
    b = np.zeros(labels.shape, dtype=bool)
    dy = labels[..., 1:, :] != labels[..., :-1, :]
    dx = labels[..., :, 1:] != labels[..., :, :-1]
    b[..., 1:, :] |= dy
    b[..., :-1, :] |= dy
    b[..., :, 1:] |= dx
    b[..., :, :-1] |= dx
    return b


def fill_void(label: np.ndarray, void: np.ndarray, steps: int) -> np.ndarray:
    """(H, W) labels where each ``void`` pixel within ``steps`` px (Chebyshev) of a
    labelled one takes the label of a nearest labelled pixel (ties: the smallest
    label); void pixels farther away are set to -1.
    """
    big = float(1 << 20)
    t = torch.from_numpy(np.where(void, big, label).astype(np.float32))[None, None]  # (1,1,H,W)
    for _ in range(steps):
        if not bool((t == big).any()):
            break
        nearest = -F.max_pool2d(-t, 3, stride=1, padding=1)  # 3×3 minimum
        t = torch.where(t == big, nearest, t)
    out = t[0, 0].numpy()
    return np.where(out == big, -1, out).astype(np.int64)


def true_outline(
    label: np.ndarray, ignore_index: int, tolerance: int
) -> tuple[np.ndarray, np.ndarray]:
    """The outline of a label map with void pixels, and where predicted outlines count.

    PASCAL VOC marks a band about 5 px wide along every object outline as void
    (255), so the outline itself lies in void pixels. Void pixels within
    ``tolerance + 1`` px of labelled ones take the label of a nearest labelled
    pixel (:func:`fill_void`); the true outline is the boundary of that map
    (:func:`boundaries`), kept only within ``tolerance`` px of labelled pixels, so
    it runs through the middle of the band and never deep inside a large void
    region (an object marked void as a whole). Returns ``(outline, counted)``,
    both (H, W) bool: ``counted`` is where a predicted outline pixel is scored:
    within ``tolerance`` px of the true outline, or more than 1 px from any void
    pixel. So a predicted outline along the edge of a region the annotators left
    void (both of its sides: :func:`boundaries` marks two pixels) is ignored.
    """
    void = label == ignore_index
    filled = fill_void(label, void, tolerance + 1)
    near_labels = dilate(~void, tolerance)
    outline = boundaries(filled) & near_labels
    counted = ~dilate(void, 1) | dilate(outline, tolerance)
    return outline, counted


def boundary_f(
    pred: np.ndarray,
    label: np.ndarray,
    tolerance: int = BOUNDARY_TOLERANCE,
    *,
    ignore_index: int | None = None,
) -> float:
    """Boundary F-score of one (H, W) prediction against its label (see module doc).

    With ``ignore_index`` (VOC: 255), label pixels of that value are void: the true
    outline and the predicted pixels that count come from :func:`true_outline`.
    A label map without void pixels is scored exactly as without ``ignore_index``.
    """
    bp = boundaries(pred)
    if ignore_index is not None and bool((label == ignore_index).any()):
        bg, counted = true_outline(label, ignore_index, tolerance)
        bp &= counted
    else:
        bg = boundaries(label)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    near_g, near_p = dilate(np.stack([bg, bp]), tolerance)
    precision = float((bp & near_g).sum()) / n_p
    recall = float((bg & near_p).sum()) / n_g
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boundary_mask(class_map: np.ndarray, width: int = 3) -> np.ndarray:
    """Pixels within ``width`` px of a change of class (bool, the map's shape)."""
    return dilate(boundaries(np.asarray(class_map)), max(0, int(width) - 1))


def share_near_boundary(a_map: np.ndarray, reference: np.ndarray, width: int) -> float:
    """Of the pixels where ``a_map`` differs from ``reference``, the share that lies within
    ``width`` px of a class boundary of ``reference`` (1.0 when they do not differ)."""
    diff = np.asarray(a_map) != np.asarray(reference)
    if not diff.any():
        return 1.0
    return float(boundary_mask(reference, width)[diff].mean())
