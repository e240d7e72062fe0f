from __future__ import annotations

from pathlib import Path

import pytest

from dreamvideo.config import Style, list_presets, load_style
from dreamvideo.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "style.yaml"
    path.write_text(text)
    return path


def test_defaults_use_the_models_default_layers():
    assert [t.name for t in load_style().layers] == ["blocks.4"]
    assert [t.name for t in load_style(overrides={"model": "googlenet"}).layers] == ["inception4c"]


def test_precedence_defaults_yaml_set_flags(tmp_path):
    path = write(tmp_path, "iterations: 5\noctaves: 2\nstep_size: 0.02\n")
    style = load_style(path, ["octaves=3", "step_size=0.03"], {"step_size": 0.04})
    assert (style.iterations, style.octaves, style.step_size) == (5, 3, 0.04)


def test_layer_shorthands(tmp_path):
    style = load_style(write(tmp_path, "layers: ['blocks.3', 'blocks.4:5,7', {blocks.5: 0.5}]"))
    assert [(t.name, t.weight, t.channels) for t in style.layers] == [
        ("blocks.3", 1.0, None), ("blocks.4", 1.0, [5, 7]), ("blocks.5", 0.5, None)]
    assert load_style(sets=["layers.0.weight=2"]).layers[0].weight == 2


def test_every_problem_is_reported_at_once_with_its_path(tmp_path):
    path = write(tmp_path, "iterashuns: 3\noctaves: 0\ntile: {sise: 4}\nstep_size: big\n")
    with pytest.raises(ConfigError) as info:
        load_style(path)
    problems = info.value.problems
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "iterashuns: unknown key; did you mean 'iterations'?" in text
    assert "tile.sise: unknown key; did you mean 'size'?" in text
    assert "octaves: got 0, should be greater than or equal to 1" in text
    assert "step_size: got 'big'" in text


def test_unknown_model_and_layer(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'googlenet'"):
        load_style(sets=["model=googlenett"])
    with pytest.raises(ConfigError, match=r"layers.0.name: unknown layer 'block.4'.*dreamvideo layers"):
        load_style(sets=["layers=[block.4]"])
    with pytest.raises(ConfigError, match=r"layers.0.channels: \[500\] out of range.*0..111"):
        load_style(sets=["layers=['blocks.4:500']"])


def test_bad_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3.*flow sequence at line 2"):
        load_style(write(tmp_path, "iterations: 3\nlayers: [blocks.4\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_style(write(tmp_path, "- just\n- a list\n"))


def test_missing_style_lists_presets():
    with pytest.raises(ConfigError, match=r"did you mean 'classic'.*presets are"):
        load_style("clasic")


def test_presets_by_name_all_valid_and_distinct():
    names = list_presets()
    assert len(names) >= 5 and {"classic", "textures", "abstract", "dogs", "guided", "googlenet"} <= set(names)
    styles = [load_style(n) for n in names]
    assert len({s.model_dump_json() for s in styles}) == len(styles)


def test_guide_path_is_relative_to_the_style_file():
    style = load_style("guided")
    assert style.guide is not None and style.guide.image.is_file()


def test_out_of_range_values(tmp_path):
    for bad, key in [("tile.size=16", "tile"), ("octave_scale=1", "octave_scale"), ("device=gpu", "device"),
                     ("precision=fp8", "precision"), ("iterations=-1", "iterations")]:
        with pytest.raises(ConfigError, match=key):
            load_style(sets=[bad])


def test_set_needs_key_value():
    with pytest.raises(ConfigError, match="key=value"):
        load_style(sets=["iterations"])


def test_style_is_a_frozen_validated_value_that_round_trips():
    """A Style is checked when built and cannot change after; the JSON a video stores of it (its MP4
    comment) loads back into the same style."""
    import json

    from pydantic import ValidationError

    from dreamvideo.config import validate_style

    with pytest.raises(ValidationError):
        Style(octaves=0)
    style = load_style("zoom-spiral", ["react={step_size: {source: beat, pulse: 2}}", "layers=['blocks.4:3', blocks.2]"])
    with pytest.raises(ValidationError):
        style.octaves = 3
    assert validate_style(json.loads(json.dumps(style.model_dump(mode="json")))) == style


def test_a_style_built_in_code_runs(photo):
    import dreamvideo

    out = dreamvideo.dream_image(photo, Style(octaves=1, iterations=1, device="cpu"))
    assert out.shape == photo.shape and out.dtype.name == "uint8"


def test_region_styles_are_loaded_once_and_travel_with_the_style(tmp_path, tiny, monkeypatch):
    """Validation loads each region's style; the Style carries them and a Look dreams with those, reading
    no file again. A Style carrying them still equals one built from the same fields."""
    import dreamvideo.config.load as load
    from dreamvideo.config import region_styles
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.look import Look

    (tmp_path / "mask.png").write_bytes(b"only its presence is checked here")
    (tmp_path / "region.yaml").write_text("model: tiny\nlayers: [block1]\n")
    path = write(tmp_path, "model: tiny\ndevice: cpu\nregions: [{mask: mask.png, style: region.yaml}]\n")
    reads: list[str] = []
    read = load.read_yaml
    monkeypatch.setattr(load, "read_yaml", lambda p: reads.append(Path(p).name) or read(p))
    style = load_style(path)
    assert reads == ["style.yaml", "region.yaml"]
    assert [[t.name for t in s.layers] for s in region_styles(style)] == [["block1"]]

    def no_more(*_):
        raise AssertionError("a region's style loaded again")

    monkeypatch.setattr(load, "region_style", no_more)
    monkeypatch.setattr(load, "load_style", no_more)
    look = Look(Dreamer(style, tiny))
    assert len(look.regions) == 1 and reads == ["style.yaml", "region.yaml"]
    built = Style.model_validate(style.model_dump())  # built in code: nothing carried, the same value
    assert built == style and built.loaded_regions is None and style.loaded_regions is not None


def test_a_layer_is_checked_once_against_the_spec(photo, tiny):
    """Every unknown layer is reported with its suggestion before any model is built; a module inside a
    declared layer is a layer too, found in the network when it is hooked."""
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.errors import LayerError

    with pytest.raises(ConfigError) as info:
        load_style(None, ["model=tiny", "layers=[block9, block2.0]", "zoom.layer_weights={blockk1: 1}"])
    assert [p.split(":")[0] for p in info.value.problems] == ["layers.0.name", "zoom.layer_weights.blockk1"]
    assert "did you mean 'block1'" in info.value.problems[1]
    one = ["model=tiny", "device=cpu", "octaves=1", "iterations=1"]
    dreamer = Dreamer(load_style(None, one + ["layers=[block2.0]"]), tiny)
    assert dreamer.dream_image(photo, dreamer.objective()).shape == photo.shape
    dreamer = Dreamer(load_style(None, one + ["layers=[block2.7]"]), tiny)  # inside block2, not in the network
    with pytest.raises(LayerError, match="unknown layer 'block2.7' for model 'tiny'"):
        dreamer.dream_image(photo, dreamer.objective())
