"""Tiled gradients: frames larger than a tile dream in bounded memory, without seams.

The image is rolled by a random offset on both axes before it is cut into equal tiles, so tile borders
fall somewhere else at every step; overlapping tiles are blended with feathered weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def tile_grid(length: int, tile: int, overlap: int) -> tuple[int, list[int]]:
    """(size, starts) of the fewest equal tiles of at most ``tile`` px covering ``length`` with ``overlap``.

    Tiles shrink to share the length evenly, so no pixel is computed more often than the overlap needs.
    """
    if length <= tile:
        return length, [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (n - 1) * overlap) / n)
    return size, [round(i * (length - size) / (n - 1)) for i in range(n)]


def feather(height: int, width: int, overlap: int, device: torch.device) -> torch.Tensor:
    """A (1, 1, height, width) weight that ramps up over ``overlap`` pixels from each edge."""

    def ramp(n: int) -> torch.Tensor:
        r = torch.ones(n, device=device)
        if overlap > 0:
            r = torch.clamp((torch.arange(n, device=device) + 1.0) / (overlap + 1.0), max=1.0)
            r = torch.minimum(r, r.flip(0))
        return r

    return (ramp(height)[:, None] * ramp(width)[None, :])[None, None]


def tiled_gradient(
    image: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    tile: int,
    overlap: int,
    batch: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """d loss / d image, computed tile by tile (``batch`` tiles per forward pass).

    ``loss_fn`` maps a batch of tiles to the mean objective over the batch; each tile contributes as if
    it were dreamed alone, whatever the batch it shared.
    """
    n, _, h, w = image.shape
    th, ys = tile_grid(h, tile, overlap)
    tw, xs = tile_grid(w, tile, overlap)
    dy = int(torch.randint(0, h, (1,), generator=generator))
    dx = int(torch.randint(0, w, (1,), generator=generator))
    rolled = torch.roll(image.detach(), shifts=(dy, dx), dims=(2, 3))
    boxes = [(y, x) for y in ys for x in xs]
    window = feather(th, tw, min(overlap, th // 2, tw // 2), image.device).to(image.dtype)
    grad = torch.zeros_like(rolled)
    weight = torch.zeros((1, 1, h, w), device=image.device, dtype=image.dtype)
    for i in range(0, len(boxes), batch):
        chunk = boxes[i : i + batch]
        tiles = torch.cat([rolled[:, :, y : y + th, x : x + tw] for y, x in chunk]).requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(tiles) * len(chunk), tiles)
        for k, (y, x) in enumerate(chunk):
            grad[:, :, y : y + th, x : x + tw] += g[k * n : (k + 1) * n] * window
            weight[:, :, y : y + th, x : x + tw] += window
    return torch.roll(grad / weight, shifts=(-dy, -dx), dims=(2, 3))
