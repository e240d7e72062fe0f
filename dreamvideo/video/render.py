"""`dreamvideo render`: dream a video frame by frame through the coherence chain (each frame starting from
the previous dream moved along the optical flow), then encode H.264 with the original sound. Interrupted
renders resume; ``render_segment`` renders one piece of a split render losslessly."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from dreamvideo.coherence import Chain, motions
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError, MediaError, did_you_mean
from dreamvideo.look import Look
from dreamvideo.media.ffmpeg import VideoInfo, VideoWriter, lossless_args, parse_rate, probe, probe_audio, read_frames
from dreamvideo.media.images import check_output
from dreamvideo.media.threads import prefetch
from dreamvideo.react import on_the_song, style_cues
from dreamvideo.sections import Dreamers, Looks, SectionChain, song_parts
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

if TYPE_CHECKING:
    from dreamvideo.audio import Cues

SEGMENT_OUT = {".mkv": "Matroska"}  # lossless segments of a split render


@dataclass(frozen=True)
class RenderOptions:
    start: float = 0.0
    duration: float | None = None
    max_frames: int | None = None
    restart: bool = False
    preview: int = 0  # write every N-th frame as a small PNG beside the output; 0: none
    audio: Path | None = None  # replaces the soundtrack (and drives react:)
    chunk_frames: int = 16  # frames per lossless state chunk (what a crash can cost)
    max_pixels: int | None = None  # the largest mask image (None: images.MAX_PIXELS)
    cycle: str | None = None  # "loop" or "pingpong": the video runs the whole song (--audio), the clip cycled


def geometry(info: VideoInfo, style: Style) -> tuple[Fraction, tuple[int, int]]:
    """A render's frame rate (the style's, else exactly the source's) and its even output size."""
    fps = parse_rate(str(style.output.fps)) if style.output.fps else info.fps
    return fps, style.output.size(info.width, info.height, multiple=2)


def render_video(source: str | Path, output: str | Path, style: Style, options: RenderOptions = RenderOptions(), *,
                 dreamer: Dreamer | None = None, progress: Callable[[int, int], None] | None = None,
                 log: Callable[[str], None] = lambda message: None) -> VideoResult:
    """Render ``source`` dreamed into ``output`` (MP4, GIF, WebP, PNGs). Running it again after an
    interruption resumes."""
    return _render(Path(source), Path(output), style, options, None, dreamer, progress, log)


