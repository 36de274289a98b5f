"""What each ASPP branch does, read off a :class:`~deeplab_viz.probe.Probe`.

- :func:`branch_map`: a branch's activation as one picture (channel mean, top-k
  channels, or PCA to RGB) and :func:`branch_energy` (RMS activation).
- :func:`projection_split`: the exact share of each branch in the projection.
  ASPP's projection starts with a 1×1 convolution (then, in torchvision, batch
  norm), a linear map of the concatenated branches, so its pre-activation is
  ``z = Σ_b A·W_b·x_b + bias`` exactly: one term per branch.
- :func:`ablate`: switch off any set of branches (their outputs set to zero in the
  concatenation) and re-run only projection and head from the probe's cached
  branch outputs: the backbone is not run again.
- :func:`footprints`: where each branch's 3×3 taps land in image pixels.
- :func:`branch_gradcam`: Grad-CAM per branch for one class (captum), computed on a
  private copy of the ASPP and head so no hook ever touches the shared model.
- :func:`share_rows`, :func:`class_change_rows`, :func:`on_shared_scale`: those
  results as the tables and the common colour scale the ASPP explorer shows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .atrous import image_taps
from .inference import to_image_grid
from .models import LoadedModel
from .probe import Branch, Probe

MapMode = Literal["mean", "topk", "pca"]
FLAT_TOLERANCE = 1e-4  # spread, relative to the largest |activation|, below which a map is flat


# ----------------------------------------------------------------------------- pictures


def branch_map(output: np.ndarray, mode: MapMode = "mean", *, k: int = 3) -> np.ndarray:
    """One branch output (C, h, w) as a picture.

    "mean": (h, w) channel mean. "topk": (k, h, w), the k channels with the largest
    mean activation. "pca": (h, w, 3) in [0, 1], the first three principal
    components of the C-dimensional feature vectors, each scaled to [0, 1].
    """
    if output.ndim != 3:
        raise ValueError("expected a (C, h, w) array")
    c, h, w = output.shape
    if mode == "mean":
        return output.mean(0)
    if mode == "topk":
        if not 1 <= k <= c:
            raise ValueError(f"k must be between 1 and {c}")
        order = np.argsort(-output.reshape(c, -1).mean(1), kind="stable")[:k]
        return output[order]
    if mode == "pca":
        x = output.reshape(c, -1).T.astype(np.float64)  # (h*w, C)
        x = x - x.mean(0, keepdims=True)
        # float32 round-off is not structure: image pooling's one vector, copied to every
        # position by an interpolation, differs by ~1e-7 of its size from place to place,
        # and scaling that to 0..1 would paint noise. Below this spread a map is flat.
        tol = FLAT_TOLERANCE * float(np.abs(output).max())
        if not np.any(np.abs(x) > tol):
            return np.zeros((h, w, 3))
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        comps = x @ vt[:3].T  # (h*w, ≤3)
        if comps.shape[1] < 3:
            comps = np.pad(comps, ((0, 0), (0, 3 - comps.shape[1])))
        lo, hi = comps.min(0), comps.max(0)
        spread = hi - lo > tol
        rgb = np.where(spread, (comps - lo) / np.where(spread, hi - lo, 1.0), 0.0)
        return rgb.reshape(h, w, 3)
    raise ValueError(f"mode must be 'mean', 'topk' or 'pca', got {mode!r}")


def branch_energy(output: np.ndarray) -> float:
    """Root-mean-square activation of a branch output (its units)."""
    return float(np.sqrt(np.mean(np.square(output, dtype=np.float64))))


# ---------------------------------------------------------------- exact projection split


@dataclass(frozen=True)
class ProjectionSplit:
    """The projection's pre-activation ``z`` split into one term per branch plus a bias.

    ``share[b] = <term_b, z> / <z, z>``: the shares and ``bias_share`` add up to
    exactly 1 (a decomposition of ‖z‖², signed: a branch can work against the
    sum). ``magnitude_share[b] = Σ|term_b| / Σ_b' Σ|term_b'|`` says how much each
    branch moves the projection regardless of sign.
    """

    names: tuple[str, ...]
    share: dict[str, float]
    bias_share: float
    magnitude_share: dict[str, float]
    maps: dict[str, np.ndarray] = field(repr=False)  # name -> (h, w) ‖term_b‖ per pixel
    max_error: float  # |ReLU(Σ terms + bias) − probe.projection|, a self-check


def _linear_projection(project: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (C_p, C_in) with batch norm folded in, bias (C_p,)) of the projection's linear part."""
    layers = list(project.children()) if isinstance(project, nn.Sequential) else [project]
    conv = layers[0]
    if not (isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1)):
        raise ValueError("the ASPP projection does not start with a 1×1 convolution")
    w = conv.weight.detach().double().cpu()[:, :, 0, 0]
    b = (
        conv.bias.detach().double().cpu()
        if conv.bias is not None
        else torch.zeros(w.shape[0], dtype=torch.float64)
    )
    if len(layers) > 1 and isinstance(layers[1], nn.BatchNorm2d):
        bn = layers[1]
        scale = bn.weight.detach().double().cpu() / torch.sqrt(
            bn.running_var.detach().double().cpu() + bn.eps
        )
        w = w * scale[:, None]
        b = (b - bn.running_mean.detach().double().cpu()) * scale + bn.bias.detach().double().cpu()
    return w, b


