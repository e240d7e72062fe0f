"""Make a frozen network cheaper to differentiate, without changing what it computes.

Dreaming runs the network forward and backward dozens of times a frame, in eval mode, never training it.
Two rewrites pay for themselves there:

- ``fold_batchnorm``: a batch norm that only normalises a convolution's output is an affine map per
  channel, so it folds into that convolution's weights and bias. Each folded pair saves one read and
  one write of the activation forward, and two reads and a write backward.
- ``lean_activations``: ``nn.ReLU6(inplace=True)`` (``hardtanh_``) makes autograd copy its input, because
  its backward is defined on the input. Clipping is recovered exactly from the output (0 < y < 6 exactly
  where 0 < x < 6), so on the CPU an in-place clamp that saves its output computes the same gradient with
  no copy. That clamp is a Python ``autograd.Function``, which costs host time at every activation, forward
  and backward; on other devices, where a step's host time rather than its memory traffic bounds it at
  video rates, ``Clamp`` is the out-of-place ``F.hardtanh`` instead: no copy either (its backward reads
  the input, which nothing else keeps), native autograd, the same gradient bit for bit.

Pairs are found by running the network once: a batch norm folds into the convolution whose output
tensor is its input. The rewritten network is checked against the original on that run; if the outputs
differ it is not used.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


class Unfold(nn.Module):
    """``conv_out = (folded_out - shift) / scale``: a folded convolution's own output, per channel."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor):
        super().__init__()
        self.register_buffer("scale", scale.detach().reshape(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.detach().reshape(1, -1, 1, 1).clone())

    def forward(self, output: torch.Tensor) -> torch.Tensor:
        return (output - self.shift.to(output.dtype)) / self.scale.to(output.dtype)


class ActOnly(nn.Module):
    """What is left of timm's ``BatchNormAct2d`` once its norm is folded: dropout (identity) and act."""

    def __init__(self, drop: nn.Module, act: nn.Module):
        super().__init__()
        self.drop = drop
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


class _Clamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
        ctx.mark_dirty(x)
        y = x.clamp_(low, high)
        ctx.save_for_backward(y)
        ctx.low, ctx.high = low, high
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (y,) = ctx.saved_tensors
        # hardtanh_backward passes the gradient where low < y < high, which is where low < x < high
        return torch.ops.aten.hardtanh_backward(grad, y, ctx.low, ctx.high), None, None


# Devices where Clamp differentiates through its in-place autograd.Function. On the CPU it is 1-5% faster
# than F.hardtanh on whole octaves (memory already in cache). Its Python forward and backward cost a sixth
# of a 16 px step's host time, where F.hardtanh is 10-13% faster: what a GPU step pays at video rates
# (benchmarks/host.py --clamp-sizes, docs/benchmarks.md).
LEAN_DEVICES = {"cpu"}


class Clamp(nn.Module):
    """``clamp(x, low, high)`` differentiated without a copy: in place, saving its output, on the CPU
    (``LEAN_DEVICES``); out of place, saving its input, elsewhere and inside a compiled graph."""

    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a compiled graph plans its own memory; the in-place autograd.Function would break the graph at
        # every activation (Dynamo cannot trace its mark_dirty)
        if torch.compiler.is_compiling() or (x.requires_grad and x.device.type not in LEAN_DEVICES):
            return F.hardtanh(x, self.low, self.high)
        if not x.requires_grad:
            return x.clamp_(self.low, self.high)
        return _Clamp.apply(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


def _set(net: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, name, module)


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _conv_bn_pairs(net: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(convolution path, batch-norm path) where the norm's input is the convolution's output tensor."""
    produced: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: list[tuple[str, str]] = []
    handles = []
    for path, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            def after(_m, _i, out, path=path):
                produced[id(out)] = (path, out)  # keep the tensor alive so its id stays unique
            handles.append(module.register_forward_hook(after))
        elif isinstance(module, nn.BatchNorm2d):
            def before(_m, inputs, path=path):
                hit = produced.get(id(inputs[0]))
                if hit is not None and hit[1] is inputs[0]:
                    pairs.append((hit[0], path))
            handles.append(module.register_forward_pre_hook(before))
    try:
        with torch.no_grad():
            net(example)
    finally:
        for h in handles:
            h.remove()
    return pairs


def _foldable(bn: nn.Module) -> bool:
    if not (bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None):
        return False
    if type(bn) is nn.BatchNorm2d:
        return True
    # timm's BatchNormAct2d: the norm, then ``drop`` and ``act`` children, nothing else
    return {name for name, _ in bn.named_children()} == {"drop", "act"}


def fold_batchnorm(net: nn.Module, example: torch.Tensor) -> tuple[nn.Module, dict[str, Unfold]]:
    """A copy of ``net`` (eval mode) with batch norms folded into their convolutions, and for each folded
    convolution how to recover its own output. Returns ``net`` itself when nothing folds or the folded copy
    does not reproduce the original on ``example``."""
    net = net.eval()
    pairs = _conv_bn_pairs(net, example)
    if not pairs:
        return net, {}
    folded_net = copy.deepcopy(net)
    folded: dict[str, Unfold] = {}
    for conv_path, bn_path in pairs:
        # the pairs' hooks sat on an nn.Conv2d and an nn.BatchNorm2d
        conv = cast(nn.Conv2d, folded_net.get_submodule(conv_path))
        bn = cast(nn.BatchNorm2d, folded_net.get_submodule(bn_path))
        mean, var = bn.running_mean, bn.running_var
        if not _foldable(bn) or mean is None or var is None:  # _foldable checks the statistics too
            continue
        with torch.no_grad():
            gamma = bn.weight if bn.weight is not None else torch.ones_like(var)
            beta = bn.bias if bn.bias is not None else torch.zeros_like(mean)
            scale = gamma / torch.sqrt(var + bn.eps)
            if bool((scale.abs() < 1e-12).any()):
                continue  # not invertible: a hook on the convolution could not be served
            shift = beta - mean * scale
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, *([1] * (conv.weight.ndim - 1))),
                                       requires_grad=False)
            conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
        if type(bn) is nn.BatchNorm2d:
            _set(folded_net, bn_path, nn.Identity())
        else:  # timm's BatchNormAct2d (_foldable)
            _set(folded_net, bn_path, ActOnly(cast(nn.Module, bn.drop), cast(nn.Module, bn.act)))
        folded[conv_path] = Unfold(scale, shift)
    if not folded or not _same(net, folded_net, example):
        return net, {}
    return folded_net, folded


def lean_activations(net: nn.Module) -> int:
    """Swap in-place ``ReLU6``/``Hardtanh`` modules for ``Clamp``; returns how many were swapped."""
    swapped = 0
    for path, module in list(net.named_modules()):
        if type(module) in (nn.ReLU6, nn.Hardtanh) and module.inplace:
            _set(net, path, Clamp(module.min_val, module.max_val))
            swapped += 1
    return swapped


def _same(a: nn.Module, b: nn.Module, example: torch.Tensor) -> bool:
    with torch.no_grad():
        x, y = _first(a(example)).float(), _first(b(example)).float()
    return x.shape == y.shape and bool((x - y).abs().max() <= 1e-3 * (x.abs().max() + 1e-6))
