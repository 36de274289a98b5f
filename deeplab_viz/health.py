"""Is a shared model still as loaded? Hooks, modes, gradient flags and a weight checksum.

A model in the app's resource cache is shared by every session and thread; the
rules are: no hooks left on it, eval mode, no parameter that requires grad, and
weights never changed. :func:`fingerprint` states all four so a page, a test or
a load test against a running server can check them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Fingerprint:
    hooks: int  # forward, forward-pre, backward and state-dict hooks on any submodule
    training_modules: int  # submodules in training mode
    params_requiring_grad: int
    params_with_grad: int  # parameters holding a .grad tensor
    weights_sha256: str  # over every parameter and buffer, in state-dict order

    @property
    def clean(self) -> bool:
        return (
            self.hooks == 0
            and self.training_modules == 0
            and self.params_requiring_grad == 0
            and self.params_with_grad == 0
        )


def _hook_count(m: nn.Module) -> int:
    names = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
    )
    return sum(len(getattr(m, n, {}) or {}) for n in names)


def fingerprint(module: nn.Module) -> Fingerprint:
    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in module.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    params = list(module.parameters())
    return Fingerprint(
        hooks=sum(_hook_count(m) for m in module.modules()),
        training_modules=sum(1 for m in module.modules() if m.training),
        params_requiring_grad=sum(1 for p in params if p.requires_grad),
        params_with_grad=sum(1 for p in params if p.grad is not None),
        weights_sha256=h.hexdigest(),
    )
