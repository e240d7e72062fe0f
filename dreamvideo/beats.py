"""The beat: tempo, beats, bars and meter of a song, in plain NumPy.

The onset strength is spectral flux over mel bands at audio resolution (``HOP`` samples, about 12 ms). The
tempo comes from its autocorrelation in windows of a few seconds: the strongest periodicity names a level of
the meter (eighths, beats, half notes or bars), and the beat is the fastest level at which the low bands
(kick and snare, not the hi-hats) are as periodic as at any other: where a drummer counts. Beats are then
placed by dynamic programming in the manner of Ellis (2007): each beat on a strong onset, one beat period
after the last, with a period that follows the song's tempo as it drifts. Bars start where the kick is
strongest and the harmony changes.

``track`` does a whole song; ``CausalBeats`` does a sound as it is heard (live), from the same onset
strength and tempo estimate, predicting each beat from the ones before it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from dreamvideo.errors import DreamVideoError

RATE = 22050  # samples per second the song is analysed at
N_FFT = 1024
HOP = 256  # samples between onset frames
FPS = RATE / HOP  # onset frames per second
BANDS = 64  # mel bands
LOW_HZ = 1500.0  # bands below this carry the kick and the snare's body, not the hi-hats
KICK_HZ = 160.0  # bands below this carry the kick
SLOWEST, FASTEST = 55.0, 215.0  # the range a beat's tempo is looked for in (BPM)
WINDOW_SECONDS = 8.0  # the autocorrelation's window
TIGHTNESS = 100.0  # how strongly the tracker keeps to its period (Ellis's alpha)
OFF_GRID = 0.15  # a last or first beat further than this share of a period from the grid is left out
CLEAR = 0.6  # a faster level counts when its periodicity in the low bands is this share of the strongest's
PERIODIC = 0.12  # below this autocorrelation at its period, a sound has no beat
ONSET_DB = 2.0  # nor where hardly anything starts: its strongest onsets (99th percentile) rise less than this
WARM = 3.0  # seconds a sound is heard before its first beat is predicted
METERS = (4, 3)  # beats per bar the tracker chooses from; a bar of 3 must be clearly better than of 4


class NoBeat(DreamVideoError):
    """A song without a beat (silence, a held tone): nothing can be counted in beats or bars."""


@dataclass(frozen=True)
class Grid:
    """A song's beats and bars, in seconds."""

    tempo: float  # beats per minute over the tracked beats (0 without a beat)
    beats: np.ndarray  # seconds
    downbeats: np.ndarray  # seconds of each bar's first beat
    meter: int  # beats per bar
    duration: float  # seconds

    @property
    def has_beat(self) -> bool:
        return len(self.beats) >= 2

    def time(self, unit: str, number: float) -> float:
        """Seconds of beat ``number`` or bar ``number`` (``unit`` "beat" or "bar", counted from 1; a fraction
        lies between two, before the first and after the last they run on at the nearest tempo)."""
        if not self.has_beat:
            raise NoBeat(f"the song has no beat to count {unit}s in; key its schedules in seconds, or give --bpm")
        marks = self.beats if unit == "beat" else bar_starts(self)
        return float(_along(marks, number - 1))

    def beat_number(self, seconds: float) -> float:
        """The beat at ``seconds``, counted from 1 (fractional between beats)."""
        return float(np.interp(seconds, self.beats, np.arange(1, len(self.beats) + 1))) if self.has_beat else 0.0


def bar_starts(grid: Grid) -> np.ndarray:
    """The bars' first beats, with the bar before the first downbeat (where beats come before it) counted
    as bar 1 only when it is whole: bar 1 is the first downbeat."""
    if len(grid.downbeats) >= 2:
        return grid.downbeats
    period = 60 / grid.tempo * grid.meter
    first = grid.downbeats[0] if len(grid.downbeats) else grid.beats[0]
    return np.array([first, first + period])


