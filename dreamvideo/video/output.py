"""Where the frames of a render or a zoom go: the MP4 encoder with its sound and metadata, the lossless
resume state and the previews, fed on a background thread; finished by a rename, or aborted keeping what
can be resumed."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamvideo.images import fit_size, resize_image, write_image
from dreamvideo.video.io import VideoWriter, audio_inputs, h264_args
from dreamvideo.video.pipeline import Sink
from dreamvideo.video.state import RenderState

if TYPE_CHECKING:
    from dreamvideo.config import Style

VIDEO_OUT = {".mp4": "MP4", ".m4v": "MP4", ".mov": "MOV"}  # what render and zoom write


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


def style_metadata(style: "Style") -> dict[str, str]:
    """The MP4 tags that store the style a video was made with, so the result can be reproduced."""
    return {"comment": "dreamvideo style " + json.dumps(style.model_dump(mode="json"), separators=(",", ":"))}


def mp4_writer(path: Path, size: tuple[int, int], fps: Fraction, crf: int, preset: str, sound: Soundtrack | None,
               span: float, metadata: dict[str, str] | None = None) -> VideoWriter:
    """An H.264 MP4 encoder (x264 ``crf`` and ``preset``) with ``sound`` muxed in sync over ``span`` seconds."""
    extra, maps = audio_inputs(sound.path, sound.codec, sound.start, span) if sound else ([], ["-map", "0:v:0"])
    return VideoWriter(path, size, fps, h264_args(crf, preset, metadata), extra, maps)


class FrameOutput:
    """A context manager: ``put(index, frame, new, meta)`` frames in order; on success the output appears whole,
    on an error (or Ctrl-C) everything but the completed resume chunks is removed.

    ``encode(index, frame)`` returns the frames the encoder gets for this one (by default just it), so a
    zoom can hold back and crossfade the start of a loop.
    """

    def __init__(self, output: Path, key: str, encoder: Callable[[Path], VideoWriter], chunk_frames: int,
                 restart: bool, preview: int, log: Callable[[str], None],
                 encode: Callable[[int, np.ndarray], list[np.ndarray]] | None = None):
        self.output, self.preview = output, preview
        self.state = RenderState(output, key, chunk_frames, log)
        self.done = self.state.open(restart)
        self.resumed = self.state.resumed  # the meta put with the last completed frame
        if self.done:
            log(f"resuming after frame {self.done}")
        self.part = self.state.dir / f"output.part{output.suffix}"
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

    def __enter__(self) -> "FrameOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.sink.close()
            self.state.finish_chunk()
            self.encoder.close()
            os.replace(self.part, self.output)
            self.state.remove()
            return
        self.stopping.set()
        self.sink.finish_quietly()
        self.encoder.abort()
        self.part.unlink(missing_ok=True)
        self.state.abort()
        if not self.state.chunks():  # nothing worth resuming: leave nothing behind
            self.state.remove()
