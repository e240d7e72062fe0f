"""`dreamvideo render`: dream a video frame by frame, each frame starting from the previous dreamed frame
moved along the optical flow, then encode H.264 with the original sound. Interrupted renders resume.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import MediaError
from dreamvideo.flow import estimator, feather, histogram_similarity, reliable, to_gray, warp
from dreamvideo.images import check_output, fit_size
from dreamvideo.react import Reaction, features_for
from dreamvideo.video.io import VideoInfo, VideoWriter, lossless_args, parse_rate, probe, probe_audio, read_frames
from dreamvideo.video.output import VIDEO_OUT, FrameOutput, Soundtrack, VideoResult, mp4_writer, style_metadata
from dreamvideo.video.pipeline import ordered_map, prefetch
from dreamvideo.video.state import resume_key

if TYPE_CHECKING:
    from dreamvideo.audio import AudioFeatures

SEGMENT_OUT = {".mkv": "Matroska"}  # lossless segments of a split render


@dataclass(frozen=True)
class RenderOptions:
    start: float = 0.0
    duration: float | None = None
    max_frames: int | None = None
    restart: bool = False
    preview: int = 0  # write every N-th frame as a small PNG beside the output; 0: none
    audio: Path | None = None  # replaces the soundtrack (and drives react:)
    frames: tuple[int, int] | None = None  # only frames [a, b) of the range (a segment of a split render)
    chunk_frames: int = 16  # frames per lossless state chunk (what a crash can cost)


@dataclass(frozen=True)
class Motion:
    """What the flow says about a frame: the backward flow, the soft mask where it holds, a scene cut."""

    backward: np.ndarray | None
    mask: np.ndarray | None
    cut: bool


@dataclass(frozen=True)
class Carry:
    """How much of a frame's dream carries into the next: ``blend`` of it where the flow holds, with
    ``warp`` "detail" (dreamed minus source, times ``decay``) or "frame" (the whole dreamed frame)."""

    blend: float
    warp: str
    decay: float

    @classmethod
    def of(cls, style: Style) -> "Carry":
        return cls(style.blend, style.warp, style.decay)


def analyse(frames: Iterator[np.ndarray], size: tuple[int, int] | None, *, flow: str, scene_cut: float,
            workers: int | None = None) -> Iterator[tuple[np.ndarray, Motion]]:
    """Pair each source frame with its motion from the previous one (the first starts a chain).

    ``flow`` is the estimator (dis, farneback, none); a scene cut is a frame of which less than
    ``scene_cut`` can be followed from the previous one. The motion of a pair needs only the two source
    frames, so pairs are analysed on ``workers`` threads (OpenCV lets go of the GIL; ``ordered_map``),
    each with its own flow estimator; frames come out in order.
    """
    local = threading.local()

    def motion(pair: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]) -> tuple[np.ndarray, Motion]:
        frame, gray, prev, prev_gray = pair
        if prev is None:
            return frame, Motion(None, None, True)
        if flow == "none":
            cut = scene_cut > 0 and histogram_similarity(frame, prev) < 0.5
            return frame, Motion(None, np.ones(gray.shape, np.float32), cut)
        if getattr(local, "flow", None) is None:  # DIS keeps buffers between calls: one estimator per thread
            local.flow = estimator(flow, size or (frame.shape[1], frame.shape[0]))
        backward, forward = local.flow(gray, prev_gray), local.flow(prev_gray, gray)
        valid = reliable(backward, forward)
        return frame, Motion(backward, feather(valid), bool(valid.mean() < scene_cut))

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]]:
        prev = prev_gray = None
        for frame in frames:
            gray = to_gray(frame)
            yield frame, gray, prev, prev_gray
            prev, prev_gray = frame, gray

    return ordered_map(motion, pairs(), workers or flow_workers(), name="dreamvideo-flow")


def flow_workers() -> int:
    """Threads for the motion analysis of a render: half the cores, from 1 to 8.

    Pairs on separate threads scale better than OpenCV's threads inside one flow, which leave the
    consistency check on one core (docs/benchmarks.md); a small machine keeps its cores for dreaming.
    """
    return max(1, min(8, (os.cpu_count() or 1) // 2))


def start_image(source: np.ndarray, prev_source: np.ndarray | None, prev_dream: np.ndarray | None,
                motion: Motion, carry: Carry) -> tuple[np.ndarray, bool]:
    """The image to dream for this frame, in [0, 1] float32, and whether it starts from a carried dream."""
    s = source.astype(np.float32) / 255
    if prev_dream is None or prev_source is None or motion.cut or carry.blend == 0:
        return s, False
    mask = motion.mask[..., None] * carry.blend
    if carry.warp == "detail":
        detail = (prev_dream.astype(np.float32) - prev_source.astype(np.float32)) / 255
        carried = warp(detail, motion.backward) if motion.backward is not None else detail
        start = s + mask * carry.decay * carried
    else:
        dream = prev_dream.astype(np.float32) / 255
        carried = warp(dream, motion.backward) if motion.backward is not None else dream
        start = s * (1 - mask) + carried * mask
    return np.clip(start, 0.0, 1.0), True


class Chain:
    """The coherence chain: dreams frame after frame, each from the previous dream carried by the flow.

    Its state is the previous source and dreamed frames as uint8, so a resumed chain equals an
    uninterrupted one.
    """

    def __init__(self, dreamer: Dreamer, features: "AudioFeatures | None" = None, carry: Carry | None = None):
        style = dreamer.style
        self.dreamer, self.features, self.carry = dreamer, features, carry or Carry.of(style)
        self.full = dreamer.params
        self.warm = replace(self.full, iterations=style.warm_iterations or self.full.iterations,
                            octaves=style.warm_octaves or self.full.octaves)
        self.prev_source: np.ndarray | None = None
        self.prev_dream: np.ndarray | None = None

    def step(self, index: int, frame: np.ndarray, motion: Motion) -> np.ndarray:
        reaction = Reaction(self.dreamer.style.react, self.features, index)
        carry = replace(self.carry, blend=min(1.0, max(0.0, reaction("blend", self.carry.blend))))
        start, carried = start_image(frame, self.prev_source, self.prev_dream, motion, carry)
        dreamed = self.dreamer.dream_frame(start, index, self.warm if carried else self.full, reaction)
        self.prev_source, self.prev_dream = frame, dreamed
        return dreamed


def dream_frames(frames: Iterator[np.ndarray], dreamer: Dreamer, carry: Carry | None = None) -> Iterator[np.ndarray]:
    """Dream an in-memory sequence of frames with the render's coherence (no files, no resume); ``carry``
    replaces the style's (``blend: 0`` dreams every frame on its own)."""
    style = dreamer.style
    chain = Chain(dreamer, carry=carry)
    for index, (frame, motion) in enumerate(analyse(frames, None, flow=style.flow, scene_cut=style.scene_cut)):
        yield chain.step(index, frame, motion)


