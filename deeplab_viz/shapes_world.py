"""ShapesWorld: a procedural segmentation world where scale is the only question.

Every scene is a ``size × size`` RGB image (default 160 px) on a textured
background with 1–6 objects of four classes, **disc**, **square**, **triangle**
and **ring**, and an exact class mask (0 = background). It is built so that a
class can see and measure what DeepLab's receptive field and atrous rates do:

- **Classes differ only at their outline.** Every object's fill texture is drawn
  from the same distribution as every other object's: a random saturated base
  colour, then one of noise / stripes / checker / gradient at a random scale and
  angle. Inside a large object nothing tells a disc from a square; only a
  receptive field that reaches the outline can.
- **Object or background is local; which object is not.** The background is
  textured from the same four patterns, but its base colour is grey-toned (HSV
  saturation at most 0.18) where every object's is saturated (at least 0.55).
  So a network can tell *an object is here* from a few pixels, and the one
  question left to context is the one the scale lab measures: *which* shape.
- **Sizes span the whole range.** The diameter ``d`` of an object (the diameter of
  the circle it is inscribed in: a disc's diameter, a square's diagonal, the
  circumcircle of an equilateral triangle, a ring's outer diameter) is drawn
  log-uniformly from ``MIN_DIAMETER`` (6 px) to 90 % of the image, so every
  bucket of :data:`SIZE_BUCKETS` is populated: tiny < 12 px, small 12–32,
  medium 32–80, large ≥ 80.
- **Objects stand out.** Each object's fill has a mean colour at least
  ``MIN_CONTRAST`` (80, RGB distance) away from the background's and from every
  object drawn before it, and texture swings (at most ±22 around the mean, plus
  a little grain) are kept well below that, so an outline is always visible,
  though textures have edges of their own.
- **Occlusion that keeps outlines.** Objects are drawn largest first, so a small
  object can sit on a large one (cutting a hole into its mask) but is never
  hidden by it. A position is accepted only when every object already drawn
  still shows at least 90 % (``1 − MAX_HIDDEN_OUTLINE``) of its outline; after
  :data:`PLACEMENT_TRIES` refused positions the object is left out. The outline
  is what tells the classes apart, so it must be there to be seen: a square whose
  corners are all under other objects is not a square any more. Objects lie
  wholly inside the image (their circumscribed circle does, when it fits).
  The ring's hole shows whatever lies beneath (background or a larger object).
- **Exact masks.** A pixel belongs to a shape when its centre ``(y + ½, x + ½)``
  lies inside the shape's geometry; the RGB image is painted with the very same
  hard masks (no anti-aliasing), so image and labels agree pixel for pixel.
- **Deterministic.** A scene is a pure function of ``(seed, size)`` through
  ``numpy.random.Generator(PCG64(seed))``. Training uses seeds from
  :data:`TRAIN_SEED_START` upward; the held-out set is the disjoint range
  :data:`HELDOUT_SEEDS` (1 000 000 …).

Each :class:`Scene` also keeps an instance map and one :class:`SceneObject` per
object (class, centre, diameter, size bucket, visible pixel count), which the
per-size metrics of :mod:`deeplab_viz.eval_shapes` use.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "disc", "square", "triangle", "ring")
SHAPES: tuple[str, ...] = CLASS_NAMES[1:]

DEFAULT_SIZE = 160  # pixels, square scenes
MIN_DIAMETER = 6.0  # pixels
MAX_DIAMETER_FRACTION = 0.9  # of the scene's side
MAX_OBJECTS = 6
RING_INNER = 0.5  # inner / outer diameter of a ring
MIN_CONTRAST = 80.0  # RGB distance between mean colours of neighbouring layers
TEXTURES: tuple[str, ...] = ("noise", "stripes", "checker", "gradient")
OBJECT_SATURATION = (0.55, 1.0)  # HSV saturation of an object's mean colour
BACKGROUND_SATURATION = (0.0, 0.18)  # … and of the background's
VALUE_RANGE = (0.35, 0.9)  # HSV value (brightness) of every mean colour
MAX_HIDDEN_OUTLINE = 0.1  # of an object's outline pixels a later object may cover
PLACEMENT_TRIES = 20  # positions tried before an object is left out

# (name, lowest diameter, highest diameter) in pixels; lowest inclusive, highest exclusive.
SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("tiny", 0.0, 12.0),
    ("small", 12.0, 32.0),
    ("medium", 32.0, 80.0),
    ("large", 80.0, math.inf),
)
BUCKET_NAMES: tuple[str, ...] = tuple(b[0] for b in SIZE_BUCKETS)


def bucket_label(name: str) -> str:
    """ "tiny (< 12 px)", "small (12–32 px)", … from :data:`SIZE_BUCKETS`."""
    for b, lo, hi in SIZE_BUCKETS:
        if b == name:
            if lo == 0:
                return f"{b} (< {hi:.0f} px)"
            if math.isinf(hi):
                return f"{b} (≥ {lo:.0f} px)"
            return f"{b} ({lo:.0f}–{hi:.0f} px)"
    return name


TRAIN_SEED_START = 0
HELDOUT_START = 1_000_000
HELDOUT_COUNT = 200
HELDOUT_SEEDS = range(HELDOUT_START, HELDOUT_START + HELDOUT_COUNT)


def bucket_of(diameter: float) -> str:
    """The size bucket of an object of ``diameter`` pixels."""
    for name, lo, hi in SIZE_BUCKETS:
        if lo <= diameter < hi:
            return name
    raise ValueError(f"diameter must be ≥ 0, got {diameter}")


@dataclass(frozen=True)
class SceneObject:
    """One drawn object."""

    class_id: int  # index into CLASS_NAMES (1…4)
    class_name: str
    centre_yx: tuple[float, float]  # pixels, image coordinates of the shape's centre
    diameter: float  # pixels, diameter of the circumscribed circle
    angle: float  # radians, rotation (squares and triangles)
    bucket: str  # a name of SIZE_BUCKETS
    pixels: int  # visible pixels in the final mask (after occlusion and clipping)


@dataclass(frozen=True)
class Scene:
    """One generated scene: image, exact class mask, instance map and object records."""

    seed: int
    size: int
    rgb: np.ndarray = field(repr=False)  # (size, size, 3) uint8
    mask: np.ndarray = field(repr=False)  # (size, size) uint8 class ids, 0 = background
    instances: np.ndarray = field(repr=False)  # (size, size) uint8, 0 = bg, i+1 = objects[i]
    objects: tuple[SceneObject, ...]


# ------------------------------------------------------------------------- geometry


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x), each (size, size) float64."""
    c = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(c, c, indexing="ij")


