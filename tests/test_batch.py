from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from dreamvideo.batch import load_jobs, run_local, run_ray
from dreamvideo.cli import app
from dreamvideo.errors import ConfigError
from dreamvideo.media.images import resize_image
from dreamvideo.media.ffmpeg import read_frames

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = {"output.max_side": 64, "octaves": 1, "iterations": 1, "zoom.size": [64, 48], "zoom.iterations": 1,
         "zoom.octaves": 1}


def jobs_file(tmp_path: Path, jobs: list[dict]) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs}))
    return path


def good_jobs() -> list[dict]:
    return [
        {"command": "dream", "input": str(SAMPLES / "chelsea.jpg"), "output": "a.png", "set": SMALL},
        {"command": "zoom", "from": "noise", "output": "b.mp4", "frames": 4, "set": SMALL},
        {"command": "render", "input": str(SAMPLES / "clip.mp4"), "output": "c.mp4", "frames": 4, "style": "textures",
         "set": SMALL},
    ]


def test_batch_runs_skips_and_reports_failures(tmp_path):
    (tmp_path / "fake.mp4").write_text("not a video")
    path = jobs_file(tmp_path, good_jobs() + [{"command": "render", "input": "fake.mp4", "output": "d.mp4"}])
    result = runner.invoke(app, ["batch", str(path)])
    assert result.exit_code == 1, result.output
    assert "1 of 4 jobs failed" in result.output and "not a video" in result.output
    for name in ("a.png", "b.mp4", "c.mp4"):
        assert (tmp_path / name).is_file()
    assert not (tmp_path / "d.mp4").exists()
    made = {name: ((tmp_path / name).stat().st_mtime_ns, (tmp_path / name).read_bytes()) for name in ("a.png", "b.mp4", "c.mp4")}
    again = runner.invoke(app, ["batch", str(path)])
    assert again.exit_code == 1  # the bad job fails again; the finished ones are not redone
    for index, name in enumerate(("a.png", "b.mp4", "c.mp4")):
        assert f"[{index}] skipped: {tmp_path / name}" in again.output, again.output
        assert ((tmp_path / name).stat().st_mtime_ns, (tmp_path / name).read_bytes()) == made[name]
    assert f"[3] failed: {tmp_path / 'd.mp4'}" in again.output


@pytest.mark.parametrize("jobs, match", [
    ([{"command": "render", "output": "x.mp4"}], "jobs[0].input: required for render"),
    ([{"command": "rendr", "input": "x", "output": "x.mp4"}], "jobs[0].command: unknown command 'rendr'; did you mean 'render'"),
    ([{"command": "dream", "input": str(SAMPLES / "coffee.jpg")}], "jobs[0].output: required but missing"),
    ([{"command": "dream", "input": str(SAMPLES / "coffee.jpg"), "output": "o.png"},
      {"command": "dream", "input": str(SAMPLES / "rocket.jpg"), "output": "o.png"}], "jobs[1].output: 'o.png' is also"),
    ([{"command": "zoom", "input": str(SAMPLES / "coffee.jpg"), "output": "z.mp4",
       "audio": str(SAMPLES / "coffee.jpg")}], "jobs[0].audio:"),
    ([{"command": "zoom", "input": str(SAMPLES / "coffee.jpg"), "output": "z.mp4"}], "needs a length"),
    ([{"command": "dream", "input": str(SAMPLES / "coffee.jpg"), "output": "o.png", "set": {"octave": 2}}],
     "jobs[0].style: octave: unknown key; did you mean 'octaves'"),
    ([{"command": "dream", "input": "in.png", "output": "in.png"}], "jobs[0].output: the output"),
    ([{"command": "dream", "input": str(SAMPLES / "coffee.jpg"), "output": "o.mp4"}], "jobs[0].output: cannot write"),
    ([{"command": "render", "input": str(SAMPLES / "clip.mp4"), "output": "o.png"}], "use one of .gif, .m4v, .mov, .mp4, .webp"),
    ([{"command": "render", "input": str(SAMPLES / "clip.mp4"), "output": "o.mp4", "cycle": "loop"}],
     "jobs[0].cycle: plays a render's clip for a whole song: give the render its audio"),
    ([{"command": "zoom", "input": str(SAMPLES / "coffee.jpg"), "output": "z.mp4", "cycle": "loop",
       "audio": str(SAMPLES / "song.m4a")}], "jobs[0].cycle: cycles a render's clip under a song; a zoom has no clip"),
    ([{"command": "render", "input": str(SAMPLES / "clip.mp4"), "output": "o.mp4", "cycle": "pingpnog",
       "audio": str(SAMPLES / "song.m4a")}], "jobs[0].cycle"),
    ([{"command": "zoom", "input": "bomb.png", "output": "z.mp4", "frames": 2}],
     "jobs[0].input: 'BOMB' is 30000x30000 px (900,000,000 pixels), more than the limit of 150,000,000"),
])
def test_bad_job_lists_stop_before_any_job_runs(tmp_path, jobs, match):
    from media import bomb_png

    made = {"in.png": lambda p: p.write_bytes((SAMPLES / "coffee.jpg").read_bytes()), "bomb.png": bomb_png}
    for name, make in made.items():
        if any(name in (j.get("input"), j.get("output")) for j in jobs):
            make(tmp_path / name)
    path = jobs_file(tmp_path, jobs + [{"command": "dream", "input": str(SAMPLES / "chelsea.jpg"),
                                        "output": "never.png"}])
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["batch", str(path)])
    assert result.exit_code == 2, result.output
    assert match.replace("BOMB", str(tmp_path / "bomb.png")) in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing ran, nothing was written


