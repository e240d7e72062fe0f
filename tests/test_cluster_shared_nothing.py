"""A cluster that shares nothing with the driver but Ray, on one machine: a head that runs nothing
(``--num-cpus 0``), and worker nodes started with ``ray start --address`` in mount namespaces of their own,
where a tmpfs covers the folder that holds the tests' inputs and outputs (and Ray's own /tmp/ray), so they
cannot see the driver's files, as machines without shared storage cannot. Run alone with ``-m cluster``."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from dreamvideo.media.ffmpeg import probe, read_frames
from dreamvideo.video.split import pieces
from media import pair_errors, real_clip, seam_ratios

pytestmark = [pytest.mark.ray, pytest.mark.cluster]
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = {"output.max_side": 64, "octaves": 1, "iterations": 2}
DEADLINE = 180.0  # the longest any wait on the cluster may take (they end as soon as the state is there)
RAY_LINES = ("gcs_client", "raylet", "(pid=", "WARNING", "ray::", "Traceback", "core_worker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def processes_in(space: str) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and namespace(p) == space]


def until(check, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"no {what} within {deadline:g} s")


class Cluster:
    def __init__(self, root: Path):
        self.ray = shutil.which("ray")
        self.root = root  # what the driver has and the workers cannot see
        token = secrets.token_hex(16)
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "OMP_NUM_THREADS": "1"}
        self.env.pop("RAY_ADDRESS", None)
        self.port, self.client = free_port(), free_port()
        self.gcs = f"127.0.0.1:{self.port}"
        self.workers: list[tuple[subprocess.Popen, str]] = []

    def start(self, workers: int) -> None:
        started = subprocess.run(
            [self.ray, "start", "--head", "--port", str(self.port), "--ray-client-server-port", str(self.client),
             "--num-cpus", "0", "--include-dashboard=false", "--disable-usage-stats",
             "--object-store-memory", str(300 * 1024**2)], env=self.env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr[-2000:]
        for _ in range(workers):
            self.add_worker()
        until(lambda: self.cpus() >= workers, f"{workers} worker nodes")

    def add_worker(self) -> None:
        ports = " ".join(f"--{name} {free_port()}" for name in (
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port"))
        hide = f"mount -t tmpfs none {self.root} && mount -t tmpfs none /tmp/ray"
        command = (f"{hide} && exec {self.ray} start --address {self.gcs} --num-cpus 1 --disable-usage-stats "
                   f"--object-store-memory {200 * 1024**2} {ports} --block")
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "bash", "-c", command],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        mine = namespace("self")
        space = until(lambda: (ns if (ns := namespace(proc.pid)) and ns != mine else None), "worker namespace", 30)
        self.workers.append((proc, space))

    def cpus(self) -> int:
        status = subprocess.run([self.ray, "status", "--address", self.gcs], env=self.env, capture_output=True,
                                text=True, timeout=60).stdout
        line = next((x for x in status.splitlines() if x.strip().endswith(" CPU")), "0/0 CPU")
        return int(float(line.split("/")[1].split()[0]))

    def kill(self, space: str) -> None:
        """Every process of a worker node (its raylet, its workers): the node is lost, as a machine is."""
        for pid in processes_in(space):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def stop(self) -> None:
        for proc, space in self.workers:
            self.kill(space)
            proc.wait(timeout=30)
        subprocess.run([self.ray, "stop", "--force"], env=self.env, capture_output=True, timeout=120)

    def dreamvideo(self, *args: str, address: str | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "dreamvideo", *args, "--address", address or self.gcs],
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray")
    if shutil.which("ray") is None or shutil.which("unshare") is None:
        pytest.skip("needs the `ray` and `unshare` commands")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make mount namespaces here (needs root or user namespaces)")
    root = tmp_path_factory.mktemp("laptop")
    Path("/tmp/ray").mkdir(exist_ok=True)
    cluster = Cluster(root)
    try:
        cluster.start(workers=2)
        yield cluster
    finally:
        cluster.stop()


def local(*args: str, cwd: Path) -> None:
    """The same command run here, on one thread, as each task (one core) dreams."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "dreamvideo", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr[-2000:]


def frames_of(path: Path) -> list[np.ndarray]:
    info = probe(path)
    return list(read_frames(path, (info.width, info.height)))


def same_video(a: Path, b: Path) -> bool:
    x, y = frames_of(a), frames_of(b)
    return len(x) == len(y) > 0 and all(np.array_equal(p, q) for p, q in zip(x, y))