def shape_mask(
    kind: str,
    centre_yx: tuple[float, float],
    diameter: float,
    angle: float,
    yy: np.ndarray,
    xx: np.ndarray,
) -> np.ndarray:
    """Exact mask (bool, like ``yy``) of one shape: pixel centres inside its geometry."""
    dy, dx = yy - centre_yx[0], xx - centre_yx[1]
    r = diameter / 2
    if kind == "disc":
        return dy * dy + dx * dx <= r * r
    if kind == "ring":
        d2 = dy * dy + dx * dx
        return (d2 <= r * r) & (d2 > (r * RING_INNER) ** 2)
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # rotated coordinates
    if kind == "square":
        half = r / math.sqrt(2)  # half side of the square inscribed in the circle
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if kind == "triangle":
        # Equilateral triangle inscribed in the circle: three half-planes at distance
        # r/2 from the centre, normals at angle, angle + 120°, angle + 240°.
        inside = np.ones(yy.shape, dtype=bool)
        for k in range(3):
            a = 2 * math.pi * k / 3
            inside &= math.cos(a) * u + math.sin(a) * v <= r / 2
        return inside
    raise ValueError(f"unknown shape {kind!r}; shapes are {SHAPES}")


def shape_area(kind: str, diameter: float) -> float:
    """Exact area in pixels² of a shape of ``diameter`` (for tests and sanity checks)."""
    r = diameter / 2
    return {
        "disc": math.pi * r * r,
        "ring": math.pi * r * r * (1 - RING_INNER**2),
        "square": 2 * r * r,
        "triangle": 3 * math.sqrt(3) / 4 * r * r,
    }[kind]


# -------------------------------------------------------------------------- textures