def _along(marks: np.ndarray, position: float) -> float:
    """The time at fractional index ``position`` of increasing ``marks``, extrapolated linearly at each end."""
    if position <= 0:
        return float(marks[0] + position * (marks[1] - marks[0]))
    last = len(marks) - 1
    if position >= last:
        return float(marks[-1] + (position - last) * (marks[-1] - marks[-2]))
    i = int(position)
    return float(marks[i] + (position - i) * (marks[i + 1] - marks[i]))


# -- onset strength ------------------------------------------------------------------------------------------

def _mel(hz):
    return 2595 * np.log10(1 + np.asarray(hz) / 700)


def mel_filters(n_fft: int = N_FFT, rate: int = RATE, bands: int = BANDS,
                low: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """Triangular mel filters (bands, n_fft//2 + 1) and their centre frequencies."""
    edges = 700 * (10 ** (np.linspace(_mel(low), _mel(rate / 2), bands + 2) / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    rise = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    fall = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    filters = np.maximum(0, np.minimum(rise, fall))
    for band in np.flatnonzero(filters.sum(1) == 0):  # narrower than a bin: the nearest bin
        filters[band, np.argmin(np.abs(freqs - edges[band + 1]))] = 1.0
    return filters.astype(np.float32), edges[1:-1]


FILTERS, CENTRES = mel_filters()
WINDOW = np.hanning(N_FFT).astype(np.float32)


def mel_db(frames: np.ndarray) -> np.ndarray:
    """Mel band levels in dB (frames, BANDS) of sample frames (frames, N_FFT)."""
    power = np.abs(np.fft.rfft(frames * WINDOW, axis=-1)) ** 2
    return 10 * np.log10(np.maximum(power @ FILTERS.T, 1e-10))


@dataclass(frozen=True)
class Onsets:
    """A song's onset strength at ``FPS``: all bands, the low bands, the kick's, and the mel levels."""

    all: np.ndarray
    low: np.ndarray
    kick: np.ndarray
    levels: np.ndarray  # (frames, BANDS) dB

    @property
    def seconds(self) -> np.ndarray:
        return np.arange(len(self.all)) / FPS


def band_flux(levels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """How much each band rose, in dB, from ``previous`` (both floored 80 dB under the loudest)."""
    return np.maximum(levels - previous, 0)


def onsets(samples: np.ndarray) -> Onsets:
    """The onset strength of mono ``samples`` at ``RATE``, one value per ``HOP`` samples, centred."""
    x = np.pad(samples.astype(np.float32), N_FFT // 2)
    count = max(0, 1 + (len(x) - N_FFT) // HOP)
    levels = np.empty((count, BANDS), np.float32)
    view = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    for a in range(0, count, 4096):  # in blocks: a long song's frames need not be in memory at once
        levels[a : a + 4096] = mel_db(view[a : a + 4096])
    if count == 0:
        empty = np.zeros(0, np.float32)
        return Onsets(empty, empty, empty, levels)
    levels = np.maximum(levels, levels.max() - 80)
    rise = band_flux(levels, np.concatenate([levels[:1], levels[:-1]]))  # the first frame: from itself, 0
    low, kick = CENTRES < LOW_HZ, CENTRES < KICK_HZ
    return Onsets(rise.mean(1), rise[:, low].mean(1), rise[:, kick].mean(1), levels)


# -- tempo -----------------------------------------------------------------------------------------------------

def autocorrelations(envelope: np.ndarray, max_lag: int, window: int = int(WINDOW_SECONDS * FPS),
                     step: int = int(FPS)) -> tuple[np.ndarray, np.ndarray]:
    """The normalised autocorrelation (lags 0..max_lag) of ``envelope`` in Hann windows of ``window`` frames
    every ``step``: (rows, their centre frames). Silent windows are left out."""
    window = min(window, len(envelope))
    starts = range(0, max(1, len(envelope) - window + 1), step)
    taper = np.hanning(window)
    rows, centres = [], []
    size = 1 << int(np.ceil(np.log2(2 * window)))
    for s in starts:
        seg = envelope[s : s + window]
        seg = (seg - seg.mean()) * taper
        spectrum = np.fft.rfft(seg, size)
        ac = np.fft.irfft(np.abs(spectrum) ** 2, size)[: max_lag + 1]
        if ac[0] > 1e-9:
            rows.append(ac / ac[0])
            centres.append(s + window // 2)
    if not rows:
        return np.zeros((0, max_lag + 1)), np.zeros(0)
    return np.array(rows), np.array(centres, float)


def peak_near(ac: np.ndarray, lag: float, tolerance: float = 0.05) -> tuple[float, float]:
    """The highest value of ``ac`` within ``tolerance`` of ``lag`` (a share), and its lag refined to a
    fraction of a frame (a parabola through the peak)."""
    lo, hi = max(1, int(np.floor(lag * (1 - tolerance)))), min(len(ac) - 2, int(np.ceil(lag * (1 + tolerance))))
    if hi < lo:
        return 0.0, lag
    i = lo + int(np.argmax(ac[lo : hi + 1]))
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    bend = a - 2 * b + c
    shift = 0.5 * (a - c) / bend if bend < 0 else 0.0
    return float(b), i + float(np.clip(shift, -0.5, 0.5))


def beat_period(onset: Onsets) -> float | None:
    """The beat period in onset frames, or None where the sound is not periodic (see the module's text)."""
    max_lag = int(FPS * 60 / SLOWEST * 2) + 2
    rows_all, _ = autocorrelations(onset.all, max_lag)
    if not len(rows_all):
        return None
    ac_all = rows_all.mean(0)
    rows_low, _ = autocorrelations(onset.low, max_lag)
    ac_low = rows_low.mean(0) if len(rows_low) else ac_all
    lags = np.arange(len(ac_all))
    # the strongest periodicity from eighths at the fastest tempo to half notes at the slowest
    candidates = (lags >= FPS * 60 / (2 * FASTEST)) & (lags <= FPS * 60 / SLOWEST * 2)
    if not candidates.any():
        return None
    strongest = int(np.argmax(np.where(candidates, ac_all, -np.inf)))
    strength, strongest_lag = peak_near(ac_all, strongest, 0.02)
    if strength < PERIODIC or np.percentile(onset.all, 99) < ONSET_DB:
        return None
    levels = [strongest_lag * r for r in (0.25, 1 / 3, 0.5, 1, 2, 3, 4)]
    levels = [lag for lag in levels if FPS * 60 / FASTEST <= lag <= FPS * 60 / SLOWEST and lag + 2 < len(ac_low)]
    if not levels:
        return strongest_lag
    scores = [peak_near(ac_low, lag)[0] for lag in levels]
    best = max(scores)
    fastest = min((lag for lag, s in zip(levels, scores) if s >= CLEAR * best), default=levels[0])
    # the period refined against its multiples: a lag of n periods is n times as precise
    refined = [peak_near(ac_all + ac_low, fastest * n, 0.03)[1] / n for n in (1, 2, 3, 4)
               if fastest * n * 1.03 + 2 < len(ac_all)]
    return float(np.median(refined)) if refined else fastest


def local_periods(onset: Onsets, period: float) -> np.ndarray:
    """The beat period at every onset frame: the global ``period`` followed as the tempo drifts (the
    autocorrelation's peak near it in each window, within 12 %)."""
    max_lag = int(period * 4.5) + 2
    rows, centres = autocorrelations(onset.all + onset.low, max_lag)
    if len(rows) < 2:
        return np.full(len(onset.all), period)
    found = []
    for row in rows:
        estimates = [peak_near(row, period * n, 0.06)[1] / n for n in (1, 2, 4) if period * n * 1.06 + 2 < len(row)]
        found.append(np.median(estimates))
    found_a = np.clip(np.array(found), period * 0.88, period * 1.12)
    smooth = np.array([np.median(found_a[max(0, i - 2) : i + 3]) for i in range(len(found_a))])
    return np.interp(np.arange(len(onset.all)), centres, smooth)


# -- beats -----------------------------------------------------------------------------------------------------

def _local_score(envelope: np.ndarray, period: float) -> np.ndarray:
    std = envelope.std()
    env = envelope / std if std > 0 else envelope
    reach = int(round(period))
    taps = np.exp(-0.5 * (np.arange(-reach, reach + 1) * 32.0 / period) ** 2)
    # "full" then centred: as long as the envelope even where the envelope is shorter than the taps
    return np.convolve(env, taps, "full")[reach : reach + len(env)]


def place_beats(envelope: np.ndarray, periods: np.ndarray, tightness: float = TIGHTNESS) -> np.ndarray:
    """Onset frames of the beats (fractional): the path of strong onsets one period apart (Ellis 2007),
    with the leading and trailing weak ones (an intro, a fade) left out."""
    score = _local_score(envelope, float(np.median(periods)))
    n = len(score)
    total = np.zeros(n)
    back = np.full(n, -1)
    for i in range(n):
        p = periods[i]
        lo, hi = int(round(i - 2 * p)), int(round(i - p / 2))
        if hi < 0:
            total[i] = score[i]
            continue
        prev = np.arange(max(lo, 0), hi + 1)
        gain = total[prev] - tightness * np.log((i - prev) / p) ** 2
        j = int(np.argmax(gain))
        if gain[j] > 0:  # else this beat starts the path: nothing before it leads here on the grid
            total[i], back[i] = score[i] + gain[j], prev[j]
        else:
            total[i] = score[i]
    # the last beat: the last peak of the total that is not weak
    peaks = np.flatnonzero((total[1:-1] > total[:-2]) & (total[1:-1] >= total[2:])) + 1
    if not len(peaks):
        return np.zeros(0)
    strong = peaks[total[peaks] >= 0.5 * np.median(total[peaks])]
    # the last that follows its beat on the grid (the path may reach for a stray click where the music stops)
    on_grid = [p for p in strong if back[p] >= 0 and abs(p - back[p] - periods[p]) <= OFF_GRID * periods[p]]
    path = [int(on_grid[-1] if on_grid else strong[-1])]
    while back[path[-1]] >= 0:
        path.append(int(back[path[-1]]))
    beats = np.array(path[::-1])
    # leave out the weak beats at either end (under half the RMS of the beats' onset strength): a song's
    # first and last beats are heard
    at = score[beats]
    threshold = 0.5 * np.sqrt((at**2).mean())
    keep = np.flatnonzero(at > threshold)
    if not len(keep):
        return np.zeros(0)
    beats = beats[keep[0] : keep[-1] + 1]
    # nor a first beat off the grid
    while len(beats) >= 3 and abs(beats[1] - beats[0] - periods[beats[0]]) > OFF_GRID * periods[beats[0]]:
        beats = beats[1:]
    return np.array([_refine(score, b) for b in beats])


def _refine(score: np.ndarray, i: int) -> float:
    if 0 < i < len(score) - 1:
        a, b, c = score[i - 1], score[i], score[i + 1]
        bend = a - 2 * b + c
        if bend < 0:
            return i + float(np.clip(0.5 * (a - c) / bend, -0.5, 0.5))
    return float(i)


# -- bars ------------------------------------------------------------------------------------------------------

def _zscore(x: np.ndarray) -> np.ndarray:
    s = x.std()
    return (x - x.mean()) / s if s > 0 else np.zeros_like(x)


def bar_phase(onset: Onsets, beats: np.ndarray, meter: int | None = None) -> tuple[int, int]:
    """(beats per bar, index of the first downbeat among ``beats`` (frames)): where the kick is strongest
    and the harmony changes, tried for each meter (``meter``, when the user knows it)."""
    if len(beats) < 4:
        return meter or METERS[0], 0
    idx = np.round(beats).astype(int)
    spans = np.concatenate([idx, [idx[-1] + int(np.median(np.diff(idx)))]])
    reach = max(1, int(np.median(np.diff(idx)) / 8))
    kick = np.array([onset.kick[max(0, i - reach) : i + reach + 1].max() for i in idx])
    # the harmony: each beat's mean levels in the pitched bands (100 Hz to 2 kHz), and how much they changed
    pitched = (CENTRES > 100) & (CENTRES < 2000)
    spectra = np.array([onset.levels[a:max(a + 1, b), pitched].mean(0)
                        for a, b in zip(spans[:-1], np.minimum(spans[1:], len(onset.levels)))])
    change = np.concatenate([[0.0], np.abs(np.diff(spectra, axis=0)).mean(1)])
    evidence = _zscore(kick) + _zscore(change)
    best: tuple[float, int, int] | None = None
    for m in ([meter] if meter else METERS):
        for phase in range(m):
            on = evidence[phase::m]
            off = np.delete(evidence, np.arange(phase, len(evidence), m))
            score = float(on.mean() - off.mean()) * (1.0 if m == METERS[0] else 0.8)  # a 3 must be clearly better
            if best is None or score > best[0]:
                best = (score, m, phase)
    assert best is not None
    return best[1], best[2]


# -- the whole song --------------------------------------------------------------------------------------------

def track(samples: np.ndarray, bpm: float | None = None, offset: float | None = None,
          meter: int | None = None) -> Grid:
    """The beats and bars of mono ``samples`` at ``RATE``. ``bpm`` fixes the tempo, ``offset`` (seconds)
    a downbeat, ``meter`` the beats per bar: with both ``bpm`` and ``offset`` the grid is exact, from the
    song's start to its end. A song with no beat gets a grid without beats (``has_beat`` false)."""
    duration = len(samples) / RATE
    if bpm is not None and offset is not None:
        return exact_grid(bpm, offset, meter or METERS[0], duration)
    onset = onsets(samples)
    period = FPS * 60 / bpm if bpm else beat_period(onset)
    if period is None:
        return Grid(0.0, np.zeros(0), np.zeros(0), meter or METERS[0], duration)
    periods = np.full(len(onset.all), period) if bpm else local_periods(onset, period)
    frames = place_beats(onset.all, periods, TIGHTNESS * (4 if bpm else 1))
    if len(frames) < 2:
        return Grid(0.0, np.zeros(0), np.zeros(0), meter or METERS[0], duration)
    beats = frames / FPS
    if offset is not None:  # the user's downbeat: the beat nearest it starts a bar
        m = meter or METERS[0]
        first = int(np.argmin(np.abs(beats - offset))) % m
    else:
        m, first = bar_phase(onset, frames, meter)
    tempo = 60 * (len(beats) - 1) / (beats[-1] - beats[0])
    return Grid(float(tempo), beats, beats[first::m], m, duration)


def exact_grid(bpm: float, offset: float, meter: int, duration: float) -> Grid:
    """Beats every 60/``bpm`` s through ``offset`` (a downbeat), from the start of the song to its end (0: no
    song; the grid runs on past its last beat)."""
    period = 60 / bpm
    first = offset - np.floor(offset / period) * period
    beats = np.arange(first, max(duration, first + 2 * meter * period), period)  # no song: two bars to count on
    down = int(round((offset - first) / period)) % meter
    return Grid(float(bpm), beats, beats[down::meter], meter, duration)


# -- as it is heard ---------------------------------------------------------------------------------------------

class CausalBeats:
    """Beats of a sound fed as it is heard: ``feed(samples)`` (mono float32 at ``RATE``) returns the beats
    that fell within them, each (seconds since the first sample, whether it starts a bar). The tempo is
    ``beat_period`` of the last ``history`` seconds, re-estimated every half second once ``WARM`` seconds
    are heard; each beat is predicted one period after the last, with its phase pulled towards the strongest
    recent onsets on the grid; the bars are ``bar_phase`` of the beats counted so far."""

    def __init__(self, history: float = 12.0):
        self.keep = int(history * FPS)
        self.samples = np.zeros(0, np.float32)
        self.levels: deque[np.ndarray] = deque(maxlen=self.keep)
        self.all: deque[float] = deque(maxlen=self.keep)
        self.low: deque[float] = deque(maxlen=self.keep)
        self.kick: deque[float] = deque(maxlen=self.keep)
        self.counted: deque[tuple[int, float]] = deque(maxlen=64)  # (beat number, onset frame) of recent beats
        self.meter, self.anchor = METERS[0], 0  # beats per bar; the number of a beat that started a bar
        self.frame = 0  # onset frames so far
        self.period: float | None = None
        self.next_beat: float | None = None  # onset frame of the predicted next beat
        self.tempo = 0.0

    def feed(self, samples: np.ndarray) -> list[tuple[float, bool]]:
        self.samples = np.concatenate([self.samples, samples.astype(np.float32)])
        beats: list[tuple[float, bool]] = []
        while len(self.samples) >= N_FFT:
            levels = mel_db(self.samples[None, :N_FFT])[0]
            self.samples = self.samples[HOP:]
            floor = max(levels.max(), max((lv.max() for lv in list(self.levels)[-1:]), default=-1e9)) - 80
            levels = np.maximum(levels, floor)
            rise = band_flux(levels, self.levels[-1]) if self.levels else np.zeros(BANDS, np.float32)
            self.levels.append(levels)
            self.all.append(float(rise.mean()))
            self.low.append(float(rise[CENTRES < LOW_HZ].mean()))
            self.kick.append(float(rise[CENTRES < KICK_HZ].mean()))
            self.frame += 1
            if self.frame % int(FPS / 2) == 0 and self.frame >= int(WARM * FPS):
                self._retune()
            if self.next_beat is not None and self.frame >= self.next_beat:
                number = self.counted[-1][0] + 1 if self.counted else 0
                self.counted.append((number, self.next_beat))
                # onset frame b's window starts at sample b * HOP: its centre, the beat, is N_FFT/2 later
                beats.append(((self.next_beat * HOP + N_FFT / 2) / RATE, (number - self.anchor) % self.meter == 0))
                assert self.period is not None
                self.next_beat += self.period
        return beats

    def _retune(self) -> None:
        env_all, env_low = np.array(self.all), np.array(self.low)
        onset = Onsets(env_all, env_low, np.array(self.kick), np.zeros((0, BANDS)))
        period = beat_period(onset)
        if period is None:
            self.period, self.next_beat, self.tempo = None, None, 0.0
            return
        # the phase: the shift that puts the last few periods' grid on the most onset strength
        score = _local_score(env_all, period)
        shifts = np.arange(int(round(period)))
        span = min(len(score), int(period * 4))
        recent = score[-span:]
        fit = [recent[len(recent) - 1 - s :: -1][:: max(1, int(round(period)))].sum() for s in shifts]
        upcoming = float(self.frame - 1 - int(shifts[int(np.argmax(fit))]))  # the last beat on the grid
        while upcoming < self.frame - 1:  # one in the frame just heard is still on time
            upcoming += period
        if self.counted and upcoming - self.counted[-1][1] < period / 2:  # counted already
            upcoming += period
        if self.next_beat is not None and abs(upcoming - self.next_beat) < period / 2:
            upcoming = 0.5 * (upcoming + self.next_beat)  # keep to the beat already counted, nudged
        self.period, self.next_beat, self.tempo = period, upcoming, 60 * FPS / period
        first = self.frame - len(self.all)  # the history's first onset frame
        heard = [(n, f - first) for n, f in self.counted if f - first >= 0]
        if len(heard) >= 2 * METERS[0]:
            history = Onsets(env_all, env_low, onset.kick, np.array(self.levels))
            self.meter, phase = bar_phase(history, np.array([f for _, f in heard]))
            self.anchor = heard[phase][0]
