"""One live session: the newest captured frame in, the dreaming, the stage, the counts.

Two threads and no queue. The dreaming thread takes the newest frame and steps the coherence chain on it:
a shot's first frame gets the style's work, the others a warm step or two on top of the dream carried from
the frame before. The stage (``LiveSession.show``, on the caller's thread) shows every frame the source
delivers, whether or not a new dream is ready: the newest dream carried onto it along the flow since, with
the chain's carry and strength hold (``Chain.carried``). Frames the stage was too slow for are dropped and
counted; the outputs get the last shown frame for each, so a recording keeps one frame per source frame.
A shown frame's latency is from its capture to its showing.

Time comes from an injected ``clock`` (seconds, monotonic), so a test drives a session with a fake clock
and its own frames and gets exact counts; the dreaming can be stepped by hand (``threaded=False``).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from dreamvideo.coherence import Chain, Last, MotionOf
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError, DreamVideoError
from dreamvideo.flow import to_gray
from dreamvideo.look import Look
from dreamvideo.media.capture import Captured, Newest, SourceInfo
from dreamvideo.react import schedules

Clock = Callable[[], float]


class Output(Protocol):
    """Where shown frames go: ``write`` each, ``close`` at the end."""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


@dataclass
class LiveStats:
    """What a live session did: frames shown and dropped, dream updates, capture-to-display latencies, on
    the session's clock."""

    clock: Clock = time.perf_counter
    shown: int = 0
    dropped: int = 0
    updates: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, one per shown frame
    began: float = 0.0
    ended: float | None = None
    stopped: str | None = None  # why the source stopped delivering, when it did mid-run

    def __post_init__(self) -> None:
        self.began = self.began or self.clock()

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.began

    @property
    def updates_per_second(self) -> float:
        return self.updates / max(self.seconds, 1e-9)

    def latency(self, q: float) -> float:
        """The ``q`` quantile of the latency, in ms."""
        if len(self.latencies) < 2:
            return 1000 * sum(self.latencies)
        return 1000 * (statistics.median(self.latencies) if q == 0.5 else
                       statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1])

    def figures(self) -> dict[str, float]:
        return {"shown": self.shown, "dropped": self.dropped, "updates": self.updates,
                "updates_per_second": self.updates_per_second, "latency_median_ms": self.latency(0.5),
                "latency_p95_ms": self.latency(0.95)}

    def summary(self) -> str:
        total = self.shown + self.dropped
        return (f"live: {self.shown} frames shown, {self.dropped} dropped ({100 * self.dropped / max(total, 1):.1f}%), "
                f"{self.updates_per_second:.1f} dream updates/s, latency median "
                f"{self.latency(0.5):.0f} ms, p95 {self.latency(0.95):.0f} ms")


