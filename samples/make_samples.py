"""Writes the sample photos (real photos from scikit-image's data set), the sample clip, the sample song and
the gallery.

    python samples/make_samples.py            # photos, the astronaut's mask and the sample clip
    python samples/make_samples.py --gallery  # and the gallery: a thumbnail per preset and per artist
                                              # control, three animations (a few minutes on a CPU)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

HERE = Path(__file__).resolve().parent
PHOTOS = {"astronaut": 384, "chelsea": 451, "coffee": 480, "rocket": 480}


def photos() -> None:
    for name, side in PHOTOS.items():
        im = Image.fromarray(getattr(skimage.data, name)())
        im.thumbnail((side, side), Image.LANCZOS)
        im.save(HERE / f"{name}.jpg", quality=88)
    guide = Image.fromarray(skimage.data.coffee())
    guide.thumbnail((256, 256), Image.LANCZOS)
    guide.save(HERE.parent / "pipelines" / "guides" / "coffee.jpg", quality=88)


def mask() -> None:
    """samples/astronaut_mask.png: white on the astronaut, black behind her (GrabCut from rough strokes)."""
    import cv2

    image = np.asarray(Image.open(HERE / "astronaut.jpg").convert("RGB"))
    h, w = image.shape[:2]
    marks = np.full((h, w), cv2.GC_BGD, np.uint8)
    cv2.ellipse(marks, (170, 60), (62, 58), 0, 0, 360, cv2.GC_PR_FGD, -1)  # the head, probably
    body = np.array([(90, 110), (250, 110), (290, 230), (384, 300), (384, 384), (0, 384), (15, 230)])
    cv2.fillPoly(marks, [body], cv2.GC_PR_FGD)
    cv2.ellipse(marks, (168, 75), (30, 35), 0, 0, 360, cv2.GC_FGD, -1)  # the face, the suit, the helmet: surely
    cv2.rectangle(marks, (60, 200), (250, 370), cv2.GC_FGD, -1)
    cv2.rectangle(marks, (230, 280), (360, 370), cv2.GC_FGD, -1)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), marks, None, *models, 10, cv2.GC_INIT_WITH_MASK)
    fg = np.where((marks == cv2.GC_FGD) | (marks == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((11, 11), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    Image.fromarray(np.where(labels == largest, 255, 0).astype(np.uint8)).save(HERE / "astronaut_mask.png")


def clip() -> None:
    """samples/clip.mp4: 3 s of a camera path over a real photo with a moving object, 24 fps, with sound."""
    import subprocess
    from fractions import Fraction

    sys.path.insert(0, str(HERE.parent / "tests"))  # the clip generator lives with the test media
    from media import demo_clip
    from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_exe, lossless_args

    frames = demo_clip((240, 180), 72).frames
    raw = HERE / "clip.part.mkv"
    with VideoWriter(raw, (240, 180), Fraction(24), lossless_args()) as writer:
        for frame in frames:
            writer.write(frame)
    tone = "aevalsrc=0.25*sin(2*PI*220*t)*(0.6+0.4*sin(2*PI*2*t))+0.1*sin(2*PI*330*t):s=44100"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-f", "lavfi",
                    "-i", tone, "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", str(HERE / "clip.mp4")],
                   check=True)
    raw.unlink()


def song() -> None:
    """samples/song.m4a: 8 bars of drums and a pad at 96 BPM (20 s), whose beats and bars are known."""
    import subprocess
    import tempfile

    sys.path.insert(0, str(HERE.parent / "tests"))  # the loop generator lives with the test media
    from music import Loop, drum_loop, write_wav
    from dreamvideo.media.ffmpeg import ffmpeg_exe

    with tempfile.TemporaryDirectory() as tmp:
        write_wav(Path(tmp) / "song.wav", drum_loop(Loop("sample", 96, bars=8)).samples)
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(Path(tmp) / "song.wav"),
                        "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(HERE / "song.m4a")], check=True)


def gallery() -> None:
    from dreamvideo import dream_image
    from dreamvideo.config import list_presets, load_style
    from dreamvideo.errors import DreamVideoError

    (HERE / "gallery").mkdir(exist_ok=True)
    source = np.asarray(Image.open(HERE / "chelsea.jpg").convert("RGB"))
    for name in list_presets():
        if name.startswith("zoom-") or name in ("portrait-bg", "music-video"):
            continue  # zoom looks and music videos are motion, portrait-bg needs a mask: see the README
        style = load_style(name, ["output.max_side=320"])
        try:
            result = dream_image(source, style)
        except DreamVideoError as exc:  # e.g. weights that must be downloaded, offline
            print(f"{name}: skipped ({exc})")
            continue
        Image.fromarray(result).save(HERE / "gallery" / f"{name}.jpg", quality=85)
        print(f"{name}: done")


def controls() -> None:
    """A still per artist control, on the astronaut with her mask."""
    from dreamvideo import dream_image
    from dreamvideo.config import load_style

    source = HERE / "astronaut.jpg"
    mask = HERE / "astronaut_mask.png"
    looks = {
        "control_mask": ("dogs", [f"mask={mask}"]),
        "control_portrait_bg": ("portrait-bg", [f"mask={mask}"]),
        "control_colors_dream": (None, []),
        "control_colors_original": (None, ["colors=original"]),
        "control_regions": (None, [f"regions=[{{mask: {mask}, style: dogs}}, {{mask: {mask}, invert: true, "
                                   "style: textures}]"]),
    }
    for name, (preset, sets) in looks.items():
        result = dream_image(str(source), load_style(preset, sets + ["output.max_side=320"]))
        Image.fromarray(result).save(HERE / "gallery" / f"{name}.jpg", quality=85)
        print(f"{name}: done")


def animations() -> None:
    """The README's animated gallery, small animated WebPs made with the library: the sample clip rendered
    with coherence beside every frame dreamed alone (``blend: 0``), a zoom dive, and a render whose dream
    swells with the loudness of the clip's own sound."""
    import tempfile

    from dreamvideo.config import load_style
    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.video.render import RenderOptions, render_video
    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    out = HERE / "gallery"
    out.mkdir(exist_ok=True)
    sample = HERE / "clip.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        def render(name: str, sets: list[str]) -> list[np.ndarray]:
            result = render_video(sample, Path(tmp) / f"{name}.mp4", load_style(None, sets), RenderOptions())
            return list(read_frames(result.output, result.size))

        coherent, independent = render("coherent", []), render("independent", ["blend=0"])
        side = [np.hstack([label(shrink(a, 200), "render"), label(shrink(b, 200), "--blend 0")])
                for a, b in zip(coherent, independent)]
        save_webp(out / "render_coherence.webp", side, 24)
        dive = zoom_video(HERE / "astronaut.jpg", Path(tmp) / "dive.mp4", load_style("zoom-dive", ["output.max_side=256"]),
                          ZoomOptions(seconds=3))
        save_webp(out / "zoom_dive.webp", [shrink(f, 208) for f in read_frames(dive.output, dive.size)], float(dive.fps))
        music = render("music", ["react={step_size: {source: loudness, min: 0.001, max: 0.03}}"])
        save_webp(out / "music_loudness.webp", music, 24)
        music_video()


