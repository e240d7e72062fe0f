"""Folding batch norms and leaner activations change the cost, not the activations or gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dreamvideo import fusion
from dreamvideo.features import DreamModel, get_model
from dreamvideo.fusion import Clamp, fold_batchnorm, lean_activations
from dreamvideo.models import get_spec, list_models


def _randomise_norms(net: nn.Module, seed: int = 0) -> None:
    """Pretrained-looking statistics, so that folding is not the identity it is at initialisation."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=g, dtype=torch.float64) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g, dtype=torch.float64) * 0.4 + 0.8)
            m.bias.data.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.2)


def _features_and_gradient(model: DreamModel, x: torch.Tensor, layers: list[str]):
    x = x.clone().requires_grad_(True)
    acts = model.features(x, layers)
    (grad,) = torch.autograd.grad(sum(a.pow(2).mean() for a in acts.values()), x)
    return {k: v.detach() for k, v in acts.items()}, grad


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    return bool((a - b).abs().max() <= tol * (a.abs().max() + 1e-12))


@pytest.mark.parametrize("name", ["efficientnet_lite0", "googlenet", "resnet50", "inception_v3", "tiny"])
def test_folded_model_dreams_like_the_original(name):
    """Same activations and input gradients on every declared layer and on a folded convolution itself.

    In float64, so that what is compared is the rewrite, not float32 rounding through fifty layers."""
    spec = get_spec(name)
    torch.manual_seed(0)
    net = spec.build().eval().double()
    _randomise_norms(net)
    plain = DreamModel(spec, net).double()
    size = max(96, 4 * spec.min_size)
    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    folded_net, unfolds = fold_batchnorm(net, example)
    lean_activations(folded_net)
    fast = DreamModel(spec, folded_net, unfolds).double()
    if name != "tiny":
        assert unfolds, f"{name}: no batch norm was folded"
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded_net.modules())
    conv = next(iter(unfolds), None)
    layers = list(spec.default_layers) + ([conv] if conv else [])
    acts_a, grad_a = _features_and_gradient(plain, example, layers)
    acts_b, grad_b = _features_and_gradient(fast, example, layers)
    for layer in layers:
        assert _close(acts_a[layer], acts_b[layer], 1e-9), f"{name}:{layer}"
    assert _close(grad_a, grad_b, 1e-9), name
    if name != "tiny":
        assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules()), "the original must be left as it was"


def test_get_model_folds_by_default(lite0):
    assert len(lite0.unfolds) > 40
    assert not any(isinstance(m, nn.BatchNorm2d) for m in lite0.net.modules())
    assert any(isinstance(m, Clamp) for m in lite0.net.modules())
    assert len(get_model("efficientnet_lite0", fold=False).unfolds) == 0


def test_a_convolution_output_used_twice_is_not_folded():
    """Folding would change the second use, so the check against the original refuses the rewrite."""

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    net = Branchy().eval()
    _randomise_norms(net)
    folded, unfolds = fold_batchnorm(net, torch.rand(1, 3, 16, 16))
    assert folded is net and unfolds == {}


@pytest.mark.parametrize("lean", [True, False], ids=["in-place function", "out of place"])
def test_clamp_has_hardtanh_gradient_even_at_the_edges(lean, monkeypatch):
    monkeypatch.setattr(fusion, "LEAN_DEVICES", {"cpu"} if lean else set())
    x = torch.tensor([-1.0, 0.0, 0.5, 3.0, 6.0, 7.0]).repeat(2, 1)
    a = x[0].clone().requires_grad_(True)
    b = x[1].clone().requires_grad_(True)
    ya = nn.ReLU6()(a * 1.0)
    yb = Clamp(0.0, 6.0)(b * 1.0)
    assert torch.equal(ya, yb)
    w = torch.arange(6.0)
    (ga,) = torch.autograd.grad((ya * w).sum(), a)
    (gb,) = torch.autograd.grad((yb * w).sum(), b)
    assert torch.equal(ga, gb)
    assert (yb.grad_fn.name() == "_ClampBackward") == lean  # the device decides which runs


def test_both_clamps_give_the_default_network_the_same_gradient(lite0, monkeypatch):
    """The CPU's in-place function and the other devices' out-of-place clamp, through the whole network."""
    from dreamvideo.engine import gradient, DreamParams
    from dreamvideo.objectives import layer
    from dreamvideo.transforms import jitter

    image = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(3))
    grads = []
    for devices in ({"cpu"}, set()):
        monkeypatch.setattr(fusion, "LEAN_DEVICES", devices)
        grads.append(gradient(image, lite0, layer("blocks.4"), DreamParams(), jitter(8),
                              torch.Generator().manual_seed(0)))
    assert torch.equal(grads[0], grads[1])


def test_every_registered_model_folds_or_is_left_alone():
    """No model of the zoo breaks under ``get_model``'s default folding (random weights)."""
    for name in list_models(include_hidden=True):
        spec = get_spec(name)
        model = get_model(name, pretrained=False)
        size = max(96, 4 * spec.min_size)
        with torch.no_grad():
            out = model.features(torch.rand(1, 3, size, size), list(spec.default_layers))
        assert all(torch.isfinite(v).all() for v in out.values()), name


def test_cpu_allocator_is_tuned_once_and_dreams_alike(tiny):
    """The allocator setting changes where memory comes from, never a result."""
    import sys

    from dreamvideo import allocator
    from dreamvideo.engine import DreamParams, dream
    from dreamvideo.objectives import layer

    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    params = DreamParams(octaves=2, iterations=3, jitter=4, tile_size=0)
    before = dream(x, tiny, layer("block2"), params)
    tuned = allocator.tune_cpu_allocator()
    assert tuned is allocator.tune_cpu_allocator()  # idempotent, cached
    if sys.platform.startswith("linux"):
        assert tuned, "glibc's mallopt should accept the thresholds"
    after = dream(x, tiny, layer("block2"), params)
    assert torch.equal(before, after)
