from __future__ import annotations

import os
import shutil
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media import at_a_terminal
from PIL import Image
from typer.testing import CliRunner

from dreamvideo.cli import app
from dreamvideo.config import load_style
from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_exe, lossless_args, probe, read_frames
from dreamvideo.video.render import RenderOptions, render_video

runner = CliRunner()
FAST = ["model=tiny", "output.max_side=64", "octaves=1", "iterations=2"]  # plumbing: the tiny network


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True)


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, name) of the live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                name, ppid = stat[stat.index("(") + 1 : stat.rindex(")")], int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid and " Z " not in stat:
                found.append((int(entry.name), name))
    return found


def ffmpeg_children() -> list[int]:
    """Live ffmpeg processes started by this test process."""
    return [pid for pid, name in children(os.getpid()) if "ffmpeg" in name]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real-looking clip: a camera path over a photo with a moving object, 29.97 fps, with sound."""
    from media import demo_clip

    folder = tmp_path_factory.mktemp("clips")
    frames = demo_clip((96, 72), 12).frames
    raw = folder / "clip.mkv"
    with VideoWriter(raw, (96, 72), Fraction(30000, 1001), lossless_args()) as w:
        for f in frames:
            w.write(f)
    path = folder / "clip.mp4"
    ffmpeg("-i", raw, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-map", "0:v", "-map", "1:a",
           "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path)
    return path


@pytest.fixture(scope="module")
def silent(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60:rate=25", "-frames:v", "8", "-pix_fmt", "yuv420p", path)
    return path


def test_probe_keeps_the_exact_rate_and_counts_frames(clip):
    info = probe(clip)
    assert info.fps == Fraction(30000, 1001)
    assert (info.width, info.height, info.frames, info.audio_codec) == (96, 72, 12, "aac")


def test_rotation_metadata_is_applied(clip, tmp_path):
    rotated = tmp_path / "phone.mp4"
    ffmpeg("-display_rotation", "90", "-i", clip, "-c", "copy", rotated)
    info = probe(rotated)
    assert (info.rotation, info.width, info.height) == (90, 72, 96)
    assert next(read_frames(rotated, (info.width, info.height))).shape == (96, 72, 3)


def test_lossless_round_trip_and_no_ffmpeg_left(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (24, 32, 3), dtype=np.uint8) for i in range(5)]
    with VideoWriter(tmp_path / "x.mkv", (32, 24), Fraction(25), lossless_args()) as w:
        for f in frames:
            w.write(f)
    back = list(read_frames(tmp_path / "x.mkv", (32, 24)))
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(frames, back))
    reader = read_frames(tmp_path / "x.mkv", (32, 24))
    next(reader)
    reader.close()  # stopped early
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "y.mkv", (32, 24), Fraction(25), lossless_args()) as w:
            w.write(frames[0])
            raise RuntimeError("interrupted")
    assert ffmpeg_children() == []


def test_render_keeps_count_rate_sound_and_style(clip, tmp_path):
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["render", str(clip), "-o", str(out), "-q", *sum((["--set", s] for s in FAST), [])])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.frames, info.fps, info.audio_codec, info.codec) == (12, Fraction(30000, 1001), "aac", "h264")
    assert (info.width, info.height) == (64, 48)
    meta = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "dreamvideo style" in meta and '"iterations":2' in meta
    assert not (tmp_path / ".out.mp4.dreamvideo").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    assert ffmpeg_children() == []


def test_render_without_sound_and_with_preview(silent, tmp_path):
    out = tmp_path / "silent_out.mp4"
    style = load_style(None, FAST)
    result = render_video(silent, out, style, RenderOptions(preview=4))
    assert result.frames == 8 and probe(out).audio_codec is None
    assert sorted(p.name for p in (tmp_path / "silent_out_preview").iterdir()) == ["000000.png", "000004.png"]


def test_start_duration_and_max_frames(clip, tmp_path):
    style = load_style(None, FAST)
    r = render_video(clip, tmp_path / "a.mp4", style, RenderOptions(max_frames=5))
    assert r.frames == 5 and probe(tmp_path / "a.mp4").frames == 5
    r = render_video(clip, tmp_path / "b.mp4", style, RenderOptions(start=0.2, duration=0.2))
    assert r.frames == 6


class Interrupt(Exception):
    pass


def stop_at(frame: int):
    """A progress callback that interrupts a render once ``frame`` frames are done."""
    def progress(done: int, total: int) -> None:
        if done == frame:
            raise Interrupt

    return progress


def test_interrupted_render_resumes_to_the_same_result(clip, tmp_path):
    style = load_style(None, FAST)
    whole = render_video(clip, tmp_path / "whole.mp4", style, RenderOptions(chunk_frames=3))

    out = tmp_path / "resumed.mp4"
    with pytest.raises(Interrupt):
        render_video(clip, out, style, RenderOptions(chunk_frames=3), progress=stop_at(7))
    state = tmp_path / ".resumed.mp4.dreamvideo"
    assert not out.exists() and len(list(state.glob("chunk_*.mkv"))) == 2  # frames 0-5 kept, 6 lost
    assert ffmpeg_children() == []
    logs = []
    resumed = render_video(clip, out, style, RenderOptions(chunk_frames=3), log=logs.append)
    assert resumed.resumed_from == 6 and any("resuming" in m for m in logs)
    a = list(read_frames(tmp_path / "whole.mp4", whole.size))
    b = list(read_frames(out, resumed.size))
    assert len(a) == len(b) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not state.exists()


def test_render_with_flow_threads_equals_one_thread_even_interrupted(clip, tmp_path, monkeypatch):
    import threading

    import dreamvideo.coherence as coherence

    style = load_style(None, FAST)
    monkeypatch.setattr(coherence, "flow_workers", lambda: 1)
    alone = render_video(clip, tmp_path / "alone.mp4", style, RenderOptions(chunk_frames=3))
    monkeypatch.setattr(coherence, "flow_workers", lambda: 3)

    out = tmp_path / "threads.mp4"
    with pytest.raises(Interrupt):  # stopped with pairs still queued on the flow threads
        render_video(clip, out, style, RenderOptions(chunk_frames=3), progress=stop_at(5))
    assert ffmpeg_children() == []
    shared = render_video(clip, out, style, RenderOptions(chunk_frames=3))
    assert shared.resumed_from == 3
    a = list(read_frames(tmp_path / "alone.mp4", alone.size))
    b = list(read_frames(out, shared.size))
    assert len(a) == len(b) == 12 and all(np.array_equal(x, y) for x, y in zip(a, b))
    for thread in threading.enumerate():  # the pools are shut down, not left running
        if thread.name.startswith("dreamvideo-flow"):
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_changed_style_starts_afresh(clip, tmp_path):
    out = tmp_path / "o.mp4"

    with pytest.raises(Interrupt):
        render_video(clip, out, load_style(None, FAST), RenderOptions(chunk_frames=2), progress=stop_at(4))
    logs = []
    result = render_video(clip, out, load_style(None, FAST + ["seed=5"]), RenderOptions(chunk_frames=2), log=logs.append)
    assert result.resumed_from == 0 and any("starting afresh" in m for m in logs)


@pytest.mark.parametrize("case", ["text", "truncated", "no_video", "still_image", "same_as_input", "unwritable",
                                  "empty"])
def test_bad_videos_are_one_line_and_exit_2(case, clip, tmp_path):
    out = tmp_path / "out.mp4"
    if case == "text":
        src = tmp_path / "notes.mp4"
        src.write_text("not a video")
        match = "not a video"
    elif case == "truncated":
        src = tmp_path / "cut.mp4"
        src.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 3])
        match = str(src.name)
    elif case == "no_video":
        src = tmp_path / "sound.m4a"
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=300", "-t", "0.5", src)
        match = "no video stream"
    elif case == "still_image":
        src = Path(__file__).resolve().parent.parent / "samples" / "chelsea.jpg"
        match = "still image"
    elif case == "same_as_input":
        src = tmp_path / "same.mp4"
        src.write_bytes(clip.read_bytes())
        out = src
        match = "is the input"
    elif case == "unwritable":
        src, out, match = clip, tmp_path / "missing" / "o.mp4", "does not exist"
    else:
        src = tmp_path / "empty.mp4"
        src.write_bytes(b"")
        match = "not a video"
    result = runner.invoke(app, ["render", str(src), "-o", str(out), "-q", "--set", "output.max_side=64",
                                 "--set", "iterations=1", "--set", "octaves=1"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and match in result.output, result.output
    if case != "same_as_input":
        assert not out.exists()
    assert not list(tmp_path.glob(".*.dreamvideo")) and not list(tmp_path.glob("*.part*"))
    assert ffmpeg_children() == []


def test_variable_frame_rate_becomes_constant(tmp_path):
    import re

    vfr = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60:rate=30", "-t", "1", "-vf", r"select=lt(mod(n\,10)\,5)",
           "-fps_mode", "vfr", "-pix_fmt", "yuv420p", vfr)
    source = probe(vfr)
    out = tmp_path / "cfr.mp4"
    result = render_video(vfr, out, load_style(None, FAST), RenderOptions())
    log = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    fps, tbr = re.search(r"([\d.]+) fps, ([\d.]+) tbr", log).groups()
    assert float(fps) == float(tbr)  # every frame lasts the same
    assert result.fps == source.fps and probe(out).frames == result.frames


# `python -m dreamvideo`, with every frame from the second chunk on held until the process is interrupted:
# the first chunk is complete and the render cannot finish before the Ctrl-C lands, however fast or loaded
# the machine (the hold is bounded, so a test that dies cannot leave it waiting for ever)
HELD_AT_FRAME_16 = """
import runpy, sys, time
from dreamvideo.look import Look
dream = Look.dream
def held(self, image, index, *args, **kwargs):
    if index >= 16:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            time.sleep(0.02)
    return dream(self, image, index, *args, **kwargs)
