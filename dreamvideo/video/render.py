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

from dreamvideo.composite import Composite
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.engine import DreamParams
from dreamvideo.errors import MediaError
from dreamvideo.flow import estimator, histogram_similarity, reliable, to_gray, trusted, warp
from dreamvideo.images import check_output, fit_size
from dreamvideo.react import Reaction, features_for
from dreamvideo.video.io import VideoInfo, VideoWriter, lossless_args, parse_rate, probe, probe_audio, read_frames
from dreamvideo.video.output import FrameOutput, Soundtrack, VideoResult, check_video_output, style_metadata, video_writer
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
    ``warp`` "detail" (dreamed minus source, times ``decay``) or "frame" (the whole dreamed frame); with
    ``hold``, the carried detail is held at the strength of the shot's fresh first frame (``Strength``)."""

    blend: float
    warp: str
    decay: float
    hold: bool = False

    @classmethod
    def of(cls, style: Style) -> "Carry":
        return cls(style.blend, style.warp, style.decay, style.hold_strength and style.warp == "detail")


WARM_SHARE = 0.3  # a carried frame's iterations, as a share of the style's (3 of the default 10)
WARM_OCTAVES = 2  # and its octaves at most: fewer octaves add less new, unaligned detail


def warm_params(style: Style, full: DreamParams) -> DreamParams:
    """The work on a frame that starts from a carried dream: the style's ``warm_*`` keys where it sets
    them, else a share of its own work, so that a light style's carried frames stay light and a heavy
    style's heavy."""
    return replace(full, iterations=style.warm_iterations or max(1, round(full.iterations * WARM_SHARE)),
                   octaves=style.warm_octaves or min(WARM_OCTAVES, full.octaves))


def strength(dreamed: np.ndarray, source: np.ndarray) -> float:
    """How strong a dream is: the RMS of dreamed minus source, in the 0..1 range."""
    return float(np.sqrt(np.mean(np.square(dreamed.astype(np.float32) - source.astype(np.float32))))) / 255


@dataclass
class Strength:
    """Keeps carried frames at the dream strength of their shot's fresh first frame, changing slowly.

    A carried frame's strength would be what it carries (``decay`` of the last dream's detail) plus what
    its warm steps add: a light style gains detail frame after frame, a heavy one loses it. Instead, the
    carried detail is rescaled so that, where the flow holds, it has the target strength (``target``: the
    reference, moved by a ``react:`` step-size mapping), and the change the warm steps then make there is at
    most ``CHANGE`` of it (``settle``): new detail that grows in a frame is what flickers, and its share of
    a light style's dream is the largest. Its state is one number, saved with a render's resume chunks.
    """

    reference: float | None = None  # the fresh frame's strength, per unit of step size

    CHANGE = 0.08  # the most a carried frame's dream changes (RMS, where the flow holds), per unit of strength

    def start(self, dreamed: np.ndarray, source: np.ndarray, step_size: float) -> None:
        """A fresh frame: its strength is the reference of the frames carried from it."""
        self.reference = strength(dreamed, source) / step_size

    def target(self, step_size: float) -> float | None:
        return None if self.reference is None else self.reference * step_size

    def settle(self, start: np.ndarray, dreamed: np.ndarray, mask: np.ndarray, step_size: float) -> np.ndarray:
        """``dreamed`` (uint8), with its change from ``start`` (float, 0..1) scaled down where ``mask`` holds
        so that there it is at most ``CHANGE`` times the target strength."""
        if self.reference is None:
            return dreamed
        change = dreamed.astype(np.float32) / 255 - start
        scale = min(1.0, self.CHANGE * self.target(step_size) / max(masked_rms(change, mask), 1e-9))
        if scale == 1.0:
            return dreamed
        return np.clip((start + change * (1 - mask[..., None] * (1 - scale))) * 255 + 0.5, 0, 255).astype(np.uint8)

    def state(self) -> dict[str, float | None]:
        return {"reference": self.reference}


def masked_rms(values: np.ndarray, mask: np.ndarray) -> float:
    """The RMS of (H, W, C) ``values``, each pixel weighted by the (H, W) ``mask``."""
    weight = mask[..., None]
    return float(np.sqrt((weight * np.square(values)).sum() / (values.shape[-1] * weight.sum() + 1e-6)))


