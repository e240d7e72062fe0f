"""What the studio page does, as plain Python: uploads checked and stored under the output folder, styles
built from YAML text and control values, previews, and a queue of renders. The web layer (``app``) only
moves bytes and JSON to and from these."""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dreamvideo.config import (Style, list_presets, merge, parse_yaml, preset_dir, resolve_paths, set_dotted,
                               validate_style)
from dreamvideo.errors import ConfigError, DreamVideoError, MediaError
from dreamvideo.images import MAX_PIXELS, check_image, fit_size, read_image, resize_image

MAX_UPLOAD = 2 * 1024**3  # bytes
PREVIEW_SIDE = 320  # px, the longer side of previews
CLIP_FRAMES = 12  # frames of a coherent preview clip


@dataclass(frozen=True)
class Upload:
    """A file the page sent, stored as ``uploads/<id><suffix>``: a still ``image`` or a ``video``."""

    id: str
    name: str  # as the browser named it: shown, never used as a path
    kind: str
    path: Path
    width: int
    height: int
    duration: float = 0.0

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "width": self.width, "height": self.height,
                "duration": self.duration}


@dataclass
class Job:
    """A render (a video) or a zoom (a still) waiting, running or finished."""

    id: str
    kind: str
    upload: Upload
    style: Style
    seconds: float
    output: Path
    status: str = "queued"  # queued, running, done, failed
    done: int = 0
    total: int = 0
    error: str = ""
    began: float = field(default_factory=time.time)

    def public(self, out: Path) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "upload": self.upload.name, "status": self.status,
                "done": self.done, "total": self.total, "error": self.error,
                "url": "/files/" + self.output.relative_to(out).as_posix() if self.status == "done" else None}


