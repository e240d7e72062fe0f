"""Frames as a camera delivers them: a source read on its own thread that keeps only the newest frame.

A source is a camera (the default one, an index, ``/dev/videoN``), a video file played at its own frame
rate as a camera would deliver it (``loop`` to repeat), or a stream URL (rtsp, rtmp, srt, udp, http...).
Nothing queues: a frame the reader of ``Newest`` was too slow to take is replaced by the next one, and the
reader sees from the indices that it was missed.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.media.images import fit_size

LIVE_SCHEMES = ("rtsp", "rtmp", "rtmps", "srt", "udp", "tcp", "rtp")  # streams that arrive in real time
CAMERA = re.compile(r"^(\d+|/dev/video\d+|default)$")


@dataclass(frozen=True)
class Captured:
    """A source frame: its number from the start (counting every frame the source delivered), the pixels,
    and when it arrived (``time.perf_counter``)."""

    index: int
    frame: np.ndarray
    at: float


class Newest:
    """The newest captured frame, and nothing older: ``put`` replaces, ``wait(after)`` blocks until a frame
    newer than index ``after`` is there (or the source has ended: None)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Captured | None = None
        self._ended = False
        self.error: BaseException | None = None

    def put(self, item: Captured) -> None:
        with self._cond:
            self._item = item
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._ended, self.error = True, self.error or error
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    def latest(self) -> Captured | None:
        return self._item

    def wait(self, after: int, timeout: float | None = None) -> Captured | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._item is None or self._item.index <= after:
                if self._ended:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return self._item


@dataclass(frozen=True)
class SourceInfo:
    """What a source delivers: its frame rate, its frame size after ``max_side``, and (a file) its path and
    sound, for a recording."""

    name: str
    fps: Fraction
    size: tuple[int, int]
    path: Path | None = None
    audio_codec: str | None = None


def is_camera(source: str) -> bool:
    return bool(CAMERA.match(source))


def is_stream(source: str) -> bool:
    return "://" in source


class Capture:
    """Reads ``source`` on a thread into ``newest``; ``info`` says what it delivers. ``start``, then ``stop``
    (or use it as a context manager). A file is paced at its frame rate; with ``loop`` it starts again at its
    end, the frame numbers going on."""

    def __init__(self, source: str, max_side: int | None = None, loop: bool = False, fps: float | None = None):
        self.source, self.loop = source, loop
        self.newest = Newest()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._camera: Any = None  # an OpenCV VideoCapture, for a camera
        if is_camera(source):
            self._open_camera(source, max_side, fps)
        else:
            self._open_video(source, max_side, fps)

    # --- opening --------------------------------------------------------------------------------------

    def _open_video(self, source: str, max_side: int | None, fps: float | None) -> None:
        from dreamvideo.media.ffmpeg import parse_rate, probe, probe_stream

        stream = is_stream(source)
        if not stream and not Path(source).is_file():
            raise MediaError(f"no such source {source!r}: give a video file, a stream URL (rtsp://, srt://, "
                             "udp://...), a camera index such as 0, or /dev/video0")
        info = probe_stream(source) if stream else probe(source)
        rate = parse_rate(str(fps)) if fps else info.fps
        size = fit_size(info.width, info.height, max_side, multiple=2)
        self.info = SourceInfo(source, rate, size, None if stream else Path(source), info.audio_codec)
        self.paced = not stream or source.split("://")[0].lower() not in LIVE_SCHEMES
        self._camera = None

    def _open_camera(self, source: str, max_side: int | None, fps: float | None) -> None:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its warnings are ours to say, in one line
        device = 0 if source == "default" else int(source.removeprefix("/dev/video"))
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        camera = cv2.VideoCapture(device, backend)
        if not camera.isOpened():
            camera.release()
            raise MediaError(f"no camera at {source!r} could be opened; check it is plugged in and free, or give "
                             "another index (0, 1...), a /dev/videoN path, a video file or a stream URL")
        camera.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver keeps one frame: no queue behind the newest
        if fps:
            camera.set(cv2.CAP_PROP_FPS, fps)
        ok, frame = camera.read()
        if not ok:
            camera.release()
            raise MediaError(f"the camera {source!r} opened but gave no picture; is another program using it?")
        rate = Fraction(camera.get(cv2.CAP_PROP_FPS) or fps or 30).limit_denominator(1001)
        size = fit_size(frame.shape[1], frame.shape[0], max_side, multiple=2)
        self.info = SourceInfo(f"camera {source}", rate if rate > 0 else Fraction(30), size)
        self.paced, self._camera = False, camera

    # --- reading --------------------------------------------------------------------------------------

    def start(self) -> Capture:
        self._thread = threading.Thread(target=self._run, name="dreamvideo-capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._camera is not None:
            self._camera.release()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._read_camera() if self._camera is not None else self._read_video()
            self.newest.end()
        except BaseException as exc:  # handed to the reader of ``newest``
            self.newest.end(exc)

    def _frames(self) -> Iterator[np.ndarray]:
        from dreamvideo.media.ffmpeg import read_frames

        while not self._stop.is_set():
            reader = read_frames(self.source, self.info.size, self.info.fps if self.paced else None)
            count = 0
            try:
                for frame in reader:
                    count += 1
                    yield frame
                    if self._stop.is_set():
                        return
            finally:
                reader.close()
            if not self.loop or count == 0:
                return

    def _read_video(self) -> None:
        period = 1 / float(self.info.fps)
        began = time.perf_counter()
        for index, frame in enumerate(self._frames()):
            if self.paced:  # as a camera delivers it: frame i at i / fps, however fast it decodes
                due = began + index * period
                while not self._stop.is_set() and (wait := due - time.perf_counter()) > 0:
                    self._stop.wait(wait)
            if self._stop.is_set():
                return
            self.newest.put(Captured(index, frame, time.perf_counter()))

    def _read_camera(self) -> None:
        import cv2

        index = 0
        while not self._stop.is_set():
            ok, frame = self._camera.read()
            if not ok:
                raise MediaError(f"the {self.info.name} stopped delivering pictures (unplugged?)")
            at = time.perf_counter()
            frame = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.info.size, interpolation=cv2.INTER_AREA)
            self.newest.put(Captured(index, frame, at))
            index += 1
