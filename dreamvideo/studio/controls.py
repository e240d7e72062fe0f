"""The studio's controls and limits, written once: the page builds its sliders from ``CONTROLS`` and reads
``LIMITS`` through ``/api/options``; a style's values for them come from ``values``."""

from __future__ import annotations

from typing import Any

import yaml

from dreamvideo.config import Style

PREVIEW_SIDE = 320  # px, the longer side of previews
CLIP_FRAMES = 12  # frames of a coherent preview clip
ZOOM_SECONDS = 600  # the longest zoom the page renders
MAX_QUEUE = 8  # renders waiting at once

# id, style key, label, min, max, step, and the one-line help (the README's style reference in short)
SLIDERS = [
    ("octaves", "octaves", "octaves", 1, 8, 1, "Image pyramid levels: more octaves grow larger patterns."),
    ("iterations", "iterations", "iterations", 1, 40, 1, "Ascent steps per octave: more steps, a stronger dream."),
    ("step_size", "step_size", "step size", 0.002, 0.06, 0.001,
     "How far each step moves the picture: the dream's strength."),
    ("blend", "blend", "blend", 0, 1, 0.05,
     "Videos: how much of the previous frame's dream carries into the next (0: every frame on its own)."),
    ("zoom_scale", "zoom.scale", "zoom scale/s", 0.5, 3, 0.05, "Photos: zoom factor per second (>1 dives in)."),
    ("zoom_rotate", "zoom.rotate", "zoom turn °/s", -90, 90, 1, "Photos: degrees per second, counter-clockwise."),
]
CONTROLS = [{"id": i, "key": k, "label": label, "min": lo, "max": hi, "step": step, "help": help}
            for i, k, label, lo, hi, step, help in SLIDERS]


def limits(max_upload: int, max_queue: int) -> dict[str, Any]:
    """What the page must know of the server's limits."""
    return {"preview_side": PREVIEW_SIDE, "clip_frames": CLIP_FRAMES, "zoom_seconds": ZOOM_SECONDS,
            "max_upload": max_upload, "max_queue": max_queue}


def values(style: Style) -> dict[str, Any]:
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
