"""Writes the sample photos (real photos from scikit-image's data set) and the README gallery.

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


def gallery() -> None:
    from dreamvideo import dream_image
    from dreamvideo.config import list_presets, load_style
    from dreamvideo.errors import DreamVideoError

    (HERE / "gallery").mkdir(exist_ok=True)
    source = np.asarray(Image.open(HERE / "chelsea.jpg").convert("RGB"))
    for name in list_presets():
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
    if "--gallery" in sys.argv:
        gallery()
