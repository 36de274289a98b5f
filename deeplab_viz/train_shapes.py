"""Train a ShapesWorld DeepLabv3 / v3+ on the CPU, within a wall-time budget.

``python -m deeplab_viz train-shapes --arch v3 --minutes 20 --out deeplab_viz/assets/models``
(the shipped models: 20 minutes each on a quiet 2-core CPU, 2 torch threads and
one scene-generating worker)

- Data: scenes generated on the fly from consecutive seeds starting at
  :data:`~deeplab_viz.shapes_world.TRAIN_SEED_START` (step ``i`` uses seeds
  ``start + i·batch … start + (i+1)·batch − 1``), in one background worker
  process so generation overlaps the training step. The held-out seeds
  (1 000 000 …) are never seen; a few validation scenes from
  :data:`VAL_START` (2 000 000 …) are scored now and then for the log only.
- Model: :func:`~deeplab_viz.models.shapes.build_shapes_model` at output stride
  16, ASPP rates 2/4/6, batch norm in training mode.
- Two phases, as DeepLabv3 was trained (Chen et al. 2017, §4.1): most of the
  budget at output stride 16 (cheap: the last stages run on 10×10 cells of a
  160 px scene), then the last ``finetune_fraction`` (40 %) at output stride 8:
  the model is rewired by :func:`restride` (strides become dilations, ASPP rates
  scaled to 4/8/12 so each branch keeps its reach in pixels) and the optimiser's
  state is carried over. The shipped files describe the model as it ends (OS 8);
  ``training.phases`` records both.
- Optimiser: AdamW (lr 2e-3, weight decay 1e-4 on weights only), linear warm-up
  over the first 100 steps, then poly decay (power 0.9) over the *time* budget:
  the learning rate at elapsed time ``t`` is ``lr·(1 − t/T)^0.9``, so a run ends
  with a small learning rate whatever the machine's speed (``--steps`` replaces
  the time schedule by a step schedule, for smoke tests).
- Loss: plain pixel-wise cross-entropy on 160 px scenes, batch 8.

At the end it writes ``<stem>.pt`` (the state dict in float16, a few MB) and
``<stem>.json`` (class names, architecture, input normalisation, every training
setting, the seed range used, steps, the budget and the wall time actually
taken, the machine and its load) into ``--out``. Training is deterministic per
step only up to thread scheduling; the shipped metrics are computed from the
shipped (float16) weights, not from the in-memory model.

``--init FILE.pt`` continues from earlier weights (a second phase, e.g. with a
lower ``--lr`` and ``--seed-start`` past the seeds already used); the earlier
phase's training block is kept under ``previous_phases`` and the totals add up.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import eval_shapes as ES
from . import shapes_world as SW
from .models import shapes as MS

VAL_START = 2_000_000
MEAN = (127.5, 127.5, 127.5)  # input normalisation, 0…255 units
STD = (64.0, 64.0, 64.0)

TITLES = {
    "v3": "DeepLabV3 · ShapesWorld (trained here, offline)",
    "v3plus": "DeepLabV3+ · ShapesWorld (trained here, offline)",
}


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "v3"
    minutes: float = 20.0  # wall-time budget
    steps: int | None = None  # fixed number of steps instead of the time budget
    batch: int = 8
    size: int = SW.DEFAULT_SIZE
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    poly_power: float = 0.9
    output_stride: int = 16  # stride of the first phase
    aspp_rates: tuple[int, int, int] = (2, 4, 6)  # at output_stride
    finetune_stride: int | None = 8  # stride of the second phase (None: one phase)
    finetune_fraction: float = 0.4  # of the budget spent at finetune_stride, at the end
    seed_start: int = SW.TRAIN_SEED_START
    init_seed: int = 0
    threads: int = 0  # 0: all cores
    workers: int = 1  # background processes generating scenes
    val_every_s: float = 300.0
    init: str | None = None  # continue from this state dict (its JSON, if next to it, is kept)


def normalise(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) float32, normalised with MEAN/STD."""
    return ES.normalise(rgb, MEAN, STD)


