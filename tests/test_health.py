"""The shared-model fingerprint notices every way a request could change a model."""

from __future__ import annotations

import torch
from torch import nn

from deeplab_viz.health import fingerprint


def _net() -> nn.Module:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def test_a_frozen_model_is_clean_and_stable():
    net = _net()
    a, b = fingerprint(net), fingerprint(net)
    assert a.clean and a == b


def test_each_kind_of_change_is_seen():
    net = _net()
    base = fingerprint(net)
    handle = net[0].register_forward_hook(lambda *a: None)
    assert fingerprint(net).hooks == 1 and not fingerprint(net).clean
    handle.remove()
    net.train()
    assert fingerprint(net).training_modules == 4
    net.eval()
    net[0].weight.requires_grad_(True)
    assert fingerprint(net).params_requiring_grad == 1
    net(torch.randn(1, 3, 8, 8)).sum().backward()
    assert fingerprint(net).params_with_grad == 1
    net[0].weight.grad = None
    net[0].weight.requires_grad_(False)
    assert fingerprint(net).clean and fingerprint(net) == base
    with torch.no_grad():
        net[1].running_mean += 1  # a buffer counts as a weight too
    assert fingerprint(net).weights_sha256 != base.weights_sha256