def job_list(folder: Path, render: dict | None = None) -> Path:
    """A render with a song, a zoom and a dream guided by an image its style file names, every file beside
    the list."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("clip.mp4", "song.m4a", "rocket.jpg", "chelsea.jpg", "coffee.jpg"):
        shutil.copy(SAMPLES / name, folder / name)
    (folder / "guided.yaml").write_text(yaml.safe_dump({"guide": {"image": "coffee.jpg", "layer": "blocks.4"}, **{
        "output": {"max_side": 64}, "octaves": 1, "iterations": 2}}))
    (folder / "jobs.yaml").write_text(yaml.safe_dump({"jobs": [
        {"command": "render", "input": "clip.mp4", "audio": "song.m4a", "output": "out/render.mp4", "frames": 6,
         "set": SMALL, **(render or {})},
        {"command": "zoom", "input": "rocket.jpg", "output": "out/zoom.mp4", "frames": 6, "set": SMALL},
        {"command": "dream", "input": "chelsea.jpg", "style": "guided.yaml", "output": "out/dream.png"},
    ]}))
    return folder / "jobs.yaml"


def came_back_equal(run: subprocess.Popen, here: Path, there: Path) -> tuple[str, str]:
    """The cluster's batch finished, said nothing of Ray's, and its outputs equal the local run's; its output."""
    out, err = run.communicate(timeout=DEADLINE)
    assert run.returncode == 0, err[-3000:]
    assert no_ray_lines(out + err), out + err
    mine, theirs = here.parent / "out", there.parent / "out"
    assert (mine / "dream.png").read_bytes() == (theirs / "dream.png").read_bytes()
    assert same_video(mine / "render.mp4", theirs / "render.mp4") and same_video(mine / "zoom.mp4", theirs / "zoom.mp4")
    return out, err


def no_ray_lines(text: str) -> bool:
    return not any(mark in line for line in text.splitlines() for mark in RAY_LINES)


@pytest.mark.parametrize("form", ["gcs", "client"])
def test_a_batch_with_nothing_shared_comes_back_equal_to_a_local_run(cluster, form):
    here = job_list(cluster.root / f"here_{form}")
    there = job_list(cluster.root / f"there_{form}")
    local("batch", str(here), cwd=here.parent)
    run = cluster.dreamvideo("batch", str(there), address=cluster.gcs if form == "gcs" else
                             f"ray://127.0.0.1:{cluster.client}")
    out, err = came_back_equal(run, here, there)
    theirs = there.parent / "out"
    assert probe(theirs / "render.mp4").audio_codec == "aac"  # the song travelled, and came back muxed
    assert sorted(p.name for p in theirs.iterdir()) == ["dream.png", "render.mp4", "zoom.mp4"]  # nothing half-made
    assert not list(there.parent.glob(".dreamvideo-probe-*"))


def test_a_single_take_split_anywhere_on_the_cluster_equals_a_local_split_and_has_no_seam(cluster):
    clip = cluster.root / "carphone.mp4"  # one continuous shot, new to the tuning (done on bikes)
    shutil.copy(real_clip("carphone_pristine"), clip)
    args = ["--max-frames", "120", "--set", "octaves=2", "--set", "iterations=3", "-q"]
    pieced = ["--split", "--max-segment", "1", "--pre-roll", "1"]  # four pieces of 30 frames, three seams
    local("render", str(clip), "-o", str(cluster.root / "whole.mp4"), *args, cwd=cluster.root)
    local("render", str(clip), "-o", str(cluster.root / "here.mp4"), *pieced, "--executor", "local", *args,
          cwd=cluster.root)
    run = cluster.dreamvideo("render", str(clip), "-o", str(cluster.root / "there.mp4"), *pieced, *args)
    out, err = run.communicate(timeout=DEADLINE)
    assert run.returncode == 0, err[-3000:]
    assert no_ray_lines(out + err), out + err
    assert same_video(cluster.root / "here.mp4", cluster.root / "there.mp4")
    info = probe(clip)
    source = list(read_frames(clip, (info.width, info.height), max_frames=120))
    plan = pieces([], 120, float(info.fps), 1.0, 1.0)
    assert [p.start for p in plan] == [0, 30, 60, 90] and [p.preroll for p in plan] == [0, 30, 30, 30]
    seams = [p.start for p in plan[1:]]
    faded = [t for p in plan[1:] for t in range(p.start - p.overlap, p.start)]
    split = pair_errors(source, frames_of(cluster.root / "there.mp4"))
    whole = pair_errors(source, frames_of(cluster.root / "whole.mp4"))
    # each seam's pair, against the same pair of the render made in one piece (the footage's own motion makes
    # some pairs of any render two and more times the median: the seam must add no jump of its own) ...
    added = [split[t] / whole[t] for t in seams]
    assert max(added) <= 1.5, (added, seam_ratios(split, seams, faded), seam_ratios(whole, seams, faded))
    # ... and the cross-fades' pairs, each against the one-piece render's
    assert max(split[t] / whole[t] for t in faded) <= 1.5


def test_a_worker_node_lost_mid_batch_changes_nothing(cluster):
    longer = {"frames": 96, "set": {"output.max_side": 128, "octaves": 2, "iterations": 6}}  # seconds, not less
    here = job_list(cluster.root / "kill_here", longer)
    there = job_list(cluster.root / "kill_there", longer)
    local("batch", str(here), cwd=here.parent)
    run = cluster.dreamvideo("batch", str(there))

    def busy() -> str | None:  # a worker node with a job at work: its ffmpeg decodes or encodes frames
        for _, space in cluster.workers:
            for pid in processes_in(space):
                try:
                    if b"ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        return space
                except OSError:
                    continue
        return None

    victim = until(lambda: busy() or (run.poll() is not None and "finished"), "busy worker")
    assert victim != "finished", run.communicate()[1][-3000:]
    cluster.kill(victim)
    out, err = came_back_equal(run, here, there)
    assert "retried" in out, out + err  # the summary says which job ran again, and where
