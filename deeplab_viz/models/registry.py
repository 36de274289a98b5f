"""ModelSpec, the model registry, and loading a model for a spec.

``ModelSpec`` is everything that makes two models different for the app: which
network, which output stride, how the ASPP rates follow the stride, trained or
random weights, device and dtype. It is frozen and hashable, so it can key caches.

Loading is split in two so the expensive part is shared:

- :func:`load_base` builds the network *as trained* (weights read once; never
  mutated afterwards; parameters frozen),
- :func:`build_model` returns a :class:`LoadedModel` for a spec: the base itself
  when nothing differs, otherwise a rewired / moved deep copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from .. import weights as W
from ..first_run import Fallback, fallback
from ..paths import MODELS_DIR
from .fast import as_input, fast_copy
from .layers import DeepLabV3
from .output_stride import OUTPUT_STRIDES, RatePolicy, rewire, scaled_rates

DEFAULT_MODEL = "voc-mobilenetv2"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Reduced precisions per device. On a CPU bfloat16 is an inexact, visible choice:
# the CPU casts the network and runs it channels-last (bench/peer.py measures its
# speed and how many pixels change class); float16 convolutions are CUDA's.
LOW_PRECISION: dict[str, tuple[str, ...]] = {
    "cuda": ("float16", "bfloat16"),
    "cpu": ("bfloat16",),
}
DEVICES = ("auto", "cpu", "cuda", "mps")
# Models trained by Atrous Lab itself ship in the repository: weights + metadata JSON.
LOCAL_DIR = MODELS_DIR
# Trained on real photos by Atrous Lab, ships in deeplab_viz/assets/models (backbone included): runs
# with no network and no cache, so it is where a photo goes when other weights are missing.
REAL_PHOTO_MODEL = "voc-mobilenetv2-aspp"
TFLITE_MODEL = "voc-mobilenetv2"  # the one checked against the Task Library's golden masks
# Where a model whose weights cannot be had falls back to, in order (never ShapesWorld).
FALLBACKS = (REAL_PHOTO_MODEL, TFLITE_MODEL)


@dataclass(frozen=True)
class ModelEntry:
    """Facts about one model in the registry (nothing here needs the weights)."""

    name: str
    title: str
    kind: Literal["tflite", "torchvision", "local"]
    family: str  # a key of output_stride.FAMILIES
    native_stride: int  # the output stride the weights were trained at, pixels
    trained_rates: tuple[int, ...]  # ASPP atrous rates at the native stride
    mean: tuple[float, float, float]  # input normalisation, in 0..255 units
    std: tuple[float, float, float]
    align_corners: bool  # True: feed (OS·k + 1)-sized inputs, as TF DeepLab does
    dataset: str
    license: str
    source: str
    remote: W.RemoteFile | None = None  # for torchvision entries: filled from torchvision
    local_file: str | None = None  # for local entries: stem of <stem>.pt / <stem>.json in LOCAL_DIR


_IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)

VOC_MNV2_REMOTE = W.RemoteFile(
    filename="deeplabv3.tflite",
    url=(
        "https://raw.githubusercontent.com/tensorflow/tflite-support/"
        "133228616ca14e1b64c03f6a0ea8610f41a60783/tensorflow_lite_support/cc/test/testdata/"
        "task/vision/deeplabv3.tflite"
    ),
    sha256="9711334db2b01d5894feb8ed0f5cb3e97d125b8d229f8d8692f625801818f5ef",
)


def _tv_entry(name: str, title: str, family: str, native: int) -> ModelEntry:
    return ModelEntry(
        name=name,
        title=title,
        kind="torchvision",
        family=family,
        native_stride=native,
        trained_rates=(12, 24, 36),
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        align_corners=False,
        dataset="COCO subset with the 20 PASCAL VOC classes",
        license="BSD-3-Clause (torchvision)",
        source="torchvision.models.segmentation",
    )


REGISTRY: dict[str, ModelEntry] = {
    DEFAULT_MODEL: ModelEntry(
        name=DEFAULT_MODEL,
        title="DeepLabV3 · MobileNetV2 (PASCAL VOC, offline)",
        kind="tflite",
        family="tflite_mnv2",
        native_stride=8,
        trained_rates=(),
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        align_corners=True,
        dataset="PASCAL VOC 2012 (21 classes)",
        license="Apache-2.0 (TensorFlow Lite Task Library test model)",
        source="tensorflow/tflite-support deeplabv3.tflite",
        remote=VOC_MNV2_REMOTE,
    ),
    "deeplabv3_mobilenet_v3_large": _tv_entry(
        "deeplabv3_mobilenet_v3_large", "DeepLabV3 · MobileNetV3-Large", "mobilenet_v3", 16
    ),
    "deeplabv3_resnet50": _tv_entry("deeplabv3_resnet50", "DeepLabV3 · ResNet-50", "resnet", 8),
    "deeplabv3_resnet101": _tv_entry("deeplabv3_resnet101", "DeepLabV3 · ResNet-101", "resnet", 8),
}


def _local_entry(name: str, stem: str) -> ModelEntry | None:
    """A model trained by Atrous Lab, described by the JSON next to its weights (or None)."""
    try:
        meta = json.loads((LOCAL_DIR / f"{stem}.json").read_text())
        arch, inp = meta["architecture"], meta["input"]
        data = meta.get("dataset", {})
        dataset = data.get("name") if isinstance(data, dict) else None
        command = "train-voc-aspp" if arch["family"] == "tflite_mnv2" else "train-shapes"
        return ModelEntry(
            name=name,
            title=meta["title"],
            kind="local",
            family=arch["family"],
            native_stride=int(arch["output_stride"]),
            trained_rates=tuple(int(r) for r in arch["aspp_rates"]),
            mean=tuple(float(v) for v in inp["mean"]),
            std=tuple(float(v) for v in inp["std"]),
            align_corners=bool(arch["align_corners"]),
            dataset=dataset or f"ShapesWorld (generated, {len(meta['class_names'])} classes)",
            license=meta["license"],
            source=f"deeplab_viz/assets/models/{stem}.pt (python -m deeplab_viz {command})",
            local_file=stem,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


LOCAL_MODELS = {
    REAL_PHOTO_MODEL: "voc_mobilenetv2_aspp",
    "shapes-deeplabv3": "shapes_deeplabv3",
    "shapes-deeplabv3plus": "shapes_deeplabv3plus",
}


def register_local_models() -> None:
    """(Re-)read the JSON of every model in ``deeplab_viz/assets/models`` into the registry.

    Called at import; a training command calls it again after writing a new model.
    """
    for name, stem in LOCAL_MODELS.items():
        entry = _local_entry(name, stem)
        if entry is not None:
            REGISTRY[name] = entry


register_local_models()


def is_shapes_model(name: str) -> bool:
    """True for the models trained on generated ShapesWorld scenes (not on photos)."""
    entry = REGISTRY.get(name)
    return entry is not None and entry.family == "shapes_resnet"


def model_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def resolve_device(device: str) -> str:
    """ "auto" → cuda, then mps, then cpu; a named device is checked to exist."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device == "cuda" and not cuda:
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available here")
    if device == "mps" and not mps:
        raise ValueError("device 'mps' was asked for but Apple MPS is not available here")
    return device


