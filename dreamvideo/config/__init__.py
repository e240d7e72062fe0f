"""Styles: defaults < YAML < --set key=value < flags, validated all at once. Each module owns one job:

- ``schema``: the pydantic models (Style, LayerTerm, GuideConfig, RegionConfig, TileConfig, OutputConfig,
  ZoomConfig, ReactConfig, MusicConfig), their limits and constants, and the model's default layers;
- ``load``: presets, YAML read with one-line errors, the keys that name files and their paths, ``--set``
  parsing and merging, ``load_style``, ``style_from_text`` (and the studio's file policy), ``validate_style``
  and the wording of the schema's errors;
- ``references``: what the schema cannot see, checked once per loaded style (the model and its layers,
  against the spec: the one check of a layer's name; files; regions, whose loaded styles then travel with
  the Style, ``region_styles``).

This package re-exports the names the rest of dreamvideo (and its tests and benchmarks) import from
``dreamvideo.config``; anything else is imported from its module.
"""

from dreamvideo.config.load import (
    list_presets,
    load_style,
    preset_dir,
    read_yaml,
    region_style,
    region_styles,
    resolve_set_paths,
    section_styles,
    set_dotted,
    style_from_text,
    validate_style,
)
from dreamvideo.config.schema import (
    REACT_LAYER,
    GuideConfig,
    LayerTerm,
    MusicConfig,
    OutputConfig,
    ReactConfig,
    RegionConfig,
    SectionConfig,
    Style,
    TileConfig,
    default_layers,
    style_layers,
)

__all__ = ["Style", "LayerTerm", "GuideConfig", "RegionConfig", "TileConfig", "OutputConfig", "ReactConfig",
           "MusicConfig", "REACT_LAYER", "load_style", "list_presets", "preset_dir", "read_yaml", "validate_style",
           "style_from_text", "resolve_set_paths", "set_dotted", "default_layers", "style_layers", "region_style",
           "region_styles", "section_styles", "SectionConfig"]