def test_a_job_list_raises_the_pixel_limit_and_makes_its_output_folders(tmp_path):
    path = jobs_file(tmp_path, [{"command": "dream", "input": str(SAMPLES / "chelsea.jpg"), "output": "new/a.png",
                                 "set": SMALL}])
    result = runner.invoke(app, ["batch", str(path), "--max-pixels", "100000"])
    assert result.exit_code == 2 and "more than the limit of 100,000" in result.output
    assert not (tmp_path / "new").exists()
    assert runner.invoke(app, ["batch", str(path), "--max-pixels", "200000"]).exit_code == 0
    assert (tmp_path / "new" / "a.png").is_file()


def test_example_job_lists_are_valid(monkeypatch):
    jobs = load_jobs(Path(__file__).resolve().parent.parent / "pipelines" / "jobs-example.yaml")
    assert [j.command for j in jobs] == ["dream", "render", "zoom"]
    with pytest.raises(ConfigError, match="jobs\\[0\\].input: no such file"):  # needs your own song and clip
        load_jobs(Path(__file__).resolve().parent.parent / "pipelines" / "jobs-music-video.yaml")


@pytest.mark.ray
def test_ray_batch_equals_local_batch(tmp_path):
    pytest.importorskip("ray")
    local_dir, ray_dir = tmp_path / "local", tmp_path / "ray"
    local_dir.mkdir()
    ray_dir.mkdir()
    local = run_local(load_jobs(jobs_file(local_dir, good_jobs())))
    remote = run_ray(load_jobs(jobs_file(ray_dir, good_jobs())))
    assert [r.status for r in local] == [r.status for r in remote] == ["done"] * 3
    assert (local_dir / "a.png").read_bytes() == (ray_dir / "a.png").read_bytes()
    for name in ("b.mp4", "c.mp4"):
        a = list(read_frames(local_dir / name, (64, 48)))
        b = list(read_frames(ray_dir / name, (64, 48)))
        assert len(a) == len(b) == 4 and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory) -> Path:
    """Two different shots back to back, with sound: one scene cut at frame 6."""
    import subprocess
    from fractions import Fraction

    import skimage.data

    from media import camera_path, render
    from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_exe, lossless_args

    size = (96, 72)
    a = render(skimage.data.astronaut(), camera_path((512, 512), size, 6), size).frames
    b = render(skimage.data.coffee(), camera_path((600, 400), size, 5), size).frames
    folder = tmp_path_factory.mktemp("shots")
    with VideoWriter(folder / "raw.mkv", size, Fraction(24), lossless_args()) as w:
        for frame in a + b:
            w.write(frame)
    path = folder / "shots.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(folder / "raw.mkv"), "-f", "lavfi", "-i",
                    "sine=frequency=330", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-crf", "10",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


@pytest.mark.parametrize("executor", ["local", pytest.param("ray", marks=pytest.mark.ray)])
def test_split_render_equals_the_sequential_render(two_shots, tmp_path, executor, one_thread):
    from dreamvideo.config import load_style
    from dreamvideo.media.ffmpeg import probe
    from dreamvideo.video.render import RenderOptions, render_video
    from dreamvideo.video.split import find_cuts, render_split

    if executor == "ray":
        pytest.importorskip("ray")
    style = load_style(None, ["output.max_side=64", "octaves=2", "iterations=2"])
    assert find_cuts(two_shots, style, RenderOptions())[:2] == ([6], 11)
    whole = render_video(two_shots, tmp_path / "whole.mp4", style)
    logs = []
    split = render_split(two_shots, tmp_path / "split.mp4", style, executor=executor, log=logs.append)
    assert "2 piece(s)" in logs[0]
    a, b = list(read_frames(tmp_path / "whole.mp4", whole.size)), list(read_frames(tmp_path / "split.mp4", split.size))
    assert len(a) == len(b) == 11 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert probe(tmp_path / "split.mp4").audio_codec == "aac"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split.mp4", "whole.mp4"]


