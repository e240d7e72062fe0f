"""Styles that react to music: a style's ``react:`` mappings turned into a frame's parameters.

    react:
      step_size: {source: loudness, min: 0.005, max: 0.05}   # a range
      zoom.scale: {source: beat, pulse: 1.1}                 # the style's own value, times up to 1.1

A ``Reaction`` is those mappings at one video frame: ``reaction("step_size", base)`` is the value the
mapping gives there, or ``base`` where the style maps nothing or there is no sound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from dreamvideo.audio import RATE, Cues, TrackCues, track_cues
from dreamvideo.config import REACT_LAYER, LayerTerm, ReactConfig, Style
from dreamvideo.errors import MediaError
from dreamvideo.media.ffmpeg import decode_audio

if TYPE_CHECKING:
    from dreamvideo.engine import DreamParams


def cues_of(path: str | Path, fps: float, frames: int, start: float = 0.0, attack: float = 0.01,
                 release: float = 0.25) -> TrackCues:
    """The audio features of ``frames`` video frames at ``fps``, from ``start`` seconds into ``path``."""
    return track_cues(decode_audio(path, RATE, start, frames / fps), fps, frames, attack, release)


def style_cues(style: Style, audio: str | Path | None, fps: float | Fraction, frames: int, start: float = 0.0,
                   missing: str = "no sound was given") -> TrackCues | None:
    """The cues a style's ``react:`` mappings follow over ``frames`` frames of ``audio`` (from
    ``start`` seconds), with its attack and release; None for a style that does not react. A reacting
    style without sound is refused with ``missing``, the reason."""
    if not style.react:
        return None
    if audio is None:
        raise MediaError(f"the style reacts to audio (react:), but {missing}")
    return cues_of(audio, float(fps), frames, start, style.react_attack, style.react_release)


@dataclass(frozen=True)
class Reaction:
    """A style's audio mappings at video frame ``index``; with no cues, every value is the base."""

    mappings: Mapping[str, ReactConfig] = field(default_factory=dict)
    cues: Cues | None = None
    index: int = 0

    def __call__(self, target: str, base: float) -> float:
        mapping = self.mappings.get(target)
        if mapping is None or self.cues is None:
            return base
        return mapping.value(self.cues.value(mapping.source, self.index), base)

    def params(self, params: DreamParams) -> DreamParams:
        """``params`` with the step size and iterations the mappings give at this frame."""
        return replace(params, step_size=self("step_size", params.step_size),
                       iterations=max(1, round(self("iterations", params.iterations))))

    def layer_weights(self, layers: Sequence[LayerTerm]) -> dict[str, float]:
        """Layer weights at this frame, for each ``layers.<name>`` mapping (the style's weight is the base;
        a layer the style does not dream on starts at 0)."""
        current = {term.name: term.weight for term in layers}
        names = {target: target[len(REACT_LAYER):] for target in self.mappings if target.startswith(REACT_LAYER)}
        return {name: self(target, current.get(name, 0.0)) for target, name in names.items()}
