from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from dreamvideo.cli import app
from dreamvideo.config import load_style
from dreamvideo.errors import ConfigError
from dreamvideo.media.ffmpeg import ffmpeg_exe, probe, read_frames
from media import similarity
from dreamvideo.video.zoom import ZoomOptions, hold_color, lab_stats, motion_matrix, move, step_motion, zoom_video

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = ["zoom.size=[96,64]", "zoom.iterations=1", "zoom.octaves=1", "octaves=1", "iterations=2"]


def sets(*items: str) -> list[str]:
    return sum((["--set", s] for s in items), [])


def test_schedules_interpolate_and_validate():
    style = load_style(None, ["zoom.scale={0: 1.2, 5: 2.0, 10: 1.2}", "zoom.interpolation=smooth"])
    s = style.zoom.scale
    assert (s.at(0), s.at(2.5), s.at(5), s.at(7.5), s.at(30)) == (1.2, 1.6, 2.0, 1.6, 1.2)
    assert s.at(1, "smooth") < s.at(1) and s.at(4, "smooth") > s.at(4)
    for bad, match in [("zoom.scale={5: 1.2, 1: 2}", "keys must increase"), ("zoom.rotate={start: 3}", "not a time"),
                       ("zoom.scale=0", "must be > 0"), ("zoom.scale={0: -1}", "must be > 0"),
                       ("zoom.iterations={0: 0}", "must be >= 1")]:
        with pytest.raises(ConfigError, match=match):
            load_style(None, [bad])


def test_motion_is_per_second_so_frame_rate_keeps_the_speed():
    style = load_style(None, ["zoom.scale=1.5", "zoom.rotate=12", "zoom.translate=[0.1, 0]"])
    fast, slow = step_motion(style, 0, 24, (200, 100)), step_motion(style, 0, 12, (200, 100))
    full = lambda m: np.vstack([m, [0, 0, 1]])
    assert np.allclose(full(fast) @ full(fast), full(slow), atol=0.05)  # shifts compose through the turn


def test_requested_zoom_and_rotation_are_what_the_frames_show():
    photo = skimage.data.astronaut()[64:320, 64:448]
    m = motion_matrix((384, 256), 1.05, 3.0, (0.0, 0.0), (0.5, 0.5))
    scale, degrees, _, _ = similarity(photo, move(photo, m, "reflect"))
    assert scale == pytest.approx(1.05, abs=0.002) and degrees == pytest.approx(3.0, abs=0.1)


def test_colour_hold_stops_a_drift():
    rng = np.random.default_rng(0)
    frame = rng.integers(60, 200, (48, 64, 3)).astype(np.uint8)
    reference = lab_stats(frame)
    free, held = frame, frame
    for _ in range(40):
        free = np.clip(free.astype(int) + 4, 0, 255).astype(np.uint8)
        held = hold_color(np.clip(held.astype(int) + 4, 0, 255).astype(np.uint8), reference, 0.3)
    assert abs(lab_stats(held)[0][0] - reference[0][0]) < 5 < abs(lab_stats(free)[0][0] - reference[0][0])


def test_zoom_from_noise_with_audio_length(tmp_path):
    song = tmp_path / "song.wav"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=0.5", str(song)],
                   check=True)
    out = tmp_path / "z.mp4"
    result = runner.invoke(app, ["zoom", "--from", "noise", "-o", str(out), "--audio", str(song), "-q", *sets(*SMALL)])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.frames, info.width, info.height, info.audio_codec) == (12, 96, 64, "aac")


def test_image_zoom_loops_seamlessly(tmp_path):
    out = tmp_path / "loop.mp4"
    style = load_style(None, SMALL + ["output.max_side=96", "zoom.loop_seconds=0.25", "output.crf=0"])
    zoom_video(Path(__file__).resolve().parent.parent / "samples" / "coffee.jpg", out, style,
               ZoomOptions(frames=16, loop=True))
    frames = [f.astype(np.float32) for f in read_frames(out, (96, 64))]
    assert len(frames) == 16
    steps = [np.abs(b - a).mean() for a, b in zip(frames, frames[1:])]
    wrap = np.abs(frames[0] - frames[-1]).mean()
    assert wrap < 2 * np.median(steps)


def test_cadence_dreams_every_kth_frame_and_only_moves_the_others(tmp_path, dreamed):
    result = runner.invoke(app, ["zoom", "--from", "noise", "-o", str(tmp_path / "c.mp4"), "--frames", "10",
                                 "--cadence", "3", "-q", *sets(*SMALL)])
    assert result.exit_code == 0, result.output
    assert dreamed == [0, 3, 6, 9] and probe(tmp_path / "c.mp4").frames == 10


