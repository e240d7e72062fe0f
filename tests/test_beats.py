"""The beat tracker against drum loops whose beats are known exactly, and what is built on it: the cues'
beats and bars, schedules keyed in bars and beats, stems, ``analyse``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from music import LOOPS, RATE, Loop, drum_loop, f_measure, held_out, write_wav
from typer.testing import CliRunner

from dreamvideo.beats import WARM, CausalBeats, track
from dreamvideo.cli import app
from dreamvideo.config import load_style
from dreamvideo.react import on_the_song, style_cues

runner = CliRunner()


@pytest.mark.parametrize("loop", [held_out(loop) for loop in LOOPS], ids=[loop.name for loop in LOOPS])
def test_the_tracker_finds_every_loops_beats_and_bars(loop):
    """Loops it was not tuned on (the other kit): 80 to 180 BPM, swing, syncopation, an intro, ramps, a waltz."""
    song = drum_loop(loop)
    grid = track(song.samples)
    assert f_measure(grid.beats, song.beats) >= 0.95
    assert grid.tempo == pytest.approx(song.tempo, rel=0.03)  # no octave errors either
    assert grid.meter == loop.meter and f_measure(grid.downbeats, song.downbeats) >= 0.9


def test_a_96_bpm_song_pulses_on_quarter_notes(tmp_path):
    from dreamvideo.react import cues_of

    song = drum_loop(Loop("96", 96, bars=8))
    write_wav(tmp_path / "96.wav", song.samples)
    frames = int(song.seconds * 25)
    cues = cues_of(tmp_path / "96.wav", 25, frames)
    assert cues.tempo == pytest.approx(96, rel=0.01)
    assert len(cues.beats) == len(song.beats)  # one pulse a beat, none on the eighths
    assert np.median(np.diff(cues.beats)) == pytest.approx(25 * 60 / 96, abs=1)
    assert np.array_equal(cues.downbeats, cues.beats[::4])
    assert cues.bar[cues.downbeats].min() > 0.9 and cues.bar[cues.beats[1::4]].max() < 0.5


def test_what_the_user_knows_overrides_the_tracker():
    song = drum_loop(Loop("120", 120, bars=8))
    exact = track(song.samples, bpm=120, offset=0.5)
    assert np.allclose(exact.beats[:3], [0.0, 0.5, 1.0]) and exact.downbeats[0] == pytest.approx(0.5)
    assert exact.beats[-1] <= exact.duration
    threes = track(song.samples, meter=3)
    assert threes.meter == 3 and np.allclose(threes.downbeats, threes.beats[threes.beats.tolist().index(
        threes.downbeats[0])::3])
    assert track(song.samples, bpm=60).tempo == pytest.approx(60, rel=0.03)  # a half-time feel, when asked


@pytest.mark.parametrize("sound", ["silence", "sine"])
def test_a_song_without_a_beat_has_none(sound, tmp_path):
    t = np.arange(RATE * 6) / RATE
    samples = np.zeros_like(t) if sound == "silence" else 0.5 * np.sin(2 * np.pi * 440 * t)
    assert not track(samples.astype(np.float32)).has_beat
    write_wav(tmp_path / "x.wav", samples.astype(np.float32))
    result = runner.invoke(app, ["analyse", str(tmp_path / "x.wav")])
    assert result.exit_code == 0 and "no beat found in x.wav: times stay in seconds" in result.output
    result = runner.invoke(app, ["zoom", "--from", "noise", "--audio", str(tmp_path / "x.wav"), "-q",
                                 "-o", str(tmp_path / "z.mp4"), "--set", "zoom.scale={bar 1: 1.2, bar 3: 2}"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "zoom.scale is keyed in bars or beats, but x.wav has no beat" in result.output
    assert "key it in seconds, or give music.bpm and music.offset" in result.output
    assert not (tmp_path / "z.mp4").exists()


@pytest.mark.parametrize("seconds", [0.05, 0.3, 1.0, 1.5])
def test_a_sound_shorter_than_a_bar(seconds):
    """A clip's sound may be a moment long (shorter than the taps that score the onsets): under a second it
    has no tempo of its own; told the tempo, the tracker places what beats fit."""
    song = drum_loop(Loop("120", 120, bars=1))
    samples = song.samples[: int(seconds * RATE)]
    for grid in (track(samples), track(samples, bpm=120)):
        assert len(grid.beats) <= seconds * 2 + 1
        assert all(0 <= b <= seconds for b in grid.beats)
    if seconds < 1:
        assert not track(samples).has_beat


def test_beats_as_they_are_heard_land_on_time():
    loop = held_out(Loop("132", 132, bars=8))
    song = drum_loop(loop)
    tracker, found = CausalBeats(), []
    for a in range(0, len(song.samples), RATE // 25):  # a video frame's worth at a time
        found += tracker.feed(song.samples[a : a + RATE // 25])
    times = np.array([t for t, _ in found])
    assert times.min() >= WARM - 0.1  # nothing before the tempo is known
    settled = song.beats[song.beats > WARM + 1]
    heard = times[(times > WARM + 1 - 0.07) & (times < song.beats[-1] + 0.07)]
    assert f_measure(heard, settled) >= 0.95
    assert np.median([np.abs(song.beats - t).min() for t in heard]) < 0.03
    bars = np.array([t for t, starts in found if starts])  # counted once two bars' beats are heard
    late = bars[(bars > WARM + 4 - 0.07) & (bars < song.beats[-1] + 0.07)]
    assert f_measure(late, song.downbeats[song.downbeats > WARM + 4]) >= 0.9


def test_schedule_keys_in_bars_and_beats():
    style = load_style(None, ["zoom.scale={bar 1: 1.0, beat 9: 2.0, 30: 1.5, interpolation: step}"])
    assert style.zoom.scale.musical and style.model_dump(mode="json")["zoom"]["scale"] == {
        "bar 1": 1.0, "beat 9": 2.0, "30": 1.5, "interpolation": "step"}
    for bad, says in [("{bar 0: 1}", "counted from 1"), ("{verse 2: 1}", "not a time"),
                      ("{bar 9: 1, bar 3: 2}", "must increase")]:
        with pytest.raises(Exception, match=says):
            load_style(None, [f"zoom.scale={bad}"])


def test_bar_keyframes_land_on_their_frames(tmp_path):
    """A zoom whose speed steps up at bar 3: the schedule changes on the frame the tracked bar falls on, and the
    rendered frames (measured by ECC) zoom from that frame on."""
    from media import similarity

    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    song = drum_loop(Loop("160", 160, bars=5))
    write_wav(tmp_path / "song.wav", song.samples)
    style = load_style(None, ["output.max_side=96", "octaves=1", "iterations=1", "zoom.cadence=100",
                              "zoom.color_hold=0", "output.crf=0", "zoom.scale={bar 1: 1.0, bar 3: 4.0}",
                              "zoom.interpolation=step"])
    resolved = on_the_song(style, tmp_path / "song.wav")
    assert resolved.zoom.scale.keys[1][0] == pytest.approx(song.downbeats[2], abs=0.03)
    fps = 24
    at = int(np.ceil(resolved.zoom.scale.keys[1][0] * fps))  # the first frame at or after bar 3
    assert [resolved.zoom.scale.at(i / fps, "step") for i in (at - 1, at)] == [1.0, 4.0]
    frames = at + 6
    photo = Path(__file__).resolve().parent.parent / "samples" / "coffee.jpg"
    result = zoom_video(photo, tmp_path / "z.mp4", style, ZoomOptions(audio=tmp_path / "song.wav", frames=frames))
    assert result.fps == Fraction(24)
    shown = list(read_frames(tmp_path / "z.mp4", result.size))
    scales = [similarity(a, b)[0] for a, b in zip(shown[at - 4:], shown[at - 3:])]
    # the step from frame i to i+1 moves at frame i's speed: still until frame `at`, then 4 ** (1/24) a frame
    assert np.allclose(scales[:3], 1.0, atol=0.004) and np.allclose(scales[4:], 4 ** (1 / fps), atol=0.01)


def test_stems_drive_their_own_keys(tmp_path):
    """The kick stem drives the pulse, the bass stem the zoom: each key follows its own stem, not the mix."""
    from dreamvideo.react import Reaction

    kick = drum_loop(Loop("120", 120, bars=4))
    seconds = kick.seconds
    t = np.arange(int(seconds * RATE)) / RATE
    bass = (0.5 * np.sin(2 * np.pi * 55 * t) * (t > seconds / 2)).astype(np.float32)  # silent, then loud
    stems = tmp_path / "stems"
    stems.mkdir()
    write_wav(stems / "drums.wav", kick.samples)
    write_wav(stems / "bass.wav", bass)
    write_wav(tmp_path / "mix.wav", (kick.samples[: len(bass)] + bass) / 2)
    (stems / "style.yaml").write_text("react:\n"
                                      "  step_size: {source: beat, min: 0.001, max: 0.05, audio: drums.wav}\n"
                                      "  zoom.scale: {source: loudness, min: 1.0, max: 3.0, audio: bass.wav}\n")
    style = load_style(stems / "style.yaml")
    assert style.react["zoom.scale"].audio == (stems / "bass.wav").resolve()  # beside the style, like any file
    fps, frames = 25, int(seconds * 25) - 1
    cues = style_cues(style, tmp_path / "mix.wav", fps, frames)
    step = np.array([Reaction(style.react, cues, i)("step_size", 0.01) for i in range(frames)])
    zoom = np.array([Reaction(style.react, cues, i)("zoom.scale", 1.5) for i in range(frames)])
    beats = np.round(kick.beats * fps).astype(int)
    beats = beats[beats < frames]
    on_beat = np.array([step[max(0, b - 1) : b + 2].max() for b in beats])
    assert on_beat.min() > 0.045 and np.median(step) < 0.02  # pulses on the drum stem's beats
    half = frames // 2
    assert zoom[: half - 5].max() < 1.1 and zoom[half + 10 :].min() > 2.8  # the bass comes in half way
    # without a sound of the job's own, stems alone are enough; live follows one sound and says so
    assert style_cues(style, None, fps, frames) is not None
    from dreamvideo.errors import ConfigError
    from dreamvideo.live.run import LiveOptions, live_cues
    from dreamvideo.media.capture import SourceInfo

    with pytest.raises(ConfigError, match="live follows one sound"):
        live_cues(style, SourceInfo("x", Fraction(25), (64, 48), tmp_path / "mix.wav", "pcm"), LiveOptions())


def test_analyse_prints_json_and_draws_the_song(tmp_path):
    from PIL import Image

    song = drum_loop(Loop("128", 128, bars=8))
    write_wav(tmp_path / "song.wav", song.samples)
    result = runner.invoke(app, ["analyse", str(tmp_path / "song.wav"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tempo"] == pytest.approx(128, rel=0.01) and data["meter"] == 4 and data["bars"] == 8
    assert f_measure(np.array(data["beats"]), song.beats) >= 0.95 and data["duration"] == pytest.approx(
        song.seconds, abs=0.05)
    result = runner.invoke(app, ["analyse", str(tmp_path / "song.wav")])
    assert result.exit_code == 0 and "128.0 BPM, 4 beats a bar, 8 bars" in result.output
    assert result.output.count("\n") == 2 + 8  # the line, the table's head, a row a bar

    out = tmp_path / "song.png"
    result = runner.invoke(app, ["analyse", str(tmp_path / "song.wav"), "--plot", str(out), "-c", "zoom-dive",
                                 "--set", "zoom.scale={bar 1: 1.2, bar 5: 2.0}",
                                 "--set", "react={step_size: {source: beat, pulse: 2}}"])
    assert result.exit_code == 0, result.output
    picture = np.asarray(Image.open(out))
    bare = tmp_path / "bare.png"
    assert runner.invoke(app, ["analyse", str(tmp_path / "song.wav"), "--plot", str(bare)]).exit_code == 0
    assert picture.shape[1] == 1600 and picture.shape[0] > np.asarray(Image.open(bare)).shape[0]  # two lanes more

    # a video's own sound; and a file without sound is one line
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    assert runner.invoke(app, ["analyse", str(clip), "--json"]).exit_code == 0
    (tmp_path / "notes.txt").write_text("not a song")
    result = runner.invoke(app, ["analyse", str(tmp_path / "notes.txt")])
    assert result.exit_code != 0 and result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_three_hour_set_is_drawn(tmp_path):
    """The time axis of a DJ set (its ticks every half hour at most): drawn without the set's samples."""
    from dreamvideo.analyse import CURVE_FPS, Analysis, plot
    from dreamvideo.audio import track_cues
    from dreamvideo.beats import exact_grid

    grid, samples = exact_grid(128, 0.0, 4, 3 * 3600.0), np.zeros(RATE, np.float32)
    analysis = Analysis(tmp_path / "set.wav", grid, samples, track_cues(samples, CURVE_FPS, 10, grid=grid), CURVE_FPS)
    assert plot(analysis, tmp_path / "set.png").stat().st_size > 0


