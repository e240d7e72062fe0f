"""How alive a zoom is, frame by frame and over windows of seconds: a dive that feeds its own dream back
into the network can collapse into one texture that zooms forever and never becomes anything again.

- **Structure**: the spread of a frame's grey levels after a Gaussian blur of ``BLUR`` of its width, what
  is left of its large forms (a collapsed dive is all fine texture: it blurs to flat grey).
- **Novelty**: how much a small thumbnail of the frame differs from the frame ``NOVELTY_SECONDS`` earlier
  moved on by the zoom in between (the zoom undone): new forms, not the old ones magnified.
- **Colour drift**: the LAB distance of the frame's mean colour from the first frame's.

``assess`` takes them over windows (medians of ``WINDOW`` seconds) against the opening ``OPENING`` seconds:
a window keeps ``STRUCTURE_KEPT`` of the opening's structure and ``NOVELTY_KEPT`` of its novelty, or the
dive is flagged there.

``Keeper`` keeps a dive alive (``zoom.life``): it watches the structure of the frames the dive makes, and
once the opening is over, whenever it falls below ``hold`` of the opening's, it raises the contrast of the
moved frame's large forms before the network dreams on it, in proportion to the shortfall, so that there
are large forms for the network to read as things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

BLUR = 0.025  # of the frame's width: the Gaussian's sigma that leaves only large forms
THUMB = 32  # pixels of a novelty thumbnail's longer side
NOVELTY_SECONDS = 2.0
WINDOW, OPENING = 10.0, 20.0  # seconds
STRUCTURE_KEPT, NOVELTY_KEPT = 0.85, 0.8


def gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def structure(frame: np.ndarray) -> float:
    """The standard deviation of the frame's grey levels (0..255) blurred by ``BLUR`` of its width."""
    g = gray(frame)
    return float(cv2.GaussianBlur(g, (0, 0), BLUR * g.shape[1]).std())


