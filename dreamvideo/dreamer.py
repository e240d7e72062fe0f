"""A style made ready to run: the model built once, the objective, the ascent parameters, the device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from dreamvideo.allocator import tune_cpu_allocator
from dreamvideo.composite import Composite, is_image
from dreamvideo.config import GuideConfig, LayerTerm, Style, region_style, style_layers
from dreamvideo.engine import DreamParams, Progress, dream
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.features import DreamModel, get_model
from dreamvideo.images import fit_size, read_image, resize_image, to_array, to_tensor
from dreamvideo.objectives import Objective, PerImage, Sum, channel, guide, layer
from dreamvideo.transforms import jitter

if TYPE_CHECKING:
    from dreamvideo.react import Reaction


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


def build_objective(style: Style, model: DreamModel, guide_picture: np.ndarray | None = None) -> Objective:
    """The style's objective; its guide from ``guide_picture`` when given (a frame of a guide video), else
    from the guide file (a video's first frame)."""
    terms: list[Objective] = []
    layers = style_layers(style)
    for term in layers:
        model.resolve(term.name)  # unknown module paths fail here, before any dreaming
        base = channel(term.name, term.channels) if term.channels else layer(term.name)
        terms.append(base if term.weight == 1 else term.weight * base)
    if style.guide is not None:
        name = style.guide.layer or layers[0].name
        picture = guide_picture if guide_picture is not None else GuideFrames(style.guide).at(0)
        with torch.no_grad():
            feats = model.features(to_tensor(picture).to(model.device), [name])[name]
        g = guide(name, feats)
        terms.append(g if style.guide.weight == 1 else style.guide.weight * g)
    return terms[0] if len(terms) == 1 else Sum(terms)


class GuideFrames:
    """A guide's pictures at its size: an image is the same for every frame; frame t of a video steers
    video frame t (looping when the guide is shorter)."""

    def __init__(self, guide: GuideConfig):
        from dreamvideo.video.io import FrameSource, count_frames, probe

        self.path, self.size = guide.image, guide.size
        self.video: FrameSource | None = None
        if is_image(self.path):
            picture = read_image(self.path)
            self.still = resize_image(picture, fit_size(picture.shape[1], picture.shape[0], max_side=self.size))
        else:
            info = probe(self.path)
            self.video = FrameSource(self.path, fit_size(info.width, info.height, max_side=self.size, multiple=2),
                                     period=max(1, count_frames(self.path)))

    def at(self, index: int) -> np.ndarray:
        return self.still if self.video is None else self.video.at(index)


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


def lay_over(image: np.ndarray, dreams: np.ndarray, weights: Sequence[np.ndarray]) -> np.ndarray:
    """``image`` (uint8, or float in 0..1) with each of ``dreams`` (N, H, W, 3 in 0..1) laid over it by its
    weights (H, W in 0..1; where they add up to more than 1 they share); uint8."""
    base = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)
    w = np.stack(weights).astype(np.float32)
    w = w / np.maximum(1.0, w.sum(axis=0, keepdims=True))
    out = base + (w[..., None] * (dreams - base[None])).sum(axis=0)
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