def test_a_section_crossfades_into_another_style_on_the_bar(tmp_path):
    """Frames dreamed on their own (blend 0): before the fade each is the first style's dream, from the bar on
    the second's, and the fade's middle frame lies half way between the two, on the song's grid."""
    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.video.render import RenderOptions, render_video

    song = drum_loop(Loop("120", 120, bars=3))  # downbeats at 0.5, 2.5 and 4.5 s
    write_wav(tmp_path / "song.wav", song.samples)
    common = "model: tiny\ndevice: cpu\noctaves: 1\niterations: 2\nstep_size: 0.05\nblend: 0\noutput: {max_side: 64}\n"
    (tmp_path / "a.yaml").write_text(common + "layers: [block1]\n")
    (tmp_path / "b.yaml").write_text(common + "layers: [block3]\nseed: 7\n")
    (tmp_path / "song.yaml").write_text(common + "layers: [block1]\n"
                                        "sections: [{at: bar 2, style: b.yaml, crossfade: 1 beat}]\n")
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    frames = {}
    for name in ("a", "b", "song"):
        out = tmp_path / name / "%03d.png"
        result = render_video(clip, out, load_style(tmp_path / f"{name}.yaml"),
                              RenderOptions(audio=tmp_path / "song.wav"))
        frames[name] = np.array(list(read_frames(out, result.size))).astype(int)
    from dreamvideo.sections import moment, parts

    plan = parts(load_style(tmp_path / "song.yaml"), track(song.samples))
    assert plan[1].whole == pytest.approx(2.5, abs=0.02) and plan[1].begins == pytest.approx(2.0, abs=0.02)
    begins, bar = int(np.ceil(plan[1].begins * 24)), int(np.ceil(plan[1].whole * 24))  # the fade's frames
    a, b, both = frames["a"], frames["b"], frames["song"]
    assert np.array_equal(both[:begins], a[:begins]) and np.array_equal(both[bar:], b[bar:])
    middle = (begins + bar) // 2
    share = moment(plan, middle / 24).share
    assert share == pytest.approx(0.5, abs=0.1)
    assert np.abs(both[middle] - ((1 - share) * a[middle] + share * b[middle])).max() <= 1
    assert np.abs(a[middle] - b[middle]).mean() > 5  # two different dreams, really


