"""Where the numbers were measured: the machine, torch and the device."""

from __future__ import annotations

import contextlib
import os

import torch

from ..models.registry import resolve_device


def machine_info(device: str = "auto") -> dict[str, object]:
    """Where the numbers were measured: CPU model, cores, torch, device name."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    dev = resolve_device(device)
    info: dict[str, object] = {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": dev,
        "device_name": cpu,
        "cuda_available": torch.cuda.is_available(),
    }
    with contextlib.suppress(OSError, AttributeError):
        info["load_average_1min"] = round(os.getloadavg()[0], 2)  # others' work skews timings
    if dev == "cuda":
        info["device_name"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info
