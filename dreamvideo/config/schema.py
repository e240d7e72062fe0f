"""The style schema: a Style and the parts it is made of (layers, guide, regions, tiles, output, zoom,
react), their limits and defaults, and the model's default layers. Pure data: reading files and checking
what a style names belong to ``load`` and ``references``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from dreamvideo.media.images import fit_size
from dreamvideo.models.registry import get_spec, parse_layer
from dreamvideo.schedule import Schedule, parse_length, parse_time, schedule


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
    AnyValue = Schedule
else:
    ZoomScale = schedule(0.0, 100.0, low_open=True)
    Degrees = schedule(-3600.0, 3600.0)
    Shift = schedule(-10.0, 10.0)
    Iterations = schedule(1, 1000)
    StepSize = schedule(0.0, 1.0, low_open=True)
    LayerWeight = schedule(-100.0, 100.0)
    AnyValue = schedule()  # its range checked per key (SCHEDULE_TARGETS)

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


class LifeConfig(_Strict):
    """`zoom.life`: what keeps a long dive making new forms instead of one texture zooming forever (see
    ``dreamvideo.video.life``): once the dive's large forms fade below ``hold`` of its opening's, their
    contrast is raised, up to ``strength`` a second, until they are back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hold: float = Field(default=0.95, ge=0.0, le=2.0,
                        description="the share of the opening's large-form structure the dive keeps (0: off; "
                                    "above 1 asks for more than the opening had, and lifts without end)")
    strength: float = Field(default=3.0, ge=0.0, le=10.0,
                            description="the most large-form contrast added a second, as a gain (1: doubled)")


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
    life: LifeConfig = LifeConfig()

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
REACT_LAYER = "layers."  # react: layers.<name> maps a feature onto that layer's weight (schedule: too)
# what `schedule:` can move over time, with each key's range (low, high, low open); layers.<name> as LayerWeight
SCHEDULE_TARGETS: dict[str, tuple[float, float, bool]] = {
    "step_size": (0.0, 1.0, True), "iterations": (1, 1000, False), "octaves": (1, 12, False),
    "octave_scale": (1.0, 4.0, True), "jitter": (0, 1024, False), "blend": (0.0, 1.0, False)}


class ReactConfig(_Strict):
    """Map an audio feature onto a parameter: a range (min..max; with `relative`, factors of the base) or a
    pulse (base x up to `pulse`). The base is the style's value, or its schedule's at that moment."""

    source: Literal["loudness", "onset", "beat", "bar"]
    audio: Path | None = Field(default=None, description="a sound of its own to follow (a stem: drums.wav); "
                                                         "default: the job's audio")
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



class MusicConfig(_Strict):
    """What the user knows about the song better than the beat tracker: its tempo, a downbeat, its meter.
    With ``bpm`` and ``offset`` the beats are an exact grid."""

    bpm: float | None = Field(default=None, ge=20, le=400, description="the tempo (default: tracked)")
    offset: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                 description="seconds of a bar's first beat (default: tracked)")
    meter: int | None = Field(default=None, ge=2, le=12, description="beats per bar (default: tracked, 4 or 3)")


class SectionConfig(_Strict):
    """From ``at`` on, the song is dreamed with ``style`` (a preset's name or a style file), faded in over
    the ``crossfade`` before ``at`` (0 cuts)."""

    at: float | str = Field(description="seconds, bar N or beat N (counted from 1 on the song's grid)")
    style: str = Field(min_length=1, description="a preset name or a style file")
    crossfade: float | str = Field(default=0.0, description="seconds, N bars or N beats; ends at `at`")

    @field_validator("at")
    @classmethod
    def _at(cls, v: float | str) -> float | str:
        parse_time(v)
        return v

    @field_validator("crossfade")
    @classmethod
    def _crossfade(cls, v: float | str) -> float | str:
        parse_length(v)
        return v


class _Carried:
    """Styles a Style's validation loaded (its regions' and its sections'), carried along with it. Not part
    of the style's value: any two compare equal (and equal to none), so Styles compare by their fields."""

    __slots__ = ("styles", "sections")

    def __init__(self, styles: Sequence[Style], sections: Sequence[Style] = ()):
        self.styles, self.sections = tuple(styles), tuple(sections)

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, _Carried)

    __hash__ = object.__hash__


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
    # {key: schedule}: step_size, iterations, octaves, octave_scale, jitter, blend or layers.<name> over time
    schedule: dict[str, AnyValue] = Field(default_factory=dict)
    # audio-reactive: {parameter: {source, min, max} or {source, pulse}}; parameters are step_size,
    # iterations, blend, zoom.scale, zoom.rotate and layers.<name> (a layer's weight)
    react: dict[str, ReactConfig] = Field(default_factory=dict)
    react_attack: float = Field(default=0.01, ge=0.0, le=10.0, description="seconds for a feature to rise")
    react_release: float = Field(default=0.25, ge=0.0, le=10.0, description="seconds for a feature to fall")
    music: MusicConfig = MusicConfig()  # the song's tempo, a downbeat, its meter, where the tracker is wrong
    sections: list[SectionConfig] = Field(default_factory=list, description="other styles from given moments of "
                                                                           "the song on (render and zoom)")
    scene_cut: float = Field(default=0.3, ge=0.0, le=1.0,
                             description="a new shot starts when less than this share of pixels can be followed")
    # its regions' styles as validation loaded them (load.validate_style), so nothing loads them again
    _region_styles: _Carried | None = PrivateAttr(default=None)

    @property
    def loaded_regions(self) -> tuple[Style, ...] | None:
        """Its regions' styles as its validation loaded them, one per region; None for a Style built in code."""
        return None if self._region_styles is None else self._region_styles.styles

    @property
    def loaded_sections(self) -> tuple[Style, ...] | None:
        """Its sections' styles as its validation loaded them, one per section; None for a Style built in code."""
        return None if self._region_styles is None else self._region_styles.sections

    def carrying(self, regions: Sequence[Style], sections: Sequence[Style] = ()) -> Style:
        """This style with ``regions`` and ``sections`` (their loaded styles, in order) carried along."""
        out = self.model_copy()
        out._region_styles = _Carried(regions, sections)
        return out

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
    def _schedule_ranges(self) -> Style:
        for key, values in self.schedule.items():
            low, high, low_open = SCHEDULE_TARGETS.get(key, (-100.0, 100.0, False))  # a layer's weight
            for _, v in values.keys:
                if (v <= low if low_open else v < low) or v > high:
                    raise ValueError(f"schedule.{key}: {v:g} is out of range: must be {'>' if low_open else '>='} "
                                     f"{low:g} and <= {high:g}")
        return self

    @model_validator(mode="after")
    def _has_objective(self) -> Style:
        if self.layers == [] and self.guide is None:
            raise ValueError("give at least one layer, or a guide image")
        if self.guide is not None and self.guide.layer is None and not self.layers:
            raise ValueError("guide.layer is needed when the style has no layers")
        return self


def default_layers(model: str) -> list[LayerTerm]:
    """The layers a style dreams on when it names none: its model's default layers."""
    return [LayerTerm(name=name) for name in get_spec(model).default_layers]


def style_layers(style: Style) -> list[LayerTerm]:
    """The style's layers; a Style built in code may leave them to the model (a loaded one has them filled)."""
    return list(style.layers) if style.layers is not None else default_layers(style.model)