def test_a_style_back_again_builds_nothing():
    """Verse, chorus, verse: the verse's dreamer and look are the first ones again, and the chorus on the same
    model dreams on the same network; a style equal to the given dreamer's (a copy) is that dreamer."""
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.sections import Dreamers, Looks, Part

    verse = load_style(None, ["model=tiny", "device=cpu", "layers=[block1]"])
    chorus = load_style(None, ["model=tiny", "device=cpu", "layers=[block3]"])
    dreamers = Dreamers(Dreamer(verse))
    assert dreamers(verse.model_copy()) is dreamers.first
    assert dreamers(chorus).model is dreamers.first.model and dreamers(chorus) is dreamers(chorus)
    made: list[str] = []

    class Made:  # a look that says what it was made for
        def __init__(self, style):
            made.append(style.layers[0].name)

        def close(self):
            pass

    looks = Looks([Part(verse, 0, 0), Part(chorus, 2, 2), Part(verse, 4, 4)], Made(verse), Made)
    assert looks[2] is looks[0] and looks[1] is looks[1] and made == ["block1", "block3"]


def test_a_clip_cycled_under_a_whole_song(tmp_path):
    """--cycle: the video runs the song's length with its sound from --start; the clip's frames go round
    (loop) or back and forth (pingpong, its ends shown once); what cannot be done is one line."""
    from dreamvideo.media.ffmpeg import probe, probe_audio, read_frames
    from dreamvideo.video.render import cycle_index, cycled_frames

    assert [cycle_index(k, 4, "loop") for k in range(9)] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert [cycle_index(k, 4, "pingpong") for k in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    info = probe(clip)
    frames = list(read_frames(clip, (32, 24), info.fps))
    cycled = list(cycled_frames(clip, info, (32, 24), info.fps, "pingpong", 70, 6))  # 72 frames: 70 71 70 69 ..
    assert all(np.array_equal(a, frames[i]) for a, i in zip(cycled, (70, 71, 70, 69, 68, 67)))
    song = drum_loop(Loop("120", 120, bars=2))  # 6.0 s: twice the clip
    write_wav(tmp_path / "song.wav", song.samples)
    length = probe_audio(tmp_path / "song.wav").duration
    for cycle, start in (("loop", 0.0), ("pingpong", 2.5)):
        out = tmp_path / f"{cycle}.mp4"
        result = runner.invoke(app, ["render", str(clip), "--audio", str(tmp_path / "song.wav"), "--cycle", cycle,
                                     "--start", str(start), "-o", str(out), "-q", "--max-side", "32",
                                     "--set", "model=tiny", "--set", "octaves=1", "--set", "iterations=1"])
        assert result.exit_code == 0, result.output
        made = probe(out)
        assert made.frames == round((length - start) * 24) and made.audio_codec
        assert probe_audio(out).duration == pytest.approx(length - start, abs=0.05)
    for flags, match in [(["--cycle", "loop"], "--cycle plays the clip for a whole song: give the song with --audio"),
                         (["--cycle", "pingpnog", "--audio", str(tmp_path / "song.wav")], "did you mean 'pingpong'"),
                         (["--cycle", "loop", "--split"], "--cycle renders on one machine: leave out --split")]:
        result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "x.mp4"), *flags])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and match in result.output, result.output


