"""Loading a style: presets, YAML read with one-line errors, the keys that name files and their paths,
``--set`` items merged (defaults < YAML < --set < flags), ``load_style`` and ``style_from_text`` (with the
studio's file policy), and ``validate_style``: the schema, then the references, every problem in one
ConfigError worded for people."""

from __future__ import annotations

import copy
import re
import typing
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from dreamvideo.config.references import check_references
from dreamvideo.config.schema import RegionConfig, Style, default_layers
from dreamvideo.errors import ConfigError, DreamVideoError, did_you_mean

PRESET_SUFFIX = ".yaml"


def preset_dir() -> Path:
    """The folder of shipped presets (inside the package when installed, pipelines/ in a checkout)."""
    packaged = Path(str(resources.files("dreamvideo"))) / "pipelines"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "pipelines"


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


def style_files(data: dict[str, Any]) -> list[tuple[list[str], str]]:
    """The files a style (as data) names, by key path: ``FILE_KEYS``, each region's mask, each region's
    style unless it is a preset's name, and each react mapping's own audio (a stem)."""
    found = []
    for key in FILE_KEYS:
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            found.append((key.split("."), node))
    for i, region in enumerate(data.get("regions") or []):
        if isinstance(region, dict):
            if isinstance(region.get("mask"), str):
                found.append((["regions", str(i), "mask"], region["mask"]))
            if isinstance(region.get("style"), str) and region["style"] not in list_presets():
                found.append((["regions", str(i), "style"], region["style"]))
    for i, section in enumerate(data.get("sections") or []):
        if isinstance(section, dict) and isinstance(section.get("style"), str) and section["style"] not in \
                list_presets():
            found.append((["sections", str(i), "style"], section["style"]))
    react = data.get("react")
    for target, mapping in (react.items() if isinstance(react, dict) else []):
        if isinstance(mapping, dict) and isinstance(mapping.get("audio"), str):
            found.append((["react", target, "audio"], mapping["audio"]))  # a target may have dots: keys, not a string
    return found


def resolve_paths(data: dict[str, Any], base: Path, named: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Relative file paths in a YAML file are relative to that file (a region's style only where such a
    file exists: else it is a preset's name); a bare name in ``named`` (the studio's uploads) is that file."""
    data = copy.deepcopy(data)
    for keys, path in style_files(data):
        if named and path in named and "/" not in path and "\\" not in path:
            set_dotted(data, keys, str(named[path]))
        elif not (Path(path).is_absolute() or (keys[-1] == "style" and not (base / path).is_file())):
            set_dotted(data, keys, str((base / path).resolve()))
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
                    base: Path | None = None, allowed: tuple[Path, ...] | None = None,
                    named: Mapping[str, Path] | None = None) -> Style:
    """The style of YAML ``text`` with ``sets`` (dotted keys) on top, their relative files under ``base``
    (default the presets' folder) or by name in ``named``. With ``allowed``, a style naming a file outside
    those folders is refused before anything reads it."""
    data = parse_yaml(text or "", source)
    for key, value in (sets or {}).items():
        set_dotted(data, key.split("."), value)
    data = resolve_paths(data, base or preset_dir(), named)
    if allowed is not None:
        folders = tuple(a.resolve() for a in allowed)
        for keys, path in style_files(data):
            if not any(Path(path).resolve().is_relative_to(folder) for folder in folders):
                raise ConfigError(f"{'.'.join(keys)}: the studio reads files only from its own folder and the "
                                  f"presets'; use `dreamvideo` on the command line for {path!r}")
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


def validate_style(data: dict[str, Any], schema: type[Style] = Style, source: str | None = None) -> Style:
    try:
        style = schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(err, schema) for err in exc.errors()], source) from None
    problems, regions, sections = check_references(style, load_style)
    if problems:
        raise ConfigError(problems, source)
    if style.layers is None:
        style = style.model_copy(update={"layers": default_layers(style.model)})
    return style.carrying(regions, sections) if style.regions or style.sections else style


def region_style(region: RegionConfig) -> Style:
    """A region's style, loaded (and validated) from its preset or file."""
    return load_style(region.style)


def region_styles(style: Style) -> list[Style]:
    """The styles of ``style``'s regions, one per region: those its validation loaded; a Style built in
    code, never validated, has them loaded now."""
    loaded = style.loaded_regions
    return list(loaded) if loaded is not None else [region_style(region) for region in style.regions]


def section_styles(style: Style) -> list[Style]:
    """The styles of ``style``'s sections, one per section, as its validation loaded them (or loaded now)."""
    loaded = style.loaded_sections
    return list(loaded) if loaded is not None else [load_style(section.style) for section in style.sections]


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