def geometry(info: VideoInfo, style: Style) -> tuple[Fraction, tuple[int, int]]:
    """A render's frame rate (the style's, else exactly the source's) and its even output size."""
    fps = parse_rate(str(style.output.fps)) if style.output.fps else info.fps
    return fps, fit_size(info.width, info.height, style.output.max_side, style.output.width, multiple=2)


def render_video(
    source: str | Path,
    output: str | Path,
    style: Style,
    options: RenderOptions = RenderOptions(),
    *,
    dreamer: Dreamer | None = None,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> VideoResult:
    """Render ``source`` dreamed into ``output`` (MP4). Running it again after an interruption resumes."""
    began = time.perf_counter()
    source, output = Path(source), Path(output)
    segment = options.frames is not None
    check_output(output, SEGMENT_OUT if segment else VIDEO_OUT, inputs=(source,))
    info = probe(source)
    if info.duration and options.start >= info.duration:
        raise MediaError(f"--start {options.start:g} s is past the end of {str(source)!r} ({info.duration:.2f} s)")
    fps, size = geometry(info, style)
    span = float(options.duration or max(info.duration - options.start, 1 / fps))
    if options.max_frames:
        span = min(span, options.max_frames / float(fps))
    expected = max(1, round(span * fps))
    if options.max_frames:
        expected = min(expected, options.max_frames)
    first, last = options.frames or (0, None)
    if segment:
        expected = last - first

    key = resume_key(
        style=style.model_dump(mode="json"), source=[str(source.resolve()), source.stat().st_size,
                                                     source.stat().st_mtime_ns],
        start=options.start, duration=options.duration, max_frames=options.max_frames, fps=str(fps), size=size,
        audio=str(options.audio) if options.audio else None, frames=options.frames)
    dreamer = dreamer or Dreamer(style)
    sound = soundtrack(source, info, options)
    features = None
    if style.react:
        if sound is None:
            raise MediaError(f"the style reacts to audio (react:), but {str(source)!r} has no sound; "
                             "pass one with --audio FILE")
        features = features_for(sound.path, float(fps), first + expected, sound.start, style.react_attack,
                                style.react_release)
    chain = Chain(dreamer, features)

    def encoder(part: Path) -> VideoWriter:
        if segment:  # a lossless piece of a split render: no sound, no metadata, assembled later
            return VideoWriter(part, size, fps, lossless_args())
        return mp4_writer(part, size, fps, style.output.crf, style.output.preset, sound, span, style_metadata(style))

    with FrameOutput(output, key, encoder, options.chunk_frames, options.restart, options.preview, log) as out:
        done = out.done
        index = 0
        for frame in out.kept(size):
            chain.prev_dream, index = frame, index + 1
        if progress is not None:  # inputs checked, model built: the bar starts here, resumed frames counted
            progress(index, max(expected, index))
        # frames are decoded from the start of the range and dropped up to the resume point (frame-exact)
        stop = last if segment else options.max_frames
        reader = read_frames(source, size, fps, options.start, options.duration, stop, skip=first + max(0, done - 1))
        motions = analyse(reader, size, flow=style.flow, scene_cut=style.scene_cut)
        # closed explicitly, so that an exception here stops the decoder now, not when garbage is collected
        with closing(reader), closing(prefetch(motions)) as stream:
            for position, (frame, motion) in enumerate(stream):
                if done and position == 0:  # the source frame before the resume point: only its motion matters
                    chain.prev_source = frame
                    continue
                out.put(index, chain.step(first + index, frame, motion))
                index += 1
                if progress is not None:
                    progress(index, max(expected, index))
        if index == 0:
            raise MediaError(f"no frames could be decoded from {str(source)!r} in the chosen range")
    return VideoResult(output, index, done, fps, size, time.perf_counter() - began)


def soundtrack(source: Path, info: VideoInfo, options: RenderOptions) -> Soundtrack | None:
    """The sound of a render: ``--audio`` from its start, else the source's own from the render's start."""
    if options.audio is not None:
        return Soundtrack(options.audio, probe_audio(options.audio).codec)
    return Soundtrack(source, info.audio_codec, options.start) if info.audio_codec else None
