"""What a style does to a frame besides running its model, in one place: the objective at that frame (its
audio reactions, a zoom's layer schedules, a guide video's frame, the regions' styles) and where the dream
lands (``Composite``: mask, original colours, the regions' weights). The pipelines (a photo, ``render``,
``zoom``, ``live``) dream through a ``Look``; the ``Dreamer`` under it only runs the model."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, cast

import numpy as np

from dreamvideo.composite import Composite, is_image
from dreamvideo.config import GuideConfig, Style, region_styles
from dreamvideo.dreamer import Dreamer, frame_seed
from dreamvideo.engine import DreamParams, Progress
from dreamvideo.errors import MediaError
from dreamvideo.media.images import fit_size, read_image, resize_image, to_uint8
from dreamvideo.objectives import Objective
from dreamvideo.react import Reaction, on_the_song

if TYPE_CHECKING:
    from dreamvideo.audio import Cues
    from dreamvideo.media.ffmpeg import FrameSource


class GuideFrames:
    """A guide's pictures at its size: an image is the same for every frame; frame t of a video steers
    video frame t (looping when the guide is shorter)."""

    def __init__(self, guide: GuideConfig):
        from dreamvideo.media.ffmpeg import FrameSource, probe

        self.path, self.size = guide.image, guide.size
        self.video: FrameSource | None = None
        if is_image(self.path):
            picture = read_image(self.path)
            self.still = resize_image(picture, fit_size(picture.shape[1], picture.shape[0], max_side=self.size))
        else:
            info = probe(self.path)
            self.video = FrameSource(self.path, fit_size(info.width, info.height, max_side=self.size, multiple=2),
                                     period=info.frames)

    def at(self, index: int) -> np.ndarray:
        return self.still if self.video is None else self.video.at(index)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


class Look:
    """A style at each frame of a photo or a video: ``dream(image, index, params)`` is frame ``index``
    dreamed (not yet composited), ``land(index, source, dreamed)`` what it shows.

    The objective follows the frame: ``react:`` mappings set the step size, iterations and layer weights
    (``reaction(index)``), ``weights`` (a zoom's schedules) replace layer weights, a guide video steers
    each frame with its own frame. A style with regions dreams one copy of the frame per region, in one
    batch, and lays them over the frame by the regions' weights (layer weights do not apply to them).
    """

    def __init__(self, dreamer: Dreamer, composite: Composite | None = None,
                 cues: Cues | None = None, *, style: Style | None = None, fps: float | None = None,
                 song_start: float = 0.0):
        self.dreamer, self.style = dreamer, style or dreamer.style  # the style with its schedules in seconds
        self.fps, self.song_start = fps, song_start  # frame index -> seconds of the song, for the schedules
        self.composite = composite or Composite(colors=self.style.colors)
        self.cues = cues
        self.guide = GuideFrames(self.style.guide) if self.style.guide is not None else None
        self._guided: tuple[int, Objective] | None = None  # the guide's pull at its last frame
        self.base = dreamer.objective(guide_picture=self.guide.at(0) if self.guide else None)
        # the regions' styles as the style's validation loaded them (dreamvideo.config.references)
        self.regions = [self._region_objective(style) for style in region_styles(self.style)]
        self._masks = threading.Lock()  # a mask video is read in order: one reader at a time (live shows and dreams)

    @classmethod
    def of(cls, dreamer: Dreamer, size: tuple[int, int], what: str, native: tuple[int, int],
           cues: Cues | None = None, *, fps: Fraction | float | None = None, start: float = 0.0,
           frames: int | None = None, max_pixels: int | None = None, style: Style | None = None,
           song_start: float = 0.0) -> Look:
        """For frames of ``size`` from a ``what`` ("image", "video", "zoom") of ``native`` size; a mask video
        is read at ``fps`` from ``start`` seconds for ``frames`` frames (``Mask.open``). Frame 0 is
        ``song_start`` seconds into the song the schedules follow; ``style``: the dreamer's style with its
        schedules resolved (``react.on_the_song``)."""
        composite = Composite.of(dreamer.style, size, what, native, fps=fps, start=start, frames=frames,
                                 max_pixels=max_pixels)
        return cls(dreamer, composite, cues, style=style, fps=float(fps) if fps else None, song_start=song_start)

    def _region_objective(self, style: Style) -> Objective:
        picture = None
        if style.guide is not None:
            frames = GuideFrames(style.guide)
            picture = frames.at(0)
            frames.close()
        return self.dreamer.objective(style, guide_picture=picture)

    def reaction(self, index: int) -> Reaction:
        """The style's schedules and audio mappings at frame ``index``."""
        seconds = self.song_start + index / self.fps if self.fps else 0.0
        return Reaction(self.style.react, self.cues, index, self.style.schedule, seconds, self.dreamer.params)

    def objective(self, index: int, weights: Mapping[str, float] | None = None) -> Objective:
        """The objective of frame ``index`` with ``weights`` replacing layer weights."""
        moving = self.guide is not None and self.guide.video is not None
        if not weights and not moving:
            return self.base
        return self.dreamer.weighted(weights or {}, self._guide_at(index if moving else 0)) or self.base

    def _guide_at(self, index: int) -> Objective | None:
        """The guide's pull at guide frame ``index``, kept while the index stays."""
        if self.guide is None:
            return None
        if self._guided is None or self._guided[0] != index:
            self._guided = (index, self.dreamer.guide_objective(self.guide.at(index)))
        return self._guided[1]

    def dream(self, image: np.ndarray, index: int, params: DreamParams | None = None,
              weights: Mapping[str, float] | None = None, seed: int | None = None,
              progress: Progress | None = None) -> np.ndarray:
        """Frame ``index`` (uint8, or float32 in [0, 1]) dreamed, uint8, before ``land``. Each frame gets its
        own jitter seed (``frame_seed``) unless ``seed`` is given (a photo uses the style's)."""
        reaction = self.reaction(index)
        params = reaction.params(params or self.dreamer.params)
        weights = {**(weights or {}), **reaction.layer_weights(self.dreamer.layers)}
        seed = frame_seed(self.style.seed, index) if seed is None else seed
        if self.regions:
            dreams = self.dreamer.dream_batch(image, self.regions, seed, params, progress)
            with self._masks:
                region_weights = cast("list[np.ndarray]", self.composite.regions(index))  # a look with regions
            return lay_over(image, dreams, region_weights)
        return self.dreamer.dream_image(image, self.objective(index, weights), seed, params, progress)

    def land(self, index: int, source: np.ndarray, dreamed: np.ndarray) -> np.ndarray:
        """What frame ``index`` shows: ``dreamed`` over ``source`` by the style's mask, colours and regions."""
        with self._masks:
            return self.composite(index, source, dreamed)

    def close(self) -> None:
        self.composite.close()
        if self.guide is not None:
            self.guide.close()


def lay_over(image: np.ndarray, dreams: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """``image`` (uint8, or float in 0..1) with each of ``dreams`` (N, H, W, 3 in 0..1) laid over it by its
    weights (H, W in 0..1; where they add up to more than 1 they share); uint8."""
    base = image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32)
    w = np.stack(weights).astype(np.float32)
    w = w / np.maximum(1.0, w.sum(axis=0, keepdims=True))
    out = base + (w[..., None] * (dreams - base[None])).sum(axis=0)
    return to_uint8(out)


def dream_photo(dreamer: Dreamer, image: np.ndarray, seed: int | None = None, progress: Progress | None = None,
                max_pixels: int | None = None) -> np.ndarray:
    """Dream an (H, W, 3) uint8 photo at the style's output size, with its mask, colours and regions; uint8."""
    native = (image.shape[1], image.shape[0])
    image = resize_image(image, dreamer.style.output.size(*native))
    spec = dreamer.model.spec
    if min(image.shape[:2]) < spec.min_size:
        raise MediaError(f"the image is {image.shape[1]}x{image.shape[0]} px, smaller than "
                         f"{spec.name}'s minimum of {spec.min_size} px; use a larger image")
    look = Look.of(dreamer, (image.shape[1], image.shape[0]), "image", native, max_pixels=max_pixels,
                   style=on_the_song(dreamer.style, None, at_start=True))  # a photo: the song's first moment
    try:
        dreamed = look.dream(image, 0, seed=dreamer.style.seed if seed is None else seed, progress=progress)
        return look.land(0, image, dreamed)
    finally:
        look.close()
