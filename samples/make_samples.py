"""Writes the sample photos (real photos from scikit-image's data set), the sample clip and the gallery.

    python samples/make_samples.py            # photos only
    python samples/make_samples.py --gallery  # and one thumbnail per shipped preset (slow on a CPU)
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


def clip() -> None:
    """samples/clip.mp4: 3 s of a camera path over a real photo with a moving object, 24 fps, with sound."""
    import subprocess
    from fractions import Fraction

    sys.path.insert(0, str(HERE.parent / "tests"))  # the clip generator lives with the test media
    from synthetic import demo_clip
    from dreamvideo.video.io import VideoWriter, ffmpeg_exe, lossless_args

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


def gallery() -> None:
    from dreamvideo import dream_image
    from dreamvideo.config import list_presets, load_style
    from dreamvideo.errors import DreamVideoError

    (HERE / "gallery").mkdir(exist_ok=True)
    source = np.asarray(Image.open(HERE / "chelsea.jpg").convert("RGB"))
    for name in list_presets():
        if name.startswith("zoom-"):
            continue  # zoom looks are motion; see the README
        style = load_style(name, ["output.max_side=320"])
        try:
            result = dream_image(source, style)
        except DreamVideoError as exc:  # e.g. weights that must be downloaded, offline
            print(f"{name}: skipped ({exc})")
            continue
        Image.fromarray(result).save(HERE / "gallery" / f"{name}.jpg", quality=85)
        print(f"{name}: done")


if __name__ == "__main__":
    photos()
    clip()
    if "--gallery" in sys.argv:
        gallery()
