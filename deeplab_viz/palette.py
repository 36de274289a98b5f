"""The PASCAL VOC colour map, class-map PNGs and overlays (numpy and Pillow only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def voc_palette(n: int = 256) -> np.ndarray:
    """The standard VOC colour map, (n, 3) uint8: class c's colour from the bits of c."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for c in range(n):
        r = g = b = 0
        cid = c
        for j in range(8):
            r |= ((cid >> 0) & 1) << (7 - j)
            g |= ((cid >> 1) & 1) << (7 - j)
            b |= ((cid >> 2) & 1) << (7 - j)
            cid >>= 3
        cmap[c] = (r, g, b)
    return cmap


PALETTE = voc_palette()


def voc_colours(class_map: np.ndarray) -> np.ndarray:
    """(H, W) class indices → (H, W, 3) uint8 VOC colours."""
    return PALETTE[class_map]


def class_edges(class_map: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right or lower neighbour has another class."""
    cm = np.asarray(class_map)
    edge = np.zeros(cm.shape, dtype=bool)
    edge[:-1, :] |= cm[1:, :] != cm[:-1, :]
    edge[:, :-1] |= cm[:, 1:] != cm[:, :-1]
    return edge


def overlay(
    rgb: np.ndarray, class_map: np.ndarray, *, alpha: float = 0.45, outline: bool = False
) -> np.ndarray:
    """Class colours blended over the image; background (class 0) left untouched.

    ``alpha`` is the colour's share (0.45 keeps a dark class such as VOC's maroon
    "cat" from veiling the photo); ``outline`` also draws the class boundaries in white.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    out = rgb.astype(np.float32)
    fg = class_map > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * voc_colours(class_map)[fg].astype(np.float32)
    out = out.round().astype(np.uint8)
    if outline:
        out[class_edges(class_map)] = 255
    return out


def class_image(class_map: np.ndarray) -> Image.Image:
    """A palette image whose pixel values are the class indices (VOC convention)."""
    img = Image.fromarray(class_map.astype(np.uint8), mode="P")
    img.putpalette(PALETTE.ravel().tolist())
    return img


def save_class_png(class_map: np.ndarray, path: Path) -> None:
    """:func:`class_image` saved as a PNG at ``path``."""
    class_image(class_map).save(path, format="PNG")


def hex_color(class_index: int) -> str:
    r, g, b = PALETTE[class_index]
    return f"#{r:02x}{g:02x}{b:02x}"
