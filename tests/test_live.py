"""`dreamvideo live`. The session on a fake clock with frames fed by hand: exact counts of shown and dropped
frames, latencies, recording length, the beat it follows, the threads it takes. Then end to end, asserting
only what no machine's speed changes: a file played as a camera, its recording, its page, OSC over real
UDP, a network output, bad sources, a source that stops, Ctrl-C, and that nothing it opened is left open."""

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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media import at_a_terminal

from dreamvideo.config import load_style
from dreamvideo.media.ffmpeg import ffmpeg_exe, probe, read_frames

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


@dataclass
class FakeClock:
    t: float = 100.0

    def __call__(self) -> float:
        return self.t


class Recorder:
    """An output that keeps what it was given."""

    def __init__(self):
        self.frames, self.closed = [], 0

    def write(self, frame):
        self.frames.append(frame)

    def close(self):
        self.closed += 1


def tiny_session(outputs=(), clock=None, sets=()):
    from dreamvideo.live import LiveSession, live_look
    from dreamvideo.media.capture import SourceInfo

    look = live_look(load_style("live", TINY + list(sets)), SourceInfo("test", Fraction(25), (64, 48)))
    return LiveSession(look, outputs, clock=clock or FakeClock(), threaded=False)


def frames(count: int, size=(64, 48)) -> list[np.ndarray]:
    from media import demo_clip

    return list(demo_clip(size, count).frames)


def test_a_session_counts_shown_and_dropped_frames_and_latency_exactly():
    clock, out = FakeClock(), Recorder()
    session = tiny_session([out], clock)
    pictures = frames(8)
    shown = {}
    for index in (0, 1, 2, 5, 6, 7):  # 3 and 4 come while the stage is busy: the capture replaces them
        clock.t = 100 + index / 25
        captured = session.put(pictures[index], index)
        clock.t += 0.012 if index < 5 else 0.030  # the stage's work on this frame
        shown[index] = session.show(captured)
        session.dream()
    session.close()
    stats = session.stats
    assert (stats.shown, stats.dropped, stats.updates) == (6, 2, 6)
    assert np.allclose(stats.latencies, [0.012] * 3 + [0.030] * 3)
    assert round(stats.latency(0.5)) == 21 and round(stats.latency(0.95)) == 30
    assert len(out.frames) == 8 and out.closed == 1  # one per source frame: the recording keeps its length
    assert out.frames[3] is shown[2] and out.frames[4] is shown[2]  # a dropped frame repeats the last shown
    assert np.array_equal(shown[0], pictures[0])  # before the first dream: the camera as it is
    assert not np.array_equal(shown[1], pictures[1])  # then the dream, carried onto each frame
    assert stats.summary().startswith("live: 6 frames shown, 2 dropped (25.0%)")


class Script:
    """A camera delivering ``pictures`` at ``fps`` on the fake clock: each ``wait`` is the next frame."""

    def __init__(self, clock: FakeClock, pictures, fps: float = 25, error: BaseException | None = None):
        from dreamvideo.media.capture import Newest

        self.clock, self.pictures, self.fps, self.error_at_end = clock, pictures, fps, error
        self.newest, self.next = Newest(), 0
        self.newest.wait = self.wait

    def wait(self, after, timeout=None):
        from dreamvideo.media.capture import Captured

        if self.next >= len(self.pictures):
            self.newest.end(self.error_at_end)
            return None
        self.clock.t = 100 + self.next / self.fps
        captured = Captured(self.next, self.pictures[self.next], self.clock.t)
        self.newest.put(captured)
        self.next += 1
        return captured


def test_frames_replaced_before_the_first_one_shown_are_dropped_and_recorded():
    out = Recorder()
    session = tiny_session([out])
    pictures = frames(4)
    for index in (2, 3):  # frames 0 and 1 were replaced before the stage took one
        session.show(session.put(pictures[index], index))
    session.close()
    assert (session.stats.shown, session.stats.dropped) == (2, 2)
    assert len(out.frames) == 4 and out.frames[0] is out.frames[1] is out.frames[2]  # the first shown, held


