"""Resume state beside an output: completed frames in lossless chunks, and the key of what made them."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Generator
from fractions import Fraction
from pathlib import Path

import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.media.ffmpeg import VideoWriter, lossless_args, read_frames


def state_dir(output: Path) -> Path:
    """The hidden folder beside ``output`` that holds an unfinished render's completed frames."""
    return output.parent / f".{output.name.replace('%', '_')}.dreamvideo"  # no %: ffmpeg reads it as a pattern


def resume_key(**parts: object) -> str:
    """A hash of everything that shapes the frames, so an interrupted run resumes only into the same work."""
    return hashlib.sha256(json.dumps({**parts, "version": 2}, sort_keys=True).encode()).hexdigest()


class RenderState:
    """Resume state beside the output: completed frames in lossless chunks, and the key of what made them.

    Each chunk may carry a small JSON ``meta`` beside it: what the frame loop needs, besides the frames, to
    go on from the chunk's last frame (a render's strength control); ``resumed`` is the last one's.
    """

    def __init__(self, output: Path, key: str, chunk_frames: int, log: Callable[[str], None]):
        self.dir = state_dir(output)
        self.key, self.chunk_frames, self.log = key, chunk_frames, log
        self.writer: VideoWriter | None = None
        self.first = 0
        self.meta: dict | None = None  # of the last frame written
        self.resumed: dict | None = None

    def chunks(self) -> list[tuple[Path, int, int]]:
        out = []
        for path in sorted(self.dir.glob("chunk_*.mkv")):
            _, first, count = path.stem.split("_")
            out.append((path, int(first), int(count)))
        return out

    def open(self, restart: bool) -> int:
        """Prepare the folder; returns how many frames are already done."""
        state = self.dir / "state.json"
        if self.dir.exists():
            old = json.loads(state.read_text()).get("key") if state.exists() else None
            if restart:
                self.log("--restart: discarding the interrupted render")
                self.remove()
            elif old != self.key:
                self.log("the style, options or source changed since the interrupted render: starting afresh")
                self.remove()
        self.dir.mkdir(parents=True, exist_ok=True)  # a PNG sequence's folder may be new
        state.write_text(json.dumps({"key": self.key}))
        for stale in self.dir.glob("*.part*"):
            stale.unlink()
        done, last = 0, None
        for path, first, count in self.chunks():
            if first != done:  # a gap: keep what is contiguous
                path.unlink()
                path.with_suffix(".json").unlink(missing_ok=True)
                continue
            done, last = done + count, path
        meta = last.with_suffix(".json") if last is not None else None
        self.resumed = json.loads(meta.read_text()) if meta is not None and meta.exists() else None
        return done

    def frames(self, size: tuple[int, int]) -> Generator[np.ndarray, None, None]:
        for path, _, count in self.chunks():
            n = 0
            try:
                for frame in read_frames(path, size):
                    n += 1
                    yield frame
            except MediaError:
                n = -1  # undecodable
            if n != count:
                held = "cannot be read" if n < 0 else f"holds {n} frames, not {count}"
                raise MediaError(f"the interrupted render's state {str(path)!r} {held} (damaged?); run again with "
                                 "--restart to start afresh")

    def write(self, index: int, frame: np.ndarray, meta: dict | None = None) -> None:
        self.meta = meta
        if self.writer is None:
            self.first = index
            self.writer = VideoWriter(self.dir / f"chunk_{index:08d}.part.mkv", (frame.shape[1], frame.shape[0]),
                                      Fraction(25), lossless_args())
        self.writer.write(frame)
        if self.writer.frames >= self.chunk_frames:
            self.finish_chunk()

    def finish_chunk(self) -> None:
        if self.writer is None:
            return
        self.writer.close()
        done = self.dir / f"chunk_{self.first:08d}_{self.writer.frames:05d}.mkv"
        if self.meta is not None:  # beside the chunk before the chunk counts as done
            part = done.with_suffix(".part.json")
            part.write_text(json.dumps(self.meta))
            os.replace(part, done.with_suffix(".json"))
        os.replace(self.writer.path, done)
        self.writer = None

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer.path.unlink(missing_ok=True)
            self.writer = None

    def remove(self) -> None:
        # only ever our own folder, and only what we put there
        for path in list(self.dir.glob("chunk_*")) + list(self.dir.glob("*.part*")) + [self.dir / "state.json"]:
            path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass  # something we did not write is in there: leave it to its owner
