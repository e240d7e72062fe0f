"""Artist controls: masks (image and video), original colours, GIF/WebP/PNG-sequence outputs, guide videos,
schedule interpolation and schedules combined with music."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dreamvideo.audio import TrackCues
from dreamvideo.cli import app
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError
from dreamvideo.look import Look
from dreamvideo.react import Reaction
from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_exe, lossless_args, probe, read_frames
from dreamvideo.video.render import render_video
from dreamvideo.video.zoom import step_motion, zoom_video

runner = CliRunner()
SIZE = (96, 72)
FAST = ["octaves=1", "iterations=3", "step_size=0.03", "mask_feather=0"]


def sets(*items: str) -> list[str]:
    return sum((["--set", s] for s in items), [])


def write_video(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(25)) -> Path:
    raw = path.with_suffix(".mkv")
    with VideoWriter(raw, (frames[0].shape[1], frames[0].shape[0]), fps, lossless_args()) as w:
        for f in frames:
            w.write(f)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-c:v", "libx264",
                    "-crf", "0", "-pix_fmt", "yuv444p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from media import demo_clip

    return write_video(tmp_path_factory.mktemp("clips") / "clip.mp4", demo_clip(SIZE, 10).frames)


def grey(value: np.ndarray) -> np.ndarray:
    return np.repeat(value[..., None], 3, axis=2)


def sequence(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


def test_a_hard_mask_keeps_the_source_outside_and_dreams_inside(clip, tmp_path):
    mask = np.zeros(SIZE[::-1], np.uint8)
    mask[:, SIZE[0] // 2:] = 255
    Image.fromarray(mask).save(tmp_path / "right.png")
    style = load_style(None, FAST + [f"mask={tmp_path / 'right.png'}"])
    result = render_video(clip, tmp_path / "frames" / "%05d.png", style)
    out = sequence(tmp_path / "frames")
    source = list(read_frames(clip, SIZE, probe(clip).fps))
    assert result.frames == len(out) == len(source) == 10
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == ["00000.png", "00001.png"]
    for o, s in zip(out, source):
        left, right = slice(0, SIZE[0] // 2), slice(SIZE[0] // 2, None)
        assert np.array_equal(o[:, left], s[:, left])  # PNG is lossless: exactly the source
        assert np.abs(o[:, right].astype(int) - s[:, right]).mean() > 4  # dreamed

    inverted = load_style(None, FAST + [f"mask={tmp_path / 'right.png'}", "mask_invert=true"])
    render_video(clip, tmp_path / "inv" / "%05d.png", inverted)
    first = sequence(tmp_path / "inv")[0]
    assert np.array_equal(first[:, SIZE[0] // 2:], source[0][:, SIZE[0] // 2:])


def test_a_mask_video_moves_with_its_frames(clip, tmp_path):
    masks = []
    for t in range(10):  # a white square moving right 6 px a frame
        m = np.zeros(SIZE[::-1], np.uint8)
        m[20:52, 6 * t: 6 * t + 32] = 255
        masks.append(grey(m))
    path = write_video(tmp_path / "mask.mp4", masks)
    # every frame dreamed afresh (blend 0), so that where it dreams is the mask's doing alone
    render_video(clip, tmp_path / "frames" / "%05d.png", load_style(None, FAST + [f"mask={path}", "blend=0"]))
    out, source = sequence(tmp_path / "frames"), list(read_frames(clip, SIZE, probe(clip).fps))
    for t, (o, s) in enumerate(zip(out, source)):
        change = np.abs(o.astype(int) - s).sum(axis=2)
        inside = np.zeros(SIZE[::-1], bool)
        inside[22:50, 6 * t + 2: 6 * t + 30] = True
        outside = np.ones(SIZE[::-1], bool)
        outside[16:56, max(0, 6 * t - 4): 6 * t + 36] = False
        assert change[inside].mean() > 10 and change[outside].max() <= 6, t  # x264 at crf 0 still rounds


def test_mask_errors_name_both_sizes_and_lengths(clip, tmp_path):
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "square.png")
    short = write_video(tmp_path / "short.mp4", [np.zeros((72, 96, 3), np.uint8)] * 4)
    cases = [
        (["--mask", tmp_path / "square.png"], "the mask", "is 50x50 but the video is 96x72"),
        (["--mask", short], "lasts 0.16 s (4 frames)", "needs 0.40 s (10 frames)"),
        (["--colors", "orignal"], "did you mean 'original'?", "colors"),
        (["--set", "mask_feather=-1"], "mask_feather", "greater than or equal to 0"),
    ]
    for args, *matches in cases:
        result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "o.mp4"), *map(str, args)])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and all(m in lines[0] for m in matches), lines
    assert not (tmp_path / "o.mp4").exists()
    # a looped mask is fine
    style = load_style(None, FAST + [f"mask={short}", "mask_loop=true"])
    assert render_video(clip, tmp_path / "looped.mp4", style).frames == 10


def test_original_colours_keep_the_source_chroma(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "cat.png")
    ycc = lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb).astype(int)
    results = {}
    for mode in ("dream", "original"):
        out = tmp_path / f"{mode}.png"
        result = runner.invoke(app, ["dream", str(tmp_path / "cat.png"), "-o", str(out), "--colors", mode, "-q",
                                     *sets("octaves=2", "iterations=4", "step_size=0.03")])
        assert result.exit_code == 0, result.output
        results[mode] = ycc(np.asarray(Image.open(out)))
    source = ycc(photo)
    chroma = {m: np.abs(r[..., 1:] - source[..., 1:]).mean() for m, r in results.items()}
    luma = {m: np.abs(r[..., 0] - source[..., 0]).mean() for m, r in results.items()}
    assert chroma["original"] < 0.5 < 3 < chroma["dream"]
    assert luma["original"] > 3  # still dreamed


def test_zoom_with_original_colours_and_a_mask(tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "cat.png")
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[:, : w // 2] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    style = load_style(None, ["zoom.iterations=2", "zoom.octaves=1", "octaves=1", "iterations=2", "zoom.scale=1",
                              "colors=original", f"mask={tmp_path / 'left.png'}", "mask_feather=0", "zoom.color_hold=0"])
    zoom_video(tmp_path / "cat.png", tmp_path / "z" / "%03d.png", style, __import__("dreamvideo.video.zoom",
               fromlist=["ZoomOptions"]).ZoomOptions(frames=4))
    frames = sequence(tmp_path / "z")
    assert len(frames) == 4
    right = slice(w // 2 + 1, None)  # scale 1: the frame stands still, so its right half is never dreamed
    assert np.abs(frames[-1][:, right].astype(int) - photo[:, right]).max() <= 1
    ycc = lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb).astype(int)
    left = slice(0, w // 2)
    assert np.abs(ycc(frames[-1])[:, left, 1:] - ycc(photo)[:, left, 1:]).mean() < 1.5
    assert np.abs(ycc(frames[-1])[:, left, 0] - ycc(photo)[:, left, 0]).mean() > 3


def test_gif_has_one_palette_webp_is_animated(clip, tmp_path):
    style = load_style(None, FAST)
    render_video(clip, tmp_path / "o.gif", style)
    render_video(clip, tmp_path / "o.webp", style)
    gif = Image.open(tmp_path / "o.gif")
    colours, frames = set(), 0
    for i in range(gif.n_frames):
        gif.seek(i)
        rgb = np.asarray(gif.convert("RGB")).reshape(-1, 3)
        colours |= set(map(tuple, rgb))
        frames += 1
    assert frames == 10 and len(colours) <= 256  # per-frame palettes would add up to more
    webp = Image.open(tmp_path / "o.webp")
    assert webp.is_animated and webp.n_frames == 10 and webp.size == SIZE
    assert not list(tmp_path.glob(".*dreamvideo"))  # no resume state left behind


def test_bad_output_extensions_name_the_formats(clip, tmp_path):
    for name, match in [("o.avi", "use one of .gif, .m4v, .mov, .mp4, .webp, or a PNG sequence"),
                        ("f/%05d.jpg", "frame sequences are PNG")]:
        result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / name)])
        assert result.exit_code == 2 and match in result.output, result.output


def test_a_guide_video_steers_each_frame_with_its_own_frame(tmp_path):
    import skimage.data

    pictures = [cv2.resize(skimage.data.coffee(), (96, 64)), cv2.resize(skimage.data.rocket(), (96, 64))]
    path = write_video(tmp_path / "guide.mp4", [pictures[0], pictures[1], pictures[0]])
    look = Look(Dreamer(load_style(None, [f"guide.image={path}", "guide.size=96", "layers=[]",
                                          "guide.layer=blocks.3"])))
    frame = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    guides = [look.objective(i).guide for i in range(5)]
    assert not torch_equal(guides[0], guides[1]) and torch_equal(guides[0], guides[2])
    assert torch_equal(guides[3], guides[0])  # frame 3 of a 3-frame guide: it loops
    a, b = look.dream(frame, 0), look.dream(frame, 1)
    assert np.abs(a.astype(int) - b).mean() > 1  # different guide frames steer the same picture differently


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_schedules_interpolate_linear_smooth_and_step():
    style = load_style(None, ["zoom.scale={0: 1, 4: 2}", "zoom.rotate={0: 0, 2: 90, interpolation: step}"])
    scale, rotate = style.zoom.scale, style.zoom.rotate
    assert (scale.at(1), scale.at(1, "smooth"), scale.at(1, "step")) == (1.25, 1 + 0.15625, 1)
    assert (rotate.at(1.9), rotate.at(2), rotate.at(1.9, "linear")) == (0, 90, 0)  # its own mode wins
    stored = load_style(None, [f"zoom.rotate={style.model_dump(mode='json')['zoom']['rotate']}"])
    assert stored.zoom.rotate == rotate
    for name in ("linear", "smooth", "step"):
        assert load_style(None, [f"zoom.interpolation={name}"]).zoom.interpolation == name
    with pytest.raises(ConfigError, match="did you mean 'smooth'"):
        load_style(None, ["zoom.scale={0: 1, 2: 2, interpolation: smoth}"])


def test_music_modulates_a_scheduled_value():
    style = load_style(None, ["zoom.scale={0: 1.0, 10: 3.0}",
                              "react={zoom.scale: {source: loudness, min: 0.5, max: 1.5, relative: true}, "
                              "zoom.rotate: {source: beat, pulse: 2}}", "zoom.rotate={0: 10, 10: 30}"])
    loud = np.array([0.0, 1.0, 0.5])
    cues = TrackCues(loud, loud, np.array([1.0, 0.0, 1.0]), np.array([0, 2]), 120.0, np.array([1.0, 0.0, 0.0]),
                     np.array([0]))
    fps = 1.0
    for index, t in enumerate((0.0, 5.0, 10.0)):
        m = step_motion(style, t, fps, (100, 100), Reaction(style.react, cues, index))
        scale, degrees = float(np.hypot(m[0, 0], m[0, 1])), float(np.degrees(np.arctan2(m[0, 1], m[0, 0])))
        base_scale, base_rotate = 1.0 + 2.0 * t / 10, 10 + 20 * t / 10
        assert scale == pytest.approx(base_scale * (0.5 + loud[index]))
        assert degrees == pytest.approx(base_rotate * (1 + cues.beat[index]))
    with pytest.raises(ConfigError, match="pulse is already relative"):
        load_style(None, ["react={blend: {source: beat, pulse: 2, relative: true}}"])


def test_regions_dream_each_part_with_its_style_in_one_pass(photo, tmp_path, monkeypatch):
    from dreamvideo import dream_image
    from dreamvideo import engine

    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[:, w // 2:] = 255
    Image.fromarray(mask).save(tmp_path / "right.png")
    one_step = ["octaves=1", "iterations=1", "mask_feather=0"]
    regions = (f"regions=[{{mask: {tmp_path / 'right.png'}, style: dogs}}, "
               f"{{mask: {tmp_path / 'right.png'}, invert: true, style: textures}}]")
    passes = []
    dream = engine.dream
    monkeypatch.setattr("dreamvideo.dreamer.dream", lambda image, *a, **k: passes.append(image.shape[0]) or
                        dream(image, *a, **k))
    out = dream_image(photo, load_style(None, one_step + [regions]))
    assert passes == [2]  # both regions in one batch
    alone = {name: dream_image(photo, load_style(None, one_step + [
        f"layers={[t.name for t in load_style(name).layers]}"])) for name in ("dogs", "textures")}
    # one step: each half is what its style dreams alone (to float rounding); longer ascents are chaotic
    assert np.abs(out[:, w // 2:].astype(int) - alone["dogs"][:, w // 2:]).max() <= 1
    assert np.abs(out[:, : w // 2].astype(int) - alone["textures"][:, : w // 2]).max() <= 1
    assert np.abs(alone["dogs"].astype(int) - alone["textures"]).mean() > 1


def test_region_errors(tmp_path, clip):
    Image.fromarray(np.zeros((72, 96), np.uint8)).save(tmp_path / "m.png")
    for regions, match in [(f"[{{mask: {tmp_path / 'm.png'}, style: googlenet}}]", "regions dream in one pass on one model"),
                           (f"[{{mask: {tmp_path / 'm.png'}, style: dgos}}]", "did you mean 'dogs'?"),
                           (f"[{{mask: {tmp_path / 'nope.png'}, style: dogs}}]", "regions.0.mask: no such file")]:
        result = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "o.mp4"), "--set", f"regions={regions}"])
        assert result.exit_code == 2 and match in result.output, result.output


def test_regions_in_a_render_and_a_zoom_keep_uncovered_parts(clip, tmp_path):
    mask = np.zeros(SIZE[::-1], np.uint8)
    mask[:, SIZE[0] // 2:] = 255
    Image.fromarray(mask).save(tmp_path / "right.png")
    region = f"regions=[{{mask: {tmp_path / 'right.png'}, style: textures}}]"
    render_video(clip, tmp_path / "frames" / "%05d.png", load_style(None, FAST + [region]))
    out, source = sequence(tmp_path / "frames"), list(read_frames(clip, SIZE, probe(clip).fps))
    half = SIZE[0] // 2
    assert all(np.array_equal(o[:, :half], s[:, :half]) for o, s in zip(out, source))
    assert all(np.abs(o[:, half:].astype(int) - s[:, half:]).mean() > 4 for o, s in zip(out, source))
    from dreamvideo.video.zoom import ZoomOptions

    Image.fromarray(source[0]).save(tmp_path / "first.png")
    style = load_style(None, FAST + [region, "zoom.scale=1", "zoom.octaves=1", "zoom.iterations=2", "zoom.color_hold=0"])
    zoom_video(tmp_path / "first.png", tmp_path / "z" / "%03d.png", style, ZoomOptions(frames=3))
    frames = sequence(tmp_path / "z")
    assert np.abs(frames[-1][:, : half - 1].astype(int) - source[0][:, : half - 1]).max() <= 1
    assert np.abs(frames[-1][:, half:].astype(int) - source[0][:, half:]).mean() > 4
