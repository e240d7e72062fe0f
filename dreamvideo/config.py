"""The style schema and ``load_style``: defaults < YAML < --set key=value < flags, validated all at once."""

from __future__ import annotations

import copy
import re
import typing
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from dreamvideo.errors import ConfigError, DreamVideoError, did_you_mean
from dreamvideo.media.images import fit_size
from dreamvideo.models.registry import ModelSpec, get_spec, parse_layer, unknown_layer_message
from dreamvideo.schedule import Schedule, schedule

PRESET_SUFFIX = ".yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerTerm(_Strict):
    """A layer to dream on: all of it (mean of squares) or chosen channels, with a weight."""

    name: str = Field(min_length=1)
    weight: float = 1.0
    channels: list[int] | None = Field(default=None, min_length=1)

    @field_validator("channels")
    @classmethod
    def _non_negative(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and min(v) < 0:
            raise ValueError("channels are numbered from 0")
        return v


class GuideConfig(_Strict):
    """Dream towards the features of a guide image."""

    image: Path
    layer: str | None = Field(default=None, description="defaults to the style's first layer")
    weight: float = 1.0
    size: int = Field(default=256, ge=32, le=2048, description="the guide's longer side in pixels")


class RegionConfig(_Strict):
    """A part of the frame (a mask's light areas) dreamed with another style's layers and guide."""

    mask: Path
    style: str = Field(min_length=1, description="a preset name or a style file")
    invert: bool = False


class TileConfig(_Strict):
    size: int = Field(default=2048, ge=0, le=8192, description="0 disables tiling")
    overlap: int = Field(default=64, ge=0, le=1024)
    batch: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _sizes(self) -> TileConfig:
        if 0 < self.size < 64:
            raise ValueError(f"tile.size {self.size} is too small: use 0 (no tiling) or 64 and more")
        if self.size and self.overlap * 2 >= self.size:
            raise ValueError(f"tile.overlap {self.overlap} must be less than half of tile.size {self.size}")
        return self


# Schedules of a range, for pydantic; mypy cannot read a call as a type, and sees what a field holds.
if TYPE_CHECKING:
    ZoomScale = Schedule
    Degrees = Schedule
    Shift = Schedule
    Iterations = Schedule
    StepSize = Schedule
    LayerWeight = Schedule
else:
    ZoomScale = schedule(0.0, 100.0, low_open=True)
    Degrees = schedule(-3600.0, 3600.0)
    Shift = schedule(-10.0, 10.0)
    Iterations = schedule(1, 1000)
    StepSize = schedule(0.0, 1.0, low_open=True)
    LayerWeight = schedule(-100.0, 100.0)

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


class OutputConfig(_Strict):
    max_side: int | None = Field(default=None, ge=32, le=16384, description="shrink so the longer side fits")
    width: int | None = Field(default=None, ge=32, le=16384, description="resize to this width")
    fps: float | None = Field(default=None, gt=0, le=1000, description="video frame rate (default: the source's)")
    crf: int = Field(default=18, ge=0, le=51, description="H.264 quality: lower is better, 18 looks lossless")
    preset: Literal[X264_PRESETS] = "medium"  # type: ignore[valid-type]

    def size(self, width: int, height: int, multiple: int = 1) -> tuple[int, int]:
        """The output size of a ``width`` x ``height`` picture (a video's: ``multiple=2``, kept even)."""
        return fit_size(width, height, self.max_side, self.width, multiple)


class ZoomConfig(_Strict):
    """`dreamvideo zoom`: motion per second (so a change of frame rate keeps the speed) and per-frame dreaming.

    Any value marked as a schedule is a number or {seconds: value}, interpolated between keys.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # a number default becomes a constant Schedule (validate_default)
    scale: ZoomScale = cast(Schedule, 1.5)  # zoom factor per second (>1 dives in, <1 pulls out)
    rotate: Degrees = cast(Schedule, 0.0)  # degrees per second, counter-clockwise
    translate: tuple[Shift, Shift] = cast("tuple[Schedule, Schedule]", (0.0, 0.0))  # frame fractions per second (x, y)
    center: tuple[float, float] = Field(default=(0.5, 0.5), description="zoom centre as fractions of the frame")
    border: Literal["reflect", "replicate", "wrap"] = "reflect"
    interpolation: Literal["linear", "smooth", "step"] = "linear"  # between schedule keys; a schedule may set its own
    fps: float = Field(default=24.0, gt=0, le=240)
    size: tuple[int, int] = Field(default=(640, 360), description="frame size when starting from noise or a colour")
    cadence: int = Field(default=1, ge=1, le=100, description="dream every k-th frame, only move the others")
    octaves: int = Field(default=2, ge=1, le=12, description="octaves per dreamed frame after the first")
    iterations: Iterations = cast(Schedule, 3)  # ascent steps per octave on each dreamed frame after the first
    step_size: StepSize | None = None  # default: the style's step_size
    layer_weights: dict[str, LayerWeight] | None = None  # layer name -> weight over time
    color_hold: float = Field(default=0.3, ge=0.0, le=1.0,
                              description="pull colour statistics (LAB mean, spread) towards the first frame's")
    loop_seconds: float = Field(default=1.0, gt=0, le=60, description="crossfade length for --loop")

    @field_validator("center")
    @classmethod
    def _center(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= c <= 1.0 for c in v):
            raise ValueError("the centre is given as fractions of the frame, each in 0..1")
        return v

    @field_validator("size")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(32 <= c <= 8192 for c in v):
            raise ValueError("width and height must be 32..8192 pixels")
        return (v[0] // 2 * 2, v[1] // 2 * 2)


REACT_TARGETS = ("step_size", "iterations", "blend", "zoom.scale", "zoom.rotate")
REACT_LAYER = "layers."  # react: layers.<name> maps a feature onto that layer's weight


class ReactConfig(_Strict):
    """Map an audio feature onto a parameter: a range (min..max; with `relative`, factors of the base) or a
    pulse (base x up to `pulse`). The base is the style's value, or its schedule's at that moment."""

    source: Literal["loudness", "onset", "beat"]
    min: float | None = None
    max: float | None = None
    pulse: float | None = Field(default=None, gt=0, le=100)
    relative: bool = Field(default=False, description="min and max multiply the base instead of replacing it")

    @model_validator(mode="after")
    def _one_mapping(self) -> ReactConfig:
        if (self.min is None) != (self.max is None):
            raise ValueError("give both min and max")
        if (self.min is None) == (self.pulse is None):
            raise ValueError("give either min and max, or pulse")
        if self.relative and self.pulse is not None:
            raise ValueError("relative applies to min and max; a pulse is already relative to the base")
        return self

    def value(self, feature: float, base: float) -> float:
        if self.pulse is not None:
            return base * (1 + (self.pulse - 1) * feature)
        low, high = cast(float, self.min), cast(float, self.max)  # no pulse: a range (_one_mapping)
        value = low + (high - low) * feature
        return base * value if self.relative else value


class Style(_Strict):
    """A dream style. Every key has a default; a YAML file or --set changes some of them."""

    model: str = "efficientnet_lite0"
    weights: Path | None = None
    layers: list[LayerTerm] | None = Field(default=None, description="default: the model's default layers")
    guide: GuideConfig | None = None
    octaves: int = Field(default=4, ge=1, le=12)
    octave_scale: float = Field(default=1.4, gt=1.0, le=4.0)
    iterations: int = Field(default=10, ge=1, le=1000)
    step_size: float = Field(default=0.012, gt=0.0, le=1.0)
    jitter: int = Field(default=32, ge=0, le=1024)
    tile: TileConfig = TileConfig()
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    device: str = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    compile: bool = Field(default=False, description="torch.compile the network, one graph per octave shape "
                                                     "(CUDA graphs on CUDA); costs seconds per shape first")
    output: OutputConfig = OutputConfig()
    # video: temporal coherence
    flow: Literal["dis", "farneback", "none"] = "dis"
    warp: Literal["detail", "frame"] = "detail"
    blend: float = Field(default=0.95, ge=0.0, le=1.0, description="0: dream every frame independently")
    decay: float = Field(default=0.97, ge=0.0, le=1.0, description="share of the carried dream detail kept per frame "
                                                                  "(with hold_strength: false)")
    warm_iterations: int | None = Field(default=None, ge=1, le=1000,
                                        description="iterations for frames that start from a warped dream "
                                                    "(default: 30% of iterations)")
    warm_octaves: int | None = Field(default=None, ge=1, le=12,
                                     description="octaves for frames that start from a warped dream (default: 2)")
    hold_strength: bool = Field(default=True, description="hold carried frames at the dream strength of their "
                                                          "shot's fresh first frame (warp: detail)")
    cadence: int = Field(default=1, ge=1, le=100, description="dream every k-th frame of a shot; the frames between "
                                                             "only carry the dream along the flow")
    # where and how the dream lands (dream, render, zoom)
    mask: Path | None = Field(default=None, description="an image or a video whose grey levels are the dream's "
                                                        "strength per pixel (white dreams, black keeps the source)")
    mask_invert: bool = Field(default=False, description="dream where the mask is black instead")
    mask_feather: float = Field(default=4.0, ge=0.0, le=256.0, description="soften the mask's edges (Gaussian "
                                                                           "sigma in pixels of the output)")
    mask_loop: bool = Field(default=False, description="a mask video shorter than the render starts again")
    regions: list[RegionConfig] = Field(default_factory=list, description="parts of the frame dreamed with other "
                                                                         "styles' layers, in one pass")
    colors: Literal["dream", "original"] = Field(default="dream", description="original: dream the luminance "
                                                                              "only and keep the source's colours")
    zoom: ZoomConfig = ZoomConfig()
    # audio-reactive: {parameter: {source, min, max} or {source, pulse}}; parameters are step_size,
    # iterations, blend, zoom.scale, zoom.rotate and layers.<name> (a layer's weight)
    react: dict[str, ReactConfig] = Field(default_factory=dict)
    react_attack: float = Field(default=0.01, ge=0.0, le=10.0, description="seconds for a feature to rise")
    react_release: float = Field(default=0.25, ge=0.0, le=10.0, description="seconds for a feature to fall")
    scene_cut: float = Field(default=0.3, ge=0.0, le=1.0,
                             description="a new shot starts when less than this share of pixels can be followed")

    @field_validator("layers", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """Accept "blocks.4", "blocks.4:17,30" and {"blocks.4": 0.5} besides full mappings."""
        items = [v] if isinstance(v, (str, dict)) and not (isinstance(v, dict) and "name" in v) else v
        if not isinstance(items, list):
            return v
        out = []
        for item in items:
            if isinstance(item, str):
                name, channels = parse_layer(item)
                out.append({"name": name} if channels is None else {"name": name, "channels": channels})
            elif isinstance(item, dict) and "name" not in item and len(item) == 1:
                (name, weight), = item.items()
                out.append({"name": name, "weight": weight})
            else:
                out.append(item)
        return out

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
            raise ValueError("use auto, cpu, cuda, cuda:N or mps")
        return v

    @model_validator(mode="after")
    def _has_objective(self) -> Style:
        if self.layers == [] and self.guide is None:
            raise ValueError("give at least one layer, or a guide image")
        if self.guide is not None and self.guide.layer is None and not self.layers:
            raise ValueError("guide.layer is needed when the style has no layers")
        return self


# --- loading -------------------------------------------------------------------------------------------


def preset_dir() -> Path:
    """The folder of shipped presets (inside the package when installed, pipelines/ in a checkout)."""
    packaged = Path(str(resources.files("dreamvideo"))) / "pipelines"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "pipelines"


def list_presets() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob(f"*{PRESET_SUFFIX}") if _is_style_file(p))


def _is_style_file(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "jobs" not in data


def resolve_style_path(config: str | Path) -> Path:
    """A style file given by path, or a preset given by name."""
    path = Path(config)
    if path.is_file():
        return path
    preset = preset_dir() / f"{config}{PRESET_SUFFIX}"
    if preset.is_file() and not path.suffix:
        return preset
    presets = list_presets()
    hint = did_you_mean(str(config), presets, n=3, cutoff=0.5)
    raise ConfigError(f"no style file or preset named {str(config)!r}: {hint}presets are {', '.join(presets)}")


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A style's YAML ``text`` as a mapping; ``source`` names it in the one-line errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if context is not None and getattr(exc, "context", None):
            problem += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}; fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a style must be a mapping of keys (e.g. `iterations: 10`), "
                          f"not a {type(data).__name__}")
    return data


FILE_KEYS = ("weights", "mask", "guide.image")  # style keys whose values are files (and each region's mask)


def style_files(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The files a style (as data) names, by key path: ``FILE_KEYS``, each region's mask, and each
    region's style unless it is a preset's name."""
    found = []
    for key in FILE_KEYS:
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            found.append((key, node))
    for i, region in enumerate(data.get("regions") or []):
        if isinstance(region, dict):
            if isinstance(region.get("mask"), str):
                found.append((f"regions.{i}.mask", region["mask"]))
            if isinstance(region.get("style"), str) and region["style"] not in list_presets():
                found.append((f"regions.{i}.style", region["style"]))
    return found


def resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file paths in a YAML file are relative to that file (a region's style only where such a
    file exists: else it is a preset's name)."""
    data = copy.deepcopy(data)
    for key, path in style_files(data):
        if Path(path).is_absolute() or (key.endswith(".style") and not (base / path).is_file()):
            continue
        set_dotted(data, key.split("."), str((base / path).resolve()))
    return data


def resolve_set_paths(sets: dict[str, Any], base: Path) -> dict[str, Any]:
    """``--set``-style items (dotted keys) whose files are relative to ``base``, as in a YAML file there."""
    out = {}
    for key, value in sets.items():
        keys = key.split(".")
        nested: dict[str, Any] = {}
        set_dotted(nested, keys, value)
        node: Any = resolve_paths(nested, base)
        for part in keys:
            node = node[part]
        out[key] = node
    return out


def style_from_text(text: str, sets: dict[str, Any] | None = None, *, source: str = "the style",
                    base: Path | None = None, allowed: tuple[Path, ...] | None = None) -> Style:
    """The style of YAML ``text`` (its relative files under ``base``, default the presets' folder) with
    ``sets`` (dotted keys) on top. With ``allowed``, a style naming a file outside those folders is
    refused before anything reads it."""
    data = resolve_paths(parse_yaml(text or "", source), base or preset_dir())
    for key, value in (sets or {}).items():
        set_dotted(data, key.split("."), value)
    if allowed is not None:
        folders = tuple(a.resolve() for a in allowed)
        for key, path in style_files(data):
            if not any(Path(path).resolve().is_relative_to(folder) for folder in folders):
                raise ConfigError(f"{key}: the studio reads files only from its own folder and the presets'; "
                                  f"use `dreamvideo` on the command line for {path!r}")
    return validate_style(merge(Style().model_dump(mode="json", exclude_none=True), data))


def parse_set(item: str) -> tuple[list[str], Any]:
    """'tile.size=256' -> (['tile', 'size'], 256); values are read as YAML."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: write it as key=value, e.g. --set iterations=20")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def set_dotted(data: dict[str, Any], keys: list[str], value: Any) -> None:
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            child = node[int(key)]
            if isinstance(child, str):  # a shorthand layer becomes a mapping to set a field of it
                child = node[int(key)] = {"name": child}
            node = child
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(keys)}: {'.'.join(keys[:i])} is not a mapping")
        if not isinstance(node.get(key), (dict, list)):
            node[key] = {}
        node = node[key]
    if isinstance(node, list) and keys[-1].isdigit() and int(keys[-1]) < len(node):
        node[int(keys[-1])] = value
    elif isinstance(node, dict):
        node[keys[-1]] = value
    else:
        raise ConfigError(f"--set {'.'.join(keys)}: {'.'.join(keys[:-1])} is not a mapping")


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_style(
    config: str | Path | None = None,
    sets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    schema: type[Style] = Style,
) -> Style:
    """Build a Style from a file or preset name, ``--set`` items and flag overrides (dotted keys).

    Every problem is reported at once in one ConfigError.
    """
    data: dict[str, Any] = schema().model_dump(mode="json", exclude_none=True)
    source = None
    if config is not None:
        path = resolve_style_path(config)
        source = f"style {path}" if path.parent != preset_dir() else f"preset {path.stem!r}"
        data = merge(data, resolve_paths(read_yaml(path), path.parent))
    for item in sets or []:
        keys, value = parse_set(item)
        if keys[0] == "layers" and len(keys) > 1 and data.get("layers") is None:
            try:  # the model's default layers, so that --set layers.0.weight=2 has something to change
                data["layers"] = [t.model_dump() for t in default_layers(str(data.get("model", schema().model)))]
            except DreamVideoError:
                pass  # the unknown model is reported by validation
        set_dotted(data, keys, value)
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, key.split("."), value)
    return validate_style(data, schema, source)


def default_layers(model: str) -> list[LayerTerm]:
    """The layers a style dreams on when it names none: its model's default layers."""
    return [LayerTerm(name=name) for name in get_spec(model).default_layers]


def style_layers(style: Style) -> list[LayerTerm]:
    """The style's layers; a Style built in code may leave them to the model (a loaded one has them filled)."""
    return list(style.layers) if style.layers is not None else default_layers(style.model)


def validate_style(data: dict[str, Any], schema: type[Style] = Style, source: str | None = None) -> Style:
    try:
        style = schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, schema) for err in exc.errors()], source) from None
    problems = check_references(style)
    if problems:
        raise ConfigError(problems, source)
    if style.layers is None:
        style = style.model_copy(update={"layers": default_layers(style.model)})
    return style


