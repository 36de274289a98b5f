"""The fast CPU path: the same network, reorganised for oneDNN, equal up to float rounding.

Three levers, each exact in real arithmetic (only the order of float additions
changes, so logits move by about 1e-5 and the class of a pixel changes only at a
near-tie; ``tests/test_fast_path.py`` checks the class maps of every model):

* **batch norm folded** into the convolution before it (eval mode: BN is an affine
  map per channel, so ``BN(conv(x)) = conv'(x)`` with scaled weights and bias);
* **convolution + bias + activation fused** into one oneDNN call
  (``mkldnn::_convolution_pointwise`` with a ReLU / ReLU6 / hardswish post-op, the
  kernel ``torch.compile`` itself emits on CPU), which also routes 1×1
  convolutions to oneDNN: on one thread torch's own dispatcher sends them to its
  slow im2col path;
* **channels-last memory** (NHWC), the layout oneDNN's kernels run in, so no
  conversion happens between layers.

The fused module keeps the :class:`~deeplab_viz.models.layers.DeepLabV3` shape
(named stages, an ASPP with named branches, a head), so
:func:`~deeplab_viz.probe.run_probe` walks it unchanged and still returns every
intermediate. It is for running only: analysis that reads modules (receptive
fields, FLOP counts, gradients) uses the reference module.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .layers import DeepLabV3, SameConv2d

# activation module → (oneDNN post-op name, its scalars)
_POST_OPS: dict[type[nn.Module], tuple[str, list[float]]] = {
    nn.ReLU: ("relu", []),
    nn.ReLU6: ("hardtanh", [0.0, 6.0]),
    nn.Hardswish: ("hardswish", []),
}


def onednn_available() -> bool:
    """Whether this torch build has oneDNN's fused convolution (x86 and ARM wheels do)."""
    return torch.backends.mkldnn.is_available() and hasattr(
        torch.ops.mkldnn, "_convolution_pointwise"
    )


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``bn ∘ conv`` as one convolution (``bn`` in eval mode)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return weight, (bias - bn.running_mean) * scale + bn.bias


class FusedConv2d(nn.Conv2d):
    """Convolution + bias + activation in one oneDNN call, from a trained conv (and BN).

    A subclass of ``nn.Conv2d`` with the same weights' shape, stride, dilation and
    groups, so code that finds convolutions (ASPP rates, wiring) reads it as the
    original. TF "SAME" padding is kept: symmetric where it is (every stride-1
    conv), an explicit pad where it is not.
    """

    def __init__(
        self,
        conv: nn.Conv2d,
        *,
        bn: nn.BatchNorm2d | None = None,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=True,
            device="meta",
        )
        with torch.no_grad():
            if bn is not None:
                weight, bias = fold_batch_norm(conv, bn)
            else:
                weight = conv.weight
                bias = (
                    conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
                )
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.same = isinstance(conv, SameConv2d)
        if self.same and all(s == 1 for s in conv.stride):
            # stride 1: TF's SAME is d·(k−1)/2 on each side (odd kernels), a plain padding
            self.same = False
            self.padding = tuple(
                d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation, strict=True)
            )
        self.activation = activation
        self.post_op, self.scalars = _POST_OPS.get(type(activation), ("none", []))
        self.packed: torch.Tensor | None = None  # oneDNN's blocked weight, see pack()

    def pack(self) -> None:
        """Reorder the weight once into oneDNN's blocked layout and drop the plain copy.

        Otherwise oneDNN reorders it on every call: 1.8 of 24 ms of the default
        model's forward at 257 px on one thread (``bench/peer.py`` history).
        """
        padding = [0, 0] if self.same else list(self.padding)
        self.packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
            self.weight.detach().to_mkldnn(), padding, list(self.stride), list(self.dilation),
            self.groups,
        )  # fmt: skip
        del self.weight  # the packed tensor is the only copy; see dense_weight()

    def dense_weight(self) -> torch.Tensor:
        """The (O, I/groups, kh, kw) weight, from the packed one when packed."""
        return self.packed.to_dense() if self.packed is not None else self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            ph = SameConv2d.same_pads(
                x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0]
            )
            pw = SameConv2d.same_pads(
                x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1]
            )
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        padding = [0, 0] if self.same else list(self.padding)
        if x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled():
            weight = self.packed if self.packed is not None else self.weight
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, self.bias, padding, list(self.stride), list(self.dilation),
                self.groups, self.post_op, self.scalars, "",
            )  # fmt: skip
        w = self.dense_weight()
        y = F.conv2d(x, w, self.bias, self.stride, padding, self.dilation, self.groups)
        return self.activation(y) if self.activation is not None else y


def _fusable(conv: nn.Module) -> bool:
    return type(conv) in (nn.Conv2d, SameConv2d) and conv.padding_mode == "zeros"


def _fuse_sequential(seq: nn.Sequential) -> None:
    """Conv [→ BN] [→ activation] runs inside one ``nn.Sequential``, fused in place."""
    names = list(seq._modules)
    i = 0
    while i < len(names):
        conv = seq._modules[names[i]]
        if not _fusable(conv):
            i += 1
            continue
        j = i + 1
        bn = act = None
        if j < len(names) and type(seq._modules[names[j]]) is nn.BatchNorm2d:
            bn = seq._modules[names[j]]
            j += 1
        if j < len(names) and type(seq._modules[names[j]]) in _POST_OPS:
            act = seq._modules[names[j]]
            j += 1
        seq._modules[names[i]] = FusedConv2d(conv, bn=bn, activation=act)
        for name in names[i + 1 : j]:
            del seq._modules[name]  # folded into the conv (an Identity would still cost a call)
        i = j


def _fuse_named_pairs(module: nn.Module) -> None:
    """torchvision's ResNet blocks call ``convK`` then ``bnK`` by name: fold each pair."""
    for name, conv in list(module._modules.items()):
        bn_name = name.replace("conv", "bn", 1)
        bn = module._modules.get(bn_name)
        if name.startswith("conv") and _fusable(conv) and type(bn) is nn.BatchNorm2d:
            module._modules[name] = FusedConv2d(conv, bn=bn)
            module._modules[bn_name] = nn.Identity()


def fast_copy(module: DeepLabV3) -> DeepLabV3:
    """A fused, channels-last copy of ``module`` for CPU float32 inference; ``module`` is untouched.

    Without oneDNN (some builds) the copy is only channels-last, still exact.
    """
    fast = copy.deepcopy(module).eval()
    if onednn_available():
        for m in list(fast.modules()):
            if isinstance(m, nn.Sequential):
                _fuse_sequential(m)
            else:
                _fuse_named_pairs(m)
        for m in fast.modules():  # any conv left outside those patterns runs fused too
            for name, child in list(m._modules.items()):
                if _fusable(child):
                    m._modules[name] = FusedConv2d(child)
    for p in fast.parameters():
        p.requires_grad_(False)
    fast = fast.to(memory_format=torch.channels_last)
    for m in fast.modules():
        if isinstance(m, FusedConv2d):
            m.pack()
    return fast


def as_input(x: torch.Tensor) -> torch.Tensor:
    """An input tensor laid out for :func:`fast_copy` (channels last)."""
    return x.contiguous(memory_format=torch.channels_last)
