from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvideo.react import Reaction, cues_of
from dreamvideo.cli import app
from dreamvideo.config import ReactConfig, load_style
from dreamvideo.errors import ConfigError
from media import beat_track
from dreamvideo.media.ffmpeg import ffmpeg_exe, probe, read_frames

runner = CliRunner()


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "beats.wav"
    beat_track(path, seconds=8.0, bpm=120)
    return path


def test_tempo_beats_and_loudness_of_a_known_track(track):
    f = cues_of(track, 24, 192)
    assert f.tempo == pytest.approx(120, abs=2)
    gaps = np.diff(f.beats)
    assert len(f.beats) >= 14 and np.median(gaps) == 12  # a beat every 0.5 s at 24 fps
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(192) / 192)
    assert np.corrcoef(f.loudness, swell)[0, 1] > 0.5  # the kicks are loud too
    assert f.beat[f.beats].min() > 0.9 and f.beat[f.beats + 6].max() < 0.5  # pulses that fall off


def test_react_mappings():
    """A range runs from min (silence) to max (the loudest), rising with the feature, whatever the style's own
    value; a pulse leaves the style's value in silence and multiplies it by the pulse at a full beat."""
    ranged, pulse = ReactConfig(source="loudness", min=0.005, max=0.05), ReactConfig(source="beat", pulse=1.2)
    levels = np.linspace(0, 1, 11)
    assert ranged.value(0.0, 99) == 0.005 and ranged.value(1.0, 99) == 0.05
    assert np.all(np.diff([ranged.value(x, 99) for x in levels]) > 0)
    assert pulse.value(0.0, 1.5) == 1.5 and pulse.value(1.0, 1.5) == pytest.approx(1.5 * 1.2)
    assert np.all(np.diff([pulse.value(x, 1.5) for x in levels]) > 0)
    for bad, match in [("react={stepsize: {source: loudness, min: 0, max: 1}}", "did you mean 'step_size'"),
                       ("react={step_size: {source: bass, pulse: 2}}", "react.step_size.source"),
                       ("react={step_size: {source: beat, min: 1}}", "give both min and max"),
                       ("react={layers.blocks.9: {source: beat, pulse: 2}}", "unknown layer 'blocks.9'")]:
        with pytest.raises(ConfigError, match=match):
            load_style(None, [bad])


def test_reaction_follows_the_feature(track):
    """Frame by frame, a mapped value is loudest where the track is: its order follows the feature's."""
    style = load_style(None, ["react={step_size: {source: loudness, min: 0.002, max: 0.04}}"])
    f = cues_of(track, 24, 192)
    values = np.array([Reaction(style.react, f, i)("step_size", 0.5) for i in range(192)])
    assert np.corrcoef(values, f.loudness)[0, 1] > 0.999
    assert values.min() >= 0.002 and values.max() <= 0.04 and values.max() - values.min() > 0.02
    assert Reaction(style.react, f, 500)("step_size", 0.5) == values[-1]  # past the end: the last frame's
    assert Reaction(style.react, None, 3)("step_size", 0.5) == 0.5  # no audio: the style's own value


def test_render_with_replaced_sound_reacts_to_its_beats(track, tmp_path):
    """The dream's strength on each frame follows the beat of the --audio track it is mapped to."""
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    out = tmp_path / "r.mp4"
    result = runner.invoke(app, ["render", str(clip), "-o", str(out), "--audio", str(track), "--max-frames", "30",
                                 "-q", "--set", "output.max_side=64", "--set", "octaves=1", "--set", "iterations=2",
                                 "--set", "blend=0", "--set", "output.crf=0",
                                 "--set", "react={step_size: {source: beat, min: 0.0005, max: 0.05}}"])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.frames == 30 and info.audio_codec == "aac" and info.duration == pytest.approx(1.25, abs=0.05)
    dreamed = [f.astype(np.float32) for f in read_frames(out, (64, 48))]
    source = [f.astype(np.float32) for f in read_frames(clip, (64, 48), info.fps, max_frames=30)]
    strength = np.array([np.sqrt(((d - s) ** 2).mean()) for d, s in zip(dreamed, source)])
    beat = cues_of(track, float(info.fps), 30).beat
    assert np.corrcoef(strength, beat)[0, 1] > 0.9
    assert strength[beat > 0.9].min() > 3 * strength[beat < 0.05].max()  # on the beat it dreams hard, off it barely


def test_react_on_a_layer_weight_follows_the_feature(track, tmp_path, monkeypatch):
    from dreamvideo.dreamer import Dreamer

    seen = []
    weighted = Dreamer.weighted

    def spy(self, weights, guide=None):
        objective = weighted(self, weights, guide)
        seen.append((dict(weights), objective.layers))
        return objective

    monkeypatch.setattr(Dreamer, "weighted", spy)
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    style = load_style(None, ["output.max_side=64", "octaves=1", "iterations=1",
                              "react={layers.blocks.2: {source: beat, min: 0, max: 2}}"])
    from dreamvideo.video.render import RenderOptions, render_video

    render_video(clip, tmp_path / "r.mp4", style, RenderOptions(audio=track, max_frames=16))
    beat = cues_of(track, 24, 16).beat
    assert [w["blocks.2"] for w, _ in seen] == pytest.approx(list(2 * beat))
    assert all(("blocks.2" in layers) == (w["blocks.2"] != 0) and "blocks.4" in layers for w, layers in seen)


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
    """Measured from the frames (ECC), each frame's zoom surges on the beat and settles between beats."""
    from media import similarity

    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    style = load_style(None, ["output.max_side=128", "octaves=1", "iterations=1", "zoom.cadence=100",
                              "zoom.color_hold=0", "output.crf=0", "react={zoom.scale: {source: beat, pulse: 1.5}}"])
    photo = Path(__file__).resolve().parent.parent / "samples" / "coffee.jpg"
    result = zoom_video(photo, tmp_path / "z.mp4", style, ZoomOptions(audio=track, frames=30))
    assert result.frames == 30 and result.fps == Fraction(24)
    frames = list(read_frames(tmp_path / "z.mp4", result.size))
    scales = np.array([similarity(a, b)[0] for a, b in zip(frames, frames[1:])])
    beat = cues_of(track, 24, 30).beat[:29]
    assert np.corrcoef(scales, beat)[0, 1] > 0.9
    on, off = scales[beat > 0.9], scales[beat < 0.05]
    assert np.all(np.abs(on - 2.25 ** (1 / 24)) < 0.003) and np.all(np.abs(off - 1.5 ** (1 / 24)) < 0.003)
