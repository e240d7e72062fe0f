"""The studio's controls and limits, written once: the page builds its sliders from ``CONTROLS`` and reads
``LIMITS`` through ``/api/options``; a style's values for them come from ``values``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from dreamvideo.config import Style, set_dotted
from dreamvideo.config.load import style_files
from dreamvideo.config.schema import SCHEDULE_TARGETS
from dreamvideo.react import on_the_song

PREVIEW_SIDE = 320  # px, the longer side of previews
CLIP_SECONDS = 3.0  # a coherent preview clip: this long, around the chosen time
ZOOM_SECONDS = 600  # the longest zoom the page renders
MAX_QUEUE = 8  # renders waiting at once

# id, style key, label, min, max, step, what it applies to, and its one line (the README's style reference)
SLIDERS = [
    ("octaves", "octaves", "octaves", 1, 8, 1, "any",
     "Image pyramid levels, 1..12: more octaves grow larger patterns."),
    ("iterations", "iterations", "iterations", 1, 40, 1, "any",
     "Ascent steps per octave, 1..1000: more steps, a stronger dream."),
    ("step_size", "step_size", "step size", 0.002, 0.06, 0.001, "any",
     "How far each step moves the picture, in units of the 0..1 image range: the dream's strength."),
    ("blend", "blend", "blend", 0, 1, 0.05, "video",
     "0..1, how much of the carried dream is used; 0 = independent frames (they flicker)."),
    ("zoom_scale", "zoom.scale", "zoom scale/s", 0.5, 3, 0.05, "image",
     "Zoom factor per second (>1 dives in, <1 pulls out)."),
    ("zoom_rotate", "zoom.rotate", "zoom turn °/s", -90, 90, 1, "image", "Degrees per second, counter-clockwise."),
]
CONTROLS = [{"id": i, "key": k, "label": label, "min": lo, "max": hi, "step": step, "for": kind, "help": help}
            for i, k, label, lo, hi, step, kind, help in SLIDERS]
# the page's other controls, with the same words
HELP = {
    "preset": "A shipped style; \"custom\" once the style differs from it.",
    "model": "The network to dream with (`dreamvideo models`).",
    "layer": "The layer to dream on: low layers give textures, middle ones eyes and animals, high ones object parts.",
    "channels": "Dream only these channels of the layer (e.g. 17,30); empty: the whole layer.",
    "colors": "dream: the dream's colours; original: dream the luminance only, keep the source's colours.",
    "time": "The video's frame to preview; the still is that frame as the render dreams it.",
    "song": "The music video's song: its length is the video's, its bars are where keys and sections land.",
    "cycle": "A clip shorter than the song plays over and over (loop) or forwards and backwards (pingpong).",
    "bpm": "The tempo, where the tracker got it wrong (with the downbeat, the grid is exact).",
    "tap": "Tap on the beat four times or more for the tempo; while the song plays, the first tap is a downbeat.",
    "offset": "Seconds into the song of a bar's first beat.",
    "meter": "Beats per bar.",
    "zoom": "Pixels per second of the timeline.",
    "lane": "A key to keyframe over the song (schedule:).",
}


def limits(max_upload: int, max_queue: int) -> dict[str, Any]:
    """What the page must know of the server's limits."""
    return {"preview_side": PREVIEW_SIDE, "clip_seconds": CLIP_SECONDS, "zoom_seconds": ZOOM_SECONDS,
            "max_upload": max_upload, "max_queue": max_queue}


def values(style: Style) -> dict[str, Any]:
    """The values of the page's controls for ``style`` (at the song's first moment where keyed in bars)."""
    style = on_the_song(style, None, at_start=True)
    first = style.layers[0] if style.layers else None
    return {"model": style.model, "layer": first.name if first else "",
            "channels": ",".join(map(str, first.channels)) if first and first.channels else "",
            "octaves": style.octaves, "iterations": style.iterations, "step_size": style.step_size,
            "blend": style.blend, "zoom.scale": style.zoom.scale.at(0), "zoom.rotate": style.zoom.rotate.at(0),
            "colors": style.colors}


def music(style: Style, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the Music view edits, as the style holds it: the schedules (keys in seconds, bars or beats) and
    their default interpolation, the sections, the song's known tempo, the react mappings (their stems by
    ``names``, as ``style_yaml``) and the keys a lane may take, with their ranges."""
    data = named(style.model_dump(mode="json"), names)
    targets = {key: {"min": lo, "max": hi, "whole": type(data[key]) is int, "value": data[key]}
               for key, (lo, hi, _) in SCHEDULE_TARGETS.items()}
    return {"schedule": data["schedule"], "sections": data["sections"], "music": data["music"],
            "react": data["react"], "interpolation": data["zoom"]["interpolation"], "targets": targets}


def style_yaml(style: Style, names: Mapping[str, str] | None = None) -> str:
    """The style as a compact YAML file: only what differs from the defaults (the layers always); a file in
    ``names`` (the studio's uploads, by path) is written by its name."""
    data = named(style.model_dump(mode="json", exclude_defaults=True), names)
    data.setdefault("layers", style.model_dump(mode="json")["layers"])
    layers = [t["name"] if set(t) == {"name"} else t for t in data["layers"]]
    data["layers"] = layers
    order = list(Style.model_fields)
    return yaml.safe_dump({k: data[k] for k in order if k in data}, sort_keys=False, allow_unicode=True)


def named(data: dict[str, Any], names: Mapping[str, str] | None) -> dict[str, Any]:
    """A style's data with each file in ``names`` written by its name there."""
    names = names or {}
    for keys, path in style_files(data):
        if path in names:
            set_dotted(data, keys, names[path])
    return data
