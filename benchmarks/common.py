"""What the benchmark scripts share (they run as scripts, so this folder is on their import path)."""

from __future__ import annotations

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def sync(device) -> None:
    """Wait for the device's queued work, so that wall-clock timings cover it."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
