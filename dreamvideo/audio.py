"""Audio features per video frame, for styles that react to music: loudness, onset strength, beats, bars.

Plain NumPy on mono samples (``dreamvideo.media.ffmpeg.decode_audio`` gives them): every feature is one value
per video frame in [0, 1], smoothed with an attack/release envelope follower.

``track_cues`` measures a whole track, each window centred on its frame; ``dreamvideo.live.audio`` measures a
sound as it happens, each window ending at its frame. Both are made of the small functions here (a frame's
loudness, the flux between two spectra, the normalisation over a history, the follower's step); the beats
and bars are ``dreamvideo.beats``'s, a whole song's tracked grid or its causal tracker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dreamvideo.beats import RATE, Grid, track


class Cues(Protocol):
    """Audio features by name (loudness, onset, beat, bar) at a video frame: a whole track's (``TrackCues``)
    or a live sound's (``dreamvideo.live.audio``)."""

    def value(self, name: str, index: int) -> float: ...


@dataclass(frozen=True)
class TrackCues:
    loudness: np.ndarray  # RMS envelope, normalised to [0, 1]
    onset: np.ndarray  # spectral flux, normalised to [0, 1]
    beat: np.ndarray  # 1 on beat frames, decaying with the release time
    beats: np.ndarray  # frame indices of the beats
    tempo: float  # beats per minute
    bar: np.ndarray  # like beat, on the bars' first beats
    downbeats: np.ndarray  # frame indices of the bars' first beats

    def get(self, name: str) -> np.ndarray:
        return {"loudness": self.loudness, "onset": self.onset, "beat": self.beat, "bar": self.bar}[name]

    def value(self, name: str, index: int) -> float:
        """Feature ``name`` at video frame ``index`` (past the end: the last frame's)."""
        values = self.get(name)
        return float(values[min(index, len(values) - 1)])

    def window(self, first: int, frames: int) -> TrackCues:
        """Frames ``first`` .. ``first + frames`` - 1, counted from 0 (past the end: the last frame's)."""
        def part(values: np.ndarray) -> np.ndarray:
            index = np.minimum(np.arange(first, first + frames), len(values) - 1)
            return values[index]

        def marks(index: np.ndarray) -> np.ndarray:
            index = index - first
            return index[(index >= 0) & (index < frames)]

        return TrackCues(part(self.loudness), part(self.onset), part(self.beat), marks(self.beats), self.tempo,
                         part(self.bar), marks(self.downbeats))


N_FFT = 2048  # samples in the window each frame's features are measured over
WINDOW = np.hanning(N_FFT).astype(np.float32)
WINDOW.flags.writeable = False


def frame_rms(frames: np.ndarray) -> np.ndarray:
    """The RMS of windowed frames (along the last axis)."""
    return np.sqrt((frames**2).mean(-1) + 1e-12)


def decibels(rms):
    """An RMS (or several) in dB: the loudness a frame is measured by."""
    return 20 * np.log10(rms + 1e-9)


def log_spectrum(frames: np.ndarray) -> np.ndarray:
    """The log magnitude spectrum of windowed frames (along the last axis)."""
    return np.log1p(np.abs(np.fft.rfft(frames, axis=-1)))


def flux(spectrum: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Spectral flux: how much the log spectrum rose from ``previous`` (along the last axis), the onset strength."""
    return np.maximum(spectrum - previous, 0).sum(-1)


def normalise(x, history):
    """``x`` scaled so that 0 is the 2nd percentile of ``history`` and 1 its 98th, clipped to [0, 1]; 0 when
    the history is flat."""
    lo, hi = np.percentile(history, 2), np.percentile(history, 98)
    return np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(x)


def follower(fps: float, attack: float, release: float) -> tuple[float, float]:
    """The envelope follower's share of the way it moves per frame towards a value above its level (rising
    with time constant ``attack``, seconds) and towards one below it (falling with ``release``)."""
    up, down = (1 - np.exp(-1 / max(t * fps, 1e-6)) for t in (attack, release))
    return up, down


def follow(level, value, up: float, down: float):
    """The envelope follower's next level, from ``level`` towards ``value`` (rates from ``follower``)."""
    return level + (value - level) * (up if value > level else down)


def envelope(x: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """Attack/release smoothing (seconds): rises with time constant ``attack``, falls with ``release``."""
    up, down = follower(fps, attack, release)
    out, level = np.empty_like(x), 0.0
    for i, v in enumerate(x):
        level = follow(level, v, up, down)
        out[i] = level
    return out


def track_cues(samples: np.ndarray, fps: float, frames: int, attack: float = 0.01, release: float = 0.25,
               rate: int = RATE, grid: Grid | None = None, start: float = 0.0) -> TrackCues:
    """Per-frame features of ``samples`` for a video of ``frames`` frames at ``fps``. The beats and bars are
    ``grid``'s (a whole song's, whose second ``start`` the samples begin at), or tracked in the samples."""
    hop = rate / fps
    need = int(np.ceil(frames * hop)) + N_FFT
    padded = np.zeros(need, np.float32)  # N_FFT/2 of silence first, so each window is centred on its frame
    body = samples[: need - N_FFT // 2]
    padded[N_FFT // 2 : N_FFT // 2 + len(body)] = body
    starts = (np.arange(frames) * hop).astype(int)
    frames_audio = np.stack([padded[s : s + N_FFT] for s in starts]) * WINDOW
    db = decibels(frame_rms(frames_audio))
    loud = normalise(db, db)
    spectrum = log_spectrum(frames_audio)
    strength = flux(spectrum, np.concatenate([spectrum[:1], spectrum[:-1]]))  # the first frame: from itself, 0
    onset = normalise(strength, strength)
    if grid is None:
        grid = track(samples) if rate == RATE else Grid(0.0, np.zeros(0), np.zeros(0), 4, len(samples) / rate)
    beats, downbeats = (at_frames(grid.beats - start, fps, frames), at_frames(grid.downbeats - start, fps, frames))
    return TrackCues(
        loudness=envelope(loud, fps, attack, release).astype(np.float32),
        onset=envelope(onset, fps, attack, release).astype(np.float32),
        beat=pulses(beats, fps, frames, attack, release), beats=beats, tempo=grid.tempo,
        bar=pulses(downbeats, fps, frames, attack, release), downbeats=downbeats,
    )


def at_frames(seconds: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """The video frames (of ``frames`` at ``fps``) that times in ``seconds`` fall on, each once."""
    index = np.unique(np.round(np.asarray(seconds) * fps).astype(int))
    return index[(index >= 0) & (index < frames)]


def pulses(marks: np.ndarray, fps: float, frames: int, attack: float, release: float) -> np.ndarray:
    """1 on the ``marks`` frames, falling with the release time, smoothed like every feature; peaks at 1."""
    pulse = np.zeros(frames, np.float32)
    pulse[marks] = 1.0
    if not len(marks):
        return pulse
    smooth = envelope(pulse, fps, attack, release).astype(np.float32)
    return smooth / max(1e-6, float(smooth.max()))