def test_sections_resolve_on_the_grid_and_say_what_is_wrong(tmp_path):
    from dreamvideo.beats import exact_grid
    from dreamvideo.errors import ConfigError
    from dreamvideo.sections import moment, parts

    grid = exact_grid(120, 0.5, 4, 30.0)
    style = load_style(None, ["sections=[{at: 4, style: dogs, crossfade: 2}, {at: bar 5, style: textures, "
                              "crossfade: 2 beats}]", "react={step_size: {source: beat, pulse: 2}}"])
    plan = parts(style, grid)
    dogs = load_style("dogs")
    assert plan[1].style.layers == dogs.layers and plan[1].style.react == style.react  # the song's keys stay
    assert [(p.begins, p.whole) for p in plan[1:]] == [(2.0, 4.0), (pytest.approx(7.5), pytest.approx(8.5))]
    assert moment(plan, 1.0).current == 0 and moment(plan, 3.0).incoming == 1
    assert moment(plan, 3.0).share == pytest.approx(0.5) and moment(plan, 9.0).current == 2
    with pytest.raises(ConfigError, match="sections go in the order they play"):
        parts(load_style(None, ["sections=[{at: bar 5, style: dogs}, {at: 3, style: textures}]"]), grid)
    with pytest.raises(ConfigError, match="sections.0.style"):
        load_style(None, ["sections=[{at: 4, style: nonesuch}]"])
    result = runner.invoke(app, ["zoom", "--from", "noise", "--frames", "2", "-o", str(tmp_path / "z.mp4"), "-q",
                                 "--set", "sections=[{at: bar 2, style: dogs}]"])
    assert result.exit_code == 2 and "sections.0 is keyed in bars or beats, but no --audio was given" in result.output


