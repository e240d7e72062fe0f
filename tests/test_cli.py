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
                                  "unknown_layer", "out_of_range", "unwritable", "bad_extension", "same_as_input",
                                  "bomb"])
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
    elif case == "bomb":
        from media import bomb_png

        bomb_png(tmp_path / "bomb.dat")
        _bad(tmp_path, "dream", tmp_path / "bomb.dat", "-o", out, match="is 30000x30000 px (900,000,000 pixels), more "
             "than the limit of 150,000,000 that guards against decompression bombs; if the image is genuine, pass "
             "--max-pixels 900000000")


def test_max_pixels_lets_a_genuine_large_image_through(tmp_path):
    photo = SAMPLES / "chelsea.jpg"  # 451x300 = 135,300 pixels
    _bad(tmp_path, "dream", photo, "-o", tmp_path / "o.png", "--max-pixels", 100000, *FAST,
         match="(135,300 pixels), more than the limit of 100,000")
    assert run("dream", photo, "-o", tmp_path / "o.png", "--max-pixels", 135300, *FAST).exit_code == 0


def test_version():
    import dreamvideo

    result = run("--version")
    assert result.exit_code == 0 and result.output == f"dreamvideo {dreamvideo.__version__}\n"


def test_render_help_names_every_style_key_it_honours():
    from dreamvideo.config import Style

    text = " ".join(run("render", "--help").output.split())
    video_keys = set(Style.model_fields) - {"zoom"}
    assert [key for key in video_keys if key not in text] == []
    assert "output.fps" in text and "README" in text


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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "False", result.stderr


class Seen:
    """Stands in for a library call: records what it was given, returns what the CLI prints from."""

    def __init__(self, result=None):
        self.calls, self.result = [], result

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.result


def _video_result(path="o.mp4"):
    from fractions import Fraction

    from dreamvideo.video.output import VideoResult

    return VideoResult(Path(path), 3, 0, Fraction(24), (64, 48), 0.1)


def test_every_render_flag_reaches_the_library(tmp_path, monkeypatch):
    import dreamvideo.video.render as render
    import dreamvideo.video.split as split

    weights, song = tmp_path / "w.pth", tmp_path / "song.wav"
    weights.write_bytes(b"")
    song.write_bytes(b"")
    seen, seen_split = Seen(_video_result()), Seen(_video_result())
    monkeypatch.setattr(render, "render_video", seen)
    monkeypatch.setattr(split, "render_split", seen_split)
    common = ["--config", "dogs", "--set", "decay=0.9", "--model", "efficientnet_lite0", "--weights", weights,
              "--layer", "blocks.3", "--layer", "blocks.5:7", "--iterations", 7, "--octaves", 3, "--step-size", 0.02,
              "--guide", SAMPLES / "rocket.jpg", "--max-pixels", 1000, "--blend", 0.5, "--flow", "farneback",
              "--max-side", 320, "--width", 300, "--fps", 12.5, "--start", 1.5, "--duration", 2, "--max-frames", 9,
              "--audio", song, "--restart", "--preview", 4, "--mask", SAMPLES / "coffee.jpg", "--mask-invert",
              "--colors", "original", "--seed", 11, "--device", "cpu", "-q"]
    assert run("render", SAMPLES / "clip.mp4", "-o", tmp_path / "r.mp4", *common).exit_code == 0
    (source, output, style, options), kwargs = seen.calls[0]
    assert (source.name, output) == ("clip.mp4", tmp_path / "r.mp4")
    assert [(t.name, t.channels) for t in style.layers] == [("blocks.3", None), ("blocks.5", [7])]
    assert (style.model, style.weights, style.iterations, style.blend, style.flow, style.decay, style.seed,
            style.device, style.octaves, style.step_size, style.guide.image) == \
        ("efficientnet_lite0", weights, 7, 0.5, "farneback", 0.9, 11, "cpu", 3, 0.02, SAMPLES / "rocket.jpg")
    assert (style.output.max_side, style.output.width, style.output.fps) == (320, 300, 12.5)
    assert (style.mask, style.mask_invert, style.colors) == (SAMPLES / "coffee.jpg", True, "original")
    assert (options.start, options.duration, options.max_frames, options.restart, options.preview, options.audio,
            options.max_pixels) == (1.5, 2, 9, True, 4, song, 1000)
    assert kwargs["progress"] is None and callable(kwargs["log"])
    result = run("render", SAMPLES / "clip.mp4", "-o", tmp_path / "s.mp4", "--split", "--executor", "ray",
                 "--address", "ray://head:10001", "--max-segment", 12, "--pre-roll", 0.5, "--cpus-per-task", 2, "-q")
    assert result.exit_code == 0, result.output
    (source, output, style, options, executor, address), split_options = seen_split.calls[0]
    assert (output, executor, address) == (tmp_path / "s.mp4", "ray", "ray://head:10001")
    assert (split_options["max_segment"], split_options["pre_roll"], split_options["cpus"]) == (12, 0.5, 2)
    assert run("render", SAMPLES / "clip.mp4", "-o", tmp_path / "s.mp4", "--split", "--address", "h:6379",
               "-q").exit_code == 0
    assert seen_split.calls[1][0][4:] == ("ray", "h:6379")  # an address implies Ray
    for flags, match in [(["--executor", "ray"], "--executor ray runs the shots of a split render: add --split"),
                         (["--address", "h:1"], "--address runs the shots of a split render: add --split"),
                         (["--split", "--executor", "local", "--address", "h:1"], "names a Ray cluster, but --executor is local"),
                         (["--split", "--executor", "rya"], "did you mean 'ray'")]:
        result = run("render", SAMPLES / "clip.mp4", "-o", tmp_path / "t.mp4", *flags, "-q")
        assert result.exit_code == 2 and match in result.output, result.output
    assert len(seen_split.calls) == 2 and len(seen.calls) == 1  # none of those ran


