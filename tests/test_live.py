"""`dreamvideo live`: a file played as a camera, in real time; its recording, its page, OSC over real UDP,
the music it follows, network and virtual-camera outputs, bad sources, a source that stops, Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from dreamvideo.config import load_style
from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_exe, lossless_args, probe, read_frames

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TINY = ["model=tiny", "layers=[block2]"]  # plumbing: the tiny network, so the test is about timing, not taste


def live_cmd(*args: object, sets: list[str] = TINY) -> list[str]:
    return [sys.executable, "-m", "dreamvideo", "live", *map(str, args), *sum((["--set", s] for s in sets), [])]


def cli(*args: object, sets: list[str] = TINY):
    """`dreamvideo live ...` in this process (for what ends before the run: no start-up to wait for)."""
    from typer.testing import CliRunner

    from dreamvideo.cli import app

    return CliRunner().invoke(app, live_cmd(*args, sets=sets)[3:])


def ffmpeg_left(root: Path) -> list[str]:
    """ffmpeg processes whose command line names something under ``root``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ffmpeg" in cmdline and str(root).encode() in cmdline:
                found.append(cmdline.decode(errors="replace"))
    return found


def test_a_file_played_as_a_camera_is_recorded_frame_for_frame(tmp_path):
    out = tmp_path / "take.mp4"
    began = time.perf_counter()
    result = subprocess.run(live_cmd(SAMPLES / "clip.mp4", "--record", out, "--no-page"), capture_output=True,
                            text=True, timeout=120)
    seconds = time.perf_counter() - began
    assert result.returncode == 0, result.stderr
    summary = [line for line in result.stdout.splitlines() if line.startswith("live: ")]
    assert len(summary) == 1 and "72 frames shown, 0 dropped" in summary[0], result.stdout
    assert 3.0 <= seconds < 12, seconds  # paced at the clip's 24 fps: about its 3 s (plus start-up)
    info = probe(out)
    assert (info.frames, info.fps, info.audio_codec) == (72, Fraction(24), "aac")  # one per source frame, sound
    recorded = list(read_frames(out, (info.width, info.height)))
    source = list(read_frames(SAMPLES / "clip.mp4", (info.width, info.height)))
    change = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(recorded, source)]
    assert min(change[12:]) > 2, change  # dreamed, once the first fresh dream arrived (H.264 alone: under 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mp4"] and ffmpeg_left(tmp_path) == []


@pytest.mark.parametrize("source, match", [
    ("missing.mp4", "no such source 'missing.mp4'"),
    ("notes.txt", "is not a video ffmpeg can read"),
    ("still.png", "is a still image"),
    ("/dev/video9", "no camera at '/dev/video9' could be opened"),
    ("rtsp://127.0.0.1:9/stage", "is not a video ffmpeg can read"),
])
def test_bad_sources_are_one_line_and_exit_2(tmp_path, source, match, monkeypatch):
    (tmp_path / "notes.txt").write_text("not a video")
    shutil.copy(SAMPLES / "chelsea.jpg", tmp_path / "still.png")
    monkeypatch.chdir(tmp_path)
    result = cli(source, "--no-page", "--record", tmp_path / "r.mp4")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and match in lines[0], result.output
    assert not (tmp_path / "r.mp4").exists()