def render_segment(source: str | Path, output: str | Path, style: Style, frames: tuple[int, int],
                   options: RenderOptions = RenderOptions(), *, dreamer: Dreamer | None = None, preroll: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> VideoResult:
    """Frames [a, b) of ``source``'s render range, dreamed into a lossless, silent ``output`` (.mkv): a
    piece of a split render, which resumes like a render. Its chain starts ``preroll`` frames before ``a``
    (0 at a scene cut), so that it has settled by its first kept frame; those frames are dreamed, not kept."""
    return _render(Path(source), Path(output), style, options, frames, dreamer, progress, lambda message: None,
                   preroll)


def _render(source: Path, output: Path, style: Style, options: RenderOptions, segment: tuple[int, int] | None,
            dreamer: Dreamer | None, progress: Callable[[int, int], None] | None,
            log: Callable[[str], None], preroll: int = 0) -> VideoResult:
    began = time.perf_counter()
    if segment is not None:
        check_output(output, SEGMENT_OUT, inputs=(source,))
    else:
        check_video_output(output, inputs=(source,))
    info = probe(source)
    length, named = info.duration, repr(str(source))  # the timeline: the video's, or with --cycle the song's
    if options.cycle is not None:
        length, named = check_cycle(options, segment), repr(str(options.audio))
    if length and options.start >= length:
        raise MediaError(f"--start {options.start:g} s is past the end of {named} ({length:.2f} s)")
    fps, size = geometry(info, style)
    span = float(options.duration or cast("float | Fraction", max(length - options.start, 1 / fps)))
    if options.max_frames:
        span = min(span, options.max_frames / float(fps))
    expected = max(1, round(span * fps))
    if options.max_frames:
        expected = min(expected, options.max_frames)
    first, last = segment or (0, None)
    if segment is not None:
        expected = segment[1] - first

    key = resume_key(
        style=style.model_dump(mode="json"), source=[str(source.resolve()), source.stat().st_size,
                                                     source.stat().st_mtime_ns],
        start=options.start, duration=options.duration, max_frames=options.max_frames, fps=str(fps), size=size,
        audio=str(options.audio) if options.audio else None, frames=segment, cycle=options.cycle,
        **({"preroll": preroll} if preroll else {}))
    dreamers = Dreamers(dreamer or Dreamer(style))
    sound = soundtrack(source, info, options)
    no_sound = f"{str(source)!r} has no sound; pass one with --audio FILE"
    cues = style_cues(style, sound.path if sound else None, fps, first + expected, sound.start if sound else 0.0,
                      no_sound)

    song, song_start = (sound.path, sound.start) if sound else (None, options.start)  # frame 0's moment

    def look_of(style: Style, cues: Cues | None) -> Look:
        return Look.of(dreamers(style), size, "video", (info.width, info.height),
                       cues, fps=fps, start=options.start, frames=first + expected, max_pixels=options.max_pixels,
                       style=on_the_song(style, song, no_sound), song_start=song_start)

    # the song's sections, at their moments in the song's time
    plan = song_parts(style, song, no_sound)
    looks = Looks(plan, look_of(style, cues), lambda other: look_of(other, style_cues(
        other, song, fps, first + expected, sound.start if sound else 0.0, no_sound)))

    def encoder(part: Path) -> VideoWriter | PaletteWriter:
        if segment is not None:  # a lossless piece of a split render: no sound, no metadata, assembled later
            return VideoWriter(part, size, fps, lossless_args())
        return video_writer(output, part, size, fps, style.output, sound, span, style_metadata(style))

    with closing(looks), FrameOutput(output, key, encoder, options.chunk_frames, options.restart,
                                    options.preview, log) as out:
        done, index, kept = out.done, 0, None
        for frame in out.kept(size):  # the last kept frame, and how many
            index, kept = index + 1, frame
        if progress is not None:  # inputs checked, model built: the bar starts here, resumed frames counted
            progress(index, max(expected, index))
        # frames are decoded from the start of the range and dropped up to the resume point (frame-exact)
        stop = last if segment is not None else options.max_frames
        warm = 0 if done else min(preroll, first)  # a piece's pre-roll: dreamed, then dropped
        skip = first - warm + max(0, done - 1)
        chain = SectionChain(Chain(looks[0], first=first - warm), looks, float(fps), song_start)
        if options.cycle is not None:  # frame i shows the song's moment start + i / fps
            reader = cycled_frames(source, info, size, fps, options.cycle, round(options.start * fps) + skip,
                                   expected - max(0, done - 1))
        else:
            reader = read_frames(source, size, fps, options.start, options.duration, stop, skip=skip)
        moving = motions(reader, size, flow=style.flow, scene_cut=style.scene_cut)
        # closed explicitly, so that an exception here stops the decoder now, not when garbage is collected
        with closing(reader), closing(prefetch(moving)) as stream:
            for position, (frame, motion) in enumerate(stream):
                if done and position == 0:  # the source frame before the resume point: the chain goes on from it
                    chain.restore(first + index, frame, kept, out.resumed)
                    continue
                if position < warm:
                    chain.step(frame, motion)
                    continue
                out.put(index, chain.step(frame, motion), meta=chain.state())
                index += 1
                if progress is not None:
                    progress(index, max(expected, index))
        if index == 0:
            raise MediaError(f"no frames could be decoded from {str(source)!r} in the chosen range")
    return VideoResult(output, index, done, fps, size, time.perf_counter() - began)


CYCLES = ("loop", "pingpong")
CYCLE_BYTES = 4 * 1024**3  # the most a cycled clip may take in memory, at the render's size


def cycle_named(cycle: str, what: str = "--cycle") -> str:
    """``cycle`` if it is one of ``CYCLES``, else one line naming them (``what``: the option, as the user wrote it)."""
    if cycle not in CYCLES:
        raise ConfigError(f"{what} {cycle!r}: {did_you_mean(cycle, CYCLES)}use {' or '.join(CYCLES)}")
    return cycle


def check_cycle(options: RenderOptions, segment: tuple[int, int] | None) -> float:
    """The song's length, for a render that cycles its clip under it; a render that cannot is one line."""
    cycle_named(str(options.cycle))
    if options.audio is None:
        raise ConfigError("--cycle plays the clip for a whole song: give the song with --audio")
    if segment is not None:
        raise ConfigError("--cycle renders on one machine: leave out --split")
    return probe_audio(options.audio).duration


def cycle_index(k: int, n: int, cycle: str) -> int:
    """The clip's frame that frame ``k`` of a song-long video shows: ``loop`` plays the clip's ``n`` frames over
    and over, ``pingpong`` forwards then backwards (its first and last frames not shown twice)."""
    if cycle == "loop" or n < 3:
        return k % n
    p = k % (2 * n - 2)
    return p if p < n else 2 * n - 2 - p


def clip_frames(source: Path, info: VideoInfo, size: tuple[int, int], fps: Fraction) -> list[np.ndarray]:
    """Every frame of a clip to cycle, at the render's size and rate, in memory (within ``CYCLE_BYTES``)."""
    need = info.duration * float(fps) * size[0] * size[1] * 3
    if need > CYCLE_BYTES:
        raise MediaError(f"--cycle keeps the clip in memory: {str(source)!r} at {size[0]}x{size[1]} takes "
                         f"{need / 1024**3:.1f} GB; trim the clip or lower --max-side")
    clip = list(read_frames(source, size, fps))
    if not clip:
        raise MediaError(f"no frames could be decoded from {str(source)!r}")
    return clip


def cycled_frames(source: Path, info: VideoInfo, size: tuple[int, int], fps: Fraction, cycle: str, first: int,
                  count: int) -> Generator[np.ndarray, None, None]:
    """Frames ``first`` .. ``first + count`` - 1 of the clip cycled (``cycle_index``, ``clip_frames``)."""
    clip = clip_frames(source, info, size, fps)
    for k in range(first, first + count):
        yield clip[cycle_index(k, len(clip), cycle)]


def soundtrack(source: Path, info: VideoInfo, options: RenderOptions) -> Soundtrack | None:
    """The sound of a render: ``--audio`` from its start (with ``--cycle``, from ``--start``: the song is the
    timeline), else the source's own from the render's start."""
    if options.audio is not None:
        return Soundtrack(options.audio, probe_audio(options.audio).codec, options.start if options.cycle else 0.0)
    return Soundtrack(source, info.audio_codec, options.start) if info.audio_codec else None
