"""What the schema cannot see, checked once per loaded style: its model and layers exist (against the
model's spec, before any network is built), its files are there, its regions' styles load and can be
dreamed with it. The regions' styles loaded here are handed back to travel with the style."""

from __future__ import annotations

from collections.abc import Callable

from dreamvideo.config.schema import REACT_LAYER, REACT_TARGETS, SCHEDULE_TARGETS, RegionConfig, Style
from dreamvideo.errors import ConfigError, DreamVideoError, did_you_mean
from dreamvideo.models.registry import ModelSpec, get_spec, unknown_layer_message

# loads a region's or a section's style (a preset's name or a file): load.load_style, given by the caller
StyleLoader = Callable[[str], Style]


def check_references(style: Style, load: StyleLoader) -> tuple[list[str], list[Style], list[Style]]:
    """What the schema cannot see: the model and its layers exist, files are there, the regions' and the
    sections' styles (loaded with ``load``) fit. The problems, and the regions' and the sections' styles (all
    of them when there is no problem)."""
    problems = []
    try:
        spec = get_spec(style.model)
    except DreamVideoError as exc:
        return [f"model: {exc}"], [], []
    for i, term in enumerate(style.layers or []):
        if not _known_layer(spec, term.name):
            problems.append(f"layers.{i}.name: " + _layer_problem(spec, term.name))
        elif spec.has_layer(term.name) and term.channels:
            n = spec.layer(term.name).channels
            bad = [c for c in term.channels if c >= n]
            if bad:
                problems.append(f"layers.{i}.channels: {bad} out of range: {term.name!r} has channels 0..{n - 1}")
    for key in style.schedule:
        if key.startswith(REACT_LAYER):
            if not _known_layer(spec, key[len(REACT_LAYER):]):
                problems.append(f"schedule.{key}: " + _layer_problem(spec, key[len(REACT_LAYER):]))
        elif key not in SCHEDULE_TARGETS:
            keys = ", ".join(SCHEDULE_TARGETS)
            problems.append(f"schedule.{key}: cannot be scheduled; {did_you_mean(key, SCHEDULE_TARGETS)}use {keys} "
                            f"or {REACT_LAYER}<name> (a zoom's own keys are scheduled in zoom:)")
    for target in style.react:
        if target.startswith(REACT_LAYER):
            if not _known_layer(spec, target[len(REACT_LAYER):]):
                problems.append(f"react.{target}: " + _layer_problem(spec, target[len(REACT_LAYER):]))
        elif target not in REACT_TARGETS:
            hint = did_you_mean(target, REACT_TARGETS)
            targets = ", ".join(REACT_TARGETS)
            problems.append(f"react.{target}: cannot react; {hint}use {targets} or {REACT_LAYER}<name>")
    for name in style.zoom.layer_weights or {}:
        if not _known_layer(spec, name):
            problems.append(f"zoom.layer_weights.{name}: " + _layer_problem(spec, name))
    if style.guide is not None:
        if style.guide.layer is not None and not _known_layer(spec, style.guide.layer):
            problems.append("guide.layer: " + _layer_problem(spec, style.guide.layer))
        if not style.guide.image.is_file():
            problems.append(f"guide.image: no such file {str(style.guide.image)!r}; give the path of a guide image")
    regions = []
    for i, region in enumerate(style.regions):
        other, found = _region(style, region, load)
        problems += [f"regions.{i}.{p}" for p in found]
        if other is not None:
            regions.append(other)
    for target, mapping in style.react.items():
        if mapping.audio is not None and not mapping.audio.is_file():
            problems.append(f"react.{target}.audio: no such file {str(mapping.audio)!r}; give the path of a sound")
    if style.mask is not None and not style.mask.is_file():
        problems.append(f"mask: no such file {str(style.mask)!r}; give the path of a mask image or video")
    if style.weights is not None and not style.weights.is_file():
        problems.append(f"weights: no such file {str(style.weights)!r}; give the path of a .pth file")
    sections = []
    for i, section in enumerate(style.sections):
        try:
            other = load(section.style)
        except ConfigError as exc:
            problems += [f"sections.{i}.style: {p}" for p in exc.problems]
            continue
        if other.sections:
            problems.append(f"sections.{i}.style: {section.style!r} has sections of its own; sections cannot nest")
        sections.append(other)
    return problems, regions, sections


def _region(style: Style, region: RegionConfig, load: StyleLoader) -> tuple[Style | None, list[str]]:
    """The region's style (None when it does not load) and the region's problems."""
    problems = []
    if not region.mask.is_file():
        problems.append(f"mask: no such file {str(region.mask)!r}; give the path of a mask image or video")
    try:
        other = load(region.style)
    except ConfigError as exc:
        return None, problems + [f"style: {p}" for p in exc.problems]
    if other.regions:
        problems.append(f"style: {region.style!r} has regions of its own; a region's style cannot nest regions")
    if (other.model, other.weights) != (style.model, style.weights):
        problems.append(f"style: {region.style!r} dreams on {other.model}, the style on {style.model}: regions "
                        f"dream in one pass on one model; set model: {style.model} in it, or use that model here")
    return other, problems


# The one check of a layer's name: against the model's spec, so every unknown layer is reported with its
# suggestion before any network is built. The Dreamer relies on it; DreamModel.resolve only finds a name's
# module when it is hooked.
def _known_layer(spec: ModelSpec, name: str) -> bool:
    """A declared layer, or a module inside one (e.g. "blocks.4.1.conv_pw"), found when the net is built."""
    return spec.has_layer(name) or any(name.startswith(layer.path + ".") for layer in spec.layers)


def _layer_problem(spec: ModelSpec, name: str) -> str:
    return unknown_layer_message(spec.name, name, [layer.name for layer in spec.layers])