def test_any_key_scheduled_on_the_bars_of_a_render(tmp_path):
    """schedule: step_size jumps at bar 2 of the song: the dream's strength jumps on that frame, not before."""
    from dreamvideo.coherence import strength
    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.video.render import RenderOptions, render_video

    song = drum_loop(Loop("120", 120, bars=3))
    write_wav(tmp_path / "song.wav", song.samples)
    style = load_style(None, ["model=tiny", "device=cpu", "octaves=1", "iterations=2", "blend=0",
                              "output.max_side=64", "schedule={step_size: {bar 1: 0.002, bar 2: 0.1, "
                              "interpolation: step}, layers.block3: {0: 0, 1: 2}}"])
    assert style.model_dump(mode="json")["schedule"]["step_size"] == {"bar 1": 0.002, "bar 2": 0.1,
                                                                      "interpolation": "step"}
    clip = Path(__file__).resolve().parent.parent / "samples" / "clip.mp4"
    out = tmp_path / "frames" / "%03d.png"
    result = render_video(clip, out, style, RenderOptions(audio=tmp_path / "song.wav"))
    source = list(read_frames(clip, result.size, result.fps))
    s = np.array([strength(d, f) for d, f in zip(read_frames(out, result.size), source)])
    bar = int(np.ceil(on_the_song(style, tmp_path / "song.wav").schedule["step_size"].keys[1][0] * 24))
    assert s[bar:].min() > 3 * s[:bar].max()  # weak up to the bar, strong from its frame on