def test_zoom_from_a_colour_starts_from_that_colour(tmp_path):
    means = {}
    for colour in ("#c03010", "#1040c0"):
        out = tmp_path / f"{colour[1:]}.mp4"
        result = runner.invoke(app, ["zoom", "--from", "color", "--color", colour, "-o", str(out), "--frames", "2",
                                     "-q", *sets(*SMALL)])
        assert result.exit_code == 0, result.output
        means[colour] = next(read_frames(out, (96, 64))).reshape(-1, 3).mean(0)
    assert np.abs(means["#c03010"] - (192, 48, 16)).max() < 24
    assert np.abs(means["#1040c0"] - (16, 64, 192)).max() < 24


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("hold", [0.0, 2.0])  # 2: past the opening the keeper lifts every frame, from its state
def test_interrupted_zoom_resumes_to_the_same_result(tmp_path, hold):  # rebuilt out of the kept frames on resume
    from dreamvideo.video.life import opening_frames

    style = load_style(None, SMALL + ["zoom.rotate=10", "zoom.fps=0.5", f"zoom.life.hold={hold}"])
    frames = opening_frames(0.5) + 6
    options = ZoomOptions(frames=frames, origin="noise", chunk_frames=3)
    whole = zoom_video(None, tmp_path / "a.mp4", style, options)

    def stop(done, total):
        if done == frames - 3:  # three frames after the opening
            raise Interrupt

    with pytest.raises(Interrupt):
        zoom_video(None, tmp_path / "b.mp4", style, options, progress=stop)
    again = zoom_video(None, tmp_path / "b.mp4", style, options)
    assert again.resumed_from == frames - 4
    a, b = list(read_frames(tmp_path / "a.mp4", whole.size)), list(read_frames(tmp_path / "b.mp4", again.size))
    assert len(a) == len(b) == frames and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_the_keeper_leaves_the_opening_alone_and_acts_after_it(tmp_path):
    """The opening (the photo dissolving into the dream) is the dive as it always was; after it, a keeper
    that holds more than there is lifts every frame."""
    from dreamvideo.video.life import OPENING

    fps, frames = 2, round(OPENING * 2) + 6
    base = SMALL + ["model=tiny", "layers=[block2]", f"zoom.fps={fps}", "output.max_side=64"]
    runs = {}
    for hold in (0.0, 2.0):  # as PNGs: the frames exactly as made
        zoom_video(SAMPLES / "chelsea.jpg", tmp_path / str(hold) / "%03d.png",
                   load_style(None, base + [f"zoom.life.hold={hold}"]), ZoomOptions(frames=frames))
        runs[hold] = [np.asarray(Image.open(f)) for f in sorted((tmp_path / str(hold)).glob("*.png"))]
    assert len(runs[0.0]) == len(runs[2.0]) == frames
    same = [np.array_equal(a, b) for a, b in zip(runs[0.0], runs[2.0])]
    opening = round(OPENING * fps)
    assert all(same[:opening]) and not any(same[opening:]), [i for i, x in enumerate(same) if not x]


@pytest.mark.parametrize("args, match", [
    (["--seconds", "0"], "must be positive"),
    (["--frames", "0"], "--frames"),
    (["--scale", "0", "--frames", "3"], "zoom.scale"),
    (["--set", "zoom.scale={4: 1.2, 2: 1.5}", "--frames", "3"], "keys must increase"),
    (["--set", "zoom.rotate={a: 1}", "--frames", "3"], "not a time"),
    (["--audio", "NOTAUDIO", "--frames", "3"], "holds no audio"),
    (["--from", "noise"], "--frames, --seconds or --audio"),
    (["--from", "colour", "--frames", "3"], "--from 'colour': use image, noise, color"),
    (["--from", "color", "--color", "red", "--frames", "3"], "write a colour as #RRGGBB"),
    (["--frames", "3", "--max-pixels", "1000"], "more than the limit of 1,000 that guards against decompression"),
])
def test_bad_zoom_input(tmp_path, args, match):
    photo = Path(__file__).resolve().parent.parent / "samples" / "coffee.jpg"
    args = [str(photo) if a == "NOTAUDIO" else a for a in args]
    out = tmp_path / "z.mp4"
    result = runner.invoke(app, ["zoom", str(photo), "-o", str(out), "-q", *args])
    assert result.exit_code == 2, result.output
    assert match in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