def test_a_run_stops_at_its_duration_on_its_clock_and_keeps_a_source_error():
    from dreamvideo.errors import MediaError
    from dreamvideo.live import LiveSession, live_look
    from dreamvideo.media.capture import SourceInfo

    look = lambda: live_look(load_style("live", TINY), SourceInfo("test", Fraction(25), (64, 48)))
    clock, out = FakeClock(), Recorder()
    source = Script(clock, frames(50))
    session = LiveSession(look(), [out], newest=source.newest, clock=clock, threaded=False)
    stats = session.run(duration=1.0, on_frame=lambda frame, captured: session.dream())
    assert (stats.shown, stats.dropped, stats.updates, len(out.frames)) == (26, 0, 26, 26)  # frames 0..25: 1.0 s
    assert stats.seconds == 1.0 and out.closed == 1

    clock = FakeClock()
    source = Script(clock, frames(10), error=MediaError("the camera stopped delivering pictures (unplugged?)"))
    session = LiveSession(look(), [Recorder()], newest=source.newest, clock=clock, threaded=False)
    stats = session.run()
    assert stats.shown == 10 and stats.stopped == "the camera stopped delivering pictures (unplugged?)"


def test_the_dreaming_threads_are_its_own_and_the_rest_of_the_process_keeps_its_own():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        from dreamvideo.live.session import own_threads

        seen = {}

        def dreaming():
            own_threads(1)
            seen["dreaming"] = torch.get_num_threads()

        thread = threading.Thread(target=dreaming)
        thread.start()
        thread.join(timeout=30)
        later = threading.Thread(target=lambda: seen.__setitem__("render", torch.get_num_threads()))
        later.start()
        later.join(timeout=30)
        # a render queued after a Live tab started, and the studio's own thread, keep the process's count
        assert seen == {"dreaming": 1, "render": 3} and torch.get_num_threads() == 3

        session = tiny_session()  # a session's dreaming thread does the same
        session.dreaming.threads = 1
        session.dreaming.start()
        session.put(frames(1)[0])
        deadline = time.monotonic() + 60
        while session.dreaming.updates == 0:
            assert time.monotonic() < deadline and session.dreaming.error is None, session.dreaming.error
            time.sleep(0.01)
        session.close()
        later = threading.Thread(target=lambda: seen.__setitem__("after", torch.get_num_threads()))
        later.start()
        later.join(timeout=30)
        assert seen["after"] == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_live_dreaming_follows_the_beat_of_a_files_own_sound(tmp_path):
    from media import beat_track

    from dreamvideo.beats import WARM
    from dreamvideo.coherence import strength
    from dreamvideo.live.audio import FileCues
    from dreamvideo.live.run import LiveOptions, live_cues
    from dreamvideo.react import cues_of

    beat_track(tmp_path / "beat.wav", seconds=6.0, bpm=120)
    clip = tmp_path / "beat.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-stream_loop", "-1", "-i", str(SAMPLES / "clip.mp4"),
                    "-i", str(tmp_path / "beat.wav"), "-map", "0:v", "-map", "1:a", "-t", "6", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", str(clip)], check=True)
    # once the tempo is known (WARM seconds), the causal beats are predicted onto the offline ones, within a frame
    causal = FileCues.open(clip, Fraction(24), 0.01, 0.25)
    live_beat = np.array([causal.value("beat", i) for i in range(144)])
    offline = cues_of(clip, 24, 144)
    known = int((WARM + 0.5) * 24)
    assert not live_beat[: int(WARM * 24) - 1].any()  # nothing is made up before then
    assert all(np.any(live_beat[b - 1:b + 2] > 0.9) for b in offline.beats if b >= known)
    assert np.corrcoef(live_beat[known:], offline.beat[known:144])[0, 1] > 0.8  # the same pulses, on time

    # a session dreaming every frame (by hand: the same on any machine) pulses with it
    from dreamvideo.live import LiveSession, live_look
    from dreamvideo.media.capture import SourceInfo

    style = load_style("live", TINY + ["react={step_size: {source: beat, min: 0.002, max: 0.08}}"])
    info = SourceInfo("beat", Fraction(24), (240, 180), clip, "aac")
    session = LiveSession(live_look(style, info, cues=live_cues(style, info, LiveOptions())),
                          clock=FakeClock(), threaded=False)
    s = []
    for index, frame in enumerate(read_frames(clip, info.size)):
        session.put(frame, index)
        session.dream()
        s.append(strength(session.show(session.newest.latest()), frame))
    session.close()
    assert len(s) == 144
    s, beat = np.array(s[known:]), offline.beat[known:144]  # once the tempo is known

    def follows(lag: int) -> float:  # how well the shown strength follows the beat ``lag`` frames later
        return float(np.corrcoef(s[lag:], beat[:len(beat) - lag])[0, 1])

    lag = max(range(5), key=follows)
    assert follows(lag) > 0.8 and lag <= 2, [round(follows(k), 2) for k in range(5)]


