"""The fully connected CRF of DeepLab v1 and v2 (Krähenbühl & Koltun, NIPS 2011).

Every pixel is a node connected to every other pixel. The energy of a labelling x is

    E(x) = Σ_i −log P(x_i) + Σ_{i<j} μ(x_i, x_j) · [ w1 · exp(−|p_i−p_j|²/2σα² − |I_i−I_j|²/2σβ²)
                                                  + w2 · exp(−|p_i−p_j|²/2σγ²) ]

with P the network's softmax at image resolution, p pixel positions (pixels), I
colours (RGB, 0–255) and μ the Potts model (a penalty for differing labels). The
first kernel is *bilateral*: nearby pixels of similar colour want the same label,
which pulls a blurry prediction onto the image's colour edges. The second is a
plain Gaussian on position that removes small isolated regions.

Inference is mean field, as in DeepLab: ``Q ← softmax(log P + Σ_m w_m · K̃_m Q)``,
starting from ``Q = P``, for a fixed number of iterations (the Potts penalty on
differing labels, written as a reward for agreeing ones: the two differ by a
per-pixel constant, which the softmax ignores). ``K̃_m`` is the kernel normalised
symmetrically (``D^−½ K D^−½`` with ``D`` its row sums) and each message is
computed for all pixel pairs at once by the permutohedral lattice, an approximate
high-dimensional Gaussian filter. This is Krähenbühl's own C++ code (densecrf v2)
through the maintained ``pydensecrf2`` package (PyPI ``pydensecrf2``, imported as
``pydensecrf``); DeepLab's released CRF tool is built on the same code.

Defaults (:data:`DEEPLAB_LARGEFOV`): w1 = 4, σα = 121 px, σβ = 5, w2 = 3, σγ = 3 px,
10 iterations. DeepLab (v1: Chen et al., ICLR 2015, arXiv:1412.7062; v2:
arXiv:1606.00915) fixes w2 = 3 and σγ = 3 and cross-validates w1, σα and σβ on
part of VOC val; 4 / 121 / 5 is the setting released for DeepLab-CRF-LargeFOV (the
VGG-16 model of v1, kept in v2), as written in public re-implementations of that
model, e.g. CoinCheung/Deeplab-Large-FOV ``utils/crf.py`` (``bi_w = 4, bi_xy_std =
121, bi_rgb_std = 5, pos_w = 3, pos_xy_std = 3``). DeepLab v2's ResNet-101 model was
tuned to a sharper setting, :data:`DEEPLAB_V2_RESNET101` (w1 = 4, σα = 67, σβ = 3,
w2 = 3, σγ = 1, as in kazuto1011/deeplab-pytorch ``configs/voc12.yaml``, a port of
that model). Neither was tuned for the models of this app.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field, fields

import numpy as np

MAX_ITERATIONS = 200
_P_FLOOR = 1e-12  # probabilities are clipped here before −log, so the unary stays finite


@dataclass(frozen=True)
class CRFParams:
    """Parameters of the dense CRF; defaults are DeepLab's (see the module doc).

    Positions are in pixels of the image the CRF runs on, colours in 0–255 units.
    """

    iterations: int = 10  # mean-field steps; 0 gives the unary's own softmax back
    bilateral_weight: float = 4.0  # w1: appearance kernel
    bilateral_xy_std: float = 121.0  # σα, pixels
    bilateral_rgb_std: float = 5.0  # σβ, colour levels
    gaussian_weight: float = 3.0  # w2: smoothness kernel
    gaussian_xy_std: float = 3.0  # σγ, pixels

    def __post_init__(self) -> None:
        it = self.iterations
        if (
            isinstance(it, bool)
            or not isinstance(it, numbers.Integral)
            or not 0 <= it <= MAX_ITERATIONS
        ):
            raise ValueError(
                f"CRF iterations must be a whole number from 0 to {MAX_ITERATIONS}, got {it!r}"
            )
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"CRF {f.name} must be a number, got {value!r}")
            if f.name.endswith("_weight"):
                if not (math.isfinite(value) and value >= 0):
                    raise ValueError(f"CRF {f.name} must be finite and ≥ 0, got {value!r}")
            elif not (math.isfinite(value) and value > 0):
                raise ValueError(f"CRF {f.name} must be finite and > 0, got {value!r}")
            object.__setattr__(self, f.name, float(value))
        object.__setattr__(self, "iterations", int(it))

    def as_dict(self) -> dict[str, float]:
        """The parameters by name (for JSON and cache keys)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEEPLAB_LARGEFOV = CRFParams()
