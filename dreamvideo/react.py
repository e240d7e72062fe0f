"""Styles that react to music: a style's ``react:`` mappings turned into a frame's parameters.

    react:
      step_size: {source: loudness, min: 0.005, max: 0.05}   # a range
      zoom.scale: {source: beat, pulse: 1.1}                 # the style's own value, times up to 1.1
      layers.blocks.4: {source: onset, min: 0, max: 2, audio: vocals.wav}   # a stem of its own

A ``Reaction`` is those mappings at one video frame: ``reaction("step_size", base)`` is the value the
mapping gives there, or ``base`` where the style maps nothing or there is no sound.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from dreamvideo.audio import RATE, Cues, TrackCues, track_cues
from dreamvideo.beats import METERS, Grid, NoBeat, exact_grid, track
from dreamvideo.config import REACT_LAYER, LayerTerm, MusicConfig, ReactConfig, Style
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.media.ffmpeg import decode_audio
from dreamvideo.schedule import Schedule

if TYPE_CHECKING:
    from dreamvideo.engine import DreamParams


def song_grid(path: str | Path, music: MusicConfig | None = None) -> Grid:
    """The beats and bars of the sound of ``path`` (a song, or a video's sound), as the style's ``music:``
    keys (a known tempo, downbeat or meter) have them."""
    music = music or MusicConfig()
    return _grid(*_known(path), music.bpm, music.offset, music.meter)


def cues_of(path: str | Path, fps: float, frames: int, start: float = 0.0, attack: float = 0.01,
            release: float = 0.25, music: MusicConfig | None = None) -> TrackCues:
    """The audio features of ``frames`` video frames at ``fps``, from ``start`` seconds into ``path``: the
    whole song's, so that a moment's values are the same whatever part of the song a render covers (its
    loudness scaled over the song, its envelopes followed from the song's start); its beats and bars are
    counted from the song's start."""
    music = music or MusicConfig()
    samples = song_samples(path)
    grid = _grid(*_known(path), music.bpm, music.offset, music.meter)
    first = int(np.floor(start * fps + 1e-6))  # the song's frames at fps, laid so that one falls on `start`
    shift = max(0.0, start - first / fps)
    body = samples[int(round(shift * RATE)) :]
    song = max(first + frames, int(np.ceil(len(body) / RATE * fps)))
    return track_cues(body, fps, song, attack, release, grid=grid, start=shift).window(first, frames)


# A song is decoded and tracked once for the styles, sections and stems of a job (keyed by its file's version)
def _known(path: str | Path) -> tuple[str, int, int]:
    try:
        stat = Path(path).stat()
    except OSError:
        raise MediaError(f"no such file: {str(path)!r}; check the path") from None
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def song_samples(path: str | Path) -> np.ndarray:
    """The sound of ``path``, mono at ``RATE``, decoded once while it is in use (read only)."""
    return _samples(*_known(path))


@functools.lru_cache(maxsize=4)
def _samples(path: str, mtime: int, size: int) -> np.ndarray:
    samples = decode_audio(path, RATE)
    samples.flags.writeable = False
    return samples


@functools.lru_cache(maxsize=8)
def _grid(path: str, mtime: int, size: int, bpm: float | None, offset: float | None, meter: int | None) -> Grid:
    return track(_samples(path, mtime, size), bpm, offset, meter)


class SongCues:
    """The job's sound's cues and each stem's (by file): what a style's mappings follow."""

    def __init__(self, main: TrackCues | None, stems: Mapping[Path, TrackCues]):
        self.main, self.stems = main, dict(stems)

    def of(self, audio: Path | None) -> TrackCues:
        """The cues of ``audio`` (a mapping's stem), or of the job's sound (None)."""
        cues = self.main if audio is None else self.stems[audio]
        assert cues is not None  # style_cues refuses a mapping without a stem when there is no sound
        return cues

    def value(self, name: str, index: int) -> float:
        return self.of(None).value(name, index)


def style_cues(style: Style, audio: str | Path | None, fps: float | Fraction, frames: int, start: float = 0.0,
               missing: str = "no sound was given") -> SongCues | None:
    """The cues a style's ``react:`` mappings follow over ``frames`` frames of ``audio`` (from ``start``
    seconds) and of each mapping's own stem (from the same moment), with its attack and release; None for a
    style that does not react. A mapping without a stem of its own and no sound is refused with ``missing``,
    the reason."""
    if not style.react:
        return None
    own = {m.audio for m in style.react.values() if m.audio is not None}
    if audio is None and len(own) < len(style.react):
        raise MediaError(f"the style reacts to audio (react:), but {missing}")

    def cues(path: str | Path) -> TrackCues:
        return cues_of(path, float(fps), frames, start, style.react_attack, style.react_release, style.music)

    return SongCues(cues(audio) if audio is not None and len(own) < len(style.react) else None,
                    {path: cues(path) for path in own})


def schedules(style: Style) -> dict[str, Schedule]:
    """The style's schedules by key (``schedule.step_size``, ``zoom.scale``, ``zoom.translate.0``…)."""
    found: dict[str, Schedule] = {f"schedule.{key}": value for key, value in style.schedule.items()}
    for name, value in style.zoom:
        for i, item in enumerate(value if isinstance(value, tuple) else (value,)):
            if isinstance(item, Schedule):
                found[f"zoom.{name}" + (f".{i}" if isinstance(value, tuple) else "")] = item
        for layer, item in (value.items() if isinstance(value, dict) else ()):
            found[f"zoom.{name}.{layer}"] = item
    return found


def grid_for(style: Style, audio: str | Path | None, what: str, missing: str = "no song was given",
             at_start: bool = False) -> Grid:
    """The grid ``what`` (a key path keyed in bars or beats) is counted on: the exact grid of ``music.bpm``
    and ``music.offset``, or the song's tracked one. Without a song, ``at_start`` (a photo: the song's first
    moment) counts bar 1 from 0 s at ``music.bpm`` (else 120); otherwise it is refused in one line (``missing``,
    the reason), as is a song without a beat."""
    music = style.music
    if music.bpm is not None and music.offset is not None:
        return exact_grid(music.bpm, music.offset, music.meter or METERS[0], 0.0)
    if audio is None and at_start:
        return exact_grid(music.bpm or 120.0, 0.0, music.meter or METERS[0], 0.0)
    if audio is None:
        raise ConfigError(f"{what} is keyed in bars or beats, but {missing}: give the song, or the "
                          "tempo and a downbeat (music.bpm, music.offset)")
    grid = song_grid(audio, music)
    if not grid.has_beat:
        raise NoBeat(f"{what} is keyed in bars or beats, but {Path(audio).name} has no beat to count "
                     "them on; key it in seconds, or give music.bpm and music.offset")
    return grid


def on_the_song(style: Style, audio: str | Path | None, missing: str = "no song was given",
                at_start: bool = False) -> Style:
    """``style`` with its schedules keyed in bars and beats (``bar 17``) resolved to seconds on the song's
    grid (``grid_for``). A style keyed in seconds is returned as it is."""
    musical = [key for key, s in schedules(style).items() if s.musical]
    if not musical:
        return style
    grid = grid_for(style, audio, musical[0], missing, at_start)

    def resolve(key: str, value: Schedule) -> Schedule:
        try:
            return value.resolved(grid.time)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None

    zoom: dict[str, Any] = {}
    for name, value in style.zoom:
        if isinstance(value, Schedule):
            zoom[name] = resolve(f"zoom.{name}", value)
        elif isinstance(value, tuple) and all(isinstance(v, Schedule) for v in value):
            zoom[name] = tuple(resolve(f"zoom.{name}.{i}", v) for i, v in enumerate(value))
        elif isinstance(value, dict):
            zoom[name] = {k: resolve(f"zoom.{name}.{k}", v) for k, v in value.items()}
    schedule = {key: resolve(f"schedule.{key}", value) for key, value in style.schedule.items()}
    return style.model_copy(update={"zoom": style.zoom.model_copy(update=zoom), "schedule": schedule})


@dataclass(frozen=True)
class Reaction:
    """A style's schedules and audio mappings at video frame ``index`` (``seconds`` into the song): a
    schedule gives a key's base there, a mapping moves it with the music; with no cues, no mapping moves."""

    mappings: Mapping[str, ReactConfig] = field(default_factory=dict)
    cues: Cues | None = None
    index: int = 0
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    seconds: float = 0.0
    full: DreamParams | None = None  # the style's work on a fresh frame: scheduled counts scale lighter frames

    def base(self, target: str, base: float) -> float:
        """``target``'s value before the music: its schedule's at this moment, else ``base``. A scheduled
        iteration or octave count is a fresh frame's; lighter frames (``base`` below the style's) get as
        many in proportion."""
        scheduled = self.schedules.get(target)
        if scheduled is None:
            return base
        value = scheduled.at(self.seconds)
        if target in COUNTS and self.full is not None:
            return value * base / getattr(self.full, target)
        return value

    def __call__(self, target: str, base: float) -> float:
        base = self.base(target, base)
        mapping = self.mappings.get(target)
        if mapping is None or self.cues is None:
            return base
        cues = self.cues if mapping.audio is None else cast(SongCues, self.cues).of(mapping.audio)
        return mapping.value(cues.value(mapping.source, self.index), base)

    def params(self, params: DreamParams) -> DreamParams:
        """``params`` with what the schedules and mappings give at this frame (step size, iterations,
        octaves, octave scale, jitter)."""
        return replace(params, step_size=self("step_size", params.step_size),
                       iterations=max(1, round(self("iterations", params.iterations))),
                       octaves=max(1, round(self("octaves", params.octaves))),
                       octave_scale=self("octave_scale", params.octave_scale),
                       jitter=round(self("jitter", params.jitter)))

    def layer_weights(self, layers: Sequence[LayerTerm]) -> dict[str, float]:
        """Layer weights at this frame, for each ``layers.<name>`` schedule or mapping (the style's weight is
        the base; a layer the style does not dream on starts at 0)."""
        current = {term.name: term.weight for term in layers}
        names = {target: target[len(REACT_LAYER):] for target in [*self.schedules, *self.mappings]
                 if target.startswith(REACT_LAYER)}
        return {name: self(target, current.get(name, 0.0)) for target, name in names.items()}


COUNTS = ("iterations", "octaves")  # scheduled counts, scaled for frames that do less work than a fresh one
