"""`dreamvideo live`: a camera (or a file or stream played as one) dreamed coherently in real time.

Three threads and no queue. The capture keeps only the newest frame (``media.capture``). The dreaming takes
the newest frame and steps the coherence chain on it: a shot's first frame gets the style's work, the
others a warm step or two on top of the dream carried from the frame before. The stage shows every frame
the source delivers, at the source's rate, whether or not a new dream is ready: the newest dream carried
onto it along the flow since, with the chain's carry and strength hold (``Chain.carried``). A frame the
stage could not take in time is dropped and counted; a recording repeats the last shown frame for it, so it
keeps one frame per source frame. Each shown frame goes to the outputs (a recording, the page, a virtual
camera, a network stream); its latency is from its capture to its showing.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dreamvideo.coherence import Chain, Last, MotionOf
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import DreamVideoError, MediaError
from dreamvideo.flow import to_gray
from dreamvideo.look import Look
from dreamvideo.media.capture import Captured, Newest, SourceInfo


class Output(Protocol):
    """Where shown frames go: ``write`` each, ``close`` at the end."""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


@dataclass
class LiveStats:
    """What a live run did: frames shown and dropped, dream updates, capture-to-display latencies."""

    shown: int = 0
    dropped: int = 0
    updates: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, one per shown frame
    began: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    stopped: str | None = None  # why the source stopped delivering, when it did mid-run

    @property
    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - self.began

    def latency(self, q: float) -> float:
        """The ``q`` quantile of the latency, in ms."""
        if len(self.latencies) < 2:
            return 1000 * sum(self.latencies)
        return 1000 * (statistics.median(self.latencies) if q == 0.5 else
                       statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1])

    def summary(self) -> str:
        total = self.shown + self.dropped
        return (f"live: {self.shown} frames shown, {self.dropped} dropped ({100 * self.dropped / max(total, 1):.1f}%), "
                f"{self.updates / max(self.seconds, 1e-9):.1f} dream updates/s, latency median "
                f"{self.latency(0.5):.0f} ms, p95 {self.latency(0.95):.0f} ms")


class Dreaming:
    """The dreaming thread: steps the chain on the newest frame, again and again; ``restyle`` changes the
    style (applied before the next step, never stopping the stream)."""

    def __init__(self, look: Look, newest: Newest):
        self.chain = Chain(look, quick=True)  # DIS's fast flow: 10 ms of an update left to the dreaming
        self.newest = newest
        self.updates = 0
        self.error: BaseException | None = None
        self.times: list[float] = []  # seconds per update
        self._style: Look | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dreamvideo-dreaming", daemon=True)

    @property
    def look(self) -> Look:
        return self.chain.look

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def restyle(self, look: Look) -> None:
        with self._lock:
            self._style = look

    def _run(self) -> None:
        seen = -1
        try:
            while not self._stop.is_set():
                captured = self.newest.wait(seen, timeout=0.2)
                if captured is None:
                    if self.newest.ended:
                        return
                    continue
                with self._lock:
                    look, self._style = self._style, None
                if look is not None:
                    old = self.chain.look
                    self.chain.restyle(look)
                    if old is not look:
                        old.close()
                began = time.perf_counter()
                self.chain.index = captured.index  # frame seeds and reactions follow the source's frames
                self.chain.step(captured.frame)
                self.times.append(time.perf_counter() - began)
                seen, self.updates = captured.index, self.updates + 1
        except BaseException as exc:  # shown by the stage, which ends the run
            self.error = exc


class Stage:
    """Shows each captured frame with the newest dream carried onto it."""

    def __init__(self, dreaming: Dreaming):
        self.dreaming = dreaming
        style = dreaming.look.style
        self._motion = MotionOf(style.flow, style.scene_cut, glance=True)
        self._gray: tuple[int, np.ndarray] | None = None  # the gray of the last dream's source

    def show(self, captured: Captured) -> np.ndarray:
        last: Last | None = self.dreaming.chain.last
        if last is None:
            return captured.frame  # no dream yet: the camera as it is
        if last.index == captured.index:
            return last.shown
        if self._gray is None or self._gray[0] != last.index:
            self._gray = (last.index, to_gray(last.source))
        motion = self._motion(captured.frame, to_gray(captured.frame), last.source, self._gray[1])
        return self.dreaming.chain.carried(captured.frame, motion, last)


def run_live(newest: Newest, look: Look, outputs: Sequence[Output] = (), *, duration: float | None = None,
             stop: threading.Event | None = None, on_frame: Callable[[np.ndarray, Captured], None] | None = None,
             started: Callable[[Dreaming], None] | None = None, stats: LiveStats | None = None) -> LiveStats:
    """Show ``newest``'s frames dreamed with ``look`` until the source ends, ``duration`` seconds pass,
    ``stop`` is set or Ctrl-C; every output gets one frame per source frame. ``started`` gets the dreaming
    thread (to restyle it); ``stats`` is kept up to date as it runs. The outputs are closed at the end, also
    after an error."""
    stats = stats or LiveStats()
    stats.began = time.perf_counter()
    dreaming = Dreaming(look, newest)
    stage = Stage(dreaming)
    dreaming.start()
    if started is not None:
        started(dreaming)
    shown_index, previous = -1, None
    stop = stop or threading.Event()
    try:
        try:
            while not stop.is_set() and (duration is None or stats.seconds < duration):
                captured = newest.wait(shown_index, timeout=0.5)
                if dreaming.error is not None:
                    raise dreaming.error
                if captured is None:
                    if newest.ended:
                        break
                    continue
                missed = captured.index - shown_index - 1 if shown_index >= 0 else 0
                if missed > 0 and previous is not None:  # frames the stage was too slow for
                    stats.dropped += missed
                    for output in outputs:
                        for _ in range(missed):
                            output.write(previous)
                frame = stage.show(captured)
                for output in outputs:
                    output.write(frame)
                if on_frame is not None:
                    on_frame(frame, captured)
                stats.latencies.append(time.perf_counter() - captured.at)
                stats.shown, stats.updates = stats.shown + 1, dreaming.updates
                shown_index, previous = captured.index, frame
        except KeyboardInterrupt:  # Ctrl-C ends a live run as the end of its source does
            pass
        if newest.error is not None:
            if stats.shown == 0 or not isinstance(newest.error, DreamVideoError):
                raise newest.error
            stats.stopped = str(newest.error)  # it went away mid-run: what was shown is kept
    finally:
        dreaming.stop()
        stats.updates, stats.ended = dreaming.updates, time.perf_counter()
        errors = []
        for output in outputs:
            try:
                output.close()
            except DreamVideoError as exc:
                errors.append(exc)
        dreaming.look.close()
        if errors:
            raise errors[0]
    return stats


@dataclass(frozen=True)
class LiveOptions:
    max_side: int | None = 320  # the dream's size: the longer side of the source's frames
    duration: float | None = None  # seconds; None: until the source ends or Ctrl-C
    loop: bool = False  # a file source starts again at its end
    fps: float | None = None  # the rate to ask a camera for
    record: Path | None = None  # what was shown, one frame per source frame, with a file source's sound
    stream: str | None = None  # a network output (udp://, srt://, tcp://, rtmp://)
    virtual_camera: bool = False
    audio_in: str | None = None  # "source" (a file's own sound), or a microphone ("default", a name, an index)


def live(source: str, style: Style, options: LiveOptions = LiveOptions(), *, outputs: Sequence[Output] = (),
         started: Callable[[Dreaming, SourceInfo], None] | None = None, stats: LiveStats | None = None,
         log: Callable[[str], None] = lambda message: None) -> LiveStats:
    """Dream ``source`` live (see the module's text) into the outputs ``options`` names and ``outputs``;
    returns what it did. Bad sources and outputs fail with one line before anything runs."""
    from dreamvideo.media.capture import Capture
    from dreamvideo.media.images import check_output
    from dreamvideo.video.output import VIDEO_OUT, Soundtrack
    from dreamvideo.video.stream import NetworkStream, Recording, VirtualCamera, check_stream

    if options.record is not None:  # the outputs are checked before anything opens
        check_output(Path(options.record), VIDEO_OUT)
    if options.stream is not None:
        check_stream(options.stream)
    capture = Capture(source, options.max_side, options.loop, options.fps)
    info = capture.info
    features = live_features(style, info, options)
    look = live_look(style, info, features=features)
    made: list[Output] = []
    try:
        if options.record is not None:
            sound = Soundtrack(info.path, info.audio_codec) if info.path and info.audio_codec else None
            made.append(Recording(options.record, info.size, info.fps, sound, options.loop))
        if options.stream is not None:
            made.append(NetworkStream(options.stream, info.size, info.fps))
        if options.virtual_camera:
            camera = VirtualCamera(info.size, info.fps)
            log(f"virtual camera: {camera.device}")
            made.append(camera)
    except BaseException:
        for output in made:
            output.close()
        look.close()
        raise
    with capture, dream_threads():
        return run_live(capture.newest, look, [*made, *outputs], duration=options.duration, stats=stats,
                        started=(lambda dreaming: started(dreaming, info)) if started else None)


def live_features(style: Style, info: SourceInfo, options: LiveOptions) -> Any:
    """The live audio features a style's ``react:`` follows: a file source's own sound, or a microphone."""
    if not style.react and options.audio_in is None:
        return None
    from dreamvideo.audio_live import file_features, microphone_features

    if options.audio_in in (None, "source"):
        if info.path is None or info.audio_codec is None:
            raise MediaError(f"the style reacts to audio (react:), but {info.name} has no sound of its own; "
                             "listen to a microphone with --audio-in default (or a device's name)")
        return file_features(info.path, info.fps, style.react_attack, style.react_release, loop=options.loop)
    return microphone_features(options.audio_in, info.fps, style.react_attack, style.react_release)


@contextlib.contextmanager
def dream_threads() -> Iterator[int]:
    """While live: the network on all cores but one, which the stage and the capture keep. Two thread pools
    on the same cores make each other wait: on 2 cores the dreaming thread managed 8 updates/s with 2 torch
    threads and 17 with 1 (docs/benchmarks.md)."""
    import torch

    before = torch.get_num_threads()
    threads = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(min(before, threads))
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def live_look(style: Style, info: SourceInfo, model: Any = None, features: Any = None) -> Look:
    """The look a live run dreams with, at the source's frame size; a mask video loops (a camera has no end).
    ``model``: a network already built for the style's model."""
    style = style.model_copy(update={"mask_loop": True})
    return Look.of(Dreamer(style, model=model), info.size, "video", info.size, features, fps=info.fps, frames=1)
