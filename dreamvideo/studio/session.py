"""One studio over a folder: its uploads, previews and render queue, and the styles the page sends, as
plain Python. The web layer (``app``) only moves bytes and JSON to and from these."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamvideo.config import MusicConfig, Style, list_presets, preset_dir, style_from_text
from dreamvideo.errors import DreamVideoError, MediaError
from dreamvideo.media.images import MAX_PIXELS
from dreamvideo.networks import Networks
from dreamvideo.studio.controls import CONTROLS, HELP, MAX_QUEUE, limits
from dreamvideo.studio.previews import Previews
from dreamvideo.studio.renders import Renders
from dreamvideo.studio.uploads import MAX_UPLOAD, Upload, Uploads

if TYPE_CHECKING:
    from dreamvideo.analyse import Analysis

KEEP_SONGS = 2  # analysed songs kept (their samples: 5 MB a minute)
WAVE_COLUMNS = 1600  # the waveform's peaks the Music view draws


class Studio:
    """Uploads, previews and renders all live in the folder ``out``."""

    def __init__(self, out: str | Path, max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
                 max_queue: int = MAX_QUEUE):
        self.out = Path(out).resolve()
        self.uploads = Uploads(self.out / "uploads", max_upload, max_pixels)
        self.previews = Previews(self.out / "previews", max_pixels)
        self.renders = Renders(self.out / "renders", max_queue)
        self._live_networks = Networks()  # the Live tab's own: previews run beside it
        self._live = threading.Lock()  # held by the one Live tab at a time: its network is not shared
        self._preset_styles: dict[str, str] | None = None
        self._analyses: dict[tuple[str, str], Any] = {}  # the songs analysed last, last
        self._analysing = threading.Lock()

    def analysis(self, upload: Upload, music: MusicConfig | None = None) -> Analysis:
        """The song of ``upload`` (a song, or a video's sound) analysed as ``music`` has it; the last
        ``KEEP_SONGS`` kept."""
        from dreamvideo.analyse import analyse

        if upload.kind == "image":
            raise MediaError(f"{upload.name!r} is a photo: it has no sound; choose a song or a video")
        music = music or MusicConfig()
        key = (upload.id, music.model_dump_json())
        with self._analysing:
            found = self._analyses.pop(key, None) or analyse(upload.path, music)
            self._analyses[key] = found
            while len(self._analyses) > KEEP_SONGS:
                del self._analyses[next(iter(self._analyses))]
            return found

    def timeline(self, song: Upload, style: Style) -> dict[str, Any]:
        """The Music view's song and style (see ``app.timeline``); ``sound``: the file the page plays."""
        import numpy as np

        from dreamvideo.analyse import curves, section_bands, summary

        found = self.analysis(song, style.music)
        columns = np.array_split(np.abs(found.samples), WAVE_COLUMNS) if len(found.samples) >= WAVE_COLUMNS else []

        def rounded(values: Any) -> list[float]:
            return [round(float(v), 4) for v in values]

        return {**summary(found), "file": song.name, "fps": found.fps,
                "wave": rounded(float(c.max()) for c in columns),
                "loudness": rounded(found.cues.loudness), "onset": rounded(found.cues.onset),
                "curves": {key: rounded(values) for key, values in curves(found, style).items()},
                "sections": [[begins, whole, name] for begins, whole, name in section_bands(found, style)],
                "sound": self.sound(song)}

    def sound(self, upload: Upload) -> Path:
        """A file the page can play: a song as it came; a video's sound as AAC, made once."""
        from dreamvideo.media.ffmpeg import encode_sound

        if upload.kind == "audio":
            return upload.path
        if upload.kind == "image":
            raise MediaError(f"{upload.name!r} is a photo: it has no sound; choose a song or a video")
        path = self.previews.folder / f"sound-{upload.id}.m4a"
        if not path.is_file():
            part = path.with_name(f".{path.stem}.part.m4a")
            encode_sound(upload.path, part)
            part.replace(path)
        return path

    def presets(self) -> dict[str, str]:
        """Each shipped preset's YAML text."""
        return {name: (preset_dir() / f"{name}.yaml").read_text(encoding="utf-8") for name in list_presets()}

    def style(self, text: str, sets: dict[str, Any] | None = None) -> Style:
        """The style of YAML ``text`` with the page's control values (dotted keys) on top. Files may only
        come from the presets' folder or the studio's own."""
        return style_from_text(text, sets, allowed=(preset_dir(), self.out))

    def label(self, style: Style) -> str:
        """What the page calls ``style``: a preset's name when it is that preset, else "custom" and a short hash."""
        if self._preset_styles is None:
            self._preset_styles = {}
            for name, text in self.presets().items():
                try:
                    self._preset_styles[self.style(text).model_dump_json()] = name
                except DreamVideoError:
                    continue  # a preset this studio cannot load (e.g. its weights are not here)
        found = style.model_dump_json()
        return self._preset_styles.get(found) or "custom " + hashlib.sha256(found.encode()).hexdigest()[:6]

    def claim_live(self) -> bool:
        """Whether the Live tab asking may run: True for the first, False while one runs (checked and taken
        at once, so two tabs starting together cannot both get in); ``release_live`` when it ends."""
        return self._live.acquire(blocking=False)

    def release_live(self) -> None:
        self._live.release()

    def live_look(self, style: Style, size: tuple[int, int]):
        """The Live tab's look for ``style`` at frames of ``size``, its network built once per model."""
        from fractions import Fraction

        from dreamvideo.live.session import live_look
        from dreamvideo.media.capture import SourceInfo

        return live_look(style, SourceInfo("the page's camera", Fraction(30), size),
                         model=self._live_networks.get(style))

    def options(self) -> dict[str, Any]:
        """What the page is built from: presets, models and their layers, controls and limits."""
        from dreamvideo.models import get_spec, list_models

        models = {}
        for name in list_models():
            spec = get_spec(name)
            models[name] = {"description": spec.description, "default_layers": list(spec.default_layers),
                            "layers": [{"name": layer.name, "channels": layer.channels, "stride": layer.stride}
                                       for layer in spec.layers]}
        presets = self.presets()
        return {"presets": presets, "models": models, "default": presets.get("classic", ""), "controls": CONTROLS,
                "help": HELP,
                "limits": limits(self.uploads.max_upload, self.renders.limit)}