def check_references(style: Style) -> list[str]:
    """What the schema cannot see: the model and its layers exist, files are there."""
    problems = []
    try:
        spec = get_spec(style.model)
    except DreamVideoError as exc:
        return [f"model: {exc}"]
    for i, term in enumerate(style.layers or []):
        if not _known_layer(spec, term.name):
            problems.append(f"layers.{i}.name: " + _layer_problem(spec, term.name))
        elif spec.has_layer(term.name) and term.channels:
            n = spec.layer(term.name).channels
            bad = [c for c in term.channels if c >= n]
            if bad:
                problems.append(f"layers.{i}.channels: {bad} out of range: {term.name!r} has channels 0..{n - 1}")
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
    for i, region in enumerate(style.regions):
        problems += [f"regions.{i}.{p}" for p in _region_problems(style, region)]
    if style.mask is not None and not style.mask.is_file():
        problems.append(f"mask: no such file {str(style.mask)!r}; give the path of a mask image or video")
    if style.weights is not None and not style.weights.is_file():
        problems.append(f"weights: no such file {str(style.weights)!r}; give the path of a .pth file")
    return problems


def region_style(region: RegionConfig) -> Style:
    return load_style(region.style)


def _region_problems(style: Style, region: RegionConfig) -> list[str]:
    problems = []
    if not region.mask.is_file():
        problems.append(f"mask: no such file {str(region.mask)!r}; give the path of a mask image or video")
    try:
        other = region_style(region)
    except ConfigError as exc:
        return problems + [f"style: {p}" for p in exc.problems]
    if other.regions:
        problems.append(f"style: {region.style!r} has regions of its own; a region's style cannot nest regions")
    if (other.model, other.weights) != (style.model, style.weights):
        problems.append(f"style: {region.style!r} dreams on {other.model}, the style on {style.model}: regions "
                        f"dream in one pass on one model; set model: {style.model} in it, or use that model here")
    return problems


