from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dreamvideo.cli import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

runner = CliRunner()
FAST = ["--max-side", "64", "--octaves", "2", "--iterations", "2", "-q"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_dream_the_sample(tmp_path):
    out = tmp_path / "dream.png"
    result = run("dream", SAMPLES / "chelsea.jpg", "-o", out, *FAST)
    assert result.exit_code == 0, result.output
    dreamed = np.asarray(Image.open(out))
    assert dreamed.shape == (43, 64, 3)
    source = np.asarray(Image.open(SAMPLES / "chelsea.jpg").resize((64, 43)))
    assert np.abs(dreamed.astype(int) - source).mean() > 2  # it dreamed


def test_dream_with_preset_and_same_seed_repeats(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        assert run("dream", SAMPLES / "coffee.jpg", "-o", out, "--config", "textures", "--seed", 3, *FAST).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_guided_preset_runs(tmp_path):
    result = run("dream", SAMPLES / "rocket.jpg", "-o", tmp_path / "g.jpg", "--config", "guided", *FAST)
    assert result.exit_code == 0, result.output


def _bad(tmp_path: Path, *args, match: str):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert match in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors, result.output
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".png", ".jpg") or ".part" in p.name]


@pytest.mark.parametrize("case", ["missing", "not_image", "truncated", "bad_yaml", "unknown_key", "unknown_model",
                                  "unknown_layer", "out_of_range", "unwritable", "bad_extension", "same_as_input"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    photo = SAMPLES / "chelsea.jpg"
    out = tmp_path / "out.png"
    if case == "missing":
        _bad(tmp_path, "dream", tmp_path / "nope.jpg", "-o", out, match="no such file")
    elif case == "not_image":
        (tmp_path / "notes.txt").write_text("hi")
        _bad(tmp_path, "dream", tmp_path / "notes.txt", "-o", out, match="not an image")
    elif case == "truncated":
        cut = tmp_path / "cut.jpeg"
        cut.write_bytes(photo.read_bytes()[:2000])
        _bad(tmp_path, "dream", cut, "-o", out, *FAST, match="damaged or truncated")
        cut.unlink()
    elif case == "bad_yaml":
        (tmp_path / "s.yaml").write_text("octaves: [3\n")
        _bad(tmp_path, "dream", photo, "-o", out, "--config", tmp_path / "s.yaml", match="not valid YAML")
    elif case == "unknown_key":
        _bad(tmp_path, "dream", photo, "-o", out, "--set", "octave=3", match="did you mean 'octaves'")
    elif case == "unknown_model":
        _bad(tmp_path, "dream", photo, "-o", out, "--model", "alexnett", match="unknown model 'alexnett'")
    elif case == "unknown_layer":
        _bad(tmp_path, "dream", photo, "-o", out, "--layer", "mixed4c", match="dreamvideo layers efficientnet_lite0")
    elif case == "out_of_range":
        _bad(tmp_path, "dream", photo, "-o", out, "--step-size", "5", match="step_size: got 5.0")
    elif case == "unwritable":
        _bad(tmp_path, "dream", photo, "-o", tmp_path / "no" / "dir" / "o.png", match="does not exist")
    elif case == "bad_extension":
        _bad(tmp_path, "dream", photo, "-o", tmp_path / "o.gifx", match="unknown extension")
    elif case == "same_as_input":
        copy = tmp_path / "in.png"
        Image.open(photo).save(copy)
        result = run("dream", copy, "-o", copy, *FAST)
        assert result.exit_code == 2 and "is the input" in result.output


def test_the_progress_bar_starts_with_the_work_not_before_an_error(tmp_path):
    # an input that fails its checks prints the error alone, not under an empty bar
    for args in (["render", tmp_path / "nope.mp4", "-o", tmp_path / "o.mp4"],
                 ["dream", tmp_path / "nope.jpg", "-o", tmp_path / "o.png"]):
        result = run(*args)
        assert result.exit_code == 2
        assert [line for line in result.output.splitlines() if line.strip()] == \
            [f"error: no such file: {str(args[1])!r}; check the path"], result.output
    # work that runs shows it, counted to the end
    result = run("dream", SAMPLES / "chelsea.jpg", "-o", tmp_path / "d.png", "--max-side", "64", "--octaves", "2",
                 "--iterations", "2")
    assert result.exit_code == 0, result.output
    bar = re.search(r"dreaming chelsea\.jpg .* (\d+)/(\d+) ", result.output)
    assert bar and bar[1] == bar[2] != "0", result.output


def test_models_and_layers_commands():
    result = run("models")
    assert result.exit_code == 0 and "efficientnet_lite0" in result.output and "googlenet" in result.output
    result = run("layers", "googlenet")
    assert result.exit_code == 0 and "inception4c" in result.output and "512" in result.output
    result = run("layers", "nonet")
    assert result.exit_code == 2 and "unknown model" in result.output


def test_visualize_a_channel(tmp_path):
    out = tmp_path / "v.png"
    result = run("visualize", "efficientnet_lite0", "blocks.4", "--channel", 7, "-o", out, "--size", 64,
                 "--octaves", 2, "--iterations", 3, "-q")
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(out)).std() > 5  # a pattern, not flat grey
    bad = run("visualize", "efficientnet_lite0", "blocks.4", "--channel", 999, "-o", out, "-q")
    assert bad.exit_code == 2 and "channels 0..111" in bad.output


def test_help_is_light():
    import subprocess
    import sys

    code = "import sys; import dreamvideo.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