def test_every_zoom_dream_batch_and_visualize_flag_reaches_the_library(tmp_path, monkeypatch):
    import dreamvideo.batch as batch
    import dreamvideo.dreamer as dreamer
    import dreamvideo.features as features
    import dreamvideo.video.zoom as zoom
    import dreamvideo.visualize as visualize

    song = tmp_path / "song.wav"
    song.write_bytes(b"")
    seen = Seen(_video_result())
    monkeypatch.setattr(zoom, "zoom_video", seen)
    assert run("zoom", SAMPLES / "coffee.jpg", "-o", tmp_path / "z.mp4", "--config", "zoom-drift", "--set", "seed=4",
               "--frames", 40, "--seconds", 3, "--audio", song, "--from", "color", "--color", "#102030",
               "--scale", 1.25, "--rotate", -15, "--fps", 30, "--cadence", 3, "--loop", "--max-side", 200,
               "--model", "efficientnet_lite0", "--layer", "blocks.2", "--restart", "--preview", 5, "--device", "cpu",
               "--mask", SAMPLES / "rocket.jpg", "--colors", "original", "--weights", song, "--iterations", 4,
               "--octaves", 3, "--step-size", 0.03, "--guide", SAMPLES / "chelsea.jpg", "--width", 180, "--max-pixels",
               500, "-q").exit_code == 0
    (image, output, style, options), _ = seen.calls[0]
    assert image is None and output == tmp_path / "z.mp4"  # --from color needs no image
    assert (style.weights, style.iterations, style.octaves, style.step_size, style.guide.image, style.output.width,
            options.max_pixels) == (song, 4, 3, 0.03, SAMPLES / "chelsea.jpg", 180, 500)
    assert run("zoom", SAMPLES / "coffee.jpg", "--frames", 2, "-q").exit_code == 0
    assert seen.calls[1][0][1] == SAMPLES / "coffee_zoom.mp4"  # beside its image, like the other commands
    assert run("zoom", "--from", "noise", "--frames", 2, "-q").exit_code == 0
    assert seen.calls[2][0][1] == Path("zoom.mp4")
    assert (style.zoom.scale.at(0), style.zoom.rotate.at(0), style.zoom.fps, style.zoom.cadence) == (1.25, -15, 30, 3)
    assert (style.output.max_side, [t.name for t in style.layers], style.seed, style.device) == \
        (200, ["blocks.2"], 4, "cpu")
    assert (style.mask, style.mask_invert, style.colors) == (SAMPLES / "rocket.jpg", False, "original")
    assert (options.frames, options.seconds, options.audio, options.origin, options.color, options.loop,
            options.restart, options.preview) == (40, 3, song, "color", (16, 32, 48), True, True, 5)

    class FakeDreamer:
        styles = []

        def __init__(self, style):
            self.styles.append(style)

    import dreamvideo.look as look

    monkeypatch.setattr(dreamer, "Dreamer", FakeDreamer)
    monkeypatch.setattr(look, "dream_photo", lambda dreamer, picture, **options: picture)
    out = tmp_path / "d.png"
    assert run("dream", SAMPLES / "coffee.jpg", "-o", out, "--config", "textures", "--set", "jitter=5",
               "--model", "efficientnet_lite0", "--layer", "blocks.1:3,4", "--iterations", 3, "--octaves", 2,
               "--step-size", 0.02, "--max-side", 100, "--width", 90, "--guide", SAMPLES / "rocket.jpg",
               "--mask", SAMPLES / "chelsea.jpg", "--mask-invert", "--colors", "original",
               "--seed", 9, "--device", "cpu", "-q").exit_code == 0
    style = FakeDreamer.styles[0]
    assert ([(t.name, t.channels) for t in style.layers], style.iterations, style.octaves, style.step_size,
            style.jitter, style.seed, style.device) == ([("blocks.1", [3, 4])], 3, 2, 0.02, 5, 9, "cpu")
    assert (style.output.max_side, style.output.width, style.guide.image) == (100, 90, SAMPLES / "rocket.jpg")
    assert (style.mask, style.mask_invert, style.colors) == (SAMPLES / "chelsea.jpg", True, "original")
    assert out.is_file()

    seen_jobs = Seen([])
    monkeypatch.setattr(batch, "run_jobs", seen_jobs)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"jobs: [{{command: dream, input: {SAMPLES / 'coffee.jpg'}, output: x.png}}]\n")
    assert run("batch", jobs, "--executor", "ray", "--address", "ray://head:10001", "--cpus-per-task", 3
               ).exit_code == 0
    (job_list, base, executor, address, _, _, cpus), _ = seen_jobs.calls[0]
    assert ([j.output.name for j in job_list], base, executor, address, cpus) == (
        ["x.png"], str(tmp_path), "ray", "ray://head:10001", 3)

    import torch

    seen_net, seen_vis = Seen("net"), Seen(torch.zeros(1, 3, 8, 8))
    monkeypatch.setattr(features, "get_model", seen_net)
    monkeypatch.setattr(visualize, "visualize", seen_vis)
    weights = tmp_path / "w.pth"
    assert run("visualize", "googlenet", "inception4a", "--channel", 3, "-o", tmp_path / "v.png", "--size", 64,
               "--iterations", 5, "--octaves", 2, "--weights", weights, "--seed", 2, "--device", "cpu",
               "-q").exit_code == 0
    assert seen_net.calls[0][0] == ("googlenet", weights, torch.device("cpu"))
    assert seen_vis.calls[0] == (("net", "inception4a", 3), {"size": 64, "octaves": 2, "iterations": 5, "seed": 2,
                                                            "progress": None})


def test_an_unknown_executor_is_one_line(tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"jobs: [{{command: dream, input: {SAMPLES / 'coffee.jpg'}, output: x.png}}]\n")
    for args in (["batch", jobs], ["render", SAMPLES / "clip.mp4", "-o", tmp_path / "o.mp4", "--split"]):
        _bad(tmp_path, *args, "--executor", "raay", match="--executor 'raay': did you mean 'ray'? use local or ray")