class _Batches(torch.utils.data.IterableDataset):
    """Batches of generated scenes, batch ``i`` from seeds ``start + i·batch …``."""

    def __init__(self, start: int, batch: int, size: int) -> None:
        self.start, self.batch, self.size = start, batch, size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        i = wid
        while True:
            s = self.start + i * self.batch
            rgb, mask = SW.batch(range(s, s + self.batch), size=self.size)
            yield torch.from_numpy(rgb), torch.from_numpy(mask.astype(np.int64))
            i += nw


def _optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weights only (not on biases and batch-norm parameters)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )


def restride(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    *,
    trained_stride: int,
    output_stride: int,
) -> tuple[torch.nn.Module, torch.optim.Optimizer, tuple[int, ...]]:
    """The model rewired from ``trained_stride`` to ``output_stride`` (ASPP rates scaled so
    each branch keeps its reach in pixels), with the optimiser's state carried over.

    Returns (model in training mode, optimiser, the new ASPP rates).
    """
    from .models.output_stride import rewire

    new = rewire(
        model, family=MS.FAMILY, output_stride=output_stride, trained_stride=trained_stride
    )
    new.train()
    new_opt = _optimizer(new, cfg)
    new_opt.load_state_dict(opt.state_dict())  # same parameters in the same order
    return new, new_opt, tuple(r for r in new.aspp.rates if r is not None)


def _lr_factor(cfg: TrainConfig, step: int, frac: float) -> float:
    warm = min(1.0, (step + 1) / cfg.warmup)
    return warm * max(0.0, 1.0 - frac) ** cfg.poly_power


@torch.inference_mode()
def quick_miou(model: torch.nn.Module, seeds: range, size: int) -> float:
    """Mean IoU over the classes present, on a few scenes (for the training log)."""
    was = model.training
    model.eval()
    rgb, mask = SW.batch(seeds, size=size)
    pred = model(normalise(rgb)).argmax(1).numpy()
    k = len(SW.CLASS_NAMES)
    conf = np.bincount(mask.ravel().astype(np.int64) * k + pred.ravel(), minlength=k * k)
    conf = conf.reshape(k, k).astype(np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    present = conf.sum(1) > 0
    model.train(was)
    return float(np.mean(tp[present] / union[present]))


def _machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_at_start": [round(v, 2) for v in load],
    }