def _texture(
    rng: np.random.Generator, base: np.ndarray, yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """A (H, W, 3) float texture around the mean colour ``base`` (RGB, 0…255)."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    amp = rng.uniform(4.0, 22.0)  # half the swing between the texture's two colours
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) + 1e-9
    delta = amp * direction  # colour offset of the texture's "high" phase
    h, w = yy.shape
    if kind == "noise":
        t = rng.normal(size=(h, w))  # unit variance, per pixel
        t = np.clip(t, -2, 2) / 2
    elif kind == "stripes":
        theta, period = rng.uniform(0, math.pi), rng.uniform(4.0, 24.0)
        phase = rng.uniform(0, 2 * math.pi)
        t = np.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period + phase)
    elif kind == "checker":
        cell = rng.uniform(3.0, 20.0)
        oy, ox = rng.uniform(0, cell, size=2)
        t = (np.floor((yy + oy) / cell) + np.floor((xx + ox) / cell)) % 2 * 2 - 1
    else:  # gradient
        theta = rng.uniform(0, 2 * math.pi)
        proj = xx * math.cos(theta) + yy * math.sin(theta)
        t = (proj - proj.mean()) / (np.ptp(proj) / 2 + 1e-9)
    grain = rng.uniform(0.0, 4.0) * rng.normal(size=(h, w, 1))  # a little luminance noise
    return base[None, None, :] + t[..., None] * delta[None, None, :] + grain


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """RGB in 0…255 of a hue in turns (0…1), saturation and value in 0…1."""
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255.0


def _colour(
    rng: np.random.Generator, avoid: list[np.ndarray], *, role: str = "object"
) -> np.ndarray:
    """A mean colour at least MIN_CONTRAST from every colour in ``avoid`` (best of 32 tries).

    ``role="object"``: saturated (HSV saturation ``OBJECT_SATURATION``, any hue);
    ``"background"``: grey-toned (saturation ``BACKGROUND_SATURATION``). The two
    ranges never meet, so *object or background* is a local question, and *which
    object* is not.
    """
    s_lo, s_hi = OBJECT_SATURATION if role == "object" else BACKGROUND_SATURATION
    best, best_d = None, -1.0
    for _ in range(32):
        c = _hsv_to_rgb(rng.uniform(), rng.uniform(s_lo, s_hi), rng.uniform(*VALUE_RANGE))
        d = min((float(np.linalg.norm(c - a)) for a in avoid), default=math.inf)
        if d >= MIN_CONTRAST:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


# ------------------------------------------------------------------------------ scenes


def _window(centre_yx: tuple[float, float], diameter: float, size: int) -> tuple[slice, slice]:
    """Rows and columns of the image that a shape of ``diameter`` at ``centre_yx`` can touch."""
    r = diameter / 2 + 1
    y0, y1 = max(0, math.floor(centre_yx[0] - r)), min(size, math.ceil(centre_yx[0] + r) + 1)
    x0, x1 = max(0, math.floor(centre_yx[1] - r)), min(size, math.ceil(centre_yx[1] + r) + 1)
    return slice(y0, y1), slice(x0, x1)


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (bool) with a 4-neighbour outside it (the image edge counts as inside)."""
    m = np.asarray(mask, dtype=bool)
    p = np.pad(m, 1, mode="edge")
    interior = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~interior


def compose_scene(
    seed: int,
    diameters: np.ndarray,
    pick_class: Callable[[np.random.Generator], int],
    rng: np.random.Generator,
    size: int,
) -> Scene:
    """Paint objects of ``diameters`` (pixels) on a textured background.

    Objects are drawn largest first; a position is accepted when, with the new
    object in place, every object already drawn still shows at least
    ``1 − MAX_HIDDEN_OUTLINE`` of its outline pixels (up to :data:`PLACEMENT_TRIES` positions, else the object is
    left out), so every object keeps the outline that tells its class.
    """
    yy, xx = _grid(size)
    bg = _colour(rng, [], role="background")
    image = _texture(rng, bg, yy, xx)
    mask = np.zeros((size, size), np.uint8)
    instances = np.zeros((size, size), np.uint8)
    drawn: list[tuple[int, str, tuple[float, float], float, float]] = []
    outlines: list[tuple[np.ndarray, int]] = []  # (visible outline pixels, all of them) per object
    colours = [bg]
    for d in np.sort(np.asarray(diameters, dtype=np.float64))[::-1]:
        cls = pick_class(rng)
        kind = CLASS_NAMES[cls]
        margin = min(d / 2, size / 2)  # the whole circumscribed circle inside, if it fits
        for _ in range(PLACEMENT_TRIES):
            cy, cx = rng.uniform(margin, size - margin, size=2)
            angle = float(rng.uniform(0, 2 * math.pi))
            win = _window((cy, cx), float(d), size)
            local = shape_mask(kind, (cy, cx), float(d), angle, yy[win], xx[win])
            if local.any() and all(
                o.sum() - (local & o[win]).sum() >= (1 - MAX_HIDDEN_OUTLINE) * n0
                for o, n0 in outlines
            ):
                break
        else:
            continue  # no place that keeps the others' outlines: leave this object out
        colour = _colour(rng, colours)
        colours.append(colour)
        tex = _texture(rng, colour, yy[win], xx[win])
        image[win][local] = tex[local]
        mask[win][local] = cls
        instances[win][local] = len(drawn) + 1
        full = np.zeros((size, size), bool)
        full[win] = local
        for o, _ in outlines:  # covered pixels are no longer a visible part of any outline
            o &= ~full
        own = outline(full)
        outlines.append((own, int(own.sum())))
        drawn.append((cls, kind, (float(cy), float(cx)), float(d), angle))

    counts = np.bincount(instances.ravel(), minlength=len(drawn) + 1)
    objects = tuple(
        SceneObject(
            class_id=cls,
            class_name=kind,
            centre_yx=centre,
            diameter=d,
            angle=angle,
            bucket=bucket_of(d),
            pixels=int(counts[i + 1]),
        )
        for i, (cls, kind, centre, d, angle) in enumerate(drawn)
    )
    rgb = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    for a in (rgb, mask, instances):
        a.setflags(write=False)
    return Scene(
        seed=int(seed), size=size, rgb=rgb, mask=mask, instances=instances, objects=objects
    )


def generate_scene(
    seed: int,
    *,
    size: int = DEFAULT_SIZE,
    max_objects: int = MAX_OBJECTS,
    min_diameter: float = MIN_DIAMETER,
) -> Scene:
    """The scene of ``seed`` (deterministic: same arguments, same arrays)."""
    if size < 32:
        raise ValueError("size must be at least 32 pixels")
    if not 1 <= max_objects <= 254:
        raise ValueError("max_objects must be from 1 to 254")
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    n = int(rng.integers(1, max_objects + 1))
    hi = MAX_DIAMETER_FRACTION * size
    diameters = np.exp(rng.uniform(math.log(min_diameter), math.log(hi), size=n))
    return compose_scene(seed, diameters, lambda r: int(r.integers(1, len(CLASS_NAMES))), rng, size)


def scenes(seeds: range | list[int], *, size: int = DEFAULT_SIZE) -> Iterator[Scene]:
    """The scenes of ``seeds``, in order."""
    for s in seeds:
        yield generate_scene(s, size=size)


def heldout_seeds(n: int = HELDOUT_COUNT) -> range:
    """The first ``n`` seeds of the held-out range (never used for training)."""
    if not 1 <= n <= 100_000:
        raise ValueError("the held-out set has from 1 to 100000 scenes")
    return range(HELDOUT_START, HELDOUT_START + n)


def batch(seeds: range | list[int], *, size: int = DEFAULT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) uint8 images and (N, size, size) uint8 masks for ``seeds``."""
    got = [generate_scene(s, size=size) for s in seeds]
    return np.stack([g.rgb for g in got]), np.stack([g.mask for g in got])


# Largest diameter a custom scene may ask for, × the scene side.
MAX_SIDE_DIAMETER = 1.4


def custom_scene(
    seed: int,
    *,
    size: int = DEFAULT_SIZE,
    diameters: tuple[float, float] | None = None,
    n_objects: int = 4,
    shapes: Sequence[str] = SHAPES,
) -> Scene:
    """A ShapesWorld scene with ``n_objects`` objects of the given ``shapes``.

    Diameters are drawn log-uniformly from ``diameters`` (pixels, low ≤ high);
    ``None``: 6 px to 90 % of the side, as ShapesWorld itself. Objects are placed
    by :func:`~deeplab_viz.shapes_world.compose_scene`, exactly as in
    :func:`~deeplab_viz.shapes_world.generate_scene`: largest first, so small ones
    sit on top, and an object that would hide too much of another's outline is left
    out (so a crowded scene may hold fewer than ``n_objects``). Deterministic in all
    arguments.
    """
    if diameters is None:
        diameters = (MIN_DIAMETER, MAX_DIAMETER_FRACTION * size)
    lo, hi = (float(d) for d in diameters)
    if size < 32:
        raise ValueError("size must be at least 32 pixels")
    if not 1.0 <= lo <= hi <= MAX_SIDE_DIAMETER * size:
        raise ValueError(
            f"diameters must satisfy 1 ≤ low ≤ high ≤ {MAX_SIDE_DIAMETER * size:.0f}, "
            f"got {(lo, hi)}"
        )
    if not 1 <= int(n_objects) <= 32:
        raise ValueError("n_objects must be from 1 to 32")
    kinds = [s for s in SHAPES if s in set(shapes)]
    if not kinds or len(kinds) != len(set(shapes)):
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {shapes!r}")
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    ds = np.exp(rng.uniform(math.log(lo), math.log(hi), size=int(n_objects)))
    ids = [CLASS_NAMES.index(k) for k in kinds]
    return compose_scene(seed, ds, lambda r: ids[int(r.integers(len(ids)))], rng, size)
