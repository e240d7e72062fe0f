"""`dreamvideo zoom`: the endless dive. Each frame is moved (zoom, rotation, shift about a centre) and fed
back to be dreamed a little more; colour statistics are held near the first frame's."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from dreamvideo.config import Style
from dreamvideo.config.schema import ZoomConfig
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.look import Look
from dreamvideo.media.ffmpeg import VideoWriter, probe_audio
from dreamvideo.media.images import read_image, resize_image, to_uint8
from dreamvideo.react import Reaction, on_the_song, style_cues
from dreamvideo.sections import Dreamers, Looks, mix, moment, song_parts
from dreamvideo.video.life import Keeper
from dreamvideo.video.output import (
    FrameOutput,
    PaletteWriter,
    Soundtrack,
    VideoResult,
    check_video_output,
    style_metadata,
    video_writer,
)
from dreamvideo.video.state import resume_key

BORDERS = {"reflect": cv2.BORDER_REFLECT101, "replicate": cv2.BORDER_REPLICATE, "wrap": cv2.BORDER_WRAP}
ORIGINS = ("image", "noise", "color")


def parse_color(text: str) -> tuple[int, int, int]:
    """'#204060' (or '204060') -> (32, 64, 96)."""
    hexa = text.lstrip("#")
    if len(hexa) != 6 or any(c not in "0123456789abcdefABCDEF" for c in hexa):
        raise ConfigError(f"--color {text!r}: write a colour as #RRGGBB, e.g. #204060")
    return int(hexa[0:2], 16), int(hexa[2:4], 16), int(hexa[4:6], 16)


@dataclass(frozen=True)
class ZoomOptions:
    frames: int | None = None
    seconds: float | None = None
    audio: Path | None = None
    origin: str = "image"  # what the zoom starts from: image | noise | color
    color: tuple[int, int, int] = (32, 64, 96)
    loop: bool = False
    restart: bool = False
    preview: int = 0
    chunk_frames: int = 16
    max_pixels: int | None = None  # a larger starting image is refused (None: images.MAX_PIXELS)

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ConfigError(f"--from {self.origin!r}: use {', '.join(ORIGINS)}")
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"--seconds {self.seconds:g}: the length must be positive")
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"--frames {self.frames}: the length must be at least one frame")


def motion_matrix(size: tuple[int, int], scale: float, degrees: float, shift: tuple[float, float],
                  center: tuple[float, float]) -> np.ndarray:
    """2x3 matrix taking a frame to the next: scale and rotate about ``center`` (fractions), then move the
    view by ``shift`` pixels (the picture moves the other way)."""
    w, h = size
    cx, cy = center[0] * (w - 1), center[1] * (h - 1)
    m: np.ndarray = cv2.getRotationMatrix2D((cx, cy), degrees, scale)
    m[:, 2] -= shift
    return m


def step_motion(style: Style, t: float, fps: float, size: tuple[int, int],
                react: Reaction = Reaction()) -> np.ndarray:
    """The motion from the frame at ``t`` seconds to the next, from the per-second schedules (and the
    audio reactions)."""
    z, mode = style.zoom, style.zoom.interpolation
    scale = react("zoom.scale", z.scale.at(t, mode)) ** (1 / fps)
    degrees = react("zoom.rotate", z.rotate.at(t, mode)) / fps
    shift = (z.translate[0].at(t, mode) * size[0] / fps, z.translate[1].at(t, mode) * size[1] / fps)
    return motion_matrix(size, scale, degrees, shift, z.center)


def move(frame: np.ndarray, matrix: np.ndarray, border: str) -> np.ndarray:
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=BORDERS[border])


def lab_stats(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return lab.mean(0), lab.std(0) + 1e-6


def hold_color(frame: np.ndarray, reference: tuple[np.ndarray, np.ndarray], strength: float) -> np.ndarray:
    """Move the frame's LAB mean and spread a share ``strength`` of the way towards ``reference``."""
    if strength <= 0:
        return frame
    lab = cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
    mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-6
    ref_mean, ref_std = reference
    target_mean = mean + strength * (ref_mean - mean)
    target_std = std + strength * (ref_std - std)
    lab = (lab - mean) / std * target_std + target_mean
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return to_uint8(rgb)


def first_frame(style: Style, image: Path | None, options: ZoomOptions) -> np.ndarray:
    """The starting picture: an image at the style's output size, or noise / a colour at zoom.size."""
    rng = np.random.default_rng(style.seed)
    if options.origin == "image":
        if image is None:
            raise MediaError("zoom needs an image to start from, or --from noise / --from color")
        picture = read_image(image, options.max_pixels)
        return resize_image(picture, style.output.size(picture.shape[1], picture.shape[0], multiple=2))
    w, h = style.zoom.size
    if options.origin == "noise":
        return (128 + rng.normal(0, 24, (h, w, 3))).clip(0, 255).astype(np.uint8)
    base = np.array(options.color, np.float32)
    return (base + rng.normal(0, 6, (h, w, 3))).clip(0, 255).astype(np.uint8)  # a little grain to dream on


def frame_count(options: ZoomOptions, fps: Fraction) -> int:
    if options.frames is not None:
        n = options.frames
    elif options.seconds is not None:
        n = round(options.seconds * fps)
    elif options.audio is not None:
        n = round(probe_audio(options.audio).duration * fps)
    else:
        raise MediaError("give the length with --frames, --seconds or --audio")
    if n < 1:
        raise MediaError(f"the length comes to {n} frames; give a positive --frames, --seconds or a longer --audio")
    return n


