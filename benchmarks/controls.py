"""Artist controls benchmark: what masks, original colours and regions cost, and GIF/WebP encoding.

    python benchmarks/controls.py

- composite: a mask (image) and `colors: original` applied to one frame, per resolution (ms);
- regions: one picture (samples/astronaut.jpg at 320 px, the default ascent) dreamed with two regions in
  one batch, against each region's style dreamed alone, one after the other;
- outputs: the sample clip's 72 frames written as MP4, GIF (two passes, one palette) and animated WebP.
"""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from common import RESOLUTIONS  # (and the test media on the path)
from dreamvideo import dream_image
from dreamvideo.composite import Composite, Mask
from dreamvideo.config import OutputConfig, load_style
from dreamvideo.media.ffmpeg import probe, read_frames
from dreamvideo.video.output import video_writer

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def best(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    print("composite per frame (mask + colors: original), ms")
    for name, (w, h) in RESOLUTIONS.items():
        frame, dream = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2))
        mask = Mask(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), feather=4)
        composite = Composite(mask, "original")
        print(f"  {name:6} {best(lambda: composite(0, frame, dream)) * 1000:7.1f}")

    mask = SAMPLES / "astronaut_mask.png"
    base = ["output.max_side=320"]
    regions = base + [f"regions=[{{mask: {mask}, style: dogs}}, {{mask: {mask}, invert: true, style: textures}}]"]
    alone = [base + [f"layers={[t.name for t in load_style(n).layers]}"] for n in ("dogs", "textures")]
    photo = str(SAMPLES / "astronaut.jpg")
    dream_image(photo, load_style(None, base + ["octaves=1", "iterations=1"]))  # warm up
    together = best(lambda: dream_image(photo, load_style(None, regions)), 3)
    apart = sum(best(lambda s=s: dream_image(photo, load_style(None, s)), 3) for s in alone)
    print(f"two regions in one batch: {together:.2f} s; each style alone, one after the other: {apart:.2f} s")

    clip = SAMPLES / "clip.mp4"
    info = probe(clip)
    frames = list(read_frames(clip, (info.width, info.height)))
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".mp4", ".gif", ".webp"):
            out = Path(tmp) / f"o{suffix}"

            def write() -> None:
                writer = video_writer(out, out, (info.width, info.height), Fraction(24), OutputConfig(), None, 3.0)
                for f in frames:
                    writer.write(f)
                writer.close()

            seconds = best(write, 3)
            print(f"{suffix:5} {len(frames)} frames {info.width}x{info.height}: {seconds:.2f} s, "
                  f"{out.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
