"""Optical flow on source frames, warping, and the masks that say where the flow can be trusted.

Convention: ``backward = estimate(frame_t, frame_prev)`` gives, for every pixel x of frame t, the offset
to where it was in the previous frame: frame_t(x) ~ frame_prev(x + backward(x)). ``warp(prev, backward)``
therefore moves anything aligned with the previous frame onto frame t.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def to_gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def estimator(method: str, size: tuple[int, int], quick: bool = False) -> FlowFn:
    """A flow function ``(gray_a, gray_b) -> (H, W, 2) float32`` with a(x) ~ b(x + flow(x)).

    DIS with its medium preset up to 720p and the fast preset above (or ``quick``); Farneback as an
    alternative.
    """
    if method == "dis":
        fine = max(size) <= 1280 and not quick
        preset = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM if fine else cv2.DISOPTICAL_FLOW_PRESET_FAST
        dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]  # missing from OpenCV's stubs
        return lambda a, b: dis.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 3, 7, 1.5, 0)
    raise ValueError(f"unknown flow method {method!r}")


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates, made once per size (10 ms at 1080p) and read-only, as they are shared."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Move ``image`` (aligned with the previous frame) onto the current frame: out(x) = image(x + flow(x))."""
    _, _, px, py = _positions(backward)
    return cv2.remap(image, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels of frame t whose backward flow can be trusted (bool): inside the previous frame, consistent
    with the forward flow and away from motion boundaries (Ruder, Dosovitskiy, Brox 2016, eqs. 4-5)."""
    bx, by, px, py = _positions(backward)
    fx, fy = cv2.split(cv2.remap(forward, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    back2 = _norm2(bx, by)
    consistent = _norm2(bx + fx, by + fy) <= 0.01 * (back2 + _norm2(fx, fy)) + 0.5
    # central differences (the ksize=1 Sobel kernel is [-1, 0, 1], twice the derivative)
    grad2 = sum((cv2.Sobel(c, cv2.CV_32F, dx, dy, ksize=1) / 2) ** 2 for c in (bx, by) for dx, dy in ((1, 0), (0, 1)))
    boundary = grad2 > 0.01 * back2 + 0.002
    return _inside(px, py) & consistent & ~boundary


MATCH = 0.03  # the most a moved previous frame may differ from the current one (0..1, 3x3 mean) to count as a match


def matching(previous: np.ndarray, current: np.ndarray, backward: np.ndarray, tolerance: float = MATCH) -> np.ndarray:
    """Pixels of ``current`` that ``previous`` (both uint8 RGB) moved by ``backward`` reproduces (bool):
    inside the previous frame, and every channel within ``tolerance`` on average over 3x3 pixels.

    Where the forward and backward flows disagree but the moved frame still matches, the flow is ambiguous
    (little texture, DIS's patch noise), not wrong: what it moves there lands where the picture went.
    An occlusion shows another surface, which does not match.
    """
    _, _, px, py = _positions(backward)
    moved = cv2.remap(previous, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    r, g, b = cv2.split(cv2.absdiff(moved, current))  # numpy's max over a last axis of 3 is 60x slower
    diff = cv2.max(cv2.max(r, g), b).astype(np.float32) / 255
    return _inside(px, py) & (cv2.blur(diff, (3, 3)) < tolerance)


def trusted(valid: np.ndarray, previous: np.ndarray, current: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The soft (H, W) mask of frame t where what the flow carries from the previous frame belongs: pixels
    ``valid`` (what ``reliable`` found) or ``matching``, feathered."""
    return feather(valid | matching(previous, current, backward))


def _positions(backward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The flow's planes and, per pixel of frame t, where it was in the previous frame: bx, by, x + bx, y + by.
    Contiguous planes (``cv2.split``): numpy and OpenCV are many times faster on them."""
    xs, ys = _grid(*backward.shape[:2])
    bx, by = cv2.split(backward)
    return bx, by, xs + bx, ys + by


def _inside(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    h, w = px.shape
    return (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)


def _norm2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x^2 + y^2 (what ``(v**2).sum(-1)`` gives for v = (x, y), bit for bit, ten times faster)."""
    return x * x + y * y


def feather(valid: np.ndarray, radius: int = 1) -> np.ndarray:
    """A soft (H, W) float32 mask in [0, 1]: invalid regions grown by ``radius`` and their edges blurred."""
    mask: np.ndarray = valid.astype(np.float32)
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.erode(mask, kernel)
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=radius)
    return np.clip(mask, 0.0, 1.0)


def histogram_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two frames' colour histograms (1 = same distribution)."""
    hists = []
    for frame in (a, b):
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1], None, [32, 16], [0, 180, 0, 256])
        hists.append(cv2.normalize(h, h).flatten())
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_CORREL))