def zoom_dream(look: Look, frame: np.ndarray, index: int, t: float, first: bool,
               zoom: ZoomConfig | None = None) -> np.ndarray:
    """Zoom frame ``index`` (at ``t`` seconds) dreamed with the schedules of ``zoom`` (default: the look's
    style's) there: a first frame gets the style's full work, the others ``zoom.octaves`` x ``zoom.iterations``."""
    z = zoom or look.style.zoom
    mode = z.interpolation
    params = look.dreamer.params
    if not first:
        params = replace(params, octaves=z.octaves, iterations=round(z.iterations.at(t, mode)))
    if z.step_size is not None:
        params = replace(params, step_size=z.step_size.at(t, mode))
    weights = {name: s.at(t, mode) for name, s in (z.layer_weights or {}).items()}
    return look.land(index, frame, look.dream(frame, index, params, weights))


def zoom_video(
    image: str | Path | None,
    output: str | Path,
    style: Style,
    options: ZoomOptions = ZoomOptions(),
    *,
    dreamer: Dreamer | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> VideoResult:
    """Render an infinite-zoom MP4. Running it again after an interruption resumes."""
    began = time.perf_counter()
    output = Path(output)
    image = Path(image) if image is not None else None
    check_video_output(output, inputs=tuple(p for p in (image, options.audio) if p is not None))
    fps = Fraction(style.zoom.fps).limit_denominator(1001)
    total = frame_count(options, fps)
    audio = probe_audio(options.audio) if options.audio is not None else None
    style = on_the_song(style, options.audio, "no --audio was given")  # schedules keyed in bars: in seconds
    start = first_frame(style, image, options)
    size = (start.shape[1], start.shape[0])
    fade = min(round(style.zoom.loop_seconds * fps), total // 2) if options.loop else 0
    key = resume_key(
        style=style.model_dump(mode="json"), image=[str(image.resolve()), image.stat().st_mtime_ns] if image else None,
        frames=total, start=options.origin, color=options.color, loop=options.loop,  # "start": earlier zooms resume
        audio=str(options.audio.resolve()) if options.audio else None)

    dreamers = Dreamers(dreamer or Dreamer(style))
    missing = "no --audio was given"

    def look_of(other: Style) -> Look:
        return Look.of(dreamers(other), size, "zoom", size,
                       style_cues(other, options.audio, fps, total + fade, missing=missing), fps=fps,
                       frames=total + fade, max_pixels=options.max_pixels,
                       style=on_the_song(other, options.audio, missing))

    look = look_of(style)  # the motion follows the style's schedules throughout; a section changes the dream
    looks = Looks(song_parts(style, options.audio, missing), look, look_of)

    def dream(frame: np.ndarray, index: int, first: bool) -> np.ndarray:
        t = index / float(fps)
        now = moment(looks.plan, t)
        dreamed = zoom_dream(looks[now.current], frame, index, t, first, zoom=style.zoom)
        if now.incoming is None:
            return dreamed
        return mix(dreamed, zoom_dream(looks[now.incoming], frame, index, t, first, zoom=style.zoom), now.share)

    sound = Soundtrack(options.audio, audio.codec) if options.audio is not None and audio is not None else None
    head: list[np.ndarray] = []  # the first frames, crossfaded into the end with --loop

    def encode(index: int, frame: np.ndarray) -> list[np.ndarray]:
        # with --loop the video starts at frame `fade`, and its last `fade` frames dissolve into 0..fade-1
        if index < fade:
            head.append(frame)
            return []
        if index < total:
            return [frame]
        j = index - total
        w = (j + 1) / (fade + 1)
        return [np.clip(frame * (1 - w) + head[j] * w + 0.5, 0, 255).astype(np.uint8)]

    def encoder(part: Path) -> VideoWriter | PaletteWriter:
        return video_writer(output, part, size, fps, style.output, sound, total / float(fps), style_metadata(style))

    with closing(looks), FrameOutput(output, key, encoder, options.chunk_frames, options.restart,
                                         options.preview, log, encode) as out:
        done, index, frame = out.done, 0, None
        keeper = Keeper(style.zoom.life.hold, style.zoom.life.strength, float(fps), style.zoom.cadence)
        for frame in out.kept(size):
            if index == 0:
                reference = lab_stats(frame)
            keeper.see(frame)
            index += 1
        if progress is not None:  # inputs checked, model built: the bar starts here, resumed frames counted
            progress(index, total + fade)
        if index == 0:
            frame = dream(start, 0, first=True)
            reference = lab_stats(frame)
            keeper.see(frame)
            out.put(0, frame)
            index = 1
            if progress is not None:
                progress(1, total + fade)
        assert frame is not None  # the last kept frame, or the first one dreamed
        while index < total + fade:
            t = (index - 1) / float(fps)
            motion = step_motion(style, t, float(fps), size, look.reaction(index - 1))
            moved = move(frame, motion, style.zoom.border)
            if index % style.zoom.cadence == 0:
                frame = dream(keeper.lift(moved), index, first=False)
            else:
                frame = moved
            frame = hold_color(frame, reference, style.zoom.color_hold)
            keeper.see(frame)
            out.put(index, frame)
            index += 1
            if progress is not None:
                progress(index, total + fade)
    return VideoResult(output, total, done, fps, size, time.perf_counter() - began)