def analyse(frames: Iterator[np.ndarray], size: tuple[int, int] | None, *, flow: str, scene_cut: float,
            workers: int | None = None) -> Iterator[tuple[np.ndarray, Motion]]:
    """Pair each source frame with its motion from the previous one (the first starts a chain).

    ``flow`` is the estimator (dis, farneback, none); the mask is where the flow holds (``flow.trusted``);
    a scene cut is a frame of which less than ``scene_cut`` passes the flow checks (``flow.reliable``). The motion of a pair needs only the two source
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
        return frame, Motion(backward, trusted(valid, prev, frame, backward), bool(valid.mean() < scene_cut))

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
                motion: Motion, carry: Carry, target: float | None = None) -> tuple[np.ndarray, bool]:
    """The image to dream for this frame, in [0, 1] float32, and whether it starts from a carried dream.

    With a ``target`` strength (``Strength``), the carried detail is rescaled to it where the flow holds,
    in place of ``decay``.
    """
    s = source.astype(np.float32) / 255
    if prev_dream is None or prev_source is None or motion.cut or carry.blend == 0:
        return s, False
    mask = motion.mask[..., None] * carry.blend
    if carry.warp == "detail":
        detail = (prev_dream.astype(np.float32) - prev_source.astype(np.float32)) / 255
        carried = warp(detail, motion.backward) if motion.backward is not None else detail
        if target is None:
            carried *= carry.decay
        else:  # bounded, so that a nearly blank carried frame is not blown up
            carried *= min(4.0, target / max(masked_rms(carried, motion.mask), 1e-6))
        start = s + mask * carried
    else:
        dream = prev_dream.astype(np.float32) / 255
        carried = warp(dream, motion.backward) if motion.backward is not None else dream
        start = s * (1 - mask) + carried * mask
    return np.clip(start, 0.0, 1.0), True


class Chain:
    """The coherence chain: dreams frame after frame, each from the previous dream carried by the flow.

    Its state is the previous source and dreamed frames as uint8 and the shot's reference strength
    (``state``), so a resumed chain equals an uninterrupted one.
    """

    def __init__(self, dreamer: Dreamer, features: "AudioFeatures | None" = None, carry: Carry | None = None,
                 composite: Composite | None = None):
        self.dreamer, self.features, self.carry = dreamer, features, carry or Carry.of(dreamer.style)
        self.composite = composite or Composite(colors=dreamer.style.colors)
        self.full = dreamer.params
        self.warm = warm_params(dreamer.style, self.full)
        self.strength = Strength()
        self.prev_source: np.ndarray | None = None
        self.prev_dream: np.ndarray | None = None

    def step(self, index: int, frame: np.ndarray, motion: Motion) -> np.ndarray:
        reaction = Reaction(self.dreamer.style.react, self.features, index)
        carry = replace(self.carry, blend=min(1.0, max(0.0, reaction("blend", self.carry.blend))))
        step_size = reaction.params(self.full).step_size
        target = self.strength.target(step_size) if carry.hold else None
        start, carried = start_image(frame, self.prev_source, self.prev_dream, motion, carry, target)
        dreamed = self.dreamer.dream_frame(start, index, self.warm if carried else self.full, reaction,
                                           regions=self.composite.regions(index))
        if carried and carry.hold:
            dreamed = self.strength.settle(start, dreamed, motion.mask, step_size)
        dreamed = self.composite(index, frame, dreamed)  # what is shown is what carries on
        if not carried:
            self.strength.start(dreamed, frame, step_size)
        self.prev_source, self.prev_dream = frame, dreamed
        return dreamed

    def state(self) -> dict[str, float | None]:
        """What a resumed chain needs besides the previous frames."""
        return self.strength.state()

    def restore(self, state: dict[str, float | None] | None) -> None:
        if state:
            self.strength = Strength(state["reference"])


def dream_frames(frames: Iterator[np.ndarray], dreamer: Dreamer, carry: Carry | None = None,
                 composite: Composite | None = None) -> Iterator[np.ndarray]:
    """Dream an in-memory sequence of frames with the render's coherence (no files, no resume); ``carry``
    replaces the style's (``blend: 0`` dreams every frame on its own), ``composite`` its colours (and mask)."""
    style = dreamer.style
    chain = Chain(dreamer, carry=carry, composite=composite)
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
    if segment:
        check_output(output, SEGMENT_OUT, inputs=(source,))
    else:
        check_video_output(output, inputs=(source,))
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
    composite = Composite.of(style, size, "video", (info.width, info.height), fps=fps, start=options.start,
                             frames=first + expected)
    chain = Chain(dreamer, features, composite=composite)

    def encoder(part: Path) -> VideoWriter:
        if segment:  # a lossless piece of a split render: no sound, no metadata, assembled later
            return VideoWriter(part, size, fps, lossless_args())
        return video_writer(output, part, size, fps, style.output.crf, style.output.preset, sound, span,
                            style_metadata(style))

    with closing(composite), FrameOutput(output, key, encoder, options.chunk_frames, options.restart,
                                         options.preview, log) as out:
        done = out.done
        index = 0
        for frame in out.kept(size):
            chain.prev_dream, index = frame, index + 1
        chain.restore(out.resumed)
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
                out.put(index, chain.step(first + index, frame, motion), meta=chain.state())
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
