"""The model registry: each model is data (how to build it, its weights, preprocessing, dreamable layers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dreamvideo.errors import LayerError, ModelError, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class LayerSpec:
    """A dreamable layer: its name in styles, the module whose output it is, its channels and stride."""

    name: str
    path: str
    channels: int
    stride: int


@dataclass(frozen=True)
class Weights:
    """Where a model's pretrained weights come from.

    ``load`` returns a state dict in the model's own key layout (it may download, and raises ModelError
    when it cannot). ``convert`` maps a state dict read from a user's file onto that layout (e.g. another
    naming scheme of the same network); ``ignore`` lists key prefixes a file may hold that the dreaming
    network does not have (auxiliary heads).
    """

    source: str
    load: Callable[[], dict[str, torch.Tensor]] | None
    convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """Everything dreamvideo needs to know about a network, declared once."""

    name: str
    description: str
    build: Callable[[], nn.Module]
    weights: Weights
    layers: tuple[LayerSpec, ...]
    default_layers: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    min_size: int = 32
    hidden: bool = False
    _by_name: dict[str, LayerSpec] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for layer in self.layers:
            if layer.name in self._by_name:
                raise ValueError(f"{self.name}: layer {layer.name!r} declared twice")
            self._by_name[layer.name] = layer
        for name in self.default_layers:
            if name not in self._by_name:
                raise ValueError(f"{self.name}: default layer {name!r} is not declared")

    def layer(self, name: str) -> LayerSpec:
        """The declared layer ``name``; raises LayerError with a did-you-mean otherwise."""
        try:
            return self._by_name[name]
        except KeyError:
            raise LayerError(unknown_layer_message(self.name, name, list(self._by_name))) from None

    def has_layer(self, name: str) -> bool:
        return name in self._by_name


def unknown_layer_message(model: str, name: str, known: list[str]) -> str:
    hint = did_you_mean(name, known, n=3, cutoff=0.5)
    return f"unknown layer {name!r} for model {model!r}: {hint}run `dreamvideo layers {model}` to list them"


def parse_layer(text: str) -> tuple[str, list[int] | None]:
    """The layer shorthand "name" or "name:channel[,channel...]" -> (name, channels or None).

    The one parser of it, for styles and flags alike.
    """
    name, _, chans = text.partition(":")
    if not chans:
        return name, None
    try:
        return name, [int(c) for c in chans.split(",")]
    except ValueError:
        raise ValueError(f"{text!r}: write a layer as 'name' or 'name:channel[,channel...]'") from None


_REGISTRY: dict[str, Callable[[], ModelSpec]] = {}
_SPECS: dict[str, ModelSpec] = {}
_FAMILIES: dict[str, Callable[[str], ModelSpec]] = {}


def register_model(name: str) -> Callable[[Callable[[], ModelSpec]], Callable[[], ModelSpec]]:
    """Register a function returning the ModelSpec of ``name``. Duplicates are refused."""

    def wrap(fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def register_family(prefix: str) -> Callable[[Callable[[str], ModelSpec]], Callable[[str], ModelSpec]]:
    """Register a family of models named ``prefix:<name>`` (e.g. ``timm:resnet18``)."""

    def wrap(fn: Callable[[str], ModelSpec]) -> Callable[[str], ModelSpec]:
        if prefix in _FAMILIES:
            raise ValueError(f"model family {prefix!r} is already registered")
        _FAMILIES[prefix] = fn
        return fn

    return wrap


def list_models(include_hidden: bool = False) -> list[str]:
    """Names of the registered models (the test-only tiny model only when asked)."""
    return [n for n in _REGISTRY if include_hidden or not get_spec(n).hidden]


def get_spec(name: str) -> ModelSpec:
    """The ModelSpec of ``name``, without building the network or loading weights."""
    if name in _SPECS:
        return _SPECS[name]
    if name in _REGISTRY:
        spec = _REGISTRY[name]()
    elif ":" in name and name.split(":", 1)[0] in _FAMILIES:
        prefix, rest = name.split(":", 1)
        spec = _FAMILIES[prefix](rest)
    else:
        hint = did_you_mean(name, _REGISTRY, n=3, cutoff=0.5)
        families = ", ".join(f"'{p}:<name>'" for p in _FAMILIES)
        raise ModelError(
            f"unknown model {name!r}: {hint}known models are {', '.join(list_models())} "
            f"(or {families}); run `dreamvideo models`"
        )
    _SPECS[name] = spec
    return spec
