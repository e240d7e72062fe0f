"""Motion-analysis benchmark: how fast a render's host side can feed the dreaming.

    python benchmarks/flow.py                                   # 480p 720p 1080p, 1 and 2 workers
    python benchmarks/flow.py --resolutions 1080p --workers 1 4 8
    python benchmarks/flow.py --opencv-threads 1              # each flow on one core: how pairs scale

For each frame a render estimates two DIS flows (backward and forward), checks them against each other
(``dreamvideo.flow.reliable``) and the moved previous frame against the current one (``matching``),
feathers the mask (``trusted``), and, on the dreaming thread, builds the frame's start
image from the previous dream (``start_image``). Analysis runs ahead on other threads, so it bounds the
render's frame rate only where it is slower than the dreaming: on a GPU it can be. This times, on a camera
pan over a real photo (``demo_clip`` in tests/media.py):

  analysis     ms per frame and frames per second of ``motions`` with each number of workers
  start image  ms per frame of ``start_image`` (serial with the dreaming)
  held         the same with the strength hold: the carried detail rescaled, the warm steps' change
               bounded afterwards (``Strength.settle``), both serial with the dreaming

The host allocator is tuned as in a render (``dreamvideo.allocator``).

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import deque

import numpy as np

from common import RESOLUTIONS, timed
from dreamvideo.allocator import tune_cpu_allocator
from dreamvideo.config import load_style
from dreamvideo.coherence import Carry, Strength, motions, start_image
from media import demo_clip


def analysis_seconds(frames: list[np.ndarray], style, size, workers: int, repeats: int) -> float:
    """Median seconds per frame of the analysis of ``frames`` (the first frame has no motion to find)."""
    drain = lambda: deque(motions(iter(frames), size, flow=style.flow, scene_cut=style.scene_cut, workers=workers),
                          maxlen=0)
    return timed(drain, "cpu", repeats, warmup=0)[0] / (len(frames) - 1)


def start_seconds(frames: list[np.ndarray], style, size) -> tuple[float, float]:
    """Median seconds of a carried frame's start image, and of the same with the strength hold (the carried
    detail rescaled to the shot's strength, then the warm steps' change bounded: ``Strength.settle``)."""
    moved = list(motions(iter(frames), size, flow=style.flow, scene_cut=style.scene_cut, workers=1))
    carry, held = Carry.of(style), Strength(reference=0.05 / style.step_size)
    plain, hold = [], []
    for (prev, _), (frame, motion) in zip(moved, moved[1:]):
        dreamed = frame  # the source frames stand in for the dreams: the same work
        began = time.perf_counter()
        start_image(frame, prev, prev, motion, carry)
        plain.append(time.perf_counter() - began)
        began = time.perf_counter()
        start, _ = start_image(frame, prev, prev, motion, carry, held.target(style.step_size))
        held.settle(start, dreamed, motion.mask, style.step_size)
        hold.append(time.perf_counter() - began)
    return float(np.median(plain)), float(np.median(hold))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", nargs="+", choices=list(RESOLUTIONS), default=["480p", "720p", "1080p"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--opencv-threads", type=int, default=None,
                        help="threads OpenCV may use inside one flow (default: its own choice, all cores)")
    args = parser.parse_args()
    style = load_style(None, args.sets)
    tune_cpu_allocator()  # as in a render, on any device (``Dreamer``)
    import cv2

    if args.opencv_threads:
        cv2.setNumThreads(args.opencv_threads)

    print(f"{os.cpu_count()} cores, OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads, flow {style.flow}")
    rows = []
    for name in args.resolutions:
        size = RESOLUTIONS[name]
        frames = list(demo_clip(size, args.frames).frames)
        analyse_ms = {w: 1000 * analysis_seconds(frames, style, size, w, args.repeats) for w in args.workers}
        start_ms, hold_ms = (1000 * s for s in start_seconds(frames, style, size))
        rows.append((name, size, analyse_ms, start_ms, hold_ms))
        print(name, {w: round(ms, 1) for w, ms in analyse_ms.items()}, f"start image {start_ms:.1f} ms, "
              f"held {hold_ms:.1f} ms", flush=True)
    cells = " | ".join(f"{w} worker{'s' if w > 1 else ''}: ms (fps)" for w in args.workers)
    print(f"\n| resolution | {cells} | start image ms | held (+ settle) ms |")
    print("|---|" + "---|" * len(args.workers) + "---|---|")
    for name, (w, h), analyse_ms, start_ms, hold_ms in rows:
        cells = " | ".join(f"{ms:.1f} ({1000 / ms:.1f})" for ms in analyse_ms.values())
        print(f"| {name} ({w}x{h}) | {cells} | {start_ms:.1f} | {hold_ms:.1f} |")


if __name__ == "__main__":
    main()