def test_jobs_take_masks_colours_and_web_outputs_with_paths_beside_the_list(tmp_path):
    from PIL import Image

    Image.open(SAMPLES / "astronaut_mask.png").save(tmp_path / "subject.png")  # relative to the job list
    masked = {**SMALL, "output.max_side": 96, "iterations": 3, "mask": "subject.png", "mask_feather": 0}
    path = jobs_file(tmp_path, [
        {"command": "dream", "input": str(SAMPLES / "astronaut.jpg"), "output": "bg.png", "style": "portrait-bg",
         "set": masked},
        {"command": "zoom", "input": str(SAMPLES / "astronaut.jpg"), "output": "web/z.gif", "frames": 3,
         "set": {**masked, "colors": "original"}},
    ])
    result = runner.invoke(app, ["batch", str(path)])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "bg.png").convert("RGB")).astype(int)
    source = resize_image(np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB")), (96, 96))
    subject = resize_image(np.asarray(Image.open(SAMPLES / "astronaut_mask.png").convert("RGB")), (96, 96))[..., 0]
    change = np.abs(out - source).sum(axis=2)
    assert change[subject == 255].max() == 0 and change[subject == 0].mean() > 20  # the background dreams, she stays
    assert Image.open(tmp_path / "web" / "z.gif").n_frames == 3


def test_a_parcel_carries_every_file_a_style_names_and_rewrites_its_paths(tmp_path, monkeypatch):
    """What travels with a job, with the object store stood in for by bytes: the job's files, the style's
    mask and guide, a region's own style file and the mask *it* names; on the other side every path points
    into the worker's folder, and the region's style loads from there."""
    import shutil

    import dreamvideo.travel as travel
    from dreamvideo.config import load_style

    monkeypatch.setattr(travel, "send", lambda path: travel.Sent(str(path), Path(path).stat().st_size, "",
                                                                 (Path(path).read_bytes(),)))

    def receive(sent, folder):  # a worker that sees none of the driver's files
        target = folder / uuid.uuid4().hex[:8] / Path(sent.path).name
        target.parent.mkdir(parents=True)
        target.write_bytes(b"".join(sent.chunks))
        return target

    import uuid

    monkeypatch.setattr(travel, "receive", receive)
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg", "rocket.jpg", "astronaut_mask.png"):
        shutil.copy(SAMPLES / name, laptop / name)
    (laptop / "sky.yaml").write_text("layers: [blocks.2]\nguide: {image: rocket.jpg}\n")
    (laptop / "look.yaml").write_text("mask: astronaut_mask.png\nguide: {image: coffee.jpg, layer: blocks.4}\n"
                                      "regions: [{mask: astronaut_mask.png, style: sky.yaml}]\n")
    style = load_style(str(laptop / "look.yaml"))
    parcel = travel.Packer().parcel([laptop / "chelsea.jpg", None], [style])
    assert set(parcel.files) == {str(laptop / n) for n in ("chelsea.jpg", "coffee.jpg", "rocket.jpg",
                                                           "astronaut_mask.png")}
    assert set(parcel.styles) == {str(laptop / "sky.yaml")}
    shutil.rmtree(laptop)  # the worker's side: nothing of the laptop's is there
    with travel.opened(parcel) as here:
        moved = here.style(style)
        assert here.file(laptop / "chelsea.jpg").read_bytes() == (SAMPLES / "chelsea.jpg").read_bytes()
        assert moved.mask.read_bytes() == (SAMPLES / "astronaut_mask.png").read_bytes()
        assert moved.guide.image.read_bytes() == (SAMPLES / "coffee.jpg").read_bytes()
        region = load_style(moved.regions[0].style)  # the region's style file, written here with its paths moved
        assert region.guide.image.read_bytes() == (SAMPLES / "rocket.jpg").read_bytes()
        assert all(here.folder in p.parents for p in (moved.mask, moved.guide.image, region.guide.image))


def test_long_shots_are_cut_into_pieces_that_start_early_and_fade_in():
    from dreamvideo.video.split import Piece, joined, pieces

    plan = pieces([100], 250, 25.0, max_segment=2.0, pre_roll=1.0)  # shots of 100 and 150 frames, 50 at most
    assert [(p.start, p.stop) for p in plan] == [(0, 50), (50, 100), (100, 150), (150, 200), (200, 250)]
    assert [(p.preroll, p.overlap) for p in plan] == [(0, 0), (25, 12), (0, 0), (25, 12), (25, 12)]
    assert plan[1].frames == (38, 100)  # the overlap is in the piece's file, before its own frames
    near = pieces([], 60, 25.0, max_segment=1.0, pre_roll=4.0)  # a pre-roll never reaches before its shot
    assert [(p.preroll, p.overlap) for p in near] == [(0, 0), (20, 10), (40, 20)]  # 3 pieces of 20 frames
    with pytest.raises(Exception, match="max-segment"):
        pieces([], 10, 25.0, max_segment=0)


def test_the_join_fades_each_piece_in_over_its_overlap(tmp_path, monkeypatch):
    import dreamvideo.video.split as split

    files = {"a": [np.full((2, 2, 3), 0, np.uint8)] * 4, "b": [np.full((2, 2, 3), 90, np.uint8)] * 4}
    monkeypatch.setattr(split, "read_frames", lambda path, size: (f for f in files[Path(path).name]))
    plan = [split.Piece(0, 4), split.Piece(4, 6, preroll=4, overlap=2)]
    frames = [int(f[0, 0, 0]) for f in split.joined([tmp_path / "a", tmp_path / "b"], plan, (2, 2))]
    # 4 + 2 frames: the last two of the first piece become 1/3 and 2/3 of the second's, then the second's own
    assert frames == [0, 0, 30, 60, 90, 90]