def train(
    cfg: TrainConfig,
    out: Path | None,
    *,
    log: Callable[[str], None] = print,
    checkpoint: Path | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Train one model; write ``<stem>.pt`` and ``<stem>.json`` into ``out`` (if given).

    Returns the trained model (eval mode) and the metadata written.
    """
    if cfg.arch not in MS.ARCHS:
        raise ValueError(f"arch must be one of {MS.ARCHS}")
    machine = _machine()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    threads = torch.get_num_threads()
    model = MS.build_shapes_model(
        cfg.arch,
        num_classes=len(SW.CLASS_NAMES),
        output_stride=cfg.output_stride,
        rates=cfg.aspp_rates,
        seed=cfg.init_seed,
    )
    previous: list[dict] = []
    if cfg.init:
        state = torch.load(cfg.init, map_location="cpu", weights_only=True)
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        )
        prev_json = Path(cfg.init).with_suffix(".json")
        if prev_json.is_file():
            prev = json.loads(prev_json.read_text())["training"]
            previous = [*prev.pop("previous_phases", []), prev]
    model.train()
    opt = _optimizer(model, cfg)
    data = torch.utils.data.DataLoader(
        _Batches(cfg.seed_start, cfg.batch, cfg.size),
        batch_size=None,
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
        persistent_workers=False,
    )
    budget_s = cfg.minutes * 60
    t0 = time.perf_counter()
    last_val = t0
    step, ema, history = 0, None, []
    stride, rates = cfg.output_stride, tuple(cfg.aspp_rates)
    phases = [{"output_stride": stride, "aspp_rates": list(rates), "from_step": 0, "from_s": 0.0}]
    for rgb, mask in data:
        elapsed = time.perf_counter() - t0
        frac = step / cfg.steps if cfg.steps else elapsed / budget_s
        if frac >= 1.0:
            break
        if (
            cfg.finetune_stride is not None
            and stride != cfg.finetune_stride
            and frac >= 1.0 - cfg.finetune_fraction
        ):
            model, opt, rates = restride(
                model, opt, cfg, trained_stride=stride, output_stride=cfg.finetune_stride
            )
            stride = cfg.finetune_stride
            phases.append(
                {
                    "output_stride": stride,
                    "aspp_rates": list(rates),
                    "from_step": step,
                    "from_s": round(elapsed, 1),
                }
            )
            log(f"step {step}: fine-tuning at output stride {stride}, ASPP rates {rates}")
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_factor(cfg, step, frac)
        logits = model(normalise(rgb))
        loss = F.cross_entropy(logits, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        now = time.perf_counter()
        if step % 50 == 0:
            log(f"step {step} t={now - t0:.0f}s loss={ema:.4f} lr={opt.param_groups[0]['lr']:.2e}")
        if now - last_val >= cfg.val_every_s:
            miou = quick_miou(model, range(VAL_START, VAL_START + 16), cfg.size)
            history.append({"step": step, "t_s": round(now - t0, 1), "loss": ema, "val_miou": miou})
            log(f"  val mIoU (16 scenes) {miou:.4f}")
            last_val = time.perf_counter()
            if checkpoint is not None:
                torch.save(model.state_dict(), checkpoint)
    wall = time.perf_counter() - t0
    model.eval()
    val = quick_miou(model, range(VAL_START, VAL_START + 32), cfg.size)
    log(f"done: {step} steps in {wall:.0f}s, val mIoU (32 scenes) {val:.4f}")
    stem = MS.MODEL_FILES[cfg.arch]
    meta = {
        "name": f"shapes-deeplabv3{'plus' if cfg.arch == 'v3plus' else ''}",
        "title": TITLES[cfg.arch],
        "class_names": list(SW.CLASS_NAMES),
        "architecture": {
            "arch": cfg.arch,
            "family": MS.FAMILY,
            "output_stride": stride,
            "aspp_rates": list(rates),
            "stem_channels": MS.STEM_CHANNELS,
            "stage_channels": MS.STAGE_CHANNELS,
            "stage_blocks": MS.STAGE_BLOCKS,
            "aspp_channels": MS.ASPP_CHANNELS,
            "low_level_stage": MS.LOW_LEVEL_STAGE if cfg.arch == "v3plus" else None,
            "low_level_channels": MS.LOW_LEVEL_CHANNELS if cfg.arch == "v3plus" else None,
            "parameters": MS.count_parameters(model),
            "align_corners": False,
        },
        "input": {"size": cfg.size, "mean": list(MEAN), "std": list(STD)},
        "dataset": {
            "generator": "deeplab_viz.shapes_world.generate_scene",
            "scene_size": cfg.size,
            "train_seeds": [
                min([cfg.seed_start, *(p["seed_start"] for p in previous)]),
                cfg.seed_start + step * cfg.batch,
            ],
            "validation_seeds_for_log": [VAL_START, VAL_START + 32],
            "heldout_seeds": [SW.HELDOUT_START, SW.HELDOUT_START + SW.HELDOUT_COUNT],
        },
        "training": {
            **{k: v for k, v in asdict(cfg).items() if k not in ("aspp_rates",)},
            "optimizer": "AdamW",
            "loss": "cross-entropy",
            "schedule": "linear warm-up, then poly over the time budget"
            if not cfg.steps
            else "linear warm-up, then poly over the steps",
            "budget_minutes": cfg.minutes if not cfg.steps else None,
            "phases": phases,
            "steps_done": step,
            "scenes_seen": step * cfg.batch,
            "wall_time_s": round(wall, 1),
            "threads": threads,
            "final_val_miou_32_scenes": round(val, 4),
            "history": history,
            "previous_phases": previous,
            "total_wall_time_s": round(wall + sum(p["wall_time_s"] for p in previous), 1),
            "total_scenes_seen": step * cfg.batch + sum(p["scenes_seen"] for p in previous),
        },
        "machine": machine,
        "weights_dtype": "float16",
        "license": "Apache-2.0 (trained by Atrous Lab on generated data)",
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        torch.save(state, MS.weights_path(stem, out))
        MS.metadata_path(stem, out).write_text(json.dumps(meta, indent=2) + "\n")
        log(f"wrote {MS.weights_path(stem, out)} and {MS.metadata_path(stem, out)}")
    return model, meta