def test_schedule_keys_are_checked():
    from dreamvideo.errors import ConfigError

    with pytest.raises(ConfigError, match=r"schedule.step_sise: cannot be scheduled; did you mean 'step_size'"):
        load_style(None, ["schedule={step_sise: {0: 0.01}}"])
    with pytest.raises(ConfigError, match=r"schedule.blend: 2 is out of range"):
        load_style(None, ["schedule={blend: {0: 0.5, 4: 2}}"])
    with pytest.raises(ConfigError, match=r"schedule.layers.nonesuch"):
        load_style(None, ["schedule={layers.nonesuch: {0: 1}}"])
    with pytest.raises(ConfigError, match=r"music.offset: got 'inf', should be a finite number"):
        load_style(None, ["music.offset=inf"])


def test_the_music_video_style_elsewhere(tmp_path):
    """A photo dreams at the song's first moment; live has no song and says so in one line; a job list's
    stems are relative to it."""
    from dreamvideo.batch import job_style, load_jobs
    from dreamvideo.errors import ConfigError
    from dreamvideo.live import live_look
    from dreamvideo.media.capture import SourceInfo

    photo = Path(__file__).resolve().parent.parent / "samples" / "chelsea.jpg"
    result = runner.invoke(app, ["dream", str(photo), "-o", str(tmp_path / "still.png"), "-c", "music-video",
                                 "--set", "model=tiny", "--set", "layers=[block2]", "--max-side", "64"])
    assert result.exit_code == 0, result.output
    with pytest.raises(ConfigError, match="live has no song to count bars and beats on"):
        live_look(load_style("music-video"), SourceInfo("cam", Fraction(25), (64, 48), None, None))

    write_wav(tmp_path / "drums.wav", drum_loop(Loop("120", 120, bars=2)).samples)
    (tmp_path / "clip.mp4").write_bytes((Path(__file__).resolve().parent.parent / "samples" / "clip.mp4")
                                        .read_bytes())
    (tmp_path / "jobs.yaml").write_text(
        "jobs:\n  - {command: render, input: clip.mp4, output: out.mp4, style: classic,\n"
        "     set: {react: {step_size: {source: beat, pulse: 2, audio: drums.wav}}}}\n")
    job = load_jobs(tmp_path / "jobs.yaml")[0]
    assert job_style(job, tmp_path).react["step_size"].audio == (tmp_path / "drums.wav").resolve()
