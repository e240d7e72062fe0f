"""One studio over a folder: its uploads, previews and render queue, and the styles the page sends, as
plain Python. The web layer (``app``) only moves bytes and JSON to and from these."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from dreamvideo.config import Style, list_presets, preset_dir, style_from_text
from dreamvideo.errors import DreamVideoError
from dreamvideo.media.images import MAX_PIXELS
from dreamvideo.networks import Networks
from dreamvideo.studio.controls import CONTROLS, HELP, MAX_QUEUE, limits
from dreamvideo.studio.previews import Previews
from dreamvideo.studio.renders import Renders
from dreamvideo.studio.uploads import MAX_UPLOAD, Uploads


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