def test_ctrl_c_finishes_the_recording_and_leaves_no_ffmpeg(tmp_path):
    out = tmp_path / "take.mp4"
    proc = subprocess.Popen(live_cmd(SAMPLES / "clip.mp4", "--loop", "--record", out, "--no-page"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(4.5)  # the start-up, then a loop and a half of the clip
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    summary = next(line for line in stdout.splitlines() if line.startswith("live: "))
    shown, dropped = (int(w) for w in summary.split()[1:5:3])
    info = probe(out)
    assert info.frames == shown + dropped and shown > 24 and info.audio_codec == "aac"
    assert not list(tmp_path.glob(".*")) and ffmpeg_left(tmp_path) == []


def test_a_source_that_stops_mid_run_ends_it_with_a_finished_recording(tmp_path):
    whole = tmp_path / "whole.ts"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(SAMPLES / "clip.mp4"), "-c:v", "libx264",
                    "-an", "-f", "mpegts", str(whole)], check=True)
    cut = tmp_path / "cut.ts"  # the stream breaks off half way, as a dropped connection would leave it
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "take.mp4"
    result = subprocess.run(live_cmd(cut, "--record", out, "--no-page"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    summary = next(line for line in result.stdout.splitlines() if line.startswith("live: "))
    shown, dropped = (int(w) for w in summary.split()[1:5:3])
    assert 10 < shown + dropped < 72 and probe(out).frames == shown + dropped
    assert ffmpeg_left(tmp_path) == []


def test_the_printed_page_shows_the_live_frames_behind_the_token(tmp_path):
    proc = subprocess.Popen(live_cmd(SAMPLES / "clip.mp4", "--loop", "--duration", "30"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("dreamvideo live on http://127.0.0.1:"), line
        url = line.split()[3]
        port, token = int(url.split(":")[2].split("/")[0]), url.split("token=")[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/live.mjpg")
        refused = conn.getresponse()
        refused.read()
        assert refused.status == 401
        conn.request("GET", "/live.mjpg", headers={"Authorization": f"Bearer {token}"})
        stream = conn.getresponse()
        assert stream.status == 200 and stream.getheader("content-type").startswith("multipart/x-mixed-replace")
        data = b""
        while data.count(b"\xff\xd9") < 3:  # three whole JPEG frames
            data += stream.read1(65536)
        first = data.index(b"\xff\xd8")
        from io import BytesIO

        from PIL import Image

        frame = Image.open(BytesIO(data[first:data.index(b"\xff\xd9", first) + 2]))
        assert frame.size == (240, 180)
        conn.close()
        deadline = time.monotonic() + 30
        while True:  # the run's figures, once its first dream is in
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            conn.request("GET", "/api/live", headers={"Authorization": f"Bearer {token}"})
            figures = json.loads(conn.getresponse().read())
            conn.close()
            if figures["updates_per_second"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert figures["shown"] > 0 and figures["updates_per_second"] > 0, figures
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)


def loop_clip(tmp_path: Path, seconds: float = 20) -> Path:
    """The sample clip, long enough to change a style while it plays."""
    path = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-stream_loop", "-1", "-i", str(SAMPLES / "clip.mp4"),
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-an", str(path)], check=True)
    return path


def test_a_real_osc_message_changes_the_running_style(tmp_path):
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    from dreamvideo.control import StyleControl, serve_osc
    from dreamvideo.live import LiveOptions, LiveStats, live

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    style = load_style("live", TINY)
    held, logs, stats, steps = {}, [], LiveStats(), []

    def started(dreaming, info):
        held["control"] = control = StyleControl(style, info, dreaming, log=logs.append)
        held["server"] = serve_osc("127.0.0.1", port, control)
        held["dreaming"] = dreaming

    result = {}
    run = threading.Thread(target=lambda: result.update(stats=live(str(loop_clip(tmp_path)), style, LiveOptions(
        duration=8), started=started, stats=stats)))
    run.start()
    try:
        deadline = time.monotonic() + 30
        while "dreaming" not in held or stats.shown < 10:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client = SimpleUDPClient("127.0.0.1", port)
        shown = stats.shown
        client.send_message("/dreamvideo/set", ["step_size", 0.05])
        client.send_message("/dreamvideo/set", ["iterashuns", 3])
        client.send_message("/dreamvideo/set", ["octaves", "many"])
        while abs(held["dreaming"].look.style.step_size - 0.05) > 1e-6:  # OSC sends 32-bit floats
            assert time.monotonic() < deadline, logs
            time.sleep(0.05)
        client.send_message("/dreamvideo/preset", ["textures"])
        client.send_message("/dreamvideo/preset", ["nope"])
        while held["dreaming"].look.style.layers[0].name != "blocks.1":
            assert time.monotonic() < deadline, logs
            time.sleep(0.05)
        assert stats.shown > shown  # the stream never stopped
    finally:
        run.join(timeout=60)
        held["server"].stop()
    assert held["control"].changes == 2
    assert any("iterashuns: unknown key; did you mean 'iterations'" in line for line in logs), logs
    assert any("the value must be a number" in line for line in logs), logs
    assert any("/dreamvideo/preset nope: no style file or preset named 'nope'" in line for line in logs), logs
    assert result["stats"].dropped < result["stats"].shown / 10


def test_live_dreaming_follows_the_beat_of_a_files_own_sound(tmp_path):
    from media import beat_track

    from dreamvideo.audio_live import file_features
    from dreamvideo.coherence import strength
    from dreamvideo.live import LiveOptions
    from dreamvideo.react import features_for

    beat_track(tmp_path / "beat.wav", seconds=6.0, bpm=120)
    clip = tmp_path / "beat.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-stream_loop", "-1", "-i", str(SAMPLES / "clip.mp4"),
                    "-i", str(tmp_path / "beat.wav"), "-map", "0:v", "-map", "1:a", "-t", "6", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", str(clip)], check=True)
    # the causal features find the offline beats, at most two frames late
    causal = file_features(clip, Fraction(24), 0.01, 0.25)
    live_beat = np.array([causal.value("beat", i) for i in range(144)])
    offline = features_for(clip, 24, 144)
    assert all(np.any(live_beat[b:b + 3] > 0.9) for b in offline.beats[1:])
    late = max(range(3), key=lambda k: np.corrcoef(live_beat[k:], offline.beat[:144 - k])[0, 1])
    assert np.corrcoef(live_beat[late:], offline.beat[:144 - late])[0, 1] > 0.8  # the same pulses, a frame or two late

    style = load_style("live", TINY + ["react={step_size: {source: beat, min: 0.002, max: 0.08}}"])
    shown = {}
    from dreamvideo.live import dream_threads, live_features, live_look, run_live
    from dreamvideo.media.capture import Capture

    capture = Capture(str(clip), 320)
    look = live_look(style, capture.info, features=live_features(style, capture.info, LiveOptions()))
    with capture, dream_threads():
        stats = run_live(capture.newest, look, on_frame=lambda frame, c: shown.__setitem__(c.index, (frame, c.frame)))
    assert stats.shown == 144 and sorted(shown) == list(range(144))
    s = np.array([strength(*shown[i]) for i in range(144)])[24:]  # after the first second
    beat = offline.beat[24:]

    def follows(lag: int) -> float:  # how well the shown strength follows the beat ``lag`` frames later
        return float(np.corrcoef(s[lag:], beat[:len(beat) - lag])[0, 1])

    lag = max(range(5), key=follows)
    assert follows(lag) > 0.8 and lag <= 3, [round(follows(k), 2) for k in range(5)]  # measured: 0.9+, 2 frames


def test_a_network_output_reaches_a_receiver(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    received = tmp_path / "received.mkv"
    receiver = subprocess.Popen([ffmpeg_exe(), "-loglevel", "error", "-i", f"udp://127.0.0.1:{port}?timeout=5000000",
                                 "-frames:v", "24", "-c:v", "ffv1", "-y", str(received)], start_new_session=True)
    try:
        time.sleep(0.5)
        result = subprocess.run(live_cmd(SAMPLES / "clip.mp4", "-o", f"udp://127.0.0.1:{port}?pkt_size=1316",
                                         "--no-page"), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        receiver.wait(timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    info = probe(received)
    assert info.frames == 24 and (info.width, info.height) == (240, 180)


def test_bad_outputs_are_one_line_before_anything_runs(tmp_path):
    for args, match in [(["-o", "http://127.0.0.1:9/x"], "stream to udp://"),
                        (["--record", tmp_path / "take.avi"], "unknown extension"),
                        (["--audio-in", "source"], "has no sound of its own")]:
        source = SAMPLES / "clip.mp4" if "--audio-in" not in args else loop_clip(tmp_path, 2)
        result = cli(source, "--no-page", *args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and match in lines[0], result.output


def v4l2loopback() -> bool:
    return any(Path("/sys/devices/virtual/video4linux").glob("video*")) if Path("/sys/devices/virtual/video4linux").exists() else False


@pytest.mark.skipif(not v4l2loopback(), reason="no v4l2loopback device here (modprobe v4l2loopback)")
def test_the_virtual_camera_shows_the_dream(tmp_path):
    pytest.importorskip("pyvirtualcam")
    result = subprocess.run(live_cmd(SAMPLES / "clip.mp4", "--virtual-camera", "--no-page"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "virtual camera: /dev/video" in result.stderr, result.stderr
