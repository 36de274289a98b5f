"""Models: one ``ModelSpec``, a registry, loading, and output-stride rewiring."""

from .layers import ASPP, DeepLabV3, SameConv2d
from .output_stride import OUTPUT_STRIDES, current_wiring, plan, rewire
from .registry import (
    DEFAULT_MODEL,
    REGISTRY,
    LoadedModel,
    ModelEntry,
    ModelSpec,
    build_model,
    expected_rates,
    load_base,
    load_with_fallback,
    model_names,
    resolve_device,
)

__all__ = [
    "ASPP",
    "DEFAULT_MODEL",
    "OUTPUT_STRIDES",
    "REGISTRY",
    "DeepLabV3",
    "LoadedModel",
    "ModelEntry",
    "ModelSpec",
    "SameConv2d",
    "build_model",
    "current_wiring",
    "expected_rates",
    "load_base",
    "load_with_fallback",
    "model_names",
    "plan",
    "resolve_device",
    "rewire",
]
