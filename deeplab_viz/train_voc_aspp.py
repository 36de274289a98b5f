"""Train ``voc-mobilenetv2-aspp``: DeepLabv3's five-branch ASPP on the VOC MobileNetV2 backbone.

Recipe (DeepLabv3's, on a frozen backbone; see README "Models" for the why):

- **Data**: real PASCAL VOC 2012 train_aug photos with their masks
  (``../shared/train/voc2012_trainaug_subset``), never the val images.
- **Augmentation**: random scale 0.5–2.0, random 385×385 crop (image padded with
  the mean colour, the label with 255), random left-right flip. 385 = 16·24 + 1,
  so the crop sits on the align-corners grid of output stride 16, as TF DeepLab's
  crops do.
- **Output stride 16** for training, ASPP rates 6/12/18.
- **Loss**: cross-entropy with label 255 ignored, on logits upsampled to the crop,
  plus distillation from the TFLite model's own head (KL divergence between the
  softmaxes at the feature-map resolution). The subset is animal-heavy
  (aeroplane has no image, bus and train one each): distillation keeps the
  classes the labels barely cover.
- **Optimiser**: SGD, momentum 0.9, weight decay 4e-5, poly learning rate
  (power 0.9) from 0.01, batch 16, 600 steps; batch-norm statistics frozen
  (their scale and shift learn).
- **Start**: the TFLite model's own head, exactly (:func:`warm_start`): the
  pooling branch, projection and classifier are its; the 1×1 branch and the three
  atrous branches all start as its 1×1 branch (an atrous 3×3 kernel with only its
  centre tap) sharing its projection columns. Training grows the off-centre taps.
  Started from scratch instead (torchvision's init), 1,600 steps reached only
  0.80 core-7 mIoU; started with zero columns for the atrous branches, they
  earned almost no say (switching any one off moved val mIoU by < 0.1 point).
- **Checkpoint**: every 10th training photo is held out as a dev set (scored as
  the app feeds photos, core-7 mIoU); the best of the checkpoints every 100 steps
  is kept. Val photos never train a step or choose a checkpoint (the starts and
  recipes here were each measured on val once; see README).
- **Tried and not shipped** (each measured on val once, README): a gentler
  fine-tune (learning rate 0.002, distillation weight 2, SBD masks given VOC's
  2-px void band, a dev set of the 133 held-out photos whose masks are VOC's own,
  the end of the schedule kept): 0.8470 / 0.8389 core-7 mIoU at OS 8 / 16, below
  the shipped 0.8541 / 0.8438, with off-centre atrous taps a third as large. Its
  dev set scored the TFLite head 0.853 (val 0.862) but this head 0.847 (val
  0.839): no dev set drawn from this subset has predicted val. Choosing on that
  dev set picked step 50, where the atrous kernels were still 99.7% centre tap.
  ``--lr``, ``--distill-weight``, ``--void-band``, ``--dev-from``, ``--keep``
  rerun it; ``--cache-dir`` keeps the backbone features for the next run.
- **Backbone frozen**: it is already trained on VOC; with 1,628 images, tuning it
  would overfit, and a frozen backbone lets the features of every augmented crop
  be computed once and cached, which is what makes the 40-CPU-minute budget enough
  for thousands of head updates.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from torch import nn

from .evaluate import IGNORE, VOC_SUBSET_CORE, confusion, scores
from .inference import DEFAULT_SIZE, normalised_input, to_image_grid
from .models.layers import DeepLabV3
from .models.output_stride import rewire
from .models.voc_aspp import (
    ASPP_CHANNELS,
    ASSETS,
    STEM,
    TRAINED_RATES,
    TRAINED_STRIDE,
    architecture,
    on_backbone,
)

Log = Callable[[str], None]
ATROUS_INITS = ("centre", "zero")  # what warm_start makes of the atrous branches
DEV_POOLS = ("voc_masks", "all")  # where split_ids draws the dev set from
KEEPS = ("last", "best_dev")  # which weights train_head leaves in the model
INPUT_MEAN = INPUT_STD = (127.5, 127.5, 127.5)  # the TFLite backbone's: 0 is the mean colour


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (recorded in the model's JSON)."""

    crop: int = 385  # pixels; 16·k + 1
    crops_per_image: int = 4  # augmented crops cached per training image
    scale_min: float = 0.5
    scale_max: float = 2.0
    batch_size: int = 16
    steps: int = 600
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 4e-5
    poly_power: float = 0.9
    distill_weight: float = 1.0  # weight of the KL term against the teacher head
    init: str = "teacher"  # "teacher": start from the TFLite head (see warm_start); "scratch"
    atrous_init: str = "centre"  # with init "teacher": see warm_start
    dropout: float = 0.1  # after the projection (torchvision's default is 0.5)
    temperature: float = 1.0
    seed: int = 0
    limit_images: int | None = None  # first N training ids (tests)
    dev_from: str = "all"  # the pool the dev set is drawn from (see split_ids)
    dev_every: int = 10  # every n-th id of that pool is held out as the dev set (0: none)
    eval_every: int = 100  # steps between dev scores
    keep: str = "best_dev"  # "best_dev": the best dev score; "last": the schedule's end
    void_band: int = 0  # pixels: give SBD masks VOC's void band around outlines (0: off)

    def __post_init__(self) -> None:
        if (self.crop - 1) % TRAINED_STRIDE:
            raise ValueError(f"crop must be {TRAINED_STRIDE}·k + 1 pixels, got {self.crop}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("need 0 < scale_min ≤ scale_max")
        if self.init not in ("teacher", "scratch"):
            raise ValueError(f"init must be 'teacher' or 'scratch', got {self.init!r}")
        if self.atrous_init not in ATROUS_INITS:
            raise ValueError(f"atrous_init must be one of {ATROUS_INITS}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        for name in ("crops_per_image", "batch_size", "steps", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.dev_every == 1 or self.dev_every < 0:
            raise ValueError("dev_every must be 0 (no dev set) or at least 2")
        if self.keep not in KEEPS:
            raise ValueError(f"keep must be one of {KEEPS}, got {self.keep!r}")
        if self.dev_from not in DEV_POOLS:
            raise ValueError(f"dev_from must be one of {DEV_POOLS}, got {self.dev_from!r}")
        if self.void_band < 0:
            raise ValueError("void_band must be ≥ 0 pixels")


class TrainDataError(ValueError):
    """The training folder is not a VOC train_aug-style folder; the message says why."""


def train_ids(root: Path, *, limit: int | None = None) -> list[str]:
    """Ids listed in ``ImageSets/Segmentation/train.txt`` (images and masks checked to exist)."""
    root = Path(root)
    listing = root / "ImageSets" / "Segmentation" / "train.txt"
    for need in (root / "JPEGImages", root / "SegmentationClassAug", listing):
        if not need.exists():
            raise TrainDataError(f"{root} is not a VOC train_aug folder: {need.name} is missing")
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return ids[:limit] if limit is not None else ids


def split_ids(
    ids: list[str], dev_every: int, *, pool: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(training ids, dev ids): every ``dev_every``-th id of ``pool`` is held out.

    ``pool`` (default: all of ``ids``) is the ids the dev set may come from;
    ``dev_every=0``: no dev set. The dev set comes from the training folder, never
    from val: it chooses the checkpoint, so the val figures stay a measurement.
    """
    if dev_every == 0:
        return list(ids), []
    keep = set(ids if pool is None else pool)
    pool = [i for i in ids if i in keep]
    dev = set(pool[::dev_every])
    return [i for i in ids if i not in dev], [i for i in pool if i in dev]


def voc_mask_ids(root: Path, ids: list[str]) -> list[str]:
    """The ids whose mask is VOC's own annotation (it has void pixels, 255; SBD's have none).

    VOC's masks are drawn as the val masks are (a thin void band along every
    outline), so a dev set of them predicts val; SBD's coarser polygons did not.
    """
    root = Path(root)
    out = []
    for image_id in ids:
        with Image.open(root / "SegmentationClassAug" / f"{image_id}.png") as im:
            if (np.asarray(im) == IGNORE).any():
                out.append(image_id)
    return out


def void_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` with every pixel within ``radius`` px of a class change set to 255.

    VOC's own masks leave a void band about 5 px wide along each outline (which
    val scoring ignores); SBD's masks have none and their outlines are coarser.
    Giving them the band keeps cross-entropy off the uncertain pixels (distillation
    still covers them). Masks that already have void pixels are returned as they are.
    """
    if radius <= 0 or (mask == IGNORE).any():
        return mask
    size = 2 * radius + 1
    edge = ndimage.maximum_filter(mask, size=size) != ndimage.minimum_filter(mask, size=size)
    return np.where(edge, np.uint8(IGNORE), mask).astype(np.uint8)


def read_pair(root: Path, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 (H, W, 3), class-index mask uint8 (H, W)) of one training id."""
    root = Path(root)
    with Image.open(root / "JPEGImages" / f"{image_id}.jpg") as im:
        rgb = np.asarray(im.convert("RGB"))
    with Image.open(root / "SegmentationClassAug" / f"{image_id}.png") as im:
        mask = np.asarray(im)  # palette indices are the class ids
    if mask.shape != rgb.shape[:2]:
        raise TrainDataError(f"{image_id}: mask {mask.shape} and image {rgb.shape[:2]} differ")
    return rgb, mask


def augment(
    rgb: np.ndarray, mask: np.ndarray, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random scale / crop / flip: (normalised image (3, c, c), label (c, c) int64)."""
    scale = rng.uniform(cfg.scale_min, cfg.scale_max)
    h, w = mask.shape
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    x = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float()  # (1,3,H,W)
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    y = torch.from_numpy(np.array(Image.fromarray(mask).resize((nw, nh), Image.NEAREST)))
    x = (x - INPUT_MEAN[0]) / INPUT_STD[0]  # the same value for every channel
    c = cfg.crop
    ph, pw = max(c - nh, 0), max(c - nw, 0)
    x = F.pad(x, (0, pw, 0, ph))
    y = F.pad(y.long(), (0, pw, 0, ph), value=IGNORE)
    top = int(rng.integers(0, x.shape[1] - c + 1))
    left = int(rng.integers(0, x.shape[2] - c + 1))
    x, y = x[:, top : top + c, left : left + c], y[top : top + c, left : left + c]
    if rng.random() < 0.5:
        x, y = x.flip(-1), y.flip(-1)
    return x.contiguous(), y.contiguous()


@dataclass
class FeatureCache:
    """Frozen-backbone features of every augmented crop, with labels and teacher logits."""

    features: torch.Tensor  # (M, 160, c/16+1, c/16+1) float16
    labels: torch.Tensor  # (M, c, c) uint8, 255 = ignore
    teacher: torch.Tensor  # (M, 21, c/16+1, c/16+1) float16: the TFLite head's logits

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@torch.inference_mode()
def build_cache(
    teacher: DeepLabV3, root: Path, ids: list[str], cfg: TrainConfig, *, log: Log = print
) -> FeatureCache:
    """Run the frozen backbone (and the teacher head) once on every augmented crop of ``ids``."""
    rng = np.random.default_rng(cfg.seed)
    feats, labels, logits = [], [], []
    batch_x: list[torch.Tensor] = []
    t0 = time.perf_counter()

    def flush() -> None:
        x = torch.stack(batch_x)
        f = next(reversed(teacher.features(x).values()))  # (B, 160, c/16+1, c/16+1)
        t = teacher.decode(teacher.aspp(f), {})  # (B, 21, ...)
        feats.append(f.half())
        logits.append(t.half())
        batch_x.clear()

    for k, image_id in enumerate(ids):
        rgb, mask = read_pair(root, image_id)
        mask = void_band(mask, cfg.void_band)
        for _ in range(cfg.crops_per_image):
            x, y = augment(rgb, mask, cfg, rng)
            batch_x.append(x)
            labels.append(y.to(torch.uint8))
            if len(batch_x) == 8:
                flush()
        if (k + 1) % 200 == 0:
            log(f"cached {k + 1}/{len(ids)} images ({time.perf_counter() - t0:.0f} s)")
    if batch_x:
        flush()
    return FeatureCache(torch.cat(feats), torch.stack(labels), torch.cat(logits))


@dataclass
class DevSet:
    """Held-out training photos as the app feeds them, through the frozen backbone once."""

    features: list[torch.Tensor]  # each (1, 160, h, w) float16, output stride 16
    padded_hw: list[tuple[int, int]]  # network input, pixels (the app's OS·k + 1 padding)
    valid_hw: list[tuple[int, int]]  # the resized photo inside it
    labels: list[np.ndarray]  # (H, W) uint8 masks, 255 = ignore

    def __len__(self) -> int:
        return len(self.labels)


@torch.inference_mode()
def build_dev(
    teacher: DeepLabV3, root: Path, ids: list[str], *, size: int = DEFAULT_SIZE
) -> DevSet:
    """Each dev photo at the app's default settings (longest side ``size``, mean-colour padding)."""
    dev = DevSet([], [], [], [])
    for image_id in ids:
        rgb, mask = read_pair(root, image_id)
        x, valid = normalised_input(
            rgb, mean=INPUT_MEAN, std=INPUT_STD, size=size, pad_stride=TRAINED_STRIDE
        )  # (1, 3, ph, pw), as the app feeds it
        dev.features.append(next(reversed(teacher.features(x).values())).half())
        dev.padded_hw.append((int(x.shape[2]), int(x.shape[3])))
        dev.valid_hw.append(valid)
        dev.labels.append(mask)
    return dev


@torch.inference_mode()
def dev_score(model: DeepLabV3, dev: DevSet, class_names: tuple[str, ...]) -> float:
    """Core-7 mIoU of ``model``'s head on the dev set (as :func:`evaluate.evaluate_voc` scores)."""
    n = len(class_names)
    conf = np.zeros((n, n), dtype=np.int64)
    was_training = [m.training for m in (model.aspp, model.head)]
    model.aspp.eval()
    model.head.eval()
    try:
        for f, padded, valid, label in zip(
            dev.features, dev.padded_hw, dev.valid_hw, dev.labels, strict=True
        ):
            logits = model.upsample(
                model.decode(model.aspp(f.float()), {}), padded
            )  # (1, 21, ph, pw)
            grid = to_image_grid(logits, valid, label.shape)  # (1, 21, H, W)
            conf += confusion(grid[0].argmax(0).numpy().astype(np.uint8), label, n)
    finally:
        model.aspp.train(was_training[0])
        model.head.train(was_training[1])
    s = scores(conf, class_names)
    present = tuple(c for c in VOC_SUBSET_CORE if c in s.iou)  # a small dev set may lack some
    return s.mean_iou(present) if present else float("nan")


def _as_bn_conv(
    conv: nn.Conv2d, bn: nn.BatchNorm2d, weight: torch.Tensor, bias: torch.Tensor
) -> None:
    """Make ``bn(conv(x))`` (BN in eval mode) equal ``weight * x + bias``."""
    conv.weight.copy_(weight)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.weight.fill_(math.sqrt(1.0 + bn.eps))
    bn.bias.copy_(bias)


@torch.no_grad()
def warm_start(student: DeepLabV3, teacher: DeepLabV3, *, atrous: str = "centre") -> None:
    """Start the five-branch head as the TFLite two-branch head, exactly (in eval mode).

    The teacher's ASPP is [image pooling, 1×1] → 1×1 projection → ReLU → 1×1
    classifier, all convolutions with biases (its batch norms are folded). The
    student's pooling branch gets the teacher's (batch norm set to an identity
    plus the bias). ``atrous`` says what the atrous branches start as:

    - ``"centre"``: each is the teacher's 1×1 branch too, as a 3×3 kernel with
      only its centre tap (which is a 1×1 convolution at any rate), and the 1×1
      branch and the three atrous branches share the teacher's projection columns
      equally (a quarter each), so the sum is the teacher's. Training then grows
      the off-centre taps, and every branch carries a real share of the answer.
    - ``"zero"``: the atrous branches get zero projection columns; they start with
      no say and earn it in training (in practice they earn little: see README).

    The head's 3×3 conv starts as the identity (its input is already ≥ 0, so the
    ReLU after it changes nothing) and the classifier is the teacher's.
    """
    if atrous not in ATROUS_INITS:
        raise ValueError(f"atrous must be one of {ATROUS_INITS}, got {atrous!r}")
    t_pool, t_1x1 = teacher.aspp.branches  # TF order: pooling first
    t_proj = teacher.aspp.project[0]
    kinds = student.aspp.kinds
    c = ASPP_CHANNELS
    local = [i for i, k in enumerate(kinds) if k == "1x1" or (k == "atrous" and atrous == "centre")]
    w = torch.zeros_like(student.aspp.project[0].weight)  # (256, 5·256, 1, 1)
    for i in local:
        conv, bn = student.aspp.branches[i][0], student.aspp.branches[i][1]
        kernel = torch.zeros_like(conv.weight)  # (256, Cin, k, k)
        kernel[:, :, kernel.shape[2] // 2, kernel.shape[3] // 2] = t_1x1[0].weight[:, :, 0, 0]
        _as_bn_conv(conv, bn, kernel, t_1x1[0].bias)
        w[:, i * c : (i + 1) * c] = t_proj.weight[:, c : 2 * c] / len(local)
    ip = kinds.index("pooling")
    s_pool = student.aspp.branches[ip]
    _as_bn_conv(s_pool[1], s_pool[2], t_pool.conv[0].weight, t_pool.conv[0].bias)
    w[:, ip * c : (ip + 1) * c] = t_proj.weight[:, :c]
    _as_bn_conv(student.aspp.project[0], student.aspp.project[1], w, t_proj.bias)
    eye = torch.zeros_like(student.head[0].weight)  # (256, 256, 3, 3)
    eye[torch.arange(c), torch.arange(c), 1, 1] = 1.0
    _as_bn_conv(student.head[0], student.head[1], eye, torch.zeros(c))
    student.head[3].weight.copy_(teacher.head.weight)
    student.head[3].bias.copy_(teacher.head.bias)


def _train_mode(model: DeepLabV3) -> None:
    """Head in training mode (dropout on) with batch norm frozen at its running statistics.

    Frozen statistics keep :func:`warm_start`'s identities true while training; the
    batch norms' scale and shift still learn.
    """
    for part in (model.aspp, model.head):
        part.train()
        for m in part.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()


def poly_lr(base: float, step: int, total: int, power: float) -> float:
    """DeepLab's "poly" schedule: ``base · (1 − step/total)^power``."""
    return base * (1 - step / total) ** power


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) of the per-pixel softmaxes, mean over pixels, × T²."""
    t = temperature
    log_s = F.log_softmax(student / t, dim=1)
    p_t = F.softmax(teacher / t, dim=1)
    kl = (p_t * (torch.log(p_t.clamp_min(1e-8)) - log_s)).sum(1)  # (N, h, w)
    return kl.mean() * t * t


def train_head(
    model: DeepLabV3,
    cache: FeatureCache,
    cfg: TrainConfig,
    *,
    dev: Callable[[DeepLabV3], float] | None = None,
    log: Log = print,
) -> list[dict]:
    """SGD on ``model.aspp`` and ``model.head`` over the cached features; returns the log.

    With ``dev`` (a score, higher is better), the model is scored every
    ``cfg.eval_every`` steps and at the end. ``cfg.keep == "best_dev"`` leaves the
    best-scoring checkpoint in ``model`` (step 0, the untrained head, is never
    chosen); ``"last"`` keeps the end of the schedule and the scores are a record.
    """
    torch.manual_seed(cfg.seed)
    params = [p for m in (model.aspp, model.head) for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.init == "teacher":
        _train_mode(model)
    else:
        model.aspp.train()
        model.head.train()
    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(cache), generator=gen)
    pos, history, t0 = 0, [], time.perf_counter()
    run = {"loss": 0.0, "ce": 0.0, "kd": 0.0, "n": 0}
    best: tuple[float, int, dict] | None = None
    for step in range(cfg.steps):
        if pos + cfg.batch_size > len(order):
            order, pos = torch.randperm(len(cache), generator=gen), 0
        idx = order[pos : pos + min(cfg.batch_size, len(order))]
        pos += len(idx)
        f = cache.features[idx].float()  # (B, 160, h, w)
        y = cache.labels[idx].long()  # (B, c, c)
        logits = model.head(model.aspp(f))  # (B, 21, h, w)
        up = F.interpolate(logits, size=y.shape[-2:], mode="bilinear", align_corners=True)
        ce = F.cross_entropy(up, y, ignore_index=IGNORE)
        if torch.isnan(ce):  # a batch of crops with no labelled pixel
            ce = up.sum() * 0
        kd = distillation(logits, cache.teacher[idx].float(), cfg.temperature)
        loss = ce + cfg.distill_weight * kd
        for g in opt.param_groups:
            g["lr"] = poly_lr(cfg.lr, step, cfg.steps, cfg.poly_power)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run["loss"] += loss.item()
        run["ce"] += ce.item()
        run["kd"] += kd.item()
        run["n"] += 1
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            n = run.pop("n")
            row = {"step": step + 1, "s": round(time.perf_counter() - t0, 1)}
            row |= {k: round(v / n, 4) for k, v in run.items()}
            if dev is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
                row["dev_core7"] = round(dev(model), 5)
                if best is None or row["dev_core7"] > best[0]:
                    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    best = (row["dev_core7"], step + 1, state)
            history.append(row)
            log(json.dumps(row))
            run = {"loss": 0.0, "ce": 0.0, "kd": 0.0, "n": 0}
    if best is not None and cfg.keep == "best_dev":
        model.load_state_dict(best[2])
        history.append({"chosen_step": best[1], "dev_core7": best[0]})
        log(f"kept the checkpoint of step {best[1]} (dev core-7 mIoU {best[0]:.4f})")
    elif history:
        history.append({"chosen_step": cfg.steps, "dev_core7": history[-1].get("dev_core7")})
        log(f"kept the last step, {cfg.steps}")
    model.eval()
    for p in params:
        p.requires_grad_(False)
    return history


CACHED_FIELDS = (
    "crop", "crops_per_image", "scale_min", "scale_max", "seed", "limit_images",
    "dev_from", "dev_every", "void_band",
)  # fmt: skip  # the config fields the feature cache depends on


def cache_key(cfg: TrainConfig, fit_ids: list[str], dev_ids: list[str]) -> str:
    """A name for the features of this data and augmentation (not of the optimiser)."""
    blob = json.dumps(
        {
            "cfg": {k: getattr(cfg, k) for k in CACHED_FIELDS},
            "fit": fit_ids,
            "dev": dev_ids,
            "torch": torch.__version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_features(path: Path, cache: FeatureCache, dev: DevSet | None) -> None:
    """Write the cached crops (and dev set) so the next run with the same data skips them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"features": cache.features, "labels": cache.labels, "teacher": cache.teacher}
    if dev is not None:
        blob["dev"] = {
            "features": dev.features,
            "padded_hw": [list(hw) for hw in dev.padded_hw],
            "valid_hw": [list(hw) for hw in dev.valid_hw],
            "labels": [torch.from_numpy(np.array(lab)) for lab in dev.labels],
        }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_features(path: Path) -> tuple[FeatureCache, DevSet | None]:
    blob = torch.load(path, weights_only=True)
    cache = FeatureCache(blob["features"], blob["labels"], blob["teacher"])
    d = blob.get("dev")
    dev = None
    if d is not None:
        dev = DevSet(
            list(d["features"]),
            [tuple(hw) for hw in d["padded_hw"]],
            [tuple(hw) for hw in d["valid_hw"]],
            [lab.numpy() for lab in d["labels"]],
        )
    return cache, dev