def projection_split(model: LoadedModel, probe: Probe) -> ProjectionSplit:
    """Split the probe's projection exactly into one term per ASPP branch."""
    w, bias = _linear_projection(model.module.aspp.project)
    terms, start = [], 0
    for br in probe.branches:
        x = torch.from_numpy(np.asarray(br.output, dtype=np.float64))  # (C_b, h, w)
        wb = w[:, start : start + x.shape[0]]
        terms.append(torch.einsum("oc,chw->ohw", wb, x))  # (C_p, h, w)
        start += x.shape[0]
    if start != w.shape[1]:
        raise ValueError("branch channels do not add up to the projection's input")
    z = sum(terms) + bias[:, None, None]
    zz = float((z * z).sum()) or 1.0
    names = tuple(br.name for br in probe.branches)
    mags = [float(t.abs().sum()) for t in terms]
    total_mag = sum(mags) or 1.0
    relu = torch.relu(z).float().numpy()
    return ProjectionSplit(
        names=names,
        share={n: float((t * z).sum()) / zz for n, t in zip(names, terms, strict=True)},
        bias_share=float((bias[:, None, None] * z).sum()) / zz,
        magnitude_share={n: m / total_mag for n, m in zip(names, mags, strict=True)},
        maps={n: t.norm(dim=0).float().numpy() for n, t in zip(names, terms, strict=True)},
        max_error=float(np.abs(relu - probe.projection).max()),
    )


# ----------------------------------------------------------------------------- ablation


@dataclass(frozen=True)
class Ablation:
    """The segmentation with some branches switched off, against the full one."""

    off: tuple[str, ...]
    class_map: np.ndarray = field(repr=False)  # (H, W) uint8
    changed: np.ndarray = field(repr=False)  # (H, W) bool
    changed_fraction: float
    class_change: dict[str, tuple[float, float]]  # name -> (pixel share before, after)


class _ProbeStages(Mapping):
    """The probe's stage outputs as (1, C, h, w) tensors, converted only when read."""

    def __init__(self, probe: Probe, model: LoadedModel) -> None:
        self.probe, self.model = probe, model

    def __getitem__(self, name: str) -> torch.Tensor:
        a = np.array(self.probe.stages[name])  # a writable copy for torch
        return torch.from_numpy(a)[None].to(device=self.model.device, dtype=self.model.dtype)

    def __iter__(self):
        return iter(self.probe.stages)

    def __len__(self) -> int:
        return len(self.probe.stages)


@torch.inference_mode()
def _logits_from_branches(model: LoadedModel, probe: Probe, off: set[int]) -> torch.Tensor:
    """The probe's branch outputs, ``off`` switched off, through the model's tail: (1, K, H, W)."""
    outs = [
        torch.from_numpy(np.array(b.output))[None].to(device=model.device, dtype=model.dtype)
        for b in probe.branches
    ]  # each (1, C_b, h, w)
    logits = model.module.logits_from_branches(
        outs, _ProbeStages(probe, model), probe.padded_hw, off=off
    )
    return to_image_grid(logits, probe.model_input_hw, probe.image_hw)  # (1, K, H, W)