@dataclass(frozen=True)
class ModelSpec:
    """Which model, wired how, where. Frozen and hashable: a cache key.

    ``output_stride=None`` means the stride the weights were trained at;
    ``device="auto"`` is resolved when the spec is made, so two specs that would
    run the same way compare equal.
    """

    name: str = DEFAULT_MODEL
    output_stride: int | None = None
    aspp_rates: RatePolicy = "scale"
    pretrained: bool = True  # False: seeded random weights ("architecture only")
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.name not in REGISTRY:
            raise ValueError(f"unknown model {self.name!r}; choose from {', '.join(REGISTRY)}")
        entry = REGISTRY[self.name]
        if self.output_stride is None:
            object.__setattr__(self, "output_stride", entry.native_stride)
        if self.output_stride not in OUTPUT_STRIDES:
            raise ValueError(
                f"output stride must be one of {OUTPUT_STRIDES}, got {self.output_stride}"
            )
        if self.aspp_rates not in ("scale", "keep"):
            raise ValueError(f"ASPP rate policy must be 'scale' or 'keep', got {self.aspp_rates!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        object.__setattr__(self, "device", resolve_device(self.device))
        if self.dtype not in ("float32", *LOW_PRECISION.get(self.device, ())):
            raise ValueError(
                f"{self.dtype} is offered on CUDA only; use float32 on {self.device}"
                if self.dtype == "float16"
                else f"{self.dtype} is not offered on {self.device}; use float32"
            )
        if not self.pretrained and entry.kind == "tflite":
            raise ValueError(f"{self.name} is only offered with its trained weights")

    @property
    def entry(self) -> ModelEntry:
        return REGISTRY[self.name]

    @property
    def label(self) -> str:
        """How the model is named wherever it is shown."""
        text = f"{self.name} · OS {self.output_stride}"
        if self.dtype != "float32":
            text += f" · {self.dtype}"
        if not self.pretrained:
            text += " · architecture only (random weights)"
        return text


@dataclass(frozen=True)
class LoadedModel:
    """A ready-to-run model for a spec. ``module`` is shared: never mutate it."""

    spec: ModelSpec
    module: DeepLabV3 = field(repr=False, compare=False)
    class_names: tuple[str, ...]
    # The same network fused for CPU inference (see models/fast.py); None: run ``module``.
    fast: DeepLabV3 | None = field(default=None, repr=False, compare=False)

    @property
    def runner(self) -> DeepLabV3:
        """The module forward passes run on: the fast copy where there is one."""
        return self.fast if self.fast is not None else self.module

    def runner_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, 3, H, W) laid out for :attr:`runner` (channels last on the fast path)."""
        return as_input(x) if self.fast is not None else x

    @property
    def entry(self) -> ModelEntry:
        return self.spec.entry

    @property
    def aspp_rates(self) -> tuple[int | None, ...]:
        return self.module.aspp.rates

    @property
    def device(self) -> torch.device:
        return torch.device(self.spec.device)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.spec.dtype]


def _freeze(module: DeepLabV3) -> DeepLabV3:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def torchvision_remote(name: str) -> W.RemoteFile:
    """The torchvision weights file of ``name``: URL, file name, sha256 prefix."""
    from .torchvision_models import default_weights

    url = default_weights(name).url
    filename = url.rsplit("/", 1)[-1]
    prefix = filename.rsplit("-", 1)[-1].split(".")[0]  # torch hub's hash prefix
    return W.RemoteFile(filename=filename, url=url, sha256=prefix)


def remote_file(name: str) -> W.RemoteFile | None:
    """The downloadable weights file of ``name``; None for models that ship in assets."""
    entry = REGISTRY[name]
    if entry.kind == "torchvision":
        return torchvision_remote(name)
    return entry.remote


def load_base(
    name: str, *, pretrained: bool = True, progress: W.Progress | None = None
) -> tuple[DeepLabV3, tuple[str, ...]]:
    """The network as trained (native stride, CPU, float32, frozen) and its class names.

    Raises :class:`~deeplab_viz.weights.WeightsUnavailable` when trained weights
    cannot be had here.
    """
    entry = REGISTRY[name]
    if entry.kind == "tflite":
        from .tflite_mnv2 import load_tflite_model

        assert entry.remote is not None
        path = W.fetch(entry.remote, progress=progress)
        module, labels = load_tflite_model(path)
        return _freeze(module), labels
    if entry.kind == "local":
        assert entry.local_file is not None
        try:
            module, labels = _load_local(entry, pretrained=pretrained)
        except (OSError, RuntimeError, ValueError, KeyError, EOFError) as exc:
            raise W.WeightsUnavailable(
                f"{LOCAL_DIR / entry.local_file}.pt cannot be read ({exc.__class__.__name__}); "
                f"restore it from the repository or run python -m deeplab_viz "
                f"{entry.source.rsplit(' ', 1)[-1].rstrip(')')}",
                reason="missing" if isinstance(exc, FileNotFoundError) else "damaged",
            ) from None
        return _freeze(module), labels

    from .torchvision_models import build_torchvision, class_names

    if not pretrained:
        return _freeze(build_torchvision(name, state_dict=None)), class_names(name)
    path = W.fetch(torchvision_remote(name), progress=progress, include_torch_hub=True)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise W.WeightsUnavailable(
            f"{path} is not a readable PyTorch checkpoint ({exc.__class__.__name__})",
            reason="damaged",
        ) from None
    try:
        module = build_torchvision(name, state_dict=state)
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:  # wrong keys or shapes
        raise W.WeightsUnavailable(
            f"{path} does not hold {name}'s weights ({exc.__class__.__name__})",
            reason="damaged",
        ) from None
    return _freeze(module), class_names(name)


def _load_local(entry: ModelEntry, *, pretrained: bool) -> tuple[DeepLabV3, tuple[str, ...]]:
    """A model that ships in ``deeplab_viz/assets/models``: trained weights, or seeded random ones."""
    assert entry.local_file is not None
    if entry.family == "tflite_mnv2":
        from .voc_aspp import load_voc_aspp, read_metadata, skeleton

        if pretrained:
            return load_voc_aspp(folder=LOCAL_DIR)
        meta = read_metadata(LOCAL_DIR)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            module = skeleton(meta["architecture"], len(meta["class_names"]))
        return module.eval(), tuple(meta["class_names"])
    from .shapes import load_shapes_model

    return load_shapes_model(entry.local_file, pretrained=pretrained, folder=LOCAL_DIR)


def build_model(
    spec: ModelSpec,
    *,
    base: tuple[DeepLabV3, tuple[str, ...]] | None = None,
    fast: bool | None = None,
) -> LoadedModel:
    """A :class:`LoadedModel` for ``spec``; ``base`` (from :func:`load_base`) is not mutated.

    ``fast`` (default: on for a CPU) adds the copy forward passes run on: in float32
    the fused one of :func:`~deeplab_viz.models.fast.fast_copy` (the reference
    module stays for everything that reads the network); in bfloat16 the cast copy
    itself, channels-last, is both.
    """
    module, labels = base if base is not None else load_base(spec.name, pretrained=spec.pretrained)
    entry = spec.entry
    if spec.output_stride != entry.native_stride:
        module = rewire(
            module,
            family=entry.family,
            output_stride=spec.output_stride,
            trained_stride=entry.native_stride,
            rate_policy=spec.aspp_rates,
        )
    if spec.device != "cpu" or spec.dtype != "float32":
        if module is (base[0] if base is not None else None):
            module = copy.deepcopy(module)
        module = module.to(device=spec.device, dtype=DTYPES[spec.dtype])
    module = _freeze(module)
    if fast is None:
        fast = spec.device == "cpu"
    fused = None
    if fast and spec.device == "cpu":
        if spec.dtype == "float32":
            fused = fast_copy(module)  # the fused copy: exact, so the reference stays apart
        else:
            # bfloat16: the cast above already made a copy; laying it out for oneDNN in
            # place makes it both the reference and the runner (one copy, not two)
            fused = module = module.to(memory_format=torch.channels_last)
    return LoadedModel(spec=spec, module=module, class_names=labels, fast=fused)


def expected_rates(spec: ModelSpec) -> tuple[int, ...]:
    """The ASPP atrous rates a spec should end up with (for display and tests)."""
    e = spec.entry
    return scaled_rates(
        e.trained_rates,
        trained_stride=e.native_stride,
        output_stride=spec.output_stride,
        policy=spec.aspp_rates,
    )


def load_with_fallback(
    spec: ModelSpec,
    *,
    progress: W.Progress | None = None,
    load: Callable[[ModelSpec], LoadedModel] | None = None,
) -> tuple[LoadedModel, Fallback | None]:
    """Load ``spec``; if its trained weights cannot be had, fall back.

    The fallbacks, in order: the real-photo model that ships with the project
    (:data:`REAL_PHOTO_MODEL`), then the TFLite VOC model; never a ShapesWorld
    model, so a photo is segmented by one only when the user chose it. ``load``
    builds a model for a spec (the app passes its cached loader); it must raise
    :class:`~deeplab_viz.weights.WeightsUnavailable` when weights are missing.
    Returns the model and, when it fell back, a
    :class:`~deeplab_viz.first_run.Fallback` whose ``sentence`` tells the user
    which model runs instead, why, and what to do.
    """
    if load is None:

        def load(s: ModelSpec) -> LoadedModel:
            return build_model(
                s, base=load_base(s.name, pretrained=s.pretrained, progress=progress)
            )

    try:
        return load(spec), None
    except W.WeightsUnavailable as exc:
        first = exc
    for name in FALLBACKS:
        if name == spec.name or name not in REGISTRY:
            continue
        fallback_spec = ModelSpec(
            name=name,
            output_stride=spec.output_stride,
            aspp_rates=spec.aspp_rates,
            device=spec.device,
            dtype=spec.dtype,
        )
        try:
            model = load(fallback_spec)
        except W.WeightsUnavailable:
            continue
        return model, fallback(spec.entry, name, first.message, first.reason)
    raise first
