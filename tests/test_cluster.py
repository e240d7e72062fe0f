"""Ray on a real cluster: a head started with `ray start --head` as a user starts one, the README's address
forms, and every way of getting the address or the token wrong."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dreamvideo.cli import app
from dreamvideo.media.ffmpeg import read_frames

pytestmark = pytest.mark.ray
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = {"output.max_side": 64, "octaves": 1, "iterations": 1}
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    """A Ray head on free ports, as a user starts one; its GCS address (as printed) and its client's."""
    pytest.importorskip("ray")
    ray = shutil.which("ray")
    if ray is None:
        pytest.skip("no `ray` command here")
    port, client = free_port(), free_port()
    started = subprocess.run([ray, "start", "--head", "--port", str(port), "--ray-client-server-port", str(client),
                              "--include-dashboard=false", "--disable-usage-stats", "--num-cpus", "2"],
                             capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        printed = next(line for line in (started.stdout + started.stderr).splitlines() if "ray start --address=" in line)
        yield {"gcs": printed.split("--address=")[1].strip().strip("'\""), "client": f"ray://127.0.0.1:{client}"}
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture
def clean_auth(monkeypatch):
    """The user's shell: no Ray authentication variables set (dreamvideo finds the token itself)."""
    import os

    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    yield
    os.environ.pop("RAY_AUTH_MODE", None)  # what the connection set, for the tests after these


def jobs_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": [
        {"command": "dream", "input": str(SAMPLES / "chelsea.jpg"), "output": "a.png", "set": SMALL},
        {"command": "render", "input": str(SAMPLES / "clip.mp4"), "output": "c.mp4", "frames": 4, "set": SMALL},
    ]}))
    return path


def test_a_batch_and_a_split_render_by_address_equal_local_runs(head, tmp_path, clean_auth, monkeypatch, one_thread):
    import dreamvideo.batch as batch

    assert runner.invoke(app, ["batch", str(jobs_file(tmp_path / "local"))]).exit_code == 0
    monkeypatch.setattr(batch, "run_local", lambda *a, **k: pytest.fail("an address must not run here"))
    for name, address in (("gcs", head["gcs"]), ("client", head["client"])):
        result = runner.invoke(app, ["batch", str(jobs_file(tmp_path / name)), "--address", address])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name / "a.png").read_bytes() == (tmp_path / "local" / "a.png").read_bytes(), name
        a = list(read_frames(tmp_path / "local" / "c.mp4", (64, 48)))
        b = list(read_frames(tmp_path / name / "c.mp4", (64, 48)))
        assert len(a) == len(b) == 4 and all(np.array_equal(x, y) for x, y in zip(a, b)), name
    sets = sum((["--set", f"{k}={v}"] for k, v in SMALL.items()), [])
    clip = SAMPLES / "clip.mp4"
    assert runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "whole.mp4"), "--max-frames", "6", "-q",
                               *sets]).exit_code == 0
    result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "split.mp4"), "--max-frames", "6",
                                 "--split", "--address", head["gcs"], *sets])
    assert result.exit_code == 0, result.output
    a, b = (list(read_frames(tmp_path / n, (64, 48))) for n in ("whole.mp4", "split.mp4"))
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("form", ["{host}:{port}", "ray://{host}:{port}"])
def test_a_cluster_that_cannot_be_reached_is_one_line(tmp_path, clean_auth, form):
    address = form.format(host="127.0.0.1", port=free_port())
    result = runner.invoke(app, ["batch", str(jobs_file(tmp_path)), "--address", address])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"the Ray cluster at {address!r} cannot be reached" in lines[0] and "ray start --head" in lines[0]
    assert not (tmp_path / "a.png").exists()  # (how fast: under a second, a TCP check; no test times it)


def test_a_cluster_that_refuses_the_token_is_one_line(head, tmp_path, clean_auth, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-clusters-token")
    result = subprocess.run(["python", "-m", "dreamvideo", "batch", str(jobs_file(tmp_path)), "--address",
                             head["gcs"]], capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "did not take the connection" in errors[0] and "auth_token" in errors[0]
    assert not (tmp_path / "a.png").exists()
