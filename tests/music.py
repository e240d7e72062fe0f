"""Synthetic drum loops whose beats and bars are known exactly: the ground truth for the beat tracker.

A loop has a kick, a snare, hi-hats on the eighth notes (swung or straight), a syncopated kick, and a pad whose
chord changes on every bar; optionally an intro of pad alone, a tempo that ramps, a meter of 3 or 4. Two kits
with different drum sounds let a tuning on one be checked on the other.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass

import numpy as np

RATE = 22050
CHORDS = ((220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (164.8, 207.7, 246.9))


@dataclass(frozen=True)
class Loop:
    name: str
    bpm: float
    bars: int = 16
    meter: int = 4
    swing: float = 0.5  # where the off-beat eighth falls within its beat: 0.5 straight, 2/3 a triplet swing
    intro: int = 0  # bars of pad alone before the drums (they have no beats)
    ramp_to: float | None = None  # the tempo at the end, reached linearly beat by beat
    kit: int = 0  # 0 or 1: two sets of drum sounds
    seed: int = 0
    humanise: float = 0.0  # seconds: each hit's timing wanders this much (a standard deviation) off the grid


@dataclass(frozen=True)
class Song:
    samples: np.ndarray  # mono float32 at RATE
    beats: np.ndarray  # seconds of the beats where the drums play
    downbeats: np.ndarray  # seconds of their bars' first beats
    tempo: float  # (beats - 1) / their span, in beats per minute

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def _hit(kind: str, kit: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * RATE)
    t = np.arange(n) / RATE
    if kind == "kick":
        low, fall = (45, 30) if kit == 0 else (55, 22)
        sweep = low + (110 if kit == 0 else 150) * np.exp(-t * 35)
        return 0.9 * np.exp(-t * fall / 3) * np.sin(2 * np.pi * np.cumsum(sweep) / RATE)
    if kind == "snare":
        noise = rng.standard_normal(n)
        noise = np.diff(noise, prepend=0) if kit == 0 else noise - np.convolve(noise, np.ones(4) / 4, "same")
        tone = np.sin(2 * np.pi * (190 if kit == 0 else 230) * t)
        return (0.35 * noise + 0.4 * tone) * np.exp(-t * (22 if kit == 0 else 16))
    noise = np.diff(np.diff(rng.standard_normal(n), prepend=0), prepend=0)  # hi-hat: high-passed noise
    return 0.08 * noise * np.exp(-t * (70 if kit == 0 else 45))


def drum_loop(loop: Loop) -> Song:
    """The loop's samples and its true beats and bars."""
    rng = np.random.default_rng(loop.seed)
    beats_total = (loop.intro + loop.bars) * loop.meter
    end_bpm = loop.ramp_to or loop.bpm
    tempos = np.linspace(loop.bpm, end_bpm, beats_total)
    times = np.concatenate([[0.5], 0.5 + np.cumsum(60 / tempos)])  # beat k starts at times[k]; half a second lead-in
    seconds = times[-1] + 1.5
    x = np.zeros(int(seconds * RATE) + RATE, np.float64)
    hits = {kind: _hit(kind, loop.kit, rng) for kind in ("kick", "snare", "hat")}

    def add(kind: str, at: float, gain: float = 1.0) -> None:
        i = max(0, int(round((at + loop.humanise * rng.standard_normal()) * RATE)))
        sound = hits[kind][: len(x) - i]
        x[i : i + len(sound)] += gain * sound

    # the pad: a chord per bar, faded in and out, over the whole song
    for bar in range(loop.intro + loop.bars):
        a, b = times[bar * loop.meter], times[(bar + 1) * loop.meter]
        t = np.arange(int((b - a) * RATE)) / RATE
        fade = np.minimum(1, t / 0.05) * np.minimum(1, (b - a - t) / 0.05)
        chord = sum(np.sin(2 * np.pi * f * t) for f in CHORDS[bar % len(CHORDS)]) / 3
        i = int(round(a * RATE))
        x[i : i + len(t)] += 0.12 * fade * chord
    beats, downbeats = [], []
    for k in range(loop.intro * loop.meter, beats_total):
        at, period = times[k], times[k + 1] - times[k]
        position = k % loop.meter
        beats.append(at)
        if position == 0:
            downbeats.append(at)
        if loop.meter == 4:
            add("kick" if position in (0, 2) else "snare", at)
        else:  # a waltz: kick on one, snare on two and three
            add("kick" if position == 0 else "snare", at, 1.0 if position == 0 else 0.6)
        add("hat", at)
        add("hat", at + loop.swing * period, 0.7)
        if position == 2 and (k // loop.meter) % 2 == 1:  # the syncopated kick: the and of three, every other bar
            add("kick", at + loop.swing * period, 0.8)
    x += 0.002 * rng.standard_normal(len(x))
    samples = (x / max(1.0, np.abs(x).max() / 0.9)).astype(np.float32)
    beats_a = np.array(beats)
    return Song(samples, beats_a, np.array(downbeats), 60 * (len(beats_a) - 1) / (beats_a[-1] - beats_a[0]))


LOOPS = (  # the tracker's targets: every tempo from 80 to 180, swing, syncopation, an intro, a ramp, a waltz
    Loop("80", 80), Loop("96", 96), Loop("110 swung", 110, swing=2 / 3), Loop("120 swung", 120, swing=2 / 3),
    Loop("128 after an intro", 128, intro=4), Loop("140", 140), Loop("150 swung", 150, swing=0.6),
    Loop("165", 165), Loop("174", 174), Loop("180", 180), Loop("120 to 128", 120, ramp_to=128, bars=24),
    Loop("90 to 100", 90, ramp_to=100, bars=24), Loop("waltz 105", 105, meter=3),
)


def held_out(loop: Loop) -> Loop:
    """The same loop with the other kit and another seed: what the tracker was not tuned on."""
    from dataclasses import replace

    return replace(loop, kit=1, seed=loop.seed + 1)


def write_wav(path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def f_measure(found: np.ndarray, truth: np.ndarray, window: float = 0.07) -> float:
    """Beat F-measure: a found beat within ``window`` seconds of a true one matches it (each at most once)."""
    if len(found) == 0 or len(truth) == 0:
        return 0.0
    used = np.zeros(len(truth), bool)
    hits = 0
    for t in found:
        d = np.abs(truth - t)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= window:
            used[j], hits = True, hits + 1
    precision, recall = hits / len(found), hits / len(truth)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