def ablate(model: LoadedModel, probe: Probe, off: Iterable[str | int]) -> Ablation:
    """Switch off branches (by name or index) and re-run projection + head only."""
    names = [b.name for b in probe.branches]
    idx = set()
    for item in off:
        i = names.index(item) if item in names else item if isinstance(item, int) else -1
        if not 0 <= i < len(names):
            raise ValueError(f"no branch {item!r}; branches are {names}")
        idx.add(i)
    logits = _logits_from_branches(model, probe, idx)
    class_map = logits[0].argmax(0).to(torch.uint8).numpy()
    changed = class_map != probe.class_map
    n = len(probe.class_names)
    before = np.bincount(probe.class_map.ravel(), minlength=n) / probe.class_map.size
    after = np.bincount(class_map.ravel(), minlength=n) / class_map.size
    class_change = {
        probe.class_names[c]: (float(before[c]), float(after[c]))
        for c in range(n)
        if before[c] > 0 or after[c] > 0
    }
    return Ablation(
        off=tuple(names[i] for i in sorted(idx)),
        class_map=class_map,
        changed=changed,
        changed_fraction=float(changed.mean()),
        class_change=class_change,
    )


# --------------------------------------------------------------------------- footprints


@dataclass(frozen=True)
class Footprint:
    """Where one branch reads the feature map around a picked pixel, in image pixels."""

    name: str
    rate: int | None  # None: 1×1 (one tap) or image pooling (everything)
    centres_yx: np.ndarray = field(repr=False)  # (taps, 2) image pixels
    valid: np.ndarray = field(repr=False)  # (taps,) False where the tap lands in padding
    spacing_px: float  # between neighbouring taps, image pixels


def footprints(probe: Probe, pixel_yx: Sequence[int], *, kernel: int = 3) -> list[Footprint]:
    """Each branch's taps for the feature cell under ``pixel_yx`` (image pixels).

    Taps sit ``rate × output stride`` pixels apart on the network's input, scaled
    by the ratio between the image and the size the network saw.
    """
    (h, w), (mh, mw) = probe.image_hw, probe.model_input_hw
    sy, sx = mh / h, mw / w
    py = min(int(pixel_yx[0] * sy), mh - 1)
    px = min(int(pixel_yx[1] * sx), mw - 1)
    out = []
    for br in probe.branches:
        if br.kind == "pooling":
            cy, cx = np.meshgrid(np.linspace(0, h - 1, 5), np.linspace(0, w - 1, 5), indexing="ij")
            centres = np.stack([cy.ravel(), cx.ravel()], 1)
            out.append(Footprint(br.name, None, centres, np.ones(len(centres), bool), float("nan")))
            continue
        k, rate = (kernel, br.rate) if br.kind == "atrous" else (1, 1)
        taps = image_taps(
            (py, px), (mh, mw), k, rate, probe.output_stride, align_corners=probe.align_corners
        )
        centres = taps.centres / np.array([sy, sx])
        out.append(
            Footprint(
                br.name,
                br.rate,
                centres,
                taps.valid.copy(),
                float(taps.spacing / sy) if br.kind == "atrous" else 0.0,
            )
        )
    return out


# ---------------------------------------------------------------------------- Grad-CAM


class _HeadFromFeatures(nn.Module):
    """ASPP + head on the backbone output: a private copy captum may hook freely."""

    def __init__(
        self, model: LoadedModel, probe: Probe, mask: torch.Tensor, class_index: int
    ) -> None:
        super().__init__()
        net = model.module
        self.aspp = copy.deepcopy(net.aspp).float().cpu()
        self.head = copy.deepcopy(net.head).float().cpu()
        # A decoder (v3+) also reads one low-level stage: fixed, from the probe.
        self.low_level = getattr(net, "low_level", None)
        if self.low_level is not None:
            low = torch.from_numpy(np.array(probe.stages[self.low_level]))[None]
            self.register_buffer("low", low)
        self.register_buffer("mask", mask)  # (h, w) float: pixels whose class-c logits count
        self.class_index = class_index

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        projection = self.aspp(feats)
        if self.low_level is not None:
            logits = self.head(projection, self.low)  # (N, K, h_low, w_low)
        else:
            logits = self.head(projection)  # (N, K, h, w)
        mask = self.mask
        if mask.shape != logits.shape[-2:]:
            mask = F.interpolate(mask[None, None], size=logits.shape[-2:], mode="nearest")[0, 0]
        return (logits[:, self.class_index] * mask).sum(dim=(-2, -1))  # (N,)