def _known_layer(spec: ModelSpec, name: str) -> bool:
    """A declared layer, or a module inside one (e.g. "blocks.4.1.conv_pw"), checked when the net is built."""
    return spec.has_layer(name) or any(name.startswith(layer.path + ".") for layer in spec.layers)


def _layer_problem(spec: ModelSpec, name: str) -> str:
    return unknown_layer_message(spec.name, name, [layer.name for layer in spec.layers])


def _describe(err: ErrorDetails, schema: type[BaseModel]) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "style"
    if err["type"] == "extra_forbidden":
        known = _fields_at(schema, err["loc"][:-1])
        hint = did_you_mean(loc[-1], known).rstrip() or f"known keys here: {', '.join(sorted(known))}"
        return f"{key}: unknown key; {hint}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "literal_error":
        choices = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
        msg = did_you_mean(str(err.get("input")), choices) + f"use {', '.join(choices)}"
    if msg.startswith("Input should"):
        msg = "should" + msg[len("Input should"):]
    if err["type"] == "missing":
        return f"{key}: required but missing"
    bad = err.get("input")
    shown = f"got {bad!r}, " if not isinstance(bad, (dict, list)) else ""
    return f"{key}: {shown}{msg}"


def _fields_at(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model found at ``loc``, for did-you-mean."""
    model: Any = schema
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside Optional[...] or list[...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


__all__ = ["Style", "LayerTerm", "GuideConfig", "RegionConfig", "TileConfig", "OutputConfig", "load_style",
           "list_presets", "preset_dir", "validate_style", "default_layers", "style_layers"]
