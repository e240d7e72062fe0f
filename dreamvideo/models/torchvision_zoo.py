"""torchvision classics: GoogLeNet (the original DeepDream network), Inception v3, VGG16/19, ResNet50.

Weights download on first use into the torch hub cache; offline, `--weights FILE` loads a local copy.
"""

from __future__ import annotations

from functools import partial

from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, register_model
from dreamvideo.models.weights import download

_IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
# GoogLeNet and Inception v3 were ported from TensorFlow and expect inputs in [-1, 1]; torchvision
# converts ImageNet-normalised input with `transform_input`, we normalise that way directly instead.
_TF = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _spec(name: str, weights_enum: str, build, layers, default, norm, description, ignore=()) -> ModelSpec:
    import torchvision

    w = torchvision.models.get_weight(weights_enum)
    min_size = max(32, *w.meta.get("min_size", (1, 1)))
    return ModelSpec(
        name=name,
        description=description,
        build=build,
        weights=Weights(source="download", load=partial(download, w.url, name), ignore=ignore),
        layers=tuple(LayerSpec(*layer) for layer in layers),
        default_layers=default,
        min_size=min_size,
        **norm,
    )


def _googlenet():
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=False, transform_input=False, init_weights=False)


@register_model("googlenet")
def googlenet() -> ModelSpec:
    layers = [("conv1", "conv1", 64, 2), ("conv2", "conv2", 64, 4), ("conv3", "conv3", 192, 4),
              ("inception3a", "inception3a", 256, 8), ("inception3b", "inception3b", 480, 8),
              ("inception4a", "inception4a", 512, 16), ("inception4b", "inception4b", 512, 16),
              ("inception4c", "inception4c", 512, 16), ("inception4d", "inception4d", 528, 16),
              ("inception4e", "inception4e", 832, 16), ("inception5a", "inception5a", 832, 32),
              ("inception5b", "inception5b", 1024, 32)]
    return _spec("googlenet", "GoogLeNet_Weights.IMAGENET1K_V1", _googlenet, layers, ("inception4c",), _TF,
                 "GoogLeNet (Inception v1), ImageNet: the network of the original DeepDream",
                 ignore=("aux1.", "aux2."))


def _inception_v3():
    from torchvision.models import inception_v3

    return inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=False)


@register_model("inception_v3")
def inception_v3() -> ModelSpec:
    layers = [("Conv2d_2b_3x3", "Conv2d_2b_3x3", 64, 2), ("Conv2d_4a_3x3", "Conv2d_4a_3x3", 192, 4),
              ("Mixed_5b", "Mixed_5b", 256, 8), ("Mixed_5c", "Mixed_5c", 288, 8), ("Mixed_5d", "Mixed_5d", 288, 8),
              ("Mixed_6a", "Mixed_6a", 768, 16), ("Mixed_6b", "Mixed_6b", 768, 16),
              ("Mixed_6c", "Mixed_6c", 768, 16), ("Mixed_6d", "Mixed_6d", 768, 16),
              ("Mixed_6e", "Mixed_6e", 768, 16), ("Mixed_7a", "Mixed_7a", 1280, 32),
              ("Mixed_7b", "Mixed_7b", 2048, 32), ("Mixed_7c", "Mixed_7c", 2048, 32)]
    return _spec("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", _inception_v3, layers,
                 ("Mixed_5d", "Mixed_6a"), _TF, "Inception v3, ImageNet (torchvision)", ignore=("AuxLogits.",))


_VGG_CFG = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_VGG_WIDTHS = (64, 128, 256, 512, 512)


def _vgg_layers(name: str) -> list[tuple[str, str, int, int]]:
    """conv{block}_{i} named after the ReLU that follows each convolution of ``features``."""
    layers, index = [], 0
    for block, (convs, width) in enumerate(zip(_VGG_CFG[name], _VGG_WIDTHS), start=1):
        for i in range(1, convs + 1):
            layers.append((f"conv{block}_{i}", f"features.{index + 1}", width, 2 ** (block - 1)))
            index += 2
        index += 1  # the max pool closing the block
    return layers


def _vgg(name: str):
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


@register_model("vgg16")
def vgg16() -> ModelSpec:
    return _spec("vgg16", "VGG16_Weights.IMAGENET1K_V1", partial(_vgg, "vgg16"), _vgg_layers("vgg16"),
                 ("conv4_3",), _IMAGENET, "VGG16, ImageNet (torchvision)")


@register_model("vgg19")
def vgg19() -> ModelSpec:
    return _spec("vgg19", "VGG19_Weights.IMAGENET1K_V1", partial(_vgg, "vgg19"), _vgg_layers("vgg19"),
                 ("conv4_4",), _IMAGENET, "VGG19, ImageNet (torchvision)")


def _resnet50():
    from torchvision.models import resnet50

    return resnet50(weights=None)


@register_model("resnet50")
def resnet50() -> ModelSpec:
    layers = [("stem", "maxpool", 64, 4)]
    for stage, (blocks, width, stride) in enumerate(
        ((3, 256, 4), (4, 512, 8), (6, 1024, 16), (3, 2048, 32)), start=1
    ):
        layers += [(f"layer{stage}.{i}", f"layer{stage}.{i}", width, stride) for i in range(blocks)]
        layers.append((f"layer{stage}", f"layer{stage}", width, stride))
    return _spec("resnet50", "ResNet50_Weights.IMAGENET1K_V1", _resnet50, layers, ("layer3.2",), _IMAGENET,
                 "ResNet50, ImageNet (torchvision)")