def test_what_a_run_opened_is_closed_when_a_later_step_fails(tmp_path, monkeypatch):
    """A camera opened before the look fails is released; the live sound is closed, on failure and at the end."""
    import cv2

    from dreamvideo.errors import ConfigError
    from dreamvideo.live import run as live_run

    released, closed = [], []

    class Camera:  # what OpenCV gives for a working camera
        def __init__(self, *args):
            pass

        def isOpened(self):
            return True

        def set(self, *args):
            return True

        def get(self, prop):
            return 25.0

        def read(self):
            return True, np.zeros((48, 64, 3), np.uint8)

        def release(self):
            released.append(True)

    class Sound:
        def value(self, name, index):
            return 0.0

        def close(self):
            closed.append(True)

    def failing_look(*args, **kwargs):
        raise ConfigError("the look failed")

    monkeypatch.setattr(cv2, "VideoCapture", Camera)
    monkeypatch.setattr(live_run, "live_cues", lambda *args: Sound())
    monkeypatch.setattr(live_run, "live_look", failing_look)
    with pytest.raises(ConfigError):
        live_run.live("0", load_style("live", TINY), live_run.LiveOptions())
    assert released == [True] and closed == [True]

    monkeypatch.undo()
    monkeypatch.setattr(live_run, "live_cues", lambda *args: Sound())
    stats = live_run.live(str(SAMPLES / "clip.mp4"), load_style("live", TINY), live_run.LiveOptions(duration=0.2))
    assert stats.shown > 0 and closed == [True, True]


