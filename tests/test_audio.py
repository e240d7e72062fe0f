from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvideo.react import Reaction, features_for
from dreamvideo.cli import app
from dreamvideo.config import ReactConfig, load_style
from dreamvideo.errors import ConfigError
from synthetic import beat_track
from dreamvideo.video.io import ffmpeg_exe, probe

runner = CliRunner()


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "beats.wav"
    beat_track(path, seconds=8.0, bpm=120)
    return path


def test_tempo_beats_and_loudness_of_a_known_track(track):
    f = features_for(track, 24, 192)
    assert f.tempo == pytest.approx(120, abs=2)
    gaps = np.diff(f.beats)
    assert len(f.beats) >= 14 and np.median(gaps) == 12  # a beat every 0.5 s at 24 fps
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(192) / 192)
    assert np.corrcoef(f.loudness, swell)[0, 1] > 0.5  # the kicks are loud too
    assert f.beat[f.beats].min() > 0.9 and f.beat[f.beats + 6].max() < 0.5  # pulses that fall off


def test_react_mappings():
    assert ReactConfig(source="loudness", min=0.005, max=0.05).value(0.5, 99) == pytest.approx(0.0275)
    assert ReactConfig(source="beat", pulse=1.2).value(1.0, 1.5) == pytest.approx(1.8)
    for bad, match in [("react={stepsize: {source: loudness, min: 0, max: 1}}", "did you mean 'step_size'"),
                       ("react={step_size: {source: bass, pulse: 2}}", "react.step_size.source"),
                       ("react={step_size: {source: beat, min: 1}}", "give both min and max"),
                       ("react={layers.blocks.9: {source: beat, pulse: 2}}", "unknown layer 'blocks.9'")]:
        with pytest.raises(ConfigError, match=match):
            load_style(None, [bad])


def test_reaction_follows_the_feature(track):
    style = load_style(None, ["react={step_size: {source: loudness, min: 0.0, max: 1.0}}"])
    f = features_for(track, 24, 192)
    values = [Reaction(style.react, f, i)("step_size", 0.5) for i in range(192)]
    assert np.allclose(values, f.loudness)
    assert Reaction(style.react, None, 3)("step_size", 0.5) == 0.5  # no audio: the style's own value


def test_render_with_replaced_sound_and_reaction(track, tmp_path):
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    out = tmp_path / "r.mp4"
    result = runner.invoke(app, ["render", str(clip), "-o", str(out), "--audio", str(track), "--max-frames", "12",
                                 "-q", "--set", "output.max_side=64", "--set", "octaves=1", "--set", "iterations=1",
                                 "--set", "react={step_size: {source: beat, min: 0.001, max: 0.03}}"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.frames == 12 and info.audio_codec == "aac" and info.duration == pytest.approx(0.5, abs=0.05)


def test_reacting_without_sound_is_a_clear_error(tmp_path):
    silent = tmp_path / "silent.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
                    "-frames:v", "4", "-pix_fmt", "yuv420p", str(silent)], check=True)
    result = runner.invoke(app, ["render", str(silent), "-o", str(tmp_path / "o.mp4"), "-q",
                                 "--set", "react={step_size: {source: beat, pulse: 2}}"])
    assert result.exit_code == 2 and "has no sound" in result.output and "--audio" in result.output
    result = runner.invoke(app, ["zoom", "--from", "noise", "--frames", "3", "-o", str(tmp_path / "z.mp4"), "-q",
                                 "--set", "react={zoom.scale: {source: beat, pulse: 2}}"])
    assert result.exit_code == 2 and "no --audio" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4"]


def test_zoom_pulses_on_the_beat(track, tmp_path):
    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    style = load_style(None, ["zoom.size=[64,48]", "zoom.iterations=1", "zoom.octaves=1", "octaves=1",
                              "iterations=1", "react={zoom.scale: {source: beat, pulse: 1.5}}"])
    result = zoom_video(None, tmp_path / "z.mp4", style, ZoomOptions(start="noise", audio=track, frames=6))
    assert result.frames == 6 and result.fps == Fraction(24)
