"""Gradient ascent over octaves: tensor in, tensor out.

No files, no printing, no globals: the model is built once and passed in, progress goes to a callback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dreamvideo.features import DreamModel
from dreamvideo.objectives import Objective
from dreamvideo.tiling import tiled_gradient
from dreamvideo.transforms import Transform, jitter

Progress = Callable[[int, int], None]

_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class DreamParams:
    """How hard and how wide to dream. Steps are in units of the [0, 1] image range."""

    octaves: int = 4
    octave_scale: float = 1.4
    iterations: int = 10
    step_size: float = 0.012
    jitter: int = 32
    tile_size: int = 2048  # 0: never tile
    tile_overlap: int = 64
    tile_batch: int = 1
    precision: str = "fp32"  # fp32 | fp16 | bf16 (autocast)
    channels_last: bool = False
    compile: bool = False  # features through torch.compile, one graph per shape (CUDA graphs on CUDA)


def octave_sizes(height: int, width: int, octaves: int, scale: float, min_size: int) -> list[tuple[int, int]]:
    """Sizes of the image pyramid, smallest first; octaves smaller than ``min_size`` are dropped."""
    sizes: list[tuple[int, int]] = []
    for i in range(octaves):
        h, w = round(height / scale**i), round(width / scale**i)
        if min(h, w) < min_size and sizes:
            break
        sizes.append((h, w))
    return sizes[::-1]


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def gradient(
    image: torch.Tensor,
    model: DreamModel,
    objective: Objective,
    params: DreamParams,
    transform: Transform,
    generator: torch.Generator,
) -> torch.Tensor:
    """d objective / d image through ``transform``, whole or tile by tile."""
    layers = sorted(objective.layers)
    memory_format = torch.channels_last if params.channels_last else torch.contiguous_format
    # the objective stays outside the compiled graph: reweighted objectives (music) need no recompiling
    features = model.compiled_features(layers) if params.compile else lambda x: model.features(x, layers)

    def loss(x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, params.precision):
            return objective(features(x.contiguous(memory_format=memory_format)))

    leaf = image.detach().requires_grad_(True)
    moved = transform(leaf, generator)
    h, w = moved.shape[2:]
    if params.tile_size and max(h, w) > params.tile_size:
        grad_moved = tiled_gradient(moved.detach(), loss, params.tile_size, params.tile_overlap,
                                    params.tile_batch, generator)
        (grad,) = torch.autograd.grad(moved, leaf, grad_moved)
    else:
        (grad,) = torch.autograd.grad(loss(moved), leaf)
    return grad


def ascent_step(image: torch.Tensor, model: DreamModel, objective: Objective, params: DreamParams,
                transform: Transform, generator: torch.Generator) -> torch.Tensor:
    """One normalised gradient-ascent step (each image of a batch by its own gradient), clamped to 0..1."""
    g = gradient(image, model, objective, params, transform, generator)
    g = g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
    return (image + params.step_size * g).clamp_(0.0, 1.0)


def dream(
    image: torch.Tensor,
    model: DreamModel,
    objective: Objective,
    params: DreamParams = DreamParams(),
    *,
    generator: torch.Generator | None = None,
    transform: Transform | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Dream ``image`` (N, 3, H, W) in [0, 1] on ``model``'s device; returns a new tensor of the same shape.

    The image is shrunk into ``params.octaves`` octaves; the smallest is dreamed first, and the detail
    it gained (dreamed minus original) is enlarged and carried into the next octave.
    """
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an (N, 3, H, W) image, got {tuple(image.shape)}")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    transform = transform if transform is not None else jitter(params.jitter)
    image = image.to(model.device, torch.float32)
    h, w = image.shape[2:]
    min_size = model.spec.min_size
    if min(h, w) < min_size:
        raise ValueError(f"image of {w}x{h} is smaller than {model.spec.name}'s minimum of {min_size} px")
    sizes = octave_sizes(h, w, params.octaves, params.octave_scale, min_size)
    total, done = len(sizes) * params.iterations, 0
    detail = torch.zeros_like(resize(image, sizes[0]))
    x = image
    for size in sizes:
        base = resize(image, size)
        x = (base + resize(detail, size)).clamp_(0.0, 1.0)
        for _ in range(params.iterations):
            x = ascent_step(x, model, objective, params, transform, generator)
            done += 1
            if progress is not None:
                progress(done, total)
        detail = x - base
    return x.detach()