def test_two_live_tabs_starting_together_cannot_both_run(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from dreamvideo.studio.app import create_app
    from dreamvideo.studio.session import Studio

    studio = Studio(tmp_path / "studio")
    release, entered = threading.Event(), threading.Event()
    real = studio.live_look

    def slow_look(style, size):  # the first tab is still building its look when the second asks
        entered.set()
        release.wait(timeout=20)
        return real(style, size)

    monkeypatch.setattr(studio, "live_look", slow_look)
    port = 8765
    app = create_app(studio, token=None, host="127.0.0.1", port=port)
    start = {"type": "start", "width": 64, "height": 48, "yaml": "model: tiny\nlayers: [block2]\n"}
    headers = {"origin": f"http://127.0.0.1:{port}"}
    with TestClient(app, base_url=f"http://127.0.0.1:{port}") as client:
        with client.websocket_connect(f"ws://127.0.0.1:{port}/api/live", headers=headers) as first, \
                client.websocket_connect(f"ws://127.0.0.1:{port}/api/live", headers=headers) as second:
            first.send_json(start)
            assert entered.wait(timeout=20)
            second.send_json(start)
            refused = second.receive_json()
            release.set()
            assert refused == {"type": "error", "error": "the Live tab is already running in another window; "
                                                         "stop it there first"}
            assert first.receive_json()["type"] == "ready"
        with client.websocket_connect(f"ws://127.0.0.1:{port}/api/live", headers=headers) as third:  # once they are closed: free again
            third.send_json(start)
            assert third.receive_json()["type"] == "ready"


def test_a_file_played_as_a_camera_is_recorded_frame_for_frame(tmp_path):
    out = tmp_path / "take.mp4"
    result = subprocess.run(live_cmd(SAMPLES / "clip.mp4", "--record", out, "--no-page"), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = [line for line in result.stdout.splitlines() if line.startswith("live: ")]
    assert len(summary) == 1, result.stdout
    shown, dropped = (int(w) for w in summary[0].split()[1:5:3])
    assert shown + dropped == 72 and shown > 0, summary  # every source frame shown or counted as dropped
    info = probe(out)
    assert (info.frames, info.fps, info.audio_codec) == (72, Fraction(24), "aac")  # one per source frame, sound
    recorded = list(read_frames(out, (info.width, info.height)))
    source = list(read_frames(SAMPLES / "clip.mp4", (info.width, info.height)))
    change = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(recorded, source)]
    assert max(change) > 2, change  # dreamed (H.264 alone: under 1)
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


def page_figures(port: int, token: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/api/live", headers={"Authorization": f"Bearer {token}"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def page_of(proc) -> tuple[int, str]:
    """The port and token of the page a live run printed."""
    line = proc.stdout.readline()
    assert line.startswith("dreamvideo live on http://127.0.0.1:"), line
    url = line.split()[3]
    return int(url.split(":")[2].split("/")[0]), url.split("token=")[1]


def interrupt(proc, seconds: float) -> tuple[str, str]:
    """Ctrl-C to a run started in its own session, and what it printed; a run still going after ``seconds``
    is killed, with its children, before the timeout is raised (no process outlives its test)."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=seconds)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.05)


def test_ctrl_c_finishes_the_recording_and_leaves_no_ffmpeg(tmp_path):
    out = tmp_path / "take.mp4"
    proc = at_a_terminal(live_cmd(SAMPLES / "clip.mp4", "--loop", "--record", out), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        port, token = page_of(proc)
        wait_for(lambda: page_figures(port, token)["shown"] > 24, "frame shown after the first second")
    finally:
        stdout, stderr = interrupt(proc, 60)
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
    proc = at_a_terminal(live_cmd(SAMPLES / "clip.mp4", "--loop"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        port, token = page_of(proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/live.mjpg")
        refused = conn.getresponse()
        refused.read()
        assert refused.status == 401
        conn.request("GET", "/live.mjpg", headers={"Authorization": f"Bearer {token}"})
        stream = conn.getresponse()
        assert stream.status == 200 and stream.getheader("content-type").startswith("multipart/x-mixed-replace")
        data, deadline = b"", time.monotonic() + 60
        while data.count(b"\xff\xd9") < 3:  # three whole JPEG frames
            assert time.monotonic() < deadline, "fewer than three frames in 60 s"
            data += stream.read1(65536)
        first = data.index(b"\xff\xd8")
        from io import BytesIO

        from PIL import Image

        frame = Image.open(BytesIO(data[first:data.index(b"\xff\xd9", first) + 2]))
        assert frame.size == (240, 180)
        conn.close()
        wait_for(lambda: page_figures(port, token)["updates"] > 0, "dream update")  # its figures, once dreamed
        figures = page_figures(port, token)
        assert figures["shown"] > 0 and figures["updates_per_second"] > 0, figures
    finally:
        interrupt(proc, 30)


def loop_clip(tmp_path: Path, seconds: float = 20) -> Path:
    """The sample clip, long enough to change a style while it plays."""
    path = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-stream_loop", "-1", "-i", str(SAMPLES / "clip.mp4"),
                    "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-an", str(path)], check=True)
    return path


def test_a_real_osc_message_changes_the_running_style(tmp_path):
    pytest.importorskip("pythonosc")
    from pythonosc.udp_client import SimpleUDPClient

    from dreamvideo.live import LiveOptions, live

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    style = load_style("live", TINY)
    held, logs, stop = {}, [], threading.Event()
    result = {}
    run = threading.Thread(target=lambda: result.update(stats=live(
        str(loop_clip(tmp_path)), style, LiveOptions(osc=port), log=logs.append, stop=stop,
        started=lambda session, info: held.update(session=session))))
    run.start()
    try:
        wait_for(lambda: "session" in held and held["session"].stats.shown >= 10, "ten frames shown")
        session = held["session"]
        client = SimpleUDPClient("127.0.0.1", port)
        shown = session.stats.shown
        client.send_message("/dreamvideo/set", ["step_size", 0.05])
        client.send_message("/dreamvideo/set", ["iterashuns", 3])
        client.send_message("/dreamvideo/set", ["octaves", "many"])
        wait_for(lambda: abs(session.look.style.step_size - 0.05) < 1e-6, "step size change")  # 32-bit floats
        client.send_message("/dreamvideo/preset", ["textures"])
        client.send_message("/dreamvideo/preset", ["nope"])
        wait_for(lambda: session.look.style.layers[0].name == "blocks.1", "preset change")
        wait_for(lambda: any("nope" in line for line in logs), "refused preset's line")
        assert session.stats.shown > shown  # the stream never stopped
    finally:
        stop.set()
        run.join(timeout=60)
    assert not run.is_alive() and result["stats"].shown > 10
    assert any("osc: listening on 127.0.0.1:" in line for line in logs), logs
    assert any("iterashuns: unknown key; did you mean 'iterations'" in line for line in logs), logs
    assert any("the value must be a number" in line for line in logs), logs
    assert any("/dreamvideo/preset nope: no style file or preset named 'nope'" in line for line in logs), logs


def test_a_network_output_reaches_a_receiver(tmp_path):
    """A UDP receiver listening before the run starts (no race): what arrives is the stream, whole frames."""
    received = tmp_path / "received.ts"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.5)
        port, done = receiver.getsockname()[1], threading.Event()

        def receive():
            with received.open("wb") as f:
                while not done.is_set():
                    try:
                        f.write(receiver.recv(65536))
                    except TimeoutError:
                        continue

        reader = threading.Thread(target=receive)
        reader.start()
        try:
            result = subprocess.run(live_cmd(SAMPLES / "clip.mp4", "-o", f"udp://127.0.0.1:{port}?pkt_size=1316",
                                             "--no-page"), capture_output=True, text=True, timeout=300)
        finally:
            done.set()
            reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    info = probe(received)
    assert info.frames >= 24 and (info.width, info.height) == (240, 180)


def test_bad_outputs_are_one_line_before_anything_runs(tmp_path):
    for args, match in [(["-o", "http://127.0.0.1:9/x"], "stream to udp://"),
                        (["--record", tmp_path / "take.avi"], "unknown extension"),
                        (["--audio-in", "source"], "has no sound of its own")]:
        source = SAMPLES / "clip.mp4" if "--audio-in" not in args else loop_clip(tmp_path, 2)
        result = cli(source, "--no-page", *args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and match in lines[0], result.output


@pytest.mark.parametrize("args, match", [
    (["--token", "abcdefgh", "--no-token"], "--token and --no-token exclude each other"),
    (["--token", "short"], "--token needs at least 8 characters"),
    (["--host", "0.0.0.0", "--no-token"], "--no-token is allowed only on a loopback host"),
])
def test_the_page_takes_the_studios_token_rules(args, match):
    result = cli(SAMPLES / "clip.mp4", *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and match in lines[0], result.output


def v4l2loopback() -> bool:
    return any(Path("/sys/devices/virtual/video4linux").glob("video*")) if Path("/sys/devices/virtual/video4linux").exists() else False


@pytest.mark.skipif(not v4l2loopback(), reason="no v4l2loopback device here (modprobe v4l2loopback)")
def test_the_virtual_camera_shows_the_dream(tmp_path):
    """What another program opening the virtual camera sees: pictures of the clip's size, not a blank."""
    pytest.importorskip("pyvirtualcam")
    import cv2

    proc = at_a_terminal(live_cmd(SAMPLES / "clip.mp4", "--loop", "--virtual-camera", "--no-page"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("virtual camera: /dev/video"), line
        camera = cv2.VideoCapture(line.split()[-1], cv2.CAP_V4L2)
        deadline, picture = time.monotonic() + 60, None
        while picture is None:
            assert time.monotonic() < deadline, "no picture from the virtual camera within 60 s"
            ok, got = camera.read()
            picture = got if ok and got is not None and got.std() > 5 else None
        camera.release()
        assert picture.shape[:2] == (180, 240)
    finally:
        interrupt(proc, 60)
    assert proc.returncode == 0
