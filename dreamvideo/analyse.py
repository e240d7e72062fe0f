"""A song as dreamvideo hears it: tempo, meter, beats and bars, loudness and onsets, and how a style's
schedules and ``react:`` mappings will move its keys over the song (``curves``); as JSON (``summary``) or a
picture (``plot``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.audio import TrackCues, track_cues
from dreamvideo.beats import RATE, Grid, track
from dreamvideo.config import REACT_LAYER, MusicConfig, Style, style_layers
from dreamvideo.media.ffmpeg import decode_audio
from dreamvideo.react import Reaction, on_the_song, schedules, style_cues
from dreamvideo.sections import moment, song_parts

CURVE_FPS = 25.0  # values per second of the curves (a render's own rate is used where it reacts)


@dataclass(frozen=True)
class Analysis:
    path: Path
    grid: Grid
    samples: np.ndarray  # mono float32 at RATE
    cues: TrackCues  # loudness, onsets, beats and bars at ``fps``
    fps: float

    @property
    def duration(self) -> float:
        return self.grid.duration


def analyse(path: str | Path, music: MusicConfig | None = None, fps: float = CURVE_FPS) -> Analysis:
    """The beats, bars and features of the sound of ``path`` (any audio or video file)."""
    music = music or MusicConfig()
    samples = decode_audio(path, RATE)
    grid = track(samples, music.bpm, music.offset, music.meter)
    frames = max(1, int(len(samples) / RATE * fps))
    return Analysis(Path(path), grid, samples, track_cues(samples, fps, frames, grid=grid), fps)


def summary(analysis: Analysis) -> dict[str, Any]:
    """What ``analyse --json`` prints: tempo (BPM), beats and downbeats (seconds), duration, and the rest."""
    grid = analysis.grid
    return {"tempo": round(grid.tempo, 2), "beats": [round(float(t), 3) for t in grid.beats],
            "downbeats": [round(float(t), 3) for t in grid.downbeats], "duration": round(grid.duration, 3),
            "meter": grid.meter, "bars": len(grid.downbeats), "has_beat": grid.has_beat,
            "file": analysis.path.name}


def curves(analysis: Analysis, style: Style) -> dict[str, np.ndarray]:
    """Each scheduled or reacting key of ``style`` over the song, one value per ``analysis.fps`` frame, as a
    render or a zoom on this song applies it (schedules resolved on its bars and beats, reactions on its
    features and stems, each section's own values where it is in effect)."""
    plan = song_parts(style, analysis.path, "no song was given")
    style = on_the_song(style, analysis.path)
    frames = len(analysis.cues.loudness)
    seconds = np.arange(frames) / analysis.fps
    mode = style.zoom.interpolation
    out = {key: np.array([s.at(t, mode) for t in seconds]) for key, s in schedules(style).items()
           if not s.constant and not key.startswith("schedule.")}
    cues = style_cues(style, analysis.path, analysis.fps, frames)
    looks = [on_the_song(part.style, analysis.path) for part in plan]
    now = [looks[moment(plan, t).current] for t in seconds]  # the style in effect at each frame
    for key in style.schedule:
        out[f"schedule {key}"] = np.array([Reaction(schedules=s.schedule, seconds=t)(key, base_value(s, key, t))
                                           for s, t in zip(now, seconds)])
    for target in style.react:
        out[f"react {target}"] = np.array([Reaction(s.react, cues, i, s.schedule, t)(target, base_value(s, target, t))
                                           for i, (s, t) in enumerate(zip(now, seconds))])
    return out


def peaks(samples: np.ndarray, columns: int) -> np.ndarray:
    """The waveform's peak in each of ``columns`` equal spans of ``samples`` (none for a sound that short)."""
    if len(samples) < columns:
        return np.zeros(0, np.float32)
    return np.array([float(np.abs(span).max()) for span in np.array_split(samples, columns)], np.float32)


@dataclass(frozen=True)
class Stem:
    """A stem the style's mappings follow, over the song: its file, its keys, its waveform's peaks across its
    own length, and its loudness at the song's ``fps`` (as the mappings read it)."""

    path: Path
    keys: tuple[str, ...]
    duration: float
    wave: np.ndarray
    loudness: np.ndarray


def stems(analysis: Analysis, style: Style, columns: int) -> list[Stem]:
    """Each stem of ``style``'s react mappings, in their order."""
    from dreamvideo.react import song_samples

    own: dict[Path, list[str]] = {}
    for target, mapping in style.react.items():
        if mapping.audio is not None:
            own.setdefault(mapping.audio, []).append(target)
    if not own:
        return []
    cues = style_cues(style, analysis.path, analysis.fps, len(analysis.cues.loudness))
    assert cues is not None
    found = []
    for path, keys in own.items():
        samples = song_samples(path)
        found.append(Stem(path, tuple(keys), len(samples) / RATE, peaks(samples, columns), cues.of(path).loudness))
    return found


def section_bands(analysis: Analysis, style: Style) -> list[tuple[float, float, str]]:
    """Each of the style's sections as (its crossfade's start, its start, its style), in seconds of the song."""
    plan = song_parts(style, analysis.path, "no song was given")
    return [(part.begins, part.whole, section.style) for part, section in zip(plan[1:], style.sections)]


def base_value(style: Style, target: str, seconds: float) -> float:
    """The value a react mapping's ``target`` has at ``seconds`` before the music moves it: the style's, its
    schedule's there, or a layer's weight (0 for a layer the style does not dream on)."""
    if target.startswith(REACT_LAYER):
        return {term.name: term.weight for term in style_layers(style)}.get(target[len(REACT_LAYER):], 0.0)
    if target.startswith("zoom."):
        return getattr(style.zoom, target[len("zoom."):]).at(seconds, style.zoom.interpolation)
    return float(getattr(style, target))


# -- the picture -----------------------------------------------------------------------------------------------

WIDTH, MARGIN, WAVE, LANE = 1600, 48, 200, 84
INK, FAINT, BEAT, BAR = (236, 236, 236), (120, 120, 120), (70, 70, 90), (150, 150, 200)
LOUD, ONSET, CURVE, SECTION = (255, 170, 60), (110, 200, 255), (140, 230, 140), (230, 120, 230)


def plot(analysis: Analysis, path: str | Path, lanes: dict[str, np.ndarray] | None = None,
         sections: list[tuple[float, float, str]] | None = None) -> Path:
    """Draw the song to a PNG: the waveform with its loudness and onsets, beats and numbered bars, the time in
    seconds, a lane per curve in ``lanes`` (``curves``) with its range, and ``sections`` (crossfade start,
    start, style) as bands. Written atomically."""
    from PIL import Image, ImageDraw

    from dreamvideo.media.images import write_image

    lanes = lanes or {}
    grid, duration = analysis.grid, max(analysis.duration, 1e-3)
    height = 40 + WAVE + len(lanes) * LANE + 34
    image = Image.new("RGB", (WIDTH, height), (18, 18, 24))
    draw = ImageDraw.Draw(image)
    span = WIDTH - 2 * MARGIN

    def x(t: float) -> float:
        return MARGIN + span * t / duration

    title = (f"{analysis.path.name}   {grid.tempo:.1f} BPM   {grid.meter}/4   {len(grid.downbeats)} bars   "
             f"{int(duration // 60)}:{duration % 60:05.2f}" if grid.has_beat else
             f"{analysis.path.name}   no beat found: times in seconds   {duration:.2f} s")
    draw.text((MARGIN, 12), title, fill=INK)
    top, bottom = 40, 40 + WAVE + len(lanes) * LANE
    for begins, whole, name in sections or []:  # a section: its crossfade shaded, then its name
        draw.rectangle([(x(max(begins, 0.0)), top), (x(whole), bottom)], fill=(40, 32, 56))
        draw.line([(x(whole), top), (x(whole), bottom)], fill=SECTION, width=2)
        draw.text((x(whole) + 4, top + 30), name, fill=SECTION)
    # beats and bars across every lane; a bar's number where there is room for it
    for t in grid.beats:
        draw.line([(x(t), top), (x(t), bottom)], fill=BEAT)
    every = max(1, int(np.ceil(40 / max(1e-6, span * 60 / max(grid.tempo, 1) * grid.meter / duration))))
    for number, t in enumerate(grid.downbeats, 1):
        draw.line([(x(t), top), (x(t), bottom)], fill=BAR)
        if (number - 1) % every == 0:
            draw.text((x(t) + 2, top + 2), str(number), fill=BAR)
    # the waveform: each column's peak
    middle, half = top + WAVE / 2, WAVE / 2 - 14
    columns = np.array_split(np.abs(analysis.samples), span) if len(analysis.samples) >= span else []
    for i, column in enumerate(columns):
        peak = float(column.max()) if len(column) else 0.0
        draw.line([(MARGIN + i, middle - half * peak), (MARGIN + i, middle + half * peak)], fill=FAINT)
    for values, colour in ((analysis.cues.onset, ONSET), (analysis.cues.loudness, LOUD)):
        _curve(draw, values, analysis.fps, x, top + WAVE - 4, WAVE - 18, colour, 0.0, 1.0)
    draw.text((WIDTH - MARGIN - 130, 12), "loudness", fill=LOUD)
    draw.text((WIDTH - MARGIN - 50, 12), "onsets", fill=ONSET)
    # one lane per key
    for i, (name, values) in enumerate(lanes.items()):
        lane = top + WAVE + i * LANE
        draw.line([(MARGIN, lane), (WIDTH - MARGIN, lane)], fill=FAINT)
        low, high = float(np.min(values)), float(np.max(values))
        pad = (high - low) * 0.1 or max(abs(high) * 0.1, 1e-6)
        _curve(draw, values, analysis.fps, x, lane + LANE - 6, LANE - 22, CURVE, low - pad, high + pad)
        draw.text((MARGIN + 4, lane + 4), f"{name}   {low:.4g} .. {high:.4g}", fill=INK)
    # the time
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
    step = next((s for s in steps if span * s / duration >= 60), steps[-1])
    for t in np.arange(0, duration + 1e-9, step):
        draw.line([(x(t), bottom), (x(t), bottom + 5)], fill=INK)
        draw.text((x(t) - 6, bottom + 8), f"{int(t // 60)}:{int(t % 60):02d}", fill=INK)
    return write_image(path, np.asarray(image))


def _curve(draw, values: np.ndarray, fps: float, x, base: float, height: float, colour, low: float,
           high: float) -> None:
    scale = height / (high - low) if high > low else 0.0
    points = [(x(i / fps), base - (float(v) - low) * scale) for i, v in enumerate(values)]
    if len(points) >= 2:
        draw.line(points, fill=colour, width=2)