def music_video() -> None:
    """The music video example: its song drawn by `dreamvideo analyse --plot` with the style's sections and
    curves, and the first 12 s of a zoom made with it (textures, then dogs from bar 5, on the beat)."""
    import tempfile

    from dreamvideo.analyse import analyse, curves, plot, section_bands
    from dreamvideo.config import load_style
    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    style = load_style("music-video")
    analysis = analyse(HERE / "song.m4a")
    plot(analysis, HERE / "gallery" / "music_video_plot.png", curves(analysis, style), section_bands(analysis, style))
    zooming = load_style("music-video", ["output.max_side=176", "zoom.fps=12"])
    with tempfile.TemporaryDirectory() as tmp:
        made = zoom_video(HERE / "coffee.jpg", Path(tmp) / "video.mp4", zooming,
                          ZoomOptions(audio=HERE / "song.m4a", seconds=12))
        save_webp(HERE / "gallery" / "music_video.webp", list(read_frames(made.output, made.size)), float(made.fps))


def label(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` with ``text`` in its top-left corner, white on a dark band."""
    from PIL import ImageDraw, ImageFont

    im = Image.fromarray(frame)
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=13)
    box = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    draw.text((6, 4), text, fill=(255, 255, 255), font=font)
    return np.asarray(im)


def shrink(frame: np.ndarray, side: int) -> np.ndarray:
    """``frame`` with its longer side made ``side`` pixels (the gallery keeps each animation under 1 MB)."""
    im = Image.fromarray(frame)
    im.thumbnail((side, side), Image.LANCZOS)
    return np.asarray(im)


def save_webp(path: Path, frames: list[np.ndarray], fps: float, quality: int = 40) -> None:
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0,
                   quality=quality, method=6)
    print(f"{path.name}: {len(frames)} frames, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    photos()
    mask()
    clip()
    song()
    if "--gallery" in sys.argv:
        gallery()
        controls()
        animations()
