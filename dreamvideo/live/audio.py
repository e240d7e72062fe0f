"""Audio features as they happen, for live styles that react to music: the features of ``dreamvideo.audio``,
made of its functions (loudness as RMS in dB, onsets as spectral flux, each smoothed by the same
attack/release follower), computed causally, frame by frame, from the sound so far. A window ends at its
frame instead of being centred on it, and the 2-98% normalisation runs over the last ``HISTORY`` seconds.
Beats and bars come from ``dreamvideo.beats.CausalBeats``, the song tracker's causal twin: from the tempo
of the last seconds, each beat is predicted one period after the last, so it lands on time (once the tempo is
known, after a few seconds).

The features follow a file source's own sound (``FileCues``, in step with its frames) or a
microphone or line-in (``MicrophoneCues``, through sounddevice, an optional extra).
"""

from __future__ import annotations

import threading
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np

from dreamvideo.audio import (
    N_FFT,
    RATE,
    WINDOW,
    decibels,
    flux,
    follow,
    follower,
    frame_rms,
    log_spectrum,
    normalise,
)
from dreamvideo.beats import CausalBeats
from dreamvideo.errors import ConfigError, MediaError

HISTORY = 30.0  # seconds of feature history the normalisation looks at


class CausalCues:
    """Feed ``step`` the samples of each video frame (mono float32 at ``RATE``); it returns the frame's
    loudness, onset, beat and bar in 0..1."""

    def __init__(self, fps: float, attack: float, release: float):
        self.fps = fps
        self.buffer = np.zeros(N_FFT, np.float32)
        self.spectrum: np.ndarray | None = None
        keep = max(8, int(HISTORY * fps))
        self.db: deque[float] = deque(maxlen=keep)
        self.flux: deque[float] = deque(maxlen=keep)
        self.up, self.down = follower(fps, attack, release)
        self.levels = {"loudness": 0.0, "onset": 0.0, "beat": 0.0, "bar": 0.0}
        self.beats = CausalBeats()
        self.values = dict(self.levels)

    def _follow(self, name: str, target: float) -> float:
        self.levels[name] = level = follow(self.levels[name], target, self.up, self.down)
        return level

    def step(self, samples: np.ndarray) -> dict[str, float]:
        samples = samples[-N_FFT:]
        self.buffer = np.concatenate([self.buffer[len(samples):], samples.astype(np.float32)])
        frame = self.buffer * WINDOW
        self.db.append(decibels(float(frame_rms(frame))))  # one frame's loudness, in double precision
        spectrum = log_spectrum(frame)
        strength = 0.0 if self.spectrum is None else float(flux(spectrum, self.spectrum))
        self.spectrum = spectrum
        self.flux.append(strength)
        onset = float(normalise(strength, self.flux))
        beats = self.beats.feed(samples)
        beat = 1.0 if beats else 0.0
        bar = 1.0 if any(starts_bar for _, starts_bar in beats) else 0.0
        self.values = {"loudness": self._follow("loudness", float(normalise(self.db[-1], self.db))),
                       "onset": self._follow("onset", onset),
                       "beat": min(1.0, self._follow("beat", beat) / self.up),
                       "bar": min(1.0, self._follow("bar", bar) / self.up)}
        return self.values


class FileCues:
    """A file's sound analysed in step with its frames: ``value(name, index)`` is the feature at video frame
    ``index`` (a looping source's index runs on: the sound starts again with the picture)."""

    def __init__(self, samples: np.ndarray, fps: Fraction, attack: float, release: float, loop: bool):
        self.samples, self.fps, self.loop = samples, float(fps), loop
        self.hop = RATE / self.fps
        self.length = max(1, int(len(samples) / self.hop))  # video frames the sound lasts
        self.analyser = CausalCues(self.fps, attack, release)
        self.done = -1
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, fps: Fraction, attack: float, release: float, loop: bool = False) -> FileCues:
        """The features of the sound of the file at ``path``."""
        from dreamvideo.media.ffmpeg import decode_audio

        return cls(decode_audio(path, RATE), fps, attack, release, loop)

    def close(self) -> None:
        """Nothing to release: the file's sound is decoded already (a microphone has a stream to close)."""

    def _samples(self, index: int) -> np.ndarray:
        i = index % self.length if self.loop else index
        a, b = int(i * self.hop), int((i + 1) * self.hop)
        return self.samples[a:b] if a < len(self.samples) else np.zeros(b - a, np.float32)

    def value(self, name: str, index: int) -> float:
        with self._lock:
            while self.done < index:  # every frame up to this one, in order: causal, whatever was skipped
                self.done += 1
                self.analyser.step(self._samples(self.done))
            return self.analyser.values[name]


class MicrophoneCues:
    """A microphone or line-in analysed as it is heard: ``value(name, index)`` is the feature now."""

    def __init__(self, device: str | None, fps: Fraction, attack: float, release: float):
        try:
            import sounddevice
        except (ModuleNotFoundError, OSError) as exc:
            why = "PortAudio is missing (Debian: apt-get install libportaudio2)" if isinstance(exc, OSError) else \
                'it needs sounddevice: pip install "dreamvideo[live]"'
            raise ConfigError(f"--audio-in: {why}") from None
        self.hop = int(RATE / float(fps))
        self.analyser = CausalCues(float(fps), attack, release)
        self.pending = np.zeros(0, np.float32)
        self._lock = threading.Lock()
        chosen = None if device in (None, "default") else int(device) if str(device).isdigit() else device
        try:
            self.stream = sounddevice.InputStream(samplerate=RATE, channels=1, dtype="float32", device=chosen,
                                                  callback=self._heard)
            self.stream.start()
        except Exception as exc:  # PortAudioError, ValueError for an unknown device
            raise MediaError(f"--audio-in {device!r}: no such input could be opened ({exc}); "
                             "`python -m sounddevice` lists the devices") from None

    def _heard(self, data: np.ndarray, frames: int, time, status) -> None:
        with self._lock:
            self.pending = np.concatenate([self.pending, data[:, 0]])[-RATE:]

    def value(self, name: str, index: int) -> float:
        with self._lock:
            while len(self.pending) >= self.hop:
                self.analyser.step(self.pending[: self.hop])
                self.pending = self.pending[self.hop:]
            return self.analyser.values[name]

    def close(self) -> None:
        self.stream.close()