DEEPLAB_V2_RESNET101 = CRFParams(bilateral_xy_std=67.0, bilateral_rgb_std=3.0, gaussian_xy_std=1.0)


@dataclass(frozen=True)
class CRFResult:
    """The mean field after ``params.iterations`` steps, and the labelling after each."""

    probs: np.ndarray = field(repr=False)  # (K, H, W) float32 marginals Q, sum to 1 per pixel
    maps: tuple[np.ndarray, ...] = field(repr=False)  # (H, W) uint8 argmax after 0…T steps
    params: CRFParams
    ms: float  # wall time: building the lattices and all the steps, milliseconds

    @property
    def class_map(self) -> np.ndarray:
        """(H, W) uint8 labels after the last step."""
        return self.maps[-1]

    def changes_per_step(self) -> list[int]:
        """Pixels whose label changed at each mean-field step (1…T): how it converges."""
        return [int((b != a).sum()) for a, b in zip(self.maps, self.maps[1:], strict=False)]

    def changed(self, step: int | None = None) -> np.ndarray:
        """(H, W) bool: pixels labelled differently after ``step`` (default: the last)
        than by the network alone (step 0)."""
        return self.maps[-1 if step is None else step] != self.maps[0]


def _check_inputs(rgb: np.ndarray, probs: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("the CRF needs an (H, W, 3) uint8 RGB image")
    if probs.ndim != 3 or probs.shape[1:] != rgb.shape[:2]:
        raise ValueError(
            f"probabilities must be (K, H, W) on the image's grid {rgb.shape[:2]}, "
            f"got {probs.shape}"
        )
    if not 2 <= probs.shape[0] <= 255:
        raise ValueError(f"the CRF needs 2 to 255 classes, got {probs.shape[0]}")
    if not np.isfinite(probs).all():
        raise ValueError("probabilities must be finite")


def unary_energy(probs: np.ndarray) -> np.ndarray:
    """(K, H, W) probabilities → (K, H·W) float32 unary −log P (clipped at 1e-12)."""
    k = probs.shape[0]
    p = np.clip(np.asarray(probs, dtype=np.float32), _P_FLOOR, 1.0)
    return np.ascontiguousarray(-np.log(p).reshape(k, -1))


def dense_crf(
    rgb: np.ndarray, probs: np.ndarray, params: CRFParams = DEEPLAB_LARGEFOV
) -> CRFResult:
    """Mean-field inference of the dense CRF on one image.

    ``rgb``: (H, W, 3) uint8, the image at the resolution of ``probs``;
    ``probs``: (K, H, W) softmax of the network on that grid. Returns the marginals
    after ``params.iterations`` steps and the argmax after every step (index 0 is
    the network's own labelling).
    """
    import pydensecrf.densecrf as dcrf  # C++ extension: imported when first needed

    _check_inputs(rgb, probs)
    k, h, w = probs.shape
    t0 = time.perf_counter()
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(unary_energy(probs))
    if params.gaussian_weight > 0:
        crf.addPairwiseGaussian(sxy=params.gaussian_xy_std, compat=params.gaussian_weight)
    if params.bilateral_weight > 0:
        crf.addPairwiseBilateral(
            sxy=params.bilateral_xy_std,
            srgb=params.bilateral_rgb_std,
            rgbim=np.require(rgb, np.uint8, ["C", "W"]),  # the wrapper wants a writable buffer
            compat=params.bilateral_weight,
        )
    q, tmp1, tmp2 = crf.startInference()  # q: (K, H·W), softmax of −unary
    maps = [np.asarray(q).argmax(0).astype(np.uint8).reshape(h, w)]
    for _ in range(params.iterations):
        crf.stepInference(q, tmp1, tmp2)
        maps.append(np.asarray(q).argmax(0).astype(np.uint8).reshape(h, w))
    out = np.array(q, dtype=np.float32).reshape(k, h, w)  # (K, H, W)
    ms = (time.perf_counter() - t0) * 1000
    return CRFResult(probs=out, maps=tuple(maps), params=params, ms=ms)
