"""Where the frames of a render or a zoom go: the MP4 encoder with its sound and metadata, the lossless
resume state and the previews, fed on a background thread; finished by a rename, or aborted keeping what
can be resumed."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.media.ffmpeg import VideoWriter, audio_inputs, h264_args, lossless_args, palette_gif
from dreamvideo.media.images import check_output, fit_size, resize_image, write_image
from dreamvideo.media.threads import Sink
from dreamvideo.video.state import RenderState

if TYPE_CHECKING:
    from dreamvideo.config import OutputConfig, Style

VIDEO_OUT = {".mp4": "MP4", ".m4v": "MP4", ".mov": "MOV"}  # H.264 with sound
CLIP_OUT = {".gif": "GIF", ".webp": "animated WebP"}  # for the web: silent, looping
FRAME_PATTERN = re.compile(r"%0?\d*d")  # a PNG sequence: -o frames/%05d.png


@dataclass(frozen=True)
class VideoResult:
    """What a render or a zoom wrote."""

    output: Path
    frames: int
    resumed_from: int
    fps: Fraction
    size: tuple[int, int]
    seconds: float


@dataclass(frozen=True)
class Soundtrack:
    """The sound muxed into an output: ``path``'s first audio stream (``codec``), from ``start`` seconds."""

    path: Path
    codec: str
    start: float = 0.0


def style_metadata(style: Style) -> dict[str, str]:
    """The MP4 tags that store the style a video was made with, so the result can be reproduced."""
    return {"comment": "dreamvideo style " + json.dumps(style.model_dump(mode="json"), separators=(",", ":"))}


def mp4_writer(path: Path, size: tuple[int, int], fps: Fraction, config: OutputConfig, sound: Soundtrack | None,
               span: float, metadata: dict[str, str] | None = None, name: Path | None = None) -> VideoWriter:
    """An H.264 MP4 encoder (the style's x264 ``crf`` and ``preset``) with ``sound`` muxed in sync over
    ``span`` seconds."""
    extra, maps = audio_inputs(sound.path, sound.codec, sound.start, span) if sound else ([], ["-map", "0:v:0"])
    return VideoWriter(path, size, fps, h264_args(config.crf, config.preset, metadata), extra, maps, name=name)


def is_sequence(path: Path) -> bool:
    """``frames/%05d.png``: one PNG per frame, numbered from 0, in that folder."""
    return bool(FRAME_PATTERN.search(path.name))


def check_video_output(path: str | Path, inputs: tuple[Path, ...] = (), new_folder: bool = False) -> Path:
    """What render and zoom can write: MP4/MOV, GIF, animated WebP or a PNG sequence (its folder is created);
    ``new_folder`` as in ``check_output``."""
    path = Path(path)
    if is_sequence(path):
        if path.suffix.lower() != ".png":
            raise MediaError(f"cannot write {str(path)!r}: frame sequences are PNG; write e.g. frames/%05d.png")
        check_output(path.with_name("frame.png"), inputs=inputs, new_folder=True)  # a frame in the new folder
        return path
    if path.suffix.lower() not in VIDEO_OUT | CLIP_OUT:
        raise MediaError(f"cannot write {str(path)!r}: unknown extension; use one of "
                         f"{', '.join(sorted(VIDEO_OUT | CLIP_OUT))}, or a PNG sequence such as frames/%05d.png")
    return check_output(path, VIDEO_OUT | CLIP_OUT, inputs, new_folder)


def part_path(folder: Path, output: Path) -> Path:
    """Where an output is written until it is complete: inside the resume folder (a subfolder for frames)."""
    if is_sequence(output):
        return folder / "frames" / output.name
    return folder / f"output.part{output.suffix}"


def publish(part: Path, output: Path) -> None:
    """Move a complete output into place: the file, or a sequence's frames into their folder."""
    if not is_sequence(output):
        os.replace(part, output)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    for frame in sorted(part.parent.iterdir()):
        os.replace(frame, output.parent / frame.name)
    part.parent.rmdir()


def discard(part: Path, output: Path) -> None:
    if is_sequence(output):
        shutil.rmtree(part.parent, ignore_errors=True)
    else:
        part.unlink(missing_ok=True)