def thumbnail(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (THUMB, max(1, round(THUMB * h / w))) if w >= h else (max(1, round(THUMB * w / h)), THUMB)
    return cv2.resize(gray(frame), size, interpolation=cv2.INTER_AREA)


def novelty(earlier: np.ndarray, later: np.ndarray, motion: np.ndarray) -> float:
    """The mean absolute grey difference (0..255) between thumbnails of ``later`` and of ``earlier`` moved by
    ``motion`` (2x3, the zoom from one to the other): what the frames between made that was not there."""
    h, w = earlier.shape[:2]
    moved = cv2.warpAffine(earlier, motion, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return float(np.abs(thumbnail(later) - thumbnail(moved)).mean())


def lab_mean(frame: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3).mean(0)


@dataclass(frozen=True)
class Window:
    start: float  # seconds
    structure: float  # median over the window
    novelty: float  # median over the window (nan before the first novelty can be measured)
    drift: float  # LAB distance of the window's median mean colour from the first frame's
    alive: bool  # keeps STRUCTURE_KEPT of the opening's structure and NOVELTY_KEPT of its novelty


@dataclass(frozen=True)
class Life:
    fps: float
    structure: np.ndarray  # per frame
    novelty: np.ndarray  # per frame (nan for the first NOVELTY_SECONDS)
    drift: np.ndarray  # per frame
    windows: list[Window]
    opening: tuple[float, float]  # the opening's median structure and novelty

    @property
    def alive(self) -> bool:
        return all(w.alive for w in self.windows)

    @property
    def collapse(self) -> float | None:
        """The start of the first window that is not alive (seconds), if any."""
        return next((w.start for w in self.windows if not w.alive), None)


def assess(frames: Iterable[np.ndarray], fps: float, motion: Callable[[int, int], np.ndarray]) -> Life:
    """The life of a zoom's ``frames`` at ``fps``; ``motion(i, j)`` is the 2x3 zoom from frame i to frame j.
    Frames are read once; only thumbnails are kept."""
    lag = max(1, round(NOVELTY_SECONDS * fps))
    kept: list[np.ndarray] = []  # the last `lag` frames, small (four thumbnails wide is enough to move them)
    scores: list[float] = []
    news: list[float] = []
    drifts: list[float] = []
    first = None
    for i, frame in enumerate(frames):
        scores.append(structure(frame))
        colour = lab_mean(frame)
        first = colour if first is None else first
        drifts.append(float(np.linalg.norm(colour - first)))
        h, w = frame.shape[:2]
        width = min(w, THUMB * 4)
        small = cv2.resize(frame, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        if i >= lag:
            m = motion(i - lag, i).copy()
            m[:, 2] *= width / w  # the motion in the small frames' pixels
            news.append(novelty(kept[0], small, m))
        else:
            news.append(float("nan"))
        kept.append(small)
        if len(kept) > lag:
            kept.pop(0)
    return summarise(np.array(scores), np.array(news), np.array(drifts), fps)


def summarise(scores: np.ndarray, news: np.ndarray, drifts: np.ndarray, fps: float) -> Life:
    per = max(1, round(WINDOW * fps))
    opening = opening_frames(fps)
    open_structure = float(np.median(scores[:opening]))
    measured = news[:opening][~np.isnan(news[:opening])]
    open_novelty = float(np.median(measured)) if len(measured) else float("nan")
    windows = []
    for start in range(0, len(scores), per):
        part = slice(start, start + per)
        s = float(np.median(scores[part]))
        values = news[part][~np.isnan(news[part])]
        n = float(np.median(values)) if len(values) else float("nan")
        keeps = s >= STRUCTURE_KEPT * open_structure and (np.isnan(n) or np.isnan(open_novelty) or
                                                            n >= NOVELTY_KEPT * open_novelty)
        windows.append(Window(start / fps, s, n, float(np.median(drifts[part])), bool(keeps)))
    return Life(fps, scores, news, drifts, windows, (open_structure, open_novelty))


def opening_frames(fps: float) -> int:
    """The frames of the opening ``OPENING`` seconds at ``fps`` (at least one)."""
    return max(1, round(OPENING * fps))


def zoom_motion(steps: Sequence[np.ndarray]) -> Callable[[int, int], np.ndarray]:
    """``motion(i, j)`` of a zoom whose frame k + 1 is frame k moved by ``steps[k]`` (2x3 each)."""
    def motion(i: int, j: int) -> np.ndarray:
        m = np.eye(3)
        for k in range(i, j):
            m = np.vstack([steps[k], [0, 0, 1]]) @ m
        return m[:2]

    return motion


FULL_AT = 0.1  # the shortfall (a share of the target) at which the keeper pushes at full strength


@dataclass
class Keeper:
    """``lift`` a moved frame's large forms while the frames ``seen`` so far have lost them. Its state is the
    structure of the frames seen, so a resumed dive that sees its kept frames again goes on identically."""

    hold: float  # the share of the opening's structure kept (0: never lifts; above 1, more than it had)
    strength: float  # the most gain a second
    fps: float
    cadence: int = 1  # a lift every ``cadence`` frames (the frames the dive dreams)
    opening: list[float] = field(default_factory=list)  # the structure of the opening's frames
    last: float = float("nan")  # the structure of the last frame seen

    def see(self, frame: np.ndarray) -> None:
        self.last = structure(frame)
        if len(self.opening) < opening_frames(self.fps):
            self.opening.append(self.last)

    def gain(self) -> float:
        """The large-form gain for the next frame: 0 while the structure is held."""
        if self.hold <= 0 or self.strength <= 0 or len(self.opening) < opening_frames(self.fps):
            return 0.0  # the opening is the dive as it is (the photo dissolving into the dream): only learnt
        target = self.hold * float(np.median(self.opening))
        shortfall = 1.0 - self.last / target if target > 0 else 0.0
        if shortfall <= 0:
            return 0.0
        per_frame = (1.0 + self.strength) ** (self.cadence / self.fps) - 1.0  # `strength` a second, all told
        return per_frame * min(1.0, shortfall / FULL_AT)

    def lift(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (uint8 RGB) with its large forms' contrast raised by ``gain`` (unchanged at 0)."""
        gain = self.gain()
        if gain <= 0:
            return frame
        f = frame.astype(np.float32)
        low = cv2.GaussianBlur(f, (0, 0), BLUR * frame.shape[1])
        low -= low.reshape(-1, 3).mean(0)
        return np.clip(f + gain * low + 0.5, 0, 255).astype(np.uint8)
