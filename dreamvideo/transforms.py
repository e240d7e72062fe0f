"""Differentiable image transforms as small factories, joined by ``compose``.

A transform is ``t(image, generator) -> image`` on (N, 3, H, W) tensors. It takes its device from the
image and its randomness from the explicit CPU ``torch.Generator``, so a seed makes a run repeat.
Gradients flow back through them, so the ascent step sees them undone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _randint(low: int, high: int, g: torch.Generator) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


def jitter(pixels: int) -> Transform:
    """Roll the image by a random offset in [-pixels, pixels] on both axes (wrapping around)."""

    def roll(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if pixels <= 0:
            return x
        dy, dx = _randint(-pixels, pixels, g), _randint(-pixels, pixels, g)
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))

    return roll


def random_scale(scales: Sequence[float]) -> Transform:
    """Resize by a factor picked from ``scales``."""

    def scale(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        s = scales[_randint(0, len(scales) - 1, g)]
        if s == 1:
            return x
        size = (max(1, round(x.shape[2] * s)), max(1, round(x.shape[3] * s)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    return scale


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by an angle picked from ``degrees`` (reflecting at the border)."""

    def rotate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        angle = math.radians(degrees[_randint(0, len(degrees) - 1, g)])
        if angle == 0:
            return x
        h, w = x.shape[2:]
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], device=x.device, dtype=x.dtype)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    return rotate


def compose(*transforms: Transform) -> Transform:
    def run(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for t in transforms:
            x = t(x, g)
        return x

    return run