class PaletteWriter:
    """A GIF with one palette for the whole clip (a palette per frame shimmers): the frames go to a
    lossless file first, and on ``close`` ffmpeg picks the palette from all of them, then maps each frame
    onto it with error diffusion."""

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, name: Path | None = None):
        self.path = path
        self.frames_file = path.with_name(path.name + ".frames.mkv")
        self.inner = VideoWriter(self.frames_file, size, fps, lossless_args(), name=name)

    def write(self, frame: np.ndarray) -> None:
        self.inner.write(frame)

    def close(self) -> None:
        self.inner.close()
        try:
            palette_gif(self.frames_file, self.path)
        finally:
            self.frames_file.unlink(missing_ok=True)

    def abort(self) -> None:
        self.inner.abort()
        self.frames_file.unlink(missing_ok=True)

    def __enter__(self) -> PaletteWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close() if exc_type is None else self.abort()


def video_writer(output: Path, part: Path, size: tuple[int, int], fps: Fraction, config: OutputConfig,
                 sound: Soundtrack | None, span: float, metadata: dict[str, str] | None = None
                 ) -> VideoWriter | PaletteWriter:
    """The encoder that writes ``part`` in ``output``'s format: MP4/MOV with sound (``mp4_writer``), a GIF
    with one palette, an animated WebP (lossy, quality 80) or PNG frames; the last three are silent and loop."""
    suffix = output.suffix.lower()
    if is_sequence(output):
        part.parent.mkdir(parents=True, exist_ok=True)
        return VideoWriter(part, size, fps, ["-c:v", "png", "-start_number", "0", "-f", "image2"], name=output)
    if suffix == ".gif":
        return PaletteWriter(part, size, fps, name=output)
    if suffix == ".webp":
        return VideoWriter(part, size, fps, ["-c:v", "libwebp_anim", "-quality", "80", "-loop", "0",
                                             "-pix_fmt", "yuv420p", "-f", "webp"], name=output)
    return mp4_writer(part, size, fps, config, sound, span, metadata, name=output)


class FrameOutput:
    """A context manager: ``put(index, frame, new, meta)`` frames in order; on success the output appears whole,
    on an error (or Ctrl-C) everything but the completed resume chunks is removed.

    ``encode(index, frame)`` returns the frames the encoder gets for this one (by default just it), so a
    zoom can hold back and crossfade the start of a loop.
    """

    def __init__(self, output: Path, key: str, encoder: Callable[[Path], VideoWriter | PaletteWriter],
                 chunk_frames: int, restart: bool, preview: int, log: Callable[[str], None],
                 encode: Callable[[int, np.ndarray], list[np.ndarray]] | None = None):
        self.output, self.preview = output, preview
        self.state = RenderState(output, key, chunk_frames, log)
        self.done = self.state.open(restart)
        self.resumed = self.state.resumed  # the meta put with the last completed frame
        if self.done:
            log(f"resuming after frame {self.done}")
        self.part = part_path(self.state.dir, output)
        self.encoder = encoder(self.part)
        self.encode = encode or (lambda index, frame: [frame])
        self.preview_dir = output.parent / f"{output.stem}_preview"
        if preview:
            self.preview_dir.mkdir(exist_ok=True)
        self.stopping = threading.Event()
        self.sink = Sink(self._emit)

    def _emit(self, item: tuple[int, np.ndarray, bool, dict | None]) -> None:
        index, frame, new, meta = item
        if new:
            self.state.write(index, frame, meta)
        if self.stopping.is_set():
            return  # after an error: keep what was dreamed, skip the encoder
        for out in self.encode(index, frame):
            self.encoder.write(out)
        if new and self.preview and index % self.preview == 0:
            small = resize_image(frame, fit_size(frame.shape[1], frame.shape[0], max_side=320))
            write_image(self.preview_dir / f"{index:06d}.png", small)

    def put(self, index: int, frame: np.ndarray, new: bool = True, meta: dict | None = None) -> None:
        """Frame ``index`` (``new``: not one kept from an interrupted run); ``meta``, what a resume from it
        needs besides the frames."""
        self.sink.put((index, frame, new, meta))

    def kept(self, size: tuple[int, int]) -> Iterator[np.ndarray]:
        """The frames already completed by an interrupted run, re-encoded first; closed when done."""
        with closing(self.state.frames(size)) as frames:
            for index, frame in enumerate(frames):
                self.put(index, frame, new=False)
                yield frame

    def __enter__(self) -> FrameOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.sink.close()
            self.state.finish_chunk()
            self.encoder.close()
            publish(self.part, self.output)
            self.state.remove()
            return
        self.stopping.set()
        self.sink.finish_quietly()
        self.encoder.abort()
        discard(self.part, self.output)
        self.state.abort()
        if not self.state.chunks():  # nothing worth resuming: leave nothing behind
            self.state.remove()
