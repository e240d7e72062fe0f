"""``compile: true``: torch.compile of the features gives the dream eager gives, and fails in one line."""

from __future__ import annotations

import shutil

import pytest
import torch

from dreamvideo.engine import DreamParams, dream
from dreamvideo.errors import ConfigError
from dreamvideo.features import get_model
from dreamvideo.objectives import channel, layer

needs_compiler = pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                                    reason="inductor needs a C++ compiler on the CPU")


@needs_compiler
def test_compiled_dream_equals_eager_and_leaves_the_model_alone():
    model = get_model("tiny", pretrained=False)  # its own copy: compiling registers hooks on it
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    objective = layer("block2") + 0.5 * channel("block1", [1, 2])
    # two octaves and a tile size below the larger one: three shapes, each compiled once
    params = DreamParams(octaves=2, iterations=2, jitter=4, tile_size=40, tile_overlap=8)
    eager = dream(image, model, objective, params, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits = model(image)
        plain = model.features(image, ["block1"])["block1"]
    compiled = dream(image, model, objective, DreamParams(**{**params.__dict__, "compile": True}),
                     generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=0)
    assert (compiled - image).abs().mean() > 1e-3  # it dreamed
    # the compiled path's hooks act only while it runs: plain calls see the same network as before
    with torch.no_grad():
        torch.testing.assert_close(model(image), logits)
        torch.testing.assert_close(model.features(image, ["block1"])["block1"], plain)
    # a reweighted objective (music) reuses the compiled features: same layers, one cache entry
    dream(image, model, 2.0 * objective, DreamParams(**{**params.__dict__, "compile": True}))
    assert len(model._compiled) == 1


def test_a_failed_compile_is_one_config_error(monkeypatch):
    from torch._dynamo.exc import BackendCompilerFailed

    def broken(fn, **_kwargs):
        def call(*_args):
            raise BackendCompilerFailed(fn, RuntimeError("no working C++ compiler found"), None)

        return call

    monkeypatch.setattr(torch, "compile", broken)
    model = get_model("tiny", pretrained=False)
    with pytest.raises(ConfigError, match=r"compile: true, but torch.compile failed on cpu .*set compile: false"):
        dream(torch.rand(1, 3, 32, 32), model, layer("block1"), DreamParams(octaves=1, iterations=1, compile=True))


def test_compile_is_a_style_key():
    from dreamvideo.config import load_style
    from dreamvideo.dreamer import dream_params

    assert dream_params(load_style(None, ["compile=true"]), torch.device("cpu")).compile is True
    assert dream_params(load_style(None, []), torch.device("cpu")).compile is False
    with pytest.raises(ConfigError, match="compile"):
        load_style(None, ["compile=maybe"])


def test_taps_go_quiet_after_a_failed_pass():
    from dreamvideo.features import _Taps

    model = get_model("tiny", pretrained=False)
    taps = _Taps(model, ("block2",))
    image = torch.rand(1, 3, 32, 32)
    assert set(taps(image)) == {"block2"}
    with pytest.raises(RuntimeError):
        taps(torch.rand(1, 4, 32, 32))  # a wrong input fails inside the network
    with torch.no_grad():
        assert model(image).shape[0] == 1  # a plain pass runs to the end: the hooks do not stop it


@needs_compiler
def test_the_default_network_compiles_into_one_graph():
    """Its in-place ReLU6 (``fusion.Clamp``) once broke the graph at every activation: 35 pieces a step,
    each its own CUDA graph on a GPU. One graph, and the gradient eager gives."""
    import torch._dynamo

    model = get_model("efficientnet_lite0", pretrained=False).to(memory_format=torch.channels_last)
    layers = list(model.spec.default_layers)
    image = torch.rand(1, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()

    def grad(features):
        x = image.contiguous(memory_format=torch.channels_last).requires_grad_(True)
        loss = sum(v.float().pow(2).mean() for v in features(x).values())
        return torch.autograd.grad(loss, x)[0]

    compiled = grad(model.compiled_features(layers))
    assert sum(counters["graph_break"].values()) == 0, dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 1
    eager = grad(lambda x: model.features(x, layers))
    torch.testing.assert_close(compiled, eager, atol=1e-6, rtol=1e-5)
    assert eager.abs().mean() > 0
