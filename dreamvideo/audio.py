"""Audio features per video frame, for styles that react to music: loudness, onset strength, beats.

Plain NumPy on mono samples (``dreamvideo.media.ffmpeg.decode_audio`` gives them): every feature is one value
per video frame in [0, 1], smoothed with an attack/release envelope follower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

RATE = 22050  # samples per second the features are computed at


class Features(Protocol):
    """Audio features by name (loudness, onset, beat) at a video frame: a whole track's (``AudioFeatures``)
    or a live sound's (``dreamvideo.live.audio``)."""

    def value(self, name: str, index: int) -> float: ...


@dataclass(frozen=True)
class AudioFeatures:
    loudness: np.ndarray  # RMS envelope, normalised to [0, 1]
    onset: np.ndarray  # spectral flux, normalised to [0, 1]
    beat: np.ndarray  # 1 on beat frames, decaying with the release time
    beats: np.ndarray  # frame indices of the beats
    tempo: float  # beats per minute

    def get(self, name: str) -> np.ndarray:
        return {"loudness": self.loudness, "onset": self.onset, "beat": self.beat}[name]

    def value(self, name: str, index: int) -> float:
        """Feature ``name`` at video frame ``index`` (past the end: the last frame's)."""
        values = self.get(name)
        return float(values[min(index, len(values) - 1)])


def envelope(x: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """Attack/release smoothing (seconds): rises with time constant ``attack``, falls with ``release``."""
    up = 1 - np.exp(-1 / max(attack * fps, 1e-6))
    down = 1 - np.exp(-1 / max(release * fps, 1e-6))
    out, level = np.empty_like(x), 0.0
    for i, v in enumerate(x):
        level += (v - level) * (up if v > level else down)
        out[i] = level
    return out


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(x, 2), np.percentile(x, 98)
    return np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(x)


def analyse(samples: np.ndarray, fps: float, frames: int, attack: float = 0.01, release: float = 0.25,
            rate: int = RATE) -> AudioFeatures:
    """Per-frame features of ``samples`` for a video of ``frames`` frames at ``fps``."""
    hop = rate / fps
    n_fft = 2048
    need = int(np.ceil(frames * hop)) + n_fft
    padded = np.zeros(need, np.float32)  # n_fft/2 of silence first, so each window is centred on its frame
    body = samples[: need - n_fft // 2]
    padded[n_fft // 2 : n_fft // 2 + len(body)] = body
    starts = (np.arange(frames) * hop).astype(int)
    window = np.hanning(n_fft).astype(np.float32)
    frames_audio = np.stack([padded[s : s + n_fft] for s in starts]) * window
    rms = np.sqrt((frames_audio**2).mean(1) + 1e-12)
    db = 20 * np.log10(rms + 1e-9)
    loud = _normalise(db)
    spectrum = np.log1p(np.abs(np.fft.rfft(frames_audio, axis=1)))
    flux = np.maximum(np.diff(spectrum, axis=0, prepend=spectrum[:1]), 0).sum(1)
    onset = _normalise(flux)
    beats, tempo = _beats(onset, fps)
    pulse = np.zeros(frames, np.float32)
    pulse[beats] = 1.0
    beat = envelope(pulse, fps, attack, release).astype(np.float32)
    return AudioFeatures(
        loudness=envelope(loud, fps, attack, release).astype(np.float32),
        onset=envelope(onset, fps, attack, release).astype(np.float32),
        beat=beat / max(1e-6, float(beat.max())) if len(beats) else pulse,
        beats=beats, tempo=tempo,
    )


def _beats(onset: np.ndarray, fps: float) -> tuple[np.ndarray, float]:
    """Onset peaks above an adaptive threshold, at least 60/200 s apart; tempo by autocorrelation."""
    if len(onset) < 4 or onset.max() <= 0:
        return np.array([], int), 0.0
    centred = onset - onset.mean()
    ac = np.correlate(centred, centred, mode="full")[len(onset) - 1 :]
    lags = np.arange(len(ac))
    valid = (lags >= fps * 60 / 200) & (lags <= fps * 60 / 60)
    tempo = float(60 * fps / lags[valid][np.argmax(ac[valid])]) if valid.any() else 0.0
    gap = max(1, int(fps * 60 / 200))
    k = max(1, int(fps / 2))
    local = np.array([onset[max(0, i - k) : i + k + 1].mean() for i in range(len(onset))])
    peaks = [i for i in range(len(onset) - 1)
             if (i == 0 or onset[i] >= onset[i - 1]) and onset[i] > onset[i + 1] and onset[i] > local[i] + 0.1]
    beats: list[int] = []
    for i in peaks:
        if not beats or i - beats[-1] >= gap:
            beats.append(i)
        elif onset[i] > onset[beats[-1]]:
            beats[-1] = i
    return np.array(beats, int), tempo
