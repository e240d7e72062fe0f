"""One studio over a folder: its uploads, previews and render queue, and the styles the page sends, as
plain Python. The web layer (``app``) only moves bytes and JSON to and from these."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamvideo.config import MusicConfig, Style, list_presets, preset_dir, style_from_text
from dreamvideo.errors import ConfigError, DreamVideoError, MediaError
from dreamvideo.media.images import MAX_PIXELS
from dreamvideo.networks import Networks
from dreamvideo.studio.controls import CONTROLS, HELP, MAX_QUEUE, limits, style_yaml
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

        music = music or MusicConfig()
        key = (upload.id, music.model_dump_json())
        with self._analysing:
            found = self._analyses.pop(key, None) or analyse(heard(upload), music)
            self._analyses[key] = found
            while len(self._analyses) > KEEP_SONGS:
                del self._analyses[next(iter(self._analyses))]
            return found

    def timeline(self, song: Upload, style: Style) -> dict[str, Any]:
        """The Music view's song and style (see ``app.timeline``); ``sound``: the file the page plays."""
        from dreamvideo.analyse import curves, peaks, section_bands, stems, summary

        found = self.analysis(song, style.music)
        names = self.names()

        def rounded(values: Any) -> list[float]:
            return [round(float(v), 4) for v in values]

        return {**summary(found), "file": song.name, "fps": found.fps,
                "wave": rounded(peaks(found.samples, WAVE_COLUMNS)),
                "loudness": rounded(found.cues.loudness), "onset": rounded(found.cues.onset),
                "curves": {key: rounded(values) for key, values in curves(found, style).items()},
                "sections": [[begins, whole, name] for begins, whole, name in section_bands(found, style)],
                "stems": [{"name": names.get(str(stem.path), stem.path.name), "keys": list(stem.keys),
                           "duration": round(stem.duration, 3), "wave": rounded(stem.wave),
                           "loudness": rounded(stem.loudness)} for stem in stems(found, style, WAVE_COLUMNS)],
                "sound": self.sound(song)}

    def sound(self, upload: Upload) -> Path:
        """A file the page can play: a song as it came; a video's sound as AAC, made once."""
        from dreamvideo.media.ffmpeg import encode_sound

        if upload.kind == "audio":
            return upload.path  # (read as a song when it came)
        path = self.previews.folder / f"sound-{upload.id}.m4a"
        if not path.is_file():
            part = path.with_name(f".{path.stem}.{threading.get_ident()}.part.m4a")  # two pages asking at once
            try:
                encode_sound(heard(upload), part)
                part.replace(path)
            finally:
                part.unlink(missing_ok=True)
        return path

    def job(self, text: str, styles: Mapping[str, str]) -> dict[str, Any]:
        """What a job list's first render or zoom puts on the page: its style as YAML (a preset, or one of
        ``styles``, YAML files by name, opened with the list; with the job's ``set:`` on top), the names of its
        input and song, and its cycle and length."""
        from dreamvideo.batch import parse_job
        from dreamvideo.config.load import parse_yaml

        data = parse_yaml(text, "the job list")
        jobs = data.get("jobs") if set(data) == {"jobs"} else None
        if not isinstance(jobs, list) or not jobs:
            raise ConfigError("the job list is a mapping with one key, `jobs:`, holding a list of jobs")
        listed = [(i, raw) for i, raw in enumerate(jobs) if isinstance(raw, dict) and raw.get("command") != "dream"]
        if not listed:
            raise ConfigError("the job list has no render or zoom to put on the timeline; open one that has")
        i, raw = listed[0]
        job, problems = parse_job(raw, f"jobs[{i}]")
        if job is None:
            raise ConfigError("; ".join(problems))
        presets, opened = self.presets(), {Path(name).name: text for name, text in styles.items()}
        if job.style is not None and Path(job.style).name in opened:
            base = opened[Path(job.style).name]
        elif job.style is None or job.style in presets:
            base = presets.get(job.style or "", "")
        else:
            raise ConfigError(f"jobs[{i}].style: {job.style!r} is not a preset; open it together with the job list")
        style = self.style(base, job.set)
        return {"yaml": self.yaml(style), "command": job.command, "input": job.input and job.input.name,
                "audio": job.audio and job.audio.name, "cycle": job.cycle if job.command == "render" else None,
                "seconds": job.seconds}

    def presets(self) -> dict[str, str]:
        """Each shipped preset's YAML text."""
        return {name: (preset_dir() / f"{name}.yaml").read_text(encoding="utf-8") for name in list_presets()}

    def style(self, text: str, sets: dict[str, Any] | None = None) -> Style:
        """The style of YAML ``text`` with the page's control values (dotted keys) on top. Files may only
        come from the presets' folder or the studio's own; an upload's name (a stem's ``vocals.wav``) is that
        upload, as a file beside a YAML file would be."""
        from dreamvideo.config import set_dotted
        from dreamvideo.config.load import parse_yaml, style_files

        named = self.uploads.by_name()
        data = parse_yaml(text or "", "the style")
        for key, value in (sets or {}).items():
            set_dotted(data, key.split("."), value)
        for keys, path in style_files(data):  # (whether a file exists anywhere else is not told)
            shipped = ".." not in Path(path).parts and (preset_dir() / path).is_file()
            if keys[-1] != "style" and not Path(path).is_absolute() and path not in named and not shipped:
                raise ConfigError(f"{'.'.join(keys)}: no upload is named {path!r}; drop the file in (1 ·) first")
        return style_from_text(text, sets, allowed=(preset_dir(), self.out), named=named)

    def yaml(self, style: Style) -> str:
        """``style`` as the page shows and downloads it: uploads by their names."""
        return style_yaml(style, self.names())

    def names(self) -> dict[str, str]:
        """Each upload's name by its file's path (the newest of one name has it, as in ``style``)."""
        return {str(path): name for name, path in self.uploads.by_name().items()}

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


def heard(upload: Upload) -> Path:
    """The file of an upload that has a sound the studio can read (a song, or a video with a soundtrack)."""
    from dreamvideo.media.ffmpeg import probe_audio

    if upload.kind == "image":
        raise MediaError(f"{upload.name!r} is a photo: it has no sound; choose a song or a video")
    try:
        probe_audio(upload.path)
    except MediaError:
        raise MediaError(f"{upload.name!r} has no sound the studio can read; choose a song for it") from None
    return upload.path
