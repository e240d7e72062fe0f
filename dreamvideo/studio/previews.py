"""The studio's previews: a still of the upload (or of its video at a time) and a short coherent clip, at
preview size, one at a time, the network built once per model and reused across style changes."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.config import Style
from dreamvideo.errors import MediaError
from dreamvideo.media.images import fit_size, read_image, resize_image
from dreamvideo.networks import Networks
from dreamvideo.studio.controls import CLIP_SECONDS, PREVIEW_SIDE
from dreamvideo.studio.uploads import Upload


def video_frame(upload: Upload, size: tuple[int, int], fps, at: float) -> np.ndarray:
    """The frame of an uploaded video at ``at`` seconds, decoded at ``size`` (and ``fps``, as a render reads it)."""
    from dreamvideo.media.ffmpeg import read_frames

    frames = read_frames(upload.path, size, fps, at, max_frames=1)
    try:
        found = next(frames, None)
    finally:
        frames.close()
    if found is None:
        raise MediaError(f"no frame at {at:.2f} s in {upload.name!r}; pick an earlier time")
    return found


def frame_index(seconds: float, fps: Any, frames: int) -> int:
    """The frame of a video (of ``frames`` at ``fps``) a preview at ``seconds`` shows: the nearest."""
    return min(round(max(0.0, seconds) * fps), max(0, frames - 1))


def preview_style(style: Style) -> Style:
    """``style`` at preview size, whatever its own output size."""
    return style.model_copy(update={"output": style.output.model_copy(update={"max_side": PREVIEW_SIDE})})


def fitted(style: Style, upload: Upload) -> Style:
    """``style`` as a still of ``upload`` dreams it: at the render's size where that fits a preview, else at
    the preview size."""
    native = (upload.width, upload.height)
    return preview_style(style) if max(style.output.size(*native, multiple=2)) > PREVIEW_SIDE else style


class Previews:
    """Stills and clips of uploads, written (clips) to ``folder``."""

    def __init__(self, folder: Path, max_pixels: int):
        self.folder, self.max_pixels = folder, max_pixels
        folder.mkdir(parents=True, exist_ok=True)
        self.networks = Networks()
        self._dreamer: tuple[str, Any] | None = None  # the last style's
        self._lock = threading.Lock()  # one preview at a time; renders have their own worker
        self.clip_progress = (0, 0)  # frames done and to do of the clip being made
        self._clip: tuple[Any, list[np.ndarray]] | None = None  # the clip cycled under a song, decoded
        self._infos: dict[str, Any] = {}  # each video upload's probe (an upload never changes)

    def info(self, upload: Upload) -> Any:
        """What ffmpeg says of a video upload, probed once."""
        from dreamvideo.media.ffmpeg import probe

        if upload.id not in self._infos:
            self._infos[upload.id] = probe(upload.path)
        return self._infos[upload.id]

    def dreamer(self, style: Style):
        """A Dreamer for ``style``, its network built once per model."""
        from dreamvideo.dreamer import Dreamer

        key = json.dumps(style.model_dump(mode="json"), sort_keys=True)
        if self._dreamer is None or self._dreamer[0] != key:
            self._dreamer = (key, Dreamer(style, model=self.networks.get(style)))
        return self._dreamer[1]

    def frame(self, upload: Upload, seconds: float = 0.0, side: int = PREVIEW_SIDE) -> np.ndarray:
        """The upload's picture, or its video's frame at ``seconds``, at most ``side`` px."""
        size = fit_size(upload.width, upload.height, max_side=side, multiple=2)
        if upload.kind == "image":
            return resize_image(read_image(upload.path, self.max_pixels), size)
        return video_frame(upload, size, None, min(max(0.0, seconds), max(0.0, upload.duration - 0.05)))

    def still(self, upload: Upload, style: Style, seconds: float = 0.0, song: Upload | None = None,
              cycle: str = "loop") -> tuple[np.ndarray, float]:
        """What the render (a video) or the zoom (a photo) shows first from ``seconds`` on: the frame
        there dreamed as they dream it, with the seed they use for it, at their size where that fits a
        preview (else at the preview size, which the page states); and the seconds it took. The still of a
        render's first frame is that frame, bit for bit, on the same device. With a ``song``, the song is the
        timeline: a video is `render --audio SONG --cycle CYCLE --start T`, a photo the zoom on the song."""
        from dreamvideo.coherence import Chain
        from dreamvideo.look import Look
        from dreamvideo.react import on_the_song, style_cues
        from dreamvideo.sections import Dreamers, Looks, SectionChain, mix, moment, song_parts

        with self._lock:
            began = time.perf_counter()
            native = (upload.width, upload.height)
            style = fitted(style, upload)
            dreamers = Dreamers(self.dreamer(style), self.networks)
            if upload.kind == "image":
                from fractions import Fraction

                from dreamvideo.video.zoom import ZoomOptions, first_frame, zoom_dream

                start = first_frame(style, upload.path, ZoomOptions(max_pixels=self.max_pixels))
                size = (start.shape[1], start.shape[0])
                rate = Fraction(style.zoom.fps).limit_denominator(1001)
                tune = song.path if song is not None else None
                count = max(1, round(song.duration * rate)) if song is not None else 1

                def photo_look(other: Style) -> Look:
                    cues = style_cues(other, tune, rate, count) if other.react and tune else None
                    return Look.of(dreamers(other), size, "zoom", size, cues, fps=rate, frames=count,
                                   max_pixels=self.max_pixels,
                                   style=on_the_song(other, tune, "no song was given", at_start=tune is None))

                plan = song_parts(style, tune, "no song was given", at_start=tune is None)
                zoom = on_the_song(style, tune, "no song was given", at_start=tune is None).zoom  # as zoom_video
                with closing(Looks(plan, photo_look(style), photo_look)) as looks:
                    now = moment(plan, 0.0)  # the zoom's first frame, at the song's first moment
                    dreamed = zoom_dream(looks[now.current], start, 0, 0.0, first=True, zoom=zoom)
                    if now.incoming is not None:
                        dreamed = mix(dreamed, zoom_dream(looks[now.incoming], start, 0, 0.0, first=True,
                                                          zoom=zoom), now.share)
                    return dreamed, time.perf_counter() - began
            from dreamvideo.video.render import geometry

            # as `render --start T` dreams its frame 0: the frame at T, the song's moment T, its seed
            info = self.info(upload)
            fps, size = geometry(info, style)
            if song is None:
                index = frame_index(seconds, fps, info.frames)
                at, length = index / float(fps), info.duration
                frame = video_frame(upload, size, fps, at)
                sound = upload.path if info.audio_codec else None
            else:  # the song's moment T, and the clip's frame there as it cycles
                index = frame_index(seconds, fps, round(song.duration * fps))
                at, length, sound = index / float(fps), song.duration, song.path
                frame = next(iter(self.cycled(upload, info, size, fps, cycle, index)))
            frames = max(1, round((length - at) * fps))  # the render's, to the end
            missing = f"{upload.name!r} has no sound"

            def video_look(other: Style) -> Look:
                cues = style_cues(other, sound, fps, frames, at, missing) if other.react and sound else None
                return Look.of(dreamers(other), size, "video", native, cues, fps=fps, start=at, frames=frames,
                               max_pixels=self.max_pixels, song_start=at,
                               style=on_the_song(other, sound, missing, at_start=sound is None))

            plan = song_parts(style, sound, missing, at_start=sound is None)  # the sections at T
            with closing(Looks(plan, video_look(style), video_look)) as looks:
                chain = SectionChain(Chain(looks[0]), looks, float(fps), at)
                return chain.step(frame), time.perf_counter() - began

    def moment(self, upload: Upload, style: Style, seconds: float, song: Upload | None = None) -> float:
        """The moment the still of ``seconds`` is dreamed at (its frame's): where a render started gives it."""
        if upload.kind == "image":
            return 0.0
        from dreamvideo.video.render import geometry

        info = self.info(upload)
        fps, _ = geometry(info, fitted(style, upload))
        frames = round(song.duration * fps) if song is not None else info.frames
        return frame_index(seconds, fps, frames) / float(fps)

    def cycled(self, upload: Upload, info: Any, size: tuple[int, int], fps: Any, cycle: str, index: int) -> list:
        """Frame ``index`` of the clip cycled under a song (``render.cycled_frames``), the clip decoded once
        for all the moments scrubbed to."""
        from dreamvideo.video.render import clip_frames, cycle_index, cycle_named

        cycle_named(cycle, "cycle")
        key = (upload.id, size, str(fps))
        if self._clip is None or self._clip[0] != key:
            self._clip = (key, clip_frames(upload.path, info, size, fps))
        clip = self._clip[1]
        return [clip[cycle_index(index, len(clip), cycle)]]

    def clip(self, upload: Upload, style: Style, seconds: float = 0.0) -> Path:
        """A short coherent render at preview size, as an MP4: ``CLIP_SECONDS`` around ``seconds``
        (``clip_progress`` says how far it is)."""
        from dreamvideo.video.render import RenderOptions, render_video

        if upload.kind != "video":
            raise MediaError("a preview clip needs a video; for a photo, render a short zoom")
        style = preview_style(style)
        start = min(max(0.0, seconds - CLIP_SECONDS / 2), max(0.0, upload.duration - CLIP_SECONDS))
        named = f"{upload.id}:{start:.3f}:{CLIP_SECONDS}:{style.model_dump_json()}"
        key = hashlib.sha256(named.encode()).hexdigest()[:16]
        path = self.folder / f"{key}.mp4"
        if not path.exists():
            def progress(done: int, total: int) -> None:
                self.clip_progress = (done, total)

            with self._lock:
                self.clip_progress = (0, 0)
                render_video(upload.path, path, style, RenderOptions(start=start, duration=CLIP_SECONDS,
                                                                     max_pixels=self.max_pixels),
                             dreamer=self.dreamer(style), progress=progress)
        return path

    def original(self, upload: Upload, style: Style, seconds: float = 0.0, song: Upload | None = None,
                 cycle: str = "loop") -> np.ndarray:
        """The source the still of ``seconds`` is dreamed from, at the still's size (to compare)."""
        native = (upload.width, upload.height)
        style = fitted(style, upload)
        if upload.kind == "image":
            from dreamvideo.video.zoom import ZoomOptions, first_frame

            return first_frame(style, upload.path, ZoomOptions(max_pixels=self.max_pixels))
        if song is not None:
            from dreamvideo.video.render import geometry

            info = self.info(upload)
            fps, size = geometry(info, style)
            index = frame_index(seconds, fps, round(song.duration * fps))
            with self._lock:
                return self.cycled(upload, info, size, fps, cycle, index)[0]
        return self.frame(upload, seconds, max(style.output.size(*native, multiple=2)))