class Dreamer:
    """Runs one style on many images or frames without rebuilding anything."""

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
        self.layers = style_layers(style)
        self.guide_frames = GuideFrames(style.guide) if style.guide is not None else None
        self.objective = build_objective(style, self.model, self.guide_frames.at(0) if self.guide_frames else None)
        self._guide: tuple[int, Objective] | None = None
        # regions: each its own style's layers and guide, all dreamed in one batch on this model
        self.region_objectives = [build_objective(region_style(r), self.model) for r in style.regions]

    def weighted_objective(self, weights: dict[str, float], index: int = 0) -> Objective:
        """The style's objective with layer weights replaced (or layers added) by ``weights``, guided by
        frame ``index`` of a guide video; a guide image's features are reused, not recomputed."""
        weights = dict(weights)
        layers = [LayerTerm(name=t.name, weight=weights.pop(t.name, t.weight), channels=t.channels)
                  for t in self.layers]
        layers += [LayerTerm(name=name, weight=w) for name, w in weights.items()]
        layers = [t for t in layers if t.weight != 0]
        terms = [build_objective(self.style.model_copy(update={"layers": layers, "guide": None}), self.model)] \
            if layers else []
        if self.style.guide is not None:
            terms.append(self.guide_at(index))
        return Sum(terms) if len(terms) > 1 else terms[0] if terms else self.objective

    def guide_at(self, index: int) -> Objective:
        """The guide's objective for video frame ``index`` (built once for a guide image)."""
        index = index if self.guide_moves else 0
        if self._guide is None or self._guide[0] != index:
            picture = self.guide_frames.at(index)
            self._guide = (index, build_objective(self.style.model_copy(update={"layers": []}), self.model, picture))
        return self._guide[1]

    @property
    def guide_moves(self) -> bool:
        """Whether the guide is a video, so that each frame has its own objective."""
        return self.guide_frames is not None and self.guide_frames.video is not None

    def output_size(self, width: int, height: int, multiple: int = 1) -> tuple[int, int]:
        out = self.style.output
        return fit_size(width, height, out.max_side, out.width, multiple)

    def dream(self, image: torch.Tensor, seed: int | None = None, params: DreamParams | None = None,
              progress: Progress | None = None, objective: Objective | None = None) -> torch.Tensor:
        """Dream an (N, 3, H, W) tensor in [0, 1]; the same seed gives the same result on the same device."""
        params = params or self.params
        generator = torch.Generator().manual_seed(self.style.seed if seed is None else seed)
        return dream(image.to(self.device), self.model, objective or self.objective, params, generator=generator,
                     transform=jitter(params.jitter), progress=progress)

    def dream_frame(self, image: np.ndarray, index: int, params: DreamParams | None = None,
                    reaction: "Reaction | None" = None, weights: Mapping[str, float] | None = None,
                    regions: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Dream frame ``index`` of a video, an (H, W, 3) array (uint8, or float32 in [0, 1]); returns uint8.

        Every frame gets its own jitter seed (``frame_seed``). ``weights`` replaces layer weights (a zoom's
        schedules); ``reaction``, the frame's audio mappings, then sets the step size, iterations and layer
        weights it maps. A style with regions needs their weights at this frame (``Composite.regions``):
        each region's objective dreams its own copy of the frame, in one batch, and the copies are laid
        over the frame by those weights (layer weights do not apply to them).
        """
        params = params or self.params
        weights = dict(weights or {})
        if reaction is not None:
            params = reaction.params(params)
            weights.update(reaction.layer_weights(self.layers))
        tensor = to_tensor(image) if image.dtype == np.uint8 else torch.from_numpy(image).permute(2, 0, 1)[None]
        seed = frame_seed(self.style.seed, index)
        if self.region_objectives:
            return self._dream_regions(image, tensor, seed, params, regions)
        objective = self.weighted_objective(weights, index) if weights or self.guide_moves else None
        return to_array(self.dream(tensor, seed=seed, params=params, objective=objective))

    def _dream_regions(self, image: np.ndarray, tensor: torch.Tensor, seed: int | None, params: DreamParams,
                       regions: Sequence[np.ndarray] | None, progress: Progress | None = None) -> np.ndarray:
        if regions is None or len(regions) != len(self.region_objectives):
            raise ValueError("a style with regions dreams with the regions' weights at this frame")
        batch = tensor.expand(len(regions), -1, -1, -1).contiguous()
        dreams = self.dream(batch, seed=seed, params=params, objective=PerImage(self.region_objectives),
                            progress=progress)
        return lay_over(image, dreams.permute(0, 2, 3, 1).cpu().numpy(), regions)

    def dream_array(self, image: np.ndarray, seed: int | None = None,
                    progress: Progress | None = None) -> np.ndarray:
        """Dream an (H, W, 3) uint8 array at the style's output size, with the style's mask and colours;
        returns uint8."""
        native = (image.shape[1], image.shape[0])
        image = resize_image(image, self.output_size(*native))
        if min(image.shape[:2]) < self.model.spec.min_size:
            raise MediaError(f"the image is {image.shape[1]}x{image.shape[0]} px, smaller than "
                             f"{self.model.spec.name}'s minimum of {self.model.spec.min_size} px; use a larger image")
        composite = Composite.of(self.style, (image.shape[1], image.shape[0]), "image", native)
        if self.region_objectives:
            dreamed = self._dream_regions(image, to_tensor(image), seed, self.params, composite.regions(0), progress)
        else:
            dreamed = to_array(self.dream(to_tensor(image), seed=seed, progress=progress))
        return composite(0, image, dreamed)
