"""Studio benchmark: how long the page's previews take, per shipped preset, on this machine.

    python benchmarks/studio.py            # a photo (samples/chelsea.jpg) and a 720p frame of real footage

What a user waits for after moving a slider: one frame dreamed at preview size (longer side 320 px), the
network already built (the studio builds it once per model). Also the first preview after a model change
(the build included) and the 12-frame coherent preview clip of a video.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import list_presets
from dreamvideo.studio.session import Studio
from media import real_clip

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def add(studio: Studio, path: Path):
    """``path`` stored as an upload, as the page's upload stores it."""
    part = studio.uploads.new_part()
    shutil.copy(path, part)
    return studio.uploads.accept(path.name, part)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(Path(tmp))
        photo, footage = add(studio, SAMPLES / "chelsea.jpg"), add(studio, real_clip("bigbuckbunny"))
        print(f"{'preset':12} {'photo s':>8} {'720p frame s':>13}")
        for name in list_presets():
            if name.startswith("zoom-") or name in ("googlenet", "portrait-bg"):
                continue  # zoom presets dream like their base; googlenet downloads; portrait-bg needs a mask
            style = studio.style(studio.presets()[name])
            studio.previews.still(photo, style)  # builds this style's dreamer
            times = {}
            for upload in (photo, footage):
                runs = [studio.previews.still(upload, style, seconds=2.0)[1] for _ in range(3)]
                times[upload.kind] = statistics.median(runs)
            print(f"{name:12} {times['image']:8.2f} {times['video']:13.2f}")
        studio.previews.networks.clear()
        began = time.perf_counter()
        studio.previews.still(photo, studio.style(""))
        print(f"first preview, the network built: {time.perf_counter() - began:.2f} s")
        began = time.perf_counter()
        studio.previews.clip(footage, studio.style(""), seconds=2.0)
        print(f"12-frame preview clip of the 720p footage: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()