Look.dream = held
sys.argv[0] = "dreamvideo"
runpy.run_module("dreamvideo", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_leaves_a_resumable_render_and_no_ffmpeg(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole foreground process group) reaches dreamvideo alone: it closes
    its encoders in order, keeps the completed frames, prints one line and exits 130; the same command
    then resumes."""
    import signal
    import sys
    import time

    out = tmp_path / "o.mp4"
    sets = ["output.max_side=96", "octaves=2", "iterations=4"]
    source = str(Path(__file__).resolve().parent.parent / "samples" / "clip.mp4")
    cmd = [sys.executable, "-c", HELD_AT_FRAME_16, "render", source, "-o", str(out), "-q", "--max-frames", "48",
           *sum((["--set", s] for s in sets), [])]
    proc = at_a_terminal(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = tmp_path / ".o.mp4.dreamvideo"
        deadline = time.monotonic() + 300  # only so that a broken render fails rather than hangs
        while not list(state.glob("chunk_*_*.mkv")):
            assert proc.poll() is None, f"the render ended before its first chunk was complete: {proc.stdout.read()}"
            assert time.monotonic() < deadline, "the render's first chunk was not complete within 300 s"
            time.sleep(0.02)
        encoders = [pid for pid, name in children(proc.pid) if "ffmpeg" in name]
        assert encoders, "the held render has no ffmpeg encoder running"
        groups = []
        for pid in encoders:
            try:
                groups.append(os.getpgid(pid))
            except ProcessLookupError:  # a decoder that has just finished its input: it cannot be Ctrl-C'd
                continue
        assert os.getpgid(proc.pid) not in groups  # a Ctrl-C misses them
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a failed check above must not leave the render running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output
    assert output.strip() == "interrupted: run the same command again to resume"
    kept = sum(int(p.stem.split("_")[2]) for p in state.glob("chunk_*_*.mkv"))
    assert not out.exists() and kept == 16 and not list(tmp_path.rglob("*.part*"))
    leftover = [p for p in Path("/proc").iterdir() if p.name.isdigit() and str(tmp_path).encode() in
                _cmdline(p)]
    assert leftover == []
    logs = []  # the same render, resumed (in this process: the same style and options give the same key)
    again = render_video(source, out, load_style(None, sets), RenderOptions(max_frames=48), log=logs.append)
    assert again.resumed_from == kept and logs == [f"resuming after frame {kept}"]
    assert probe(out).frames == 48 and not state.exists()


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_damaged_resume_chunk_is_one_line_naming_restart(clip, tmp_path):
    out = tmp_path / "o.mp4"

    with pytest.raises(Interrupt):
        render_video(clip, out, load_style(None, FAST), RenderOptions(chunk_frames=3), progress=stop_at(7))
    chunk = sorted((tmp_path / ".o.mp4.dreamvideo").glob("chunk_*.mkv"))[1]
    chunk.write_bytes(chunk.read_bytes()[:200])  # cut short, as a full disk or a crash mid-write would
    args = ["render", str(clip), "-o", str(out), "-q", *sum((["--set", s] for s in FAST), [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "damaged" in errors[0] and "--restart" in errors[0], result.output
    assert not out.exists() and ffmpeg_children() == []
    assert runner.invoke(app, [*args, "--restart"]).exit_code == 0 and probe(out).frames == 12


def test_an_encoder_dying_mid_render_is_one_line_and_leaves_no_output(clip, tmp_path):
    import signal

    out = tmp_path / "o.mp4"

    def kill_the_encoder(done, total):
        if done == 4:
            from dreamvideo.video.state import state_dir

            deadline = time.monotonic() + 60  # the first chunk is written on a thread: wait until it is whole
            while not list(state_dir(out).glob("chunk_*_*.mkv")):
                assert time.monotonic() < deadline, "the first chunk was not finished within 60 s"
                time.sleep(0.01)
            for pid, _ in children(os.getpid()):
                if b"output.part" in _cmdline(Path(f"/proc/{pid}")):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:  # it ended meanwhile
                        pass

    from dreamvideo.errors import MediaError

    with pytest.raises(MediaError, match="ffmpeg") as failed:
        render_video(clip, out, load_style(None, FAST), RenderOptions(chunk_frames=3), progress=kill_the_encoder)
    assert str(failed.value) == f"ffmpeg stopped while writing {str(out)!r} (killed by signal 9)"
    assert not out.exists() and not list(tmp_path.rglob("*.part*")) and ffmpeg_children() == []
    resumed = render_video(clip, out, load_style(None, FAST), RenderOptions(chunk_frames=3))
    assert resumed.resumed_from > 0 and probe(out).frames == 12  # what was dreamed before is kept


@pytest.fixture(scope="module")
def beep_clip(tmp_path_factory) -> Path:
    """The demo clip (12 frames at 29.97 fps, 0.4 s) with a tone only from 0.2 s on."""
    from media import demo_clip

    folder = tmp_path_factory.mktemp("beep")
    raw = folder / "v.mkv"
    with VideoWriter(raw, (96, 72), Fraction(30000, 1001), lossless_args()) as w:
        for f in demo_clip((96, 72), 12).frames:
            w.write(f)
    path = folder / "beep.mp4"
    ffmpeg("-i", raw, "-f", "lavfi", "-i", "aevalsrc=if(gte(t\\,0.2)\\,sin(2*PI*440*t)\\,0):s=44100:d=0.4",
           "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", path)
    return path


def test_a_render_from_start_keeps_the_sound_from_there(beep_clip, tmp_path):
    from dreamvideo.media.ffmpeg import decode_audio

    def loudness(path: Path, a: float, b: float) -> float:
        samples = decode_audio(path, 16000)
        return float(np.sqrt(np.mean(samples[int(a * 16000):int(b * 16000)] ** 2)))

    assert loudness(beep_clip, 0.02, 0.15) < 0.01 < loudness(beep_clip, 0.25, 0.35)
    out = tmp_path / "o.mp4"
    render_video(beep_clip, out, load_style(None, FAST), RenderOptions(start=0.2))
    assert probe(out).frames == 6
    assert loudness(out, 0.02, 0.15) > 0.3  # the tone is there from the output's start


def test_a_mask_video_with_start_is_read_from_there(clip, tmp_path):
    """Mask frame t weighs video frame t of the range: from --start the mask is read from the same start."""
    fps = Fraction(30000, 1001)
    mask = tmp_path / "mask.mkv"
    with VideoWriter(mask, (96, 72), fps, lossless_args()) as w:
        for k in range(12):  # black (no dream) for the first half, white (dream) for the second
            w.write(np.full((72, 96, 3), 0 if k < 6 else 255, np.uint8))
    style = load_style(None, FAST + [f"mask={mask}", "mask_feather=0"])

    def change(options: RenderOptions) -> list[float]:
        out = tmp_path / "frames" / "%03d.png"  # lossless, to compare with the source exactly
        render_video(clip, out, style, options)
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.parent.glob("*.png"))]
        shutil.rmtree(out.parent)
        size = (frames[0].shape[1], frames[0].shape[0])
        source = read_frames(clip, size, probe(clip).fps, options.start, max_frames=3)
        return [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(frames, source)]

    untouched, dreamed = change(RenderOptions(max_frames=3)), change(RenderOptions(start=6 / float(fps), max_frames=3))
    assert max(untouched) == 0 and min(dreamed) > 1, (untouched, dreamed)


@pytest.mark.parametrize("sets, match", [
    (["device=cuda"], "CUDA is not available here; use device: auto or cpu"),
    (["device=mps"], "MPS is not available here"),
    (["device=cpu", "precision=fp16"], "fp16 is not supported on the CPU; use fp32, bf16 or auto"),
    (["device=tpu"], "device"),
])
def test_device_and_precision_errors_are_one_line(clip, tmp_path, sets, match):
    import torch

    if torch.cuda.is_available() and "cuda" in sets[0]:
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "o.mp4"), "-q",
                                 *sum((["--set", s] for s in FAST + sets), [])])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and match in lines[0], result.output
    assert list(tmp_path.iterdir()) == []
