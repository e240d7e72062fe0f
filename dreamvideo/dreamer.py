"""A style's model made ready to run: the network built once, the style's objective, the ascent parameters
and the device. A ``Dreamer`` runs the model on pixels and nothing else: what a frame is dreamed with
(reactions, schedules, guide frames) and where the dream lands (masks, colours, regions) belong to the
pipelines (``dreamvideo.look``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import torch

from dreamvideo.allocator import tune_cpu_allocator
from dreamvideo.config import GuideConfig, LayerTerm, Style, style_layers
from dreamvideo.engine import DreamParams, Progress, dream
from dreamvideo.errors import ConfigError
from dreamvideo.features import DreamModel, get_model
from dreamvideo.media.images import to_array, to_tensor
from dreamvideo.objectives import Objective, PerImage, Sum, channel, guide, layer
from dreamvideo.transforms import jitter


def frame_seed(seed: int, index: int) -> int:
    """A fresh jitter seed per video frame, derived from the style's seed (a fixed jitter sticks to the screen)."""
    return (seed * 1_000_003 + index * 7919 + 1) % (2**63)


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA, then MPS, then the CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name!r} asked for, but CUDA is not available here; use device: auto or cpu")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device: {name!r} does not exist; this machine has {torch.cuda.device_count()} "
                              "CUDA device(s), numbered from 0")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: 'mps' asked for, but MPS is not available here; use device: auto or cpu")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 on CUDA GPUs that support it, else fp16 on CUDA, fp32 elsewhere."""
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ConfigError("precision: fp16 is not supported on the CPU; use fp32, bf16 or auto")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def dream_params(style: Style, device: torch.device) -> DreamParams:
    """The engine's parameters for ``style`` on ``device``."""
    return DreamParams(
        octaves=style.octaves, octave_scale=style.octave_scale, iterations=style.iterations,
        step_size=style.step_size, jitter=style.jitter, tile_size=style.tile.size,
        tile_overlap=style.tile.overlap, tile_batch=style.tile.batch,
        precision=resolve_precision(style.precision, device),
        # channels-last suits cuDNN and oneDNN alike (on the CPU too, measured in docs/benchmarks.md)
        channels_last=device.type in ("cuda", "cpu"),
        compile=style.compile,
    )


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """An (H, W, 3) array (uint8, or float32 in [0, 1]) as a (1, 3, H, W) tensor in [0, 1]."""
    return to_tensor(image) if image.dtype == np.uint8 else torch.from_numpy(image).permute(2, 0, 1)[None]


class Dreamer:
    """Runs one style's model on many images or frames without rebuilding anything."""

    def __init__(self, style: Style, model: DreamModel | None = None):
        self.style = style
        self.device = resolve_device(style.device)
        # per process: reuse freed host memory instead of faulting it in again; on the CPU that is the
        # activations, on any device the frames, flows and masks of a render
        tune_cpu_allocator()
        self.params = dream_params(style, self.device)  # bad settings fail before the model is built
        if model is None:
            model = get_model(style.model, style.weights, self.device)
        self.model = model.to(self.device)
        if self.params.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # no layer check here: the one check (config.references) ran against the spec before any model was built
        self.layers = style_layers(style)

    def objective(self, style: Style | None = None, guide_picture: np.ndarray | None = None) -> Objective:
        """The objective of ``style`` (default: the dreamer's own) on this model: its layers, and its guide
        term from ``guide_picture`` (the guide image, or a guide video's frame), which a guided style needs."""
        style = style or self.style
        layers = self.layers if style is self.style else style_layers(style)
        terms = [self._term(t) for t in layers]
        if style.guide is not None:
            if guide_picture is None:
                raise ValueError("a guided style dreams with its guide's picture")
            terms.append(self.guide_objective(guide_picture, style))
        return terms[0] if len(terms) == 1 else Sum(terms)

    def weighted(self, weights: Mapping[str, float], guide: Objective | None = None) -> Objective | None:
        """The style's layers with their weights replaced (or layers added) by ``weights``, those weighted
        0 left out, plus ``guide`` (``guide_objective``); None when nothing is left."""
        weights = dict(weights)
        layers = [LayerTerm(name=t.name, weight=weights.pop(t.name, t.weight), channels=t.channels)
                  for t in self.layers] + [LayerTerm(name=name, weight=w) for name, w in weights.items()]
        terms = [self._term(t) for t in layers if t.weight != 0] + ([guide] if guide is not None else [])
        return None if not terms else terms[0] if len(terms) == 1 else Sum(terms)

    def guide_objective(self, picture: np.ndarray, style: Style | None = None) -> Objective:
        """The pull towards the features of ``picture`` at the style's guide layer (default: its first)."""
        style = style or self.style
        config = cast(GuideConfig, style.guide)  # callers ask only of a guided style
        name = config.layer or style_layers(style)[0].name
        with torch.no_grad():
            feats = self.model.features(to_tensor(picture).to(self.device), [name])[name]
        g = guide(name, feats)
        return g if config.weight == 1 else config.weight * g

    def _term(self, term: LayerTerm) -> Objective:
        base = channel(term.name, term.channels) if term.channels else layer(term.name)
        return base if term.weight == 1 else term.weight * base

    def dream(self, image: torch.Tensor, objective: Objective, seed: int | None = None,
              params: DreamParams | None = None, progress: Progress | None = None) -> torch.Tensor:
        """Dream an (N, 3, H, W) tensor in [0, 1]; the same seed gives the same result on the same device."""
        params = params or self.params
        generator = torch.Generator().manual_seed(self.style.seed if seed is None else seed)
        return dream(image.to(self.device), self.model, objective, params, generator=generator,
                     transform=jitter(params.jitter), progress=progress)

    def dream_image(self, image: np.ndarray, objective: Objective, seed: int | None = None,
                    params: DreamParams | None = None, progress: Progress | None = None) -> np.ndarray:
        """Dream an (H, W, 3) array (uint8, or float32 in [0, 1]); uint8."""
        return to_array(self.dream(as_tensor(image), objective, seed, params, progress))

    def dream_batch(self, image: np.ndarray, objectives: Sequence[Objective], seed: int | None = None,
                    params: DreamParams | None = None, progress: Progress | None = None) -> np.ndarray:
        """One copy of an (H, W, 3) array dreamed with each of ``objectives``, in one batch: (N, H, W, 3)
        float32 in [0, 1]."""
        batch = as_tensor(image).expand(len(objectives), -1, -1, -1).contiguous()
        dreams = self.dream(batch, PerImage(list(objectives)), seed, params, progress)
        return dreams.permute(0, 2, 3, 1).float().cpu().numpy()
