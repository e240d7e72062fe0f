from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvideo.engine import DreamParams, ascent_step, dream, octave_sizes
from dreamvideo.features import get_model
from dreamvideo.models import list_models
from dreamvideo.objectives import layer
from dreamvideo.tiling import tile_grid, tiled_gradient
from dreamvideo.transforms import compose, jitter, random_rotate, random_scale


@pytest.mark.parametrize("name", list_models(include_hidden=True))
def test_objective_rises_for_every_model(name):
    """Gradient ascent ascends: a few steps raise the objective (random weights, so no download)."""
    model = get_model(name, pretrained=False) if name != "efficientnet_lite0" else get_model(name)
    objective = layer(model.spec.default_layers[0])
    size = max(64, model.spec.min_size)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    params = DreamParams(step_size=0.01, tile_size=0)
    g = torch.Generator().manual_seed(0)

    def value(img):
        with torch.no_grad():
            return objective(model.features(img, objective.layers)).item()

    before = value(x)
    for _ in range(3):
        x = ascent_step(x, model, objective, params, lambda x, g: x, g)
    assert value(x) > before


def test_same_seed_repeats_and_other_seed_differs(tiny):
    x = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(3))
    params = DreamParams(octaves=2, iterations=3, jitter=8, tile_size=0)
    run = lambda seed: dream(x, tiny, layer("block2"), params, generator=torch.Generator().manual_seed(seed))
    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_progress_counts_every_step(tiny):
    seen = []
    dream(torch.rand(1, 3, 64, 64), tiny, layer("block1"), DreamParams(octaves=3, iterations=2),
          progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 6) for i in range(1, 7)]


def test_octave_sizes_stop_at_the_minimum():
    assert octave_sizes(100, 200, 4, 2.0, 20) == [(25, 50), (50, 100), (100, 200)]
    assert octave_sizes(10, 10, 3, 2.0, 32) == [(10, 10)]


def test_tiles_cover_evenly_with_the_overlap():
    for length, tile, overlap in [(1000, 256, 64), (1280, 512, 64), (720, 512, 64), (513, 512, 0), (4000, 300, 100)]:
        size, starts = tile_grid(length, tile, overlap)
        assert size <= tile and starts[0] == 0 and starts[-1] + size == length
        assert all(size - overlap - 1 <= b - a <= size - overlap for a, b in zip(starts, starts[1:]))
    assert tile_grid(100, 256, 64) == (100, [0])
    assert tile_grid(1280, 512, 64)[0] == 470  # three tiles of 470, not three of 512


def test_tiled_gradient_is_seamless_and_unshifted():
    """For a per-pixel objective the tiled gradient must equal the untiled one everywhere."""
    x = torch.rand(1, 3, 150, 230)
    loss = lambda t: t.pow(2).mean()
    tiled = tiled_gradient(x, loss, tile=64, overlap=16, batch=3, generator=torch.Generator().manual_seed(0))
    (th, _), (tw, _) = tile_grid(150, 64, 16), tile_grid(230, 64, 16)
    assert torch.allclose(tiled, 2 * x / (3 * th * tw), rtol=1e-4, atol=1e-9)


def test_tiled_dream_is_as_strong_as_the_whole_image_dream(lite0):
    """Tiles change where the borders fall, not how hard the image dreams (both with jitter)."""
    import skimage.data
    from PIL import Image

    from dreamvideo.media.images import to_tensor

    im = Image.fromarray(skimage.data.chelsea())
    im.thumbnail((200, 200))
    x = to_tensor(np.asarray(im))
    objective = layer("blocks.4")
    seed = lambda: torch.Generator().manual_seed(0)
    whole = dream(x, lite0, objective, DreamParams(octaves=1, iterations=4, tile_size=0), generator=seed())
    tiled = dream(x, lite0, objective, DreamParams(octaves=1, iterations=4, tile_size=64, tile_overlap=16),
                  generator=seed())
    assert tiled.shape == x.shape

    def gain(img):
        with torch.no_grad():
            return (objective(lite0.features(img, ["blocks.4"])) / objective(lite0.features(x, ["blocks.4"]))).item()

    assert gain(whole) > 1.15
    assert gain(tiled) - 1 > 0.6 * (gain(whole) - 1)


def test_transforms_compose_and_follow_the_device():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 40, 40, requires_grad=True)
    t = compose(jitter(4), random_scale([0.5]), random_rotate([10]))
    y = t(x, g)
    assert y.shape == (1, 3, 20, 20) and y.device == x.device
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_jitter_gradient_lands_on_the_unshifted_pixels():
    """Gradients flow back through the roll: d/dx of <w, roll(x)> is w rolled back by the same shift."""
    x = torch.rand(1, 3, 20, 24, requires_grad=True)
    w = torch.rand(1, 3, 20, 24)
    (jitter(5)(x, torch.Generator().manual_seed(4)) * w).sum().backward()
    shifts = [(dy, dx) for dy in range(-5, 6) for dx in range(-5, 6)
              if torch.equal(torch.roll(x.grad, (dy, dx), (2, 3)), w)]
    assert len(shifts) == 1


def test_real_model_dream_raises_the_objective(lite0, photo):
    from dreamvideo.media.images import to_tensor

    x = to_tensor(photo)
    objective = layer("blocks.4")
    out = dream(x, lite0, objective, DreamParams(octaves=2, iterations=3))
    with torch.no_grad():
        assert objective(lite0.features(out, ["blocks.4"])) > 1.1 * objective(lite0.features(x, ["blocks.4"]))