def checkpoint_note(cfg: TrainConfig, n_dev: int) -> str:
    """What the model's JSON says about which weights were kept, and the dev set."""
    if n_dev == 0:
        return "the last step"
    pool = "the training photos" + (
        " whose mask is VOC's own" if cfg.dev_from == "voc_masks" else ""
    )
    dev = f"1 in {cfg.dev_every} of {pool}, held out ({n_dev} photos)"
    if cfg.keep == "last":
        return f"the last step ({cfg.steps}); dev core-7 mIoU recorded on {dev}"
    return f"the best dev core-7 mIoU of the checkpoints (dev: {dev})"


def train(
    teacher: DeepLabV3,
    class_names: tuple[str, ...],
    root: Path,
    cfg: TrainConfig,
    *,
    log: Log = print,
    cache_dir: Path | None = None,
) -> tuple[DeepLabV3, dict]:
    """The trained model (at output stride 16) and its metadata JSON (no metrics yet).

    ``teacher`` is ``voc-mobilenetv2`` as trained (output stride 8); it is not mutated.
    With ``cache_dir``, the frozen-backbone features are kept there (a few GB) and a
    later run with the same data and augmentation reads them instead of recomputing.
    """
    teacher16 = rewire(
        teacher, family="tflite_mnv2", output_stride=TRAINED_STRIDE, trained_stride=8
    )
    t0 = time.perf_counter()
    ids = train_ids(root, limit=cfg.limit_images)
    pool = voc_mask_ids(root, ids) if cfg.dev_from == "voc_masks" else ids
    fit_ids, dev_ids = split_ids(ids, cfg.dev_every, pool=pool)
    stored = (
        None
        if cache_dir is None
        else Path(cache_dir) / f"voc_aspp_features_{cache_key(cfg, fit_ids, dev_ids)}.pt"
    )
    if stored is not None and stored.exists():
        cache, dev = load_features(stored)
        log(f"read the cached features from {stored}")
    else:
        cache = build_cache(teacher16, root, fit_ids, cfg, log=log)
        dev = build_dev(teacher16, root, dev_ids) if dev_ids else None
        if stored is not None:
            save_features(stored, cache, dev)
    t_cache = time.perf_counter() - t0
    log(f"cached {len(cache)} crops and {len(dev_ids)} dev photos in {t_cache:.0f} s")
    model = on_backbone(copy.deepcopy(teacher16.stages), len(class_names), seed=cfg.seed)
    model.aspp.project[3].p = cfg.dropout
    if cfg.init == "teacher":
        warm_start(model, teacher16, atrous=cfg.atrous_init)
    score = None if dev is None else (lambda m: dev_score(m, dev, class_names))
    teacher_dev = None if dev is None else round(dev_score(teacher16, dev, class_names), 5)
    if teacher_dev is not None:
        log(f"teacher's dev core-7 mIoU {teacher_dev:.4f}")
    history = train_head(model, cache, cfg, dev=score, log=log)
    t_total = time.perf_counter() - t0
    meta = {
        "name": "voc-mobilenetv2-aspp",
        "title": "DeepLabV3 · MobileNetV2 + 5-branch ASPP (PASCAL VOC, offline)",
        "class_names": list(class_names),
        "architecture": architecture(model),
        "input": {"mean": list(INPUT_MEAN), "std": list(INPUT_STD)},
        "license": (
            "Apache-2.0: backbone from the TensorFlow Lite Task Library's deeplabv3.tflite; "
            "ASPP and head trained by Atrous Lab on PASCAL VOC 2012 (research use)"
        ),
        "dataset": {
            "name": "PASCAL VOC 2012 train_aug subset (1,628 Animal-Pose photos)",
            "images": len(fit_ids),
            "dev_images": len(dev_ids),
            "crops": len(cache),
        },
        "training": {
            "config": asdict(cfg),
            "backbone": "frozen (from deeplabv3.tflite); features of every crop cached",
            "teacher": "voc-mobilenetv2's own head at output stride 16 (distillation)",
            "init": (
                (
                    "voc-mobilenetv2's head exactly (warm_start): pooling branch, projection "
                    "and classifier from it; "
                    + (
                        "the 1×1 branch and each atrous branch start as its 1×1 branch (centre "
                        "tap only) sharing its projection columns equally"
                        if cfg.atrous_init == "centre"
                        else "its 1×1 branch; atrous branches new with zero projection columns"
                    )
                    + "; batch norm frozen"
                )
                if cfg.init == "teacher"
                else "torchvision's default initialisation (seeded)"
            ),
            "output_stride": TRAINED_STRIDE,
            "aspp_rates": list(TRAINED_RATES),
            "checkpoint": checkpoint_note(cfg, len(dev_ids)),
            "teacher_dev_core7": teacher_dev,
            "seconds_caching": round(t_cache, 1),
            "seconds_total": round(t_total, 1),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "log": history,
        },
    }
    return model, meta


def save(model: DeepLabV3, meta: dict, folder: Path = ASSETS) -> tuple[Path, Path]:
    """Write ``<STEM>.pt`` (state dict) and ``<STEM>.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pt, js = folder / f"{STEM}.pt", folder / f"{STEM}.json"
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(state, pt)
    js.write_text(json.dumps(meta, indent=2) + "\n")
    return pt, js
