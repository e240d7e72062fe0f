"""The studio's previews: a still of the upload (or of its video at a time) and a short coherent clip, at
preview size, one at a time, the network built once per model and reused across style changes."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.config import Style
from dreamvideo.errors import MediaError
from dreamvideo.media.images import fit_size, read_image, resize_image
from dreamvideo.studio.controls import CLIP_FRAMES, PREVIEW_SIDE
from dreamvideo.studio.uploads import Upload


def preview_style(style: Style) -> Style:
    """``style`` at preview size, whatever its own output size."""
    return style.model_copy(update={"output": style.output.model_copy(update={"max_side": PREVIEW_SIDE})})


class Previews:
    """Stills and clips of uploads, written (clips) to ``folder``."""

    def __init__(self, folder: Path, max_pixels: int):
        self.folder, self.max_pixels = folder, max_pixels
        folder.mkdir(parents=True, exist_ok=True)
        self._models: dict[tuple[str, str | None], Any] = {}
        self._dreamer: tuple[str, Any] | None = None  # the last style's
        self._lock = threading.Lock()  # one preview at a time; renders have their own worker

    def dreamer(self, style: Style):
        """A Dreamer for ``style``, its network built once per model."""
        from dreamvideo.dreamer import Dreamer
        from dreamvideo.features import get_model

        key = json.dumps(style.model_dump(mode="json"), sort_keys=True)
        if self._dreamer is None or self._dreamer[0] != key:
            model_key = (style.model, str(style.weights) if style.weights else None)
            if model_key not in self._models:
                self._models[model_key] = get_model(style.model, style.weights)
            self._dreamer = (key, Dreamer(style, model=self._models[model_key]))
        return self._dreamer[1]

    def frame(self, upload: Upload, seconds: float = 0.0, side: int = PREVIEW_SIDE) -> np.ndarray:
        """The upload's picture, or its video's frame at ``seconds``, at most ``side`` px."""
        size = fit_size(upload.width, upload.height, max_side=side, multiple=2)
        if upload.kind == "image":
            return resize_image(read_image(upload.path, self.max_pixels), size)
        from dreamvideo.media.ffmpeg import read_frames

        at = min(max(0.0, seconds), max(0.0, upload.duration - 0.05))
        frames = read_frames(upload.path, size, None, at, max_frames=1)
        try:
            found = next(frames, None)
        finally:
            frames.close()
        if found is None:
            raise MediaError(f"no frame at {at:.2f} s in {upload.name!r}; pick an earlier time")
        return found

    def still(self, upload: Upload, style: Style, seconds: float = 0.0) -> tuple[np.ndarray, float]:
        """One frame dreamed at preview size, and the seconds it took."""
        from dreamvideo.look import dream_photo

        style = preview_style(style)
        with self._lock:
            began = time.perf_counter()
            picture = self.frame(upload, seconds)
            dreamed = dream_photo(self.dreamer(style), picture, max_pixels=self.max_pixels)
            return dreamed, time.perf_counter() - began

    def clip(self, upload: Upload, style: Style, seconds: float = 0.0) -> Path:
        """A short coherent render (``CLIP_FRAMES`` frames from ``seconds``) at preview size, as an MP4."""
        from dreamvideo.video.render import RenderOptions, render_video

        if upload.kind != "video":
            raise MediaError("a preview clip needs a video; for a photo, render a short zoom")
        style = preview_style(style)
        start = min(max(0.0, seconds), max(0.0, upload.duration - 0.5))
        key = hashlib.sha256(f"{upload.id}:{start:.3f}:{style.model_dump_json()}".encode()).hexdigest()[:16]
        path = self.folder / f"{key}.mp4"
        if not path.exists():
            with self._lock:
                render_video(upload.path, path, style, RenderOptions(start=start, max_frames=CLIP_FRAMES,
                                                                     max_pixels=self.max_pixels),
                             dreamer=self.dreamer(style))
        return path