def own_threads(count: int) -> None:
    """Set torch's thread count for the calling thread alone. torch keeps the count per thread (OpenMP) but
    also hands it to every thread started later; a short-lived thread puts the process's count back, so
    the studio's renders, say, are not slowed by a Live tab."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    restore = threading.Thread(target=torch.set_num_threads, args=(before,), name="dreamvideo-threads")
    restore.start()
    restore.join()


def dream_threads() -> int:
    """The dreaming thread's torch threads: all cores but one, which the stage and the capture keep. Two
    thread pools on the same cores make each other wait: on 2 cores the dreaming managed 8 updates/s with 2
    torch threads and 17 with 1 (docs/benchmarks.md)."""
    import os

    import torch

    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1))


class Dreaming:
    """The dreaming: steps the chain on the newest frame, again and again, on its own thread (``start``) or
    by hand (``update``); ``restyle`` changes the style before the next step, never stopping the stream."""

    def __init__(self, look: Look, newest: Newest, threads: int | None = None):
        self.chain = Chain(look, quick=True)  # DIS's fast flow: 10 ms of an update left to the dreaming
        self.newest = newest
        self.threads = threads
        self.updates = 0
        self.seen = -1  # the index of the last frame dreamed
        self.error: BaseException | None = None
        self.times: list[float] = []  # seconds per update
        self._style: Look | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def look(self) -> Look:
        return self.chain.look

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dreamvideo-dreaming", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def restyle(self, look: Look) -> None:
        with self._lock:
            self._style = look

    def update(self, captured: Captured) -> None:
        """Dream ``captured``: one step of the chain, after any pending restyle."""
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
        self.seen, self.updates = captured.index, self.updates + 1

    def _run(self) -> None:
        try:
            if self.threads is not None:
                own_threads(self.threads)
            while not self._stop.is_set():
                captured = self.newest.wait(self.seen, timeout=0.2)
                if captured is None:
                    if self.newest.ended:
                        return
                    continue
                self.update(captured)
        except BaseException as exc:  # raised by the stage, which ends the run
            self.error = exc


class Stage:
    """Shows a captured frame with the newest dream carried onto it."""

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


class LiveSession:
    """A look dreamed live: ``put`` a captured frame (or let a capture put them into ``newest``), ``show`` it:
    the frame to display, written to the outputs and counted. ``run`` does both until the source ends.

    ``threaded``: the dreaming runs on its own thread with ``threads`` torch threads for itself alone
    (default: all cores but one); without it, ``dream`` steps it by hand. ``clock``: seconds, monotonic."""

    def __init__(self, look: Look, outputs: Sequence[Output] = (), *, newest: Newest | None = None,
                 clock: Clock = time.perf_counter, threaded: bool = True, threads: int | None = None):
        self.newest = newest or Newest()
        self.outputs = list(outputs)
        self.clock = clock
        self.stats = LiveStats(clock)
        self.dreaming = Dreaming(look, self.newest, threads if threads is not None else dream_threads())
        self.stage = Stage(self.dreaming)
        self.shown_index = -1
        self._previous: np.ndarray | None = None
        self._closed = False
        if threaded:
            self.dreaming.start()

    @property
    def look(self) -> Look:
        return self.dreaming.look

    def restyle(self, look: Look) -> None:
        self.dreaming.restyle(look)

    def put(self, frame: np.ndarray, index: int | None = None) -> Captured:
        """A frame captured now (numbered after the last one unless ``index`` says otherwise), for the
        dreaming to take."""
        latest = self.newest.latest()
        captured = Captured(index if index is not None else (latest.index + 1 if latest else 0), frame,
                            self.clock())
        self.newest.put(captured)
        return captured

    def dream(self) -> None:
        """One dream update on the newest frame (by hand, when not threaded)."""
        latest = self.newest.latest()
        if latest is not None and latest.index > self.dreaming.seen:
            self.dreaming.update(latest)

    def show(self, captured: Captured) -> np.ndarray:
        """The frame to display for ``captured``: written to every output (after the last shown frame once
        for each frame skipped since, or this one for frames skipped before the first), counted, its latency
        taken."""
        if self.dreaming.error is not None:
            raise self.dreaming.error
        frame = self.stage.show(captured)
        missed = captured.index - self.shown_index - 1  # frames the stage was too slow for, the first ones too
        if missed > 0:
            self.stats.dropped += missed
            held = self._previous if self._previous is not None else frame  # before the first: the first shown
            for output in self.outputs:
                for _ in range(missed):
                    output.write(held)
        for output in self.outputs:
            output.write(frame)
        self.stats.latencies.append(self.clock() - captured.at)
        self.stats.shown, self.stats.updates = self.stats.shown + 1, self.dreaming.updates
        self.shown_index, self._previous = captured.index, frame
        return frame

    def run(self, duration: float | None = None, stop: threading.Event | None = None,
            on_frame: Callable[[np.ndarray, Captured], None] | None = None) -> LiveStats:
        """Show ``newest``'s frames until the source ends, ``duration`` seconds pass on the clock, ``stop``
        is set or Ctrl-C; then ``close``. A source that fails mid-run ends it with what was shown kept."""
        stop = stop or threading.Event()
        self.stats.began = self.clock()
        try:
            try:
                while not stop.is_set() and (duration is None or self.stats.seconds < duration):
                    captured = self.newest.wait(self.shown_index, timeout=0.5)
                    if self.dreaming.error is not None:
                        raise self.dreaming.error
                    if captured is None:
                        if self.newest.ended:
                            break
                        continue
                    frame = self.show(captured)
                    if on_frame is not None:
                        on_frame(frame, captured)
            except KeyboardInterrupt:  # Ctrl-C ends a live run as the end of its source does
                pass
            error = self.newest.error
            if error is not None:
                if self.stats.shown == 0 or not isinstance(error, DreamVideoError):
                    raise error
                self.stats.stopped = str(error)  # it went away mid-run: what was shown is kept
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        """Stop the dreaming, close the outputs and the look (once); an output's failure is raised after
        all are closed."""
        if self._closed:
            return
        self._closed = True
        self.newest.end()
        self.dreaming.stop()
        self.stats.updates, self.stats.ended = self.dreaming.updates, self.clock()
        errors = []
        for output in self.outputs:
            try:
                output.close()
            except DreamVideoError as exc:
                errors.append(exc)
        self.dreaming.look.close()
        if errors:
            raise errors[0]


def live_look(style: Style, info: SourceInfo, model: Any = None, cues: Any = None) -> Look:
    """The look a live run dreams with, at the source's frame size; a mask video loops (a camera has no end).
    ``model``: a network already built for the style's model."""
    musical = [key for key, s in schedules(style).items() if s.musical] + (["sections"] if style.sections else [])
    if musical:
        raise ConfigError(f"{musical[0]}: live has no song to count bars and beats on, nor sections; key "
                          "schedules in seconds from the start")
    style = style.model_copy(update={"mask_loop": True})
    return Look.of(Dreamer(style, model=model), info.size, "video", info.size, cues, fps=info.fps, frames=1)
