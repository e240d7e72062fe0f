"""A tiny random-weight network, registered for fast tests (hidden from `dreamvideo models`)."""

from __future__ import annotations

from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, register_model

_WIDTHS = (8, 16, 32)


def _build():
    from collections import OrderedDict

    import torch
    from torch import nn

    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    cin = 3
    for i, cout in enumerate(_WIDTHS, start=1):
        blocks[f"block{i}"] = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.ReLU())
        cin = cout
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same "weights" every time, so tests repeat
        net = nn.Sequential(blocks)
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
                assert module.bias is not None  # Conv2d's default bias=True
                nn.init.normal_(module.bias, std=0.1)
    return net


@register_model("tiny")
def tiny() -> ModelSpec:
    return ModelSpec(
        name="tiny",
        description="three random conv layers, for tests",
        build=_build,
        weights=Weights(source="random (seeded)", load=None),
        layers=tuple(LayerSpec(f"block{i}", f"block{i}", c, 2**i) for i, c in enumerate(_WIDTHS, start=1)),
        default_layers=("block2",),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        min_size=8,
        hidden=True,
    )