def branch_gradcam(model: LoadedModel, probe: Probe, class_name: str) -> dict[str, np.ndarray]:
    """Grad-CAM (captum ``LayerGradCam``) of each ASPP branch for one class.

    Target: the sum of the class's logits over the pixels predicted as that class
    (over all pixels if none is). Returns name → (h, w) map ≥ 0 on the feature grid.
    """
    from captum.attr import LayerGradCam

    if class_name not in probe.class_names:
        raise ValueError(f"unknown class {class_name!r}")
    c = probe.class_names.index(class_name)
    feats = torch.from_numpy(np.array(probe.aspp_input))[None]  # (1, C, h, w)
    h, w = feats.shape[-2:]
    (mh, mw), (ph, pw) = probe.model_input_hw, probe.padded_hw
    pred = torch.from_numpy(np.array(probe.class_map))[None, None].float()
    pred = F.interpolate(pred, size=(mh, mw), mode="nearest")  # back to the network's grid
    pred = F.pad(pred, (0, pw - mw, 0, ph - mh), value=-1)
    pred = F.interpolate(pred, size=(h, w), mode="nearest")[0, 0]
    mask = (pred == c).float()
    if mask.sum() == 0:
        mask = torch.ones_like(mask)
    head = _HeadFromFeatures(model, probe, mask, c).eval()
    maps = {}
    with torch.enable_grad():
        for name, branch in zip(head.aspp.names, head.aspp.branches, strict=True):
            attr = LayerGradCam(head, branch).attribute(feats, relu_attributions=True)
            maps[name] = attr[0].sum(0).detach().numpy()  # (h, w)
    return maps


# ------------------------------------------------------------------------------- tables

KIND_LABELS = {"1x1": "1×1 conv", "atrous": "3×3 atrous", "pooling": "image pooling"}


def _pct(v: float, signed: bool = False) -> str:
    return f"{100 * v:+.1f} %" if signed else f"{100 * v:.1f} %"


def share_rows(
    branches: Sequence[Branch],
    split: ProjectionSplit,
    changed_when_off: Mapping[str, float],
    output_stride: int,
) -> list[dict[str, str]]:
    """The projection-share table as text: a row per branch (kind, how far apart its taps
    sit on the network's input, energy, signed and magnitude share, the share of pixels
    that change class when it alone is off), then one row for the projection's bias."""
    rows = [
        {
            "branch": b.name,
            "kind": KIND_LABELS[b.kind],
            "taps apart": f"{b.rate * output_stride} px" if b.kind == "atrous" else "—",
            "energy (RMS)": f"{branch_energy(b.output):.2f}",
            "signed share": _pct(split.share[b.name], signed=True),
            "magnitude share": _pct(split.magnitude_share[b.name]),
            "changed when off": _pct(changed_when_off[b.name]),
        }
        for b in branches
    ]
    rows.append(
        {
            "branch": "bias",
            "kind": "projection bias",
            "taps apart": "—",
            "energy (RMS)": "—",
            "signed share": _pct(split.bias_share, signed=True),
            "magnitude share": "—",
            "changed when off": "—",
        }
    )
    return rows


def class_change_rows(class_change: Mapping[str, tuple[float, float]]) -> list[dict]:
    """An ablation's :attr:`Ablation.class_change` as rows in percent (before, after, the
    change in points), the classes that were or became largest first."""
    ordered = sorted(class_change.items(), key=lambda kv: -max(kv[1]))
    return [
        {"class": name, "before %": 100 * b, "after %": 100 * a, "change (points)": 100 * (a - b)}
        for name, (b, a) in ordered
    ]


def on_shared_scale(maps: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
    """Maps (≥ 0) divided by the largest value of them all, so they share one colour
    scale (all zeros where every map is zero), and that peak."""
    peak = max((float(m.max()) for m in maps.values()), default=0.0)
    return {n: m / peak if peak > 0 else m * 0 for n, m in maps.items()}, peak