class Studio:
    """One studio over the folder ``out`` (uploads, previews and renders all live in it)."""

    def __init__(self, out: str | Path, max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS):
        self.out = Path(out).resolve()
        self.max_upload, self.max_pixels = max_upload, max_pixels
        for sub in ("uploads", "previews", "renders"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.uploads: dict[str, Upload] = self._known_uploads()
        self.jobs: list[Job] = []
        self._models: dict[tuple[str, str | None], Any] = {}
        self._dreamers: dict[str, Any] = {}
        self._preview_lock = threading.Lock()  # one preview at a time; renders have their own worker
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="dreamvideo-studio-renders", daemon=True)
        self._worker.start()

    # --- uploads ------------------------------------------------------------------------------------

    def receive(self, name: str, chunks: Iterable[bytes]) -> Upload:
        """Store an upload's bytes under a fresh name, then check what it is (``accept``)."""
        part = self.new_part()
        try:
            with part.open("wb") as f:
                size = 0
                for chunk in chunks:
                    size = self.count(name, size, chunk)
                    f.write(chunk)
            return self.accept(name, part)
        finally:
            part.unlink(missing_ok=True)

    def new_part(self) -> Path:
        """Where an upload's bytes go while they arrive."""
        return self.out / "uploads" / f".{uuid.uuid4().hex[:16]}.part"

    def count(self, name: str, size: int, chunk: bytes) -> int:
        """``size`` plus the chunk's length, refused past the upload limit."""
        size += len(chunk)
        if size > self.max_upload:
            raise MediaError(f"{name!r} is larger than the studio's limit of {self.max_upload / 1024**2:,.0f} MB; "
                             "trim it, or start the studio with a larger --max-upload")
        return size

    def accept(self, name: str, part: Path) -> Upload:
        """Check what the bytes at ``part`` are and keep them as an upload; a bad one is removed and named
        in a MediaError."""
        try:
            if part.stat().st_size == 0:
                raise MediaError(f"{name!r} is empty; choose a photo or a video")
            return self._identify(part.stem.lstrip("."), name, part)
        finally:
            part.unlink(missing_ok=True)

    def _identify(self, upload_id: str, name: str, part: Path) -> Upload:
        from PIL import Image, UnidentifiedImageError

        from dreamvideo.video.io import probe

        try:
            with Image.open(part) as im:
                fmt = (im.format or "").lower()
        except (UnidentifiedImageError, OSError):
            fmt = ""
        if fmt and fmt != "gif":
            suffix = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")
            path = self.out / "uploads" / f"{upload_id}{suffix}"
            shutil.move(part, path)
            try:
                w, h = check_image(path, self.max_pixels)
            except MediaError as exc:
                path.unlink(missing_ok=True)
                raise MediaError(str(exc).replace(str(path), name)) from None
            upload = Upload(upload_id, name, "image", path, w, h)
        else:
            path = self.out / "uploads" / f"{upload_id}.video"
            shutil.move(part, path)
            try:
                info = probe(path)
            except MediaError:
                path.unlink(missing_ok=True)
                raise MediaError(f"{name!r} is neither a photo nor a video dreamvideo can read; choose a JPEG, "
                                 "PNG or WebP photo, or an MP4, MOV, MKV or WebM video") from None
            upload = Upload(upload_id, name, "video", path, info.width, info.height, info.duration)
        self.uploads[upload_id] = upload
        record = {**upload.public(), "file": path.name}
        (self.out / "uploads" / f"{upload_id}.json").write_text(json.dumps(record), encoding="utf-8")
        return upload

    def _known_uploads(self) -> dict[str, Upload]:
        """The uploads of earlier runs over the same folder (each file has a JSON record beside it)."""
        found = {}
        for record in (self.out / "uploads").glob("*.json"):
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
                path = self.out / "uploads" / Path(data["file"]).name
                if path.is_file():
                    found[data["id"]] = Upload(data["id"], data["name"], data["kind"], path, int(data["width"]),
                                               int(data["height"]), float(data["duration"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged record: that upload is dropped again
        return found

    def upload(self, upload_id: str) -> Upload:
        found = self.uploads.get(str(upload_id))
        if found is None:
            raise MediaError("that upload is gone (its file was removed?); drop the file in again")
        return found

    # --- styles -------------------------------------------------------------------------------------

    def presets(self) -> dict[str, str]:
        """Each shipped preset's YAML text."""
        return {name: (preset_dir() / f"{name}.yaml").read_text(encoding="utf-8") for name in list_presets()}

    def style(self, text: str, sets: dict[str, Any] | None = None) -> tuple[Style, str]:
        """The style of YAML ``text`` with the page's control values (dotted keys) on top, and its YAML as
        `--config` takes it. Files may only come from the presets' folder or the studio's own."""
        data = resolve_paths(parse_yaml(text or "", "the style"), preset_dir())
        for key, value in (sets or {}).items():
            set_dotted(data, key.split("."), value)
        self._check_files(data)  # before validation, which reads the files a style names
        style = validate_style(merge(Style().model_dump(mode="json", exclude_none=True), data))
        return style, style_yaml(style)

    def _check_files(self, data: dict[str, Any]) -> None:
        """Refuse a style (as data, its paths resolved) that names a file outside the studio's folder and
        the presets'; a region's style may also be a preset's name."""
        guide = data.get("guide") if isinstance(data.get("guide"), dict) else {}
        named = [("weights", data.get("weights")), ("mask", data.get("mask")), ("guide.image", guide.get("image"))]
        for i, region in enumerate(data.get("regions") or []):
            if isinstance(region, dict):
                named.append((f"regions.{i}.mask", region.get("mask")))
                if region.get("style") not in list_presets():
                    named.append((f"regions.{i}.style", region.get("style")))
        allowed = (preset_dir().resolve(), self.out)
        for key, path in named:
            if isinstance(path, str) and not any(Path(path).resolve().is_relative_to(a) for a in allowed):
                raise ConfigError(f"{key}: the studio reads files only from its own folder and the presets'; "
                                  f"use `dreamvideo` on the command line for {path!r}")

    # --- previews -----------------------------------------------------------------------------------

    def dreamer(self, style: Style):
        """A Dreamer for ``style``, its network built once per model and reused across style changes."""
        from dreamvideo.dreamer import Dreamer
        from dreamvideo.features import get_model

        key = json.dumps(style.model_dump(mode="json"), sort_keys=True)
        if key not in self._dreamers:
            model_key = (style.model, str(style.weights) if style.weights else None)
            if model_key not in self._models:
                self._models[model_key] = get_model(style.model, style.weights)
            self._dreamers = {key: Dreamer(style, model=self._models[model_key])}  # the last style only
        return self._dreamers[key]

    def frame(self, upload: Upload, seconds: float = 0.0, side: int = PREVIEW_SIDE) -> np.ndarray:
        """The upload's picture, or its video's frame at ``seconds``, at most ``side`` px."""
        size = fit_size(upload.width, upload.height, max_side=side, multiple=2)
        if upload.kind == "image":
            return resize_image(read_image(upload.path, self.max_pixels), size)
        from dreamvideo.video.io import read_frames

        at = min(max(0.0, seconds), max(0.0, upload.duration - 0.05))
        frames = read_frames(upload.path, size, None, at, max_frames=1)
        try:
            found = next(frames, None)
        finally:
            frames.close()
        if found is None:
            raise MediaError(f"no frame at {at:.2f} s in {upload.name!r}; pick an earlier time")
        return found

    def preview(self, upload_id: str, text: str, sets: dict[str, Any] | None = None, seconds: float = 0.0
                ) -> tuple[np.ndarray, float]:
        """One frame dreamed at preview size, and the seconds it took."""
        upload = self.upload(upload_id)
        style, _ = self.style(text, sets)
        style = style.model_copy(update={"output": style.output.model_copy(update={"max_side": PREVIEW_SIDE})})
        with self._preview_lock:
            began = time.perf_counter()
            picture = self.frame(upload, seconds)
            dreamed = self.dreamer(style).dream_array(picture)
            return dreamed, time.perf_counter() - began

    def preview_clip(self, upload_id: str, text: str, sets: dict[str, Any] | None = None,
                     seconds: float = 0.0) -> Path:
        """A short coherent render (``CLIP_FRAMES`` frames from ``seconds``) at preview size, as an MP4."""
        from dreamvideo.video.render import RenderOptions, render_video

        upload = self.upload(upload_id)
        if upload.kind != "video":
            raise MediaError("a preview clip needs a video; for a photo, render a short zoom")
        style, _ = self.style(text, sets)
        style = style.model_copy(update={"output": style.output.model_copy(update={"max_side": PREVIEW_SIDE})})
        start = min(max(0.0, seconds), max(0.0, upload.duration - 0.5))
        key = hashlib.sha256(f"{upload.id}:{start:.3f}:{style.model_dump_json()}".encode()).hexdigest()[:16]
        path = self.out / "previews" / f"{key}.mp4"
        if not path.exists():
            with self._preview_lock:
                render_video(upload.path, path, style, RenderOptions(start=start, max_frames=CLIP_FRAMES),
                             dreamer=self.dreamer(style))
        return path

    # --- renders ------------------------------------------------------------------------------------

    def submit(self, upload_id: str, text: str, sets: dict[str, Any] | None = None, seconds: float = 4.0) -> Job:
        """Queue the real render (a video) or zoom (a photo, ``seconds`` long). The output's name follows
        the upload and the style, so the same request after a crash resumes the interrupted render."""
        upload = self.upload(upload_id)
        style, _ = self.style(text, sets)
        kind = "render" if upload.kind == "video" else "zoom"
        if kind == "zoom" and not 0 < seconds <= 600:
            raise ConfigError(f"a zoom lasts 0..600 seconds; got {seconds:g}")
        key = hashlib.sha256(f"{upload.id}:{seconds}:{style.model_dump_json()}".encode()).hexdigest()[:10]
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(upload.name).stem)[:40] or kind
        job = Job(uuid.uuid4().hex[:12], kind, upload, style, seconds, self.out / "renders" / f"{stem}-{key}.mp4")
        self.jobs.append(job)
        self._queue.put(job)
        return job

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.status = "running"

            def progress(done: int, total: int, job: Job = job) -> None:
                job.done, job.total = done, total

            try:
                if job.kind == "render":
                    from dreamvideo.video.render import render_video

                    render_video(job.upload.path, job.output, job.style, progress=progress)
                else:
                    from dreamvideo.video.zoom import ZoomOptions, zoom_video

                    zoom_video(job.upload.path, job.output, job.style, ZoomOptions(seconds=job.seconds),
                               progress=progress)
                job.status = "done"
            except DreamVideoError as exc:
                job.status, job.error = "failed", str(exc)
            except Exception as exc:  # a bug must not stop the queue; say what it was
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._queue.put(None)


def controls(style: Style) -> dict[str, Any]:
    """The values of the page's controls for ``style``."""
    first = style.layers[0] if style.layers else None
    return {"model": style.model, "layer": first.name if first else "",
            "channels": ",".join(map(str, first.channels)) if first and first.channels else "",
            "octaves": style.octaves, "iterations": style.iterations, "step_size": style.step_size,
            "blend": style.blend, "zoom.scale": style.zoom.scale.at(0), "zoom.rotate": style.zoom.rotate.at(0),
            "colors": style.colors}


def style_yaml(style: Style) -> str:
    """The style as a compact YAML file: only what differs from the defaults (the layers always)."""
    data = style.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("layers", style.model_dump(mode="json")["layers"])
    layers = [t["name"] if set(t) == {"name"} else t for t in data["layers"]]
    data["layers"] = layers
    order = list(Style.model_fields)
    return yaml.safe_dump({k: data[k] for k in order if k in data}, sort_keys=False, allow_unicode=True)
