"""Objectives as values: they add and scale, and say which layers they need.

    objective = 0.5 * layer("blocks.3") + channel("blocks.4", 17)

An objective maps the activations of its layers ({name: (N, C, H, W)}) to a scalar to maximise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from dreamvideo.errors import LayerError

Activations = Mapping[str, torch.Tensor]


class Objective:
    """Base class: subclasses set ``layers`` and implement ``__call__``."""

    layers: frozenset[str] = frozenset()

    def __call__(self, acts: Activations) -> torch.Tensor:
        raise NotImplementedError

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, other))

    def __mul__(self, weight: float) -> Objective:
        if not isinstance(weight, (int, float)):
            return NotImplemented
        return Scaled(self, float(weight))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return Scaled(self, -1.0)

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)


class Sum(Objective):
    def __init__(self, terms: Sequence[Objective]):
        flat: list[Objective] = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, Sum) else (t,))
        self.terms: tuple[Objective, ...] = tuple(flat)
        self.layers = frozenset().union(*(t.layers for t in self.terms))

    def __call__(self, acts: Activations) -> torch.Tensor:
        return sum((t(acts) for t in self.terms), start=torch.zeros((), device=_device(acts)))

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.terms))


class Scaled(Objective):
    def __init__(self, term: Objective, weight: float):
        self.term, self.weight, self.layers = term, weight, term.layers

    def __call__(self, acts: Activations) -> torch.Tensor:
        return self.weight * self.term(acts)

    def __repr__(self) -> str:
        return f"{self.weight:g} * {self.term!r}"


class Layer(Objective):
    """Mean of the squared activations of a layer: the classic DeepDream objective."""

    def __init__(self, name: str):
        self.name, self.layers = name, frozenset({name})

    def __call__(self, acts: Activations) -> torch.Tensor:
        return acts[self.name].float().pow(2).mean()

    def __repr__(self) -> str:
        return f"layer({self.name!r})"


class Channel(Objective):
    """Mean activation of chosen channels of a layer."""

    def __init__(self, name: str, channels: Sequence[int]):
        self.name, self.channels, self.layers = name, tuple(int(c) for c in channels), frozenset({name})
        if not self.channels:
            raise ValueError("channel() needs at least one channel")

    def __call__(self, acts: Activations) -> torch.Tensor:
        a = acts[self.name]
        if max(self.channels) >= a.shape[1]:
            raise LayerError(f"layer {self.name!r} has {a.shape[1]} channels (0..{a.shape[1] - 1}); "
                             f"channel {max(self.channels)} does not exist")
        return a[:, list(self.channels)].float().mean()

    def __repr__(self) -> str:
        return f"channel({self.name!r}, {list(self.channels)})"


class Guide(Objective):
    """Alignment with a guide image's features (the guided dream of the original DeepDream notebook).

    Each position of the dreamed layer is pulled towards the guide feature it already matches best:
    the objective is the mean over positions of max_j <x_i, g_j>.
    """

    def __init__(self, name: str, guide_features: torch.Tensor):
        if guide_features.ndim != 4:
            raise ValueError("guide features must be (N, C, H, W)")
        self.name, self.layers = name, frozenset({name})
        c = guide_features.shape[1]
        self.guide = guide_features.detach().float().permute(1, 0, 2, 3).reshape(c, -1)  # (C, M)

    def __call__(self, acts: Activations) -> torch.Tensor:
        x = acts[self.name].float()
        x = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)  # (C, N)
        guide = self.guide.to(x.device)
        return (guide.T @ x).max(dim=0).values.mean()

    def __repr__(self) -> str:
        return f"guide({self.name!r}, {self.guide.shape[1]} features)"


class PerImage(Objective):
    """Objective i on image i of a batch of n images: several objectives dreamed in one pass (regions).

    Tiles of a batch come image after image (tile k of image i at k * n + i), so image i is every n-th item.
    """

    def __init__(self, terms: Sequence[Objective]):
        self.terms = tuple(terms)
        self.layers = frozenset().union(*(t.layers for t in self.terms))

    def __call__(self, acts: Activations) -> torch.Tensor:
        n = len(self.terms)
        return sum((t({name: a[i::n] for name, a in acts.items()}) for i, t in enumerate(self.terms)),
                   start=torch.zeros((), device=_device(acts)))

    def __repr__(self) -> str:
        return f"per_image({', '.join(map(repr, self.terms))})"


def layer(name: str) -> Objective:
    return Layer(name)


def channel(name: str, channels: int | Sequence[int]) -> Objective:
    return Channel(name, [channels] if isinstance(channels, int) else channels)


def guide(name: str, guide_features: torch.Tensor) -> Objective:
    return Guide(name, guide_features)


def _device(acts: Activations) -> torch.device:
    return next(iter(acts.values())).device
