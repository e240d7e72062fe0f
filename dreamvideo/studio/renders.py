"""The studio's render queue: the real ``render`` (a video) or ``zoom`` (a photo), one at a time on a
worker thread, a bounded number waiting; a queued or running render can be cancelled, and a cancelled
render keeps its resumable state, so submitting it again resumes it."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dreamvideo.config import Style
from dreamvideo.errors import ConfigError, DreamVideoError, MediaError
from dreamvideo.studio.controls import MAX_QUEUE, ZOOM_SECONDS
from dreamvideo.studio.uploads import Upload


class QueueFull(DreamVideoError):
    """The render queue is at its limit."""


class Cancelled(Exception):
    """Raised inside a running render (from its progress callback) to stop it."""


@dataclass
class RenderJob:
    """A render (a video) or a zoom (a still) waiting, running or finished."""

    id: str
    kind: str
    upload: Upload
    style: Style
    seconds: float
    output: Path
    label: str = "custom"  # the preset's name, or "custom" and a short hash of the style
    song: Upload | None = None  # the soundtrack and timeline: the whole song, the clip cycled under it
    cycle: str = "loop"
    yaml: str = ""  # the style as the page writes it (its uploads by name); default: as the style dumps
    status: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    error: str = ""
    queued: float = field(default_factory=time.time)
    started: float | None = None  # when it began running
    resumed: int = 0  # frames an earlier run had finished
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def eta(self) -> float | None:
        """Seconds left, from this run's pace; None before there is one."""
        if self.status != "running" or self.started is None or self.done <= self.resumed or not self.total:
            return None
        pace = (time.time() - self.started) / (self.done - self.resumed)
        return pace * (self.total - self.done)

    def public(self, out: Path) -> dict[str, Any]:
        from dreamvideo.studio.controls import style_yaml

        return {"id": self.id, "kind": self.kind, "upload": self.upload.name, "upload_id": self.upload.id,
                "label": self.label, "status": self.status, "done": self.done, "total": self.total,
                "error": self.error, "queued": self.queued, "started": self.started, "eta": self.eta(),
                "yaml": self.yaml or style_yaml(self.style),
                "url": "/files/" + self.output.relative_to(out).as_posix() if self.status == "done" else None}


class Renders:
    """Renders into ``folder``, at most ``limit`` waiting; ``start`` and ``stop`` run the worker."""

    def __init__(self, folder: Path, limit: int = MAX_QUEUE):
        self.folder, self.limit = folder, limit
        folder.mkdir(parents=True, exist_ok=True)
        self.jobs: list[RenderJob] = []
        self._waiting: deque[RenderJob] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="dreamvideo-studio-renders", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker: a running render is cancelled (keeping its resumable state)."""
        with self._wake:
            self._stopping = True
            for job in self.jobs:
                job.cancel.set()
            self._wake.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)

    def submit(self, upload: Upload, style: Style, seconds: float = 4.0, label: str = "custom",
               song: Upload | None = None, cycle: str = "loop", yaml: str = "") -> RenderJob:
        """Queue a render of ``upload``: with a ``song``, the music video (the whole song, a clip cycled under
        it, a photo zoomed to its length). The output's name follows the upload, the song and the style, so
        the same request after a crash or a cancel resumes the interrupted render, and after a finished one is
        that render (nothing is dreamed again)."""
        from dreamvideo.video.render import cycle_named

        if upload.kind == "audio":
            raise MediaError(f"{upload.name!r} is a song: choose the photo or video to dream to it")
        kind = "render" if upload.kind == "video" else "zoom"
        if kind == "zoom" and song is None and not 0 < seconds <= ZOOM_SECONDS:
            raise ConfigError(f"a zoom lasts 0..{ZOOM_SECONDS} seconds; got {seconds:g}")
        cycle_named(cycle, "cycle")
        heard = f"{song.id}:{cycle}" if song is not None else ""
        key = hashlib.sha256(f"{upload.id}:{seconds}:{heard}:{style.model_dump_json()}".encode()).hexdigest()[:10]
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(upload.name).stem)[:40] or kind
        with self._wake:
            if len(self._waiting) >= self.limit:
                raise QueueFull(f"the render queue is full ({self.limit} waiting); wait for one to finish "
                                "or cancel one")
            output = self.folder / f"{stem}-{key}.mp4"
            job = RenderJob(uuid.uuid4().hex[:12], kind, upload, style, seconds, output, label, song, cycle, yaml)
            self.jobs.append(job)
            if job.output.is_file():  # the same upload and style rendered before: that render
                from dreamvideo.media.ffmpeg import probe

                job.status, job.done = "done", probe(job.output).frames
                job.total = job.resumed = job.done
                return job
            self._waiting.append(job)
            self._wake.notify_all()
        return job

    def remove(self, job_id: str) -> None:
        """Take a finished, failed or cancelled render off the list (its file stays)."""
        job = self._job(job_id)
        if job.status in ("queued", "running"):
            raise MediaError("that render is not finished; cancel it first")
        with self._wake:
            self.jobs.remove(job)

    def _job(self, job_id: str) -> RenderJob:
        job = next((j for j in self.jobs if j.id == job_id), None)
        if job is None:
            raise MediaError(f"no render {job_id!r}; it may be from before the studio restarted")
        return job

    def cancel(self, job_id: str) -> RenderJob:
        """Cancel a queued render (it never runs) or a running one (it stops after its current frame)."""
        job = self._job(job_id)
        with self._wake:
            if job.status == "queued":
                self._waiting.remove(job)
                job.status = "cancelled"
            job.cancel.set()
        return job

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                job.status, job.started = "running", time.time()
            self._run(job)

    def _run(self, job: RenderJob) -> None:
        first = True

        def progress(done: int, total: int) -> None:
            nonlocal first
            if first:  # the first report counts what an interrupted run had finished
                job.resumed, job.started, first = done, time.time(), False
            job.done, job.total = done, total
            if job.cancel.is_set():
                raise Cancelled

        try:
            if job.kind == "render":
                from dreamvideo.video.render import RenderOptions, render_video

                options = RenderOptions(audio=job.song.path, cycle=job.cycle) if job.song else RenderOptions()
                render_video(job.upload.path, job.output, job.style, options, progress=progress)
            else:
                from dreamvideo.video.zoom import ZoomOptions, zoom_video

                zoom = ZoomOptions(audio=job.song.path) if job.song else ZoomOptions(seconds=job.seconds)
                zoom_video(job.upload.path, job.output, job.style, zoom, progress=progress)
            job.status = "done"
        except Cancelled:
            job.status = "cancelled"
        except DreamVideoError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # a bug must not stop the queue; say what it was
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
