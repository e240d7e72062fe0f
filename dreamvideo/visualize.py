"""Feature visualisation: dream from noise to show what a layer or a channel responds to."""

from __future__ import annotations

import torch

from dreamvideo.engine import DreamParams, Progress, dream
from dreamvideo.features import DreamModel
from dreamvideo.objectives import channel as channel_objective
from dreamvideo.objectives import layer as layer_objective
from dreamvideo.transforms import compose, jitter, random_rotate, random_scale


def visualize(
    model: DreamModel,
    layer: str,
    channel: int | None = None,
    size: int = 256,
    octaves: int = 6,
    octave_scale: float = 1.8,
    iterations: int = 30,
    step_size: float = 0.01,
    seed: int = 0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """A (1, 3, size, size) image in [0, 1] that excites ``layer`` (or one of its channels).

    Starts from faint noise and climbs through octaves; random jitter, scale and rotation keep the
    result free of high-frequency adversarial patterns.
    """
    spec = model.resolve(layer)
    if channel is not None and spec.channels > 0 and not 0 <= channel < spec.channels:
        from dreamvideo.errors import LayerError

        raise LayerError(f"layer {layer!r} of {model.spec.name!r} has channels 0..{spec.channels - 1}; "
                         f"channel {channel} does not exist")
    generator = torch.Generator().manual_seed(seed)
    start = 0.5 + 0.1 * (torch.rand(1, 3, size, size, generator=generator) - 0.5)
    objective = layer_objective(layer) if channel is None else channel_objective(layer, channel)
    transform = compose(jitter(8), random_scale([0.9, 0.95, 1.0, 1.05, 1.1]),
                        random_rotate([-6, -3, 0, 3, 6]), jitter(4))
    params = DreamParams(octaves=octaves, octave_scale=octave_scale, iterations=iterations, step_size=step_size,
                         tile_size=0)
    return dream(start.to(model.device), model, objective, params, generator=generator, transform=transform,
                 progress=progress)
