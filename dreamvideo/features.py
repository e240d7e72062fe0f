"""A network ready to dream: normalisation, frozen weights, activations by hooks on module paths.

The forward pass stops as soon as every requested layer has produced its output, so a dream on a middle
layer never pays for the rest of the network.

``features`` registers its hooks for one call. ``compiled_features`` serves the same activations through
``torch.compile``: its hooks are registered once, outside the compiled function (a hook registered inside
breaks the graph), and act only while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from dreamvideo.errors import ConfigError, LayerError, ModelError
from dreamvideo.fusion import Unfold, fold_batchnorm, lean_activations
from dreamvideo.models.registry import LayerSpec, ModelSpec, get_spec, unknown_layer_message
from dreamvideo.models.weights import load_into, read_file


class _Stop(Exception):
    """Raised by the last hook needed, to end the forward pass early."""


class DreamModel(nn.Module):
    """A frozen network plus its preprocessing; ``features(x, layers)`` maps an RGB image in [0, 1]
    (N, 3, H, W) to the activations of the named layers."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, spec: ModelSpec, net: nn.Module, unfolds: Mapping[str, nn.Module] | None = None):
        super().__init__()
        self.spec = spec
        self.net = net.eval().requires_grad_(False)
        # hooks on convolutions whose batch norm was folded into them report the convolution's own output
        self.unfolds = nn.ModuleList((unfolds or {}).values())
        self._unfold = dict(unfolds or {})
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        self._modules_by_path = dict(self.net.named_modules())
        self._compiled: dict[tuple, Callable[[torch.Tensor], dict[str, torch.Tensor]]] = {}

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def resolve(self, name: str) -> LayerSpec:
        """The layer called ``name``: a declared layer, or any module path of the network."""
        if self.spec.has_layer(name):
            return self.spec.layer(name)
        if name in self._modules_by_path and name:
            return LayerSpec(name, name, channels=-1, stride=-1)
        raise LayerError(unknown_layer_message(self.spec.name, name, [layer.name for layer in self.spec.layers]))

    def features(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        taps = _Taps(self, layers)
        try:
            return taps(image)
        finally:
            taps.remove()

    def compiled_features(self, layers: Iterable[str], mode: str | None = None
                          ) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        """``features`` for fixed ``layers`` through ``torch.compile``, built once per layer set and mode.

        One compiled graph per input shape (``dynamic=False``): a dream's octaves, and tiles, each compile
        once on first use and are replayed after. ``mode`` is torch.compile's; by default, on CUDA the
        graphs are also captured as CUDA graphs (``"reduce-overhead"``), which removes the launch cost of
        each of the step's small kernels, and elsewhere it is ``"default"``.
        """
        layers = tuple(sorted(layers))
        mode = mode or ("reduce-overhead" if self.device.type == "cuda" else "default")
        fn = self._compiled.get((layers, mode))
        if fn is None:
            import torch._dynamo

            config = torch._dynamo.config
            for name in ("recompile_limit", "cache_size_limit"):  # every octave and tile shape is one entry
                if hasattr(config, name):
                    setattr(config, name, max(getattr(config, name), 64))
            taps = _Taps(self, layers)
            fn = _guarded(torch.compile(taps.__call__, mode=mode, dynamic=False), self.device)
            self._compiled[(layers, mode)] = fn
        return fn

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The network's own output (class logits) for an RGB image in [0, 1]."""
        return self.net((image - self.mean) / self.std)


class _Taps:
    """Hooks on the modules of ``layers`` that collect their outputs and end the pass at the last one.

    They act only while ``__call__`` runs: ``features`` removes them after one call, ``compiled_features``
    keeps them for the life of the model.
    """

    def __init__(self, model: DreamModel, layers: Iterable[str]):
        wanted = {name: model.resolve(name).path for name in layers}
        if not wanted:
            raise LayerError("no layers requested")
        by_path: dict[str, list[str]] = {}
        for name, path in wanted.items():
            by_path.setdefault(path, []).append(name)
        self.model, self.names = model, tuple(wanted)
        self.out: dict[str, torch.Tensor] | None = None
        self.handles = [model._modules_by_path[path].register_forward_hook(self._hook(path, names))
                        for path, names in by_path.items()]

    def _hook(self, path: str, names: list[str]):
        unfold = self.model._unfold.get(path)

        def fn(_module, _inputs, output):
            if self.out is None:  # not ours: a plain forward, or another caller's pass
                return
            if isinstance(output, (tuple, list)):
                output = output[0]
            if unfold is not None:
                output = unfold(output)
            for name in names:
                self.out.setdefault(name, output)
            if len(self.out) == len(self.names):
                raise _Stop

        return fn

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        self.out = out
        try:
            self.model.net((image - self.model.mean) / self.model.std)
        except _Stop:
            pass
        finally:  # whatever happens, the hooks go quiet again
            self.out = None
        missing = [name for name in self.names if name not in out]
        if missing:  # a module the forward pass never calls (e.g. a disabled auxiliary head)
            raise LayerError(f"layer(s) {sorted(missing)} of {self.model.spec.name!r} were not reached by the "
                             "forward pass")
        return out

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _guarded(fn: Callable, device: torch.device) -> Callable:
    """``fn``, with a failure to compile reported as one ConfigError."""

    def call(image: torch.Tensor) -> dict[str, torch.Tensor]:
        try:
            return fn(image)
        except LayerError:
            raise
        except Exception as exc:
            from torch._dynamo.exc import BackendCompilerFailed, TorchRuntimeError, Unsupported

            if not isinstance(exc, (BackendCompilerFailed, TorchRuntimeError, Unsupported)):
                raise
            need = {"cuda": "Triton", "cpu": "a C++ compiler"}.get(device.type, f"inductor support for {device.type}")
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"compile: true, but torch.compile failed on {device.type} ({first}); it needs "
                              f"{need}: install it or set compile: false") from None

    return call


def get_model(
    name: str = "efficientnet_lite0",
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    pretrained: bool = True,
    fold: bool = True,
) -> DreamModel:
    """Build a registered model with its weights (embedded, cached, downloaded, or from ``weights``).

    ``pretrained=False`` keeps the random initialisation (tests, architecture checks). ``fold`` folds batch
    norms into convolutions and makes in-place clipping activations cheap to differentiate (same
    activations and gradients, fewer passes over memory; see ``dreamvideo.fusion``).
    """
    spec = get_spec(name)
    net = spec.build()
    if weights is not None:
        state = read_file(weights)
        if spec.weights.convert is not None:
            state = spec.weights.convert(state)
        load_into(net, spec, state, origin=f"file {str(weights)!r}")
    elif pretrained and spec.weights.load is not None:
        load_into(net, spec, spec.weights.load(), origin=spec.weights.source)
    elif pretrained and spec.weights.load is None and not spec.hidden:
        raise ModelError(f"model {name!r} has no pretrained weights; pass them with --weights FILE")
    unfolds: dict[str, Unfold] = {}
    if fold:
        size = max(96, 2 * spec.min_size)  # the whole network runs: valid-padding nets need room
        example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        net, unfolds = fold_batchnorm(net, example)
        lean_activations(net)
    return DreamModel(spec, net, unfolds).to(device)
