"""What the benchmark scripts share (they run as scripts, so this folder is on their import path)."""

from __future__ import annotations

import sys
from pathlib import Path

# the media with known content (clips with exact flow, a beat track) live beside the tests
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def sync(device) -> None:
    """Wait for the device's queued work, so that wall-clock timings cover it."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, repeats: int, warmup: int = 1):
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones (NaN when ``repeats`` is 0),
    and the last call's result; the device's queued work is inside each time."""
    import statistics
    import time

    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        sync(device)
        began = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - began)
    return (statistics.median(times) if times else float("nan")), out
