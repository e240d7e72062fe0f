"""Render benchmark: frames per second of `dreamvideo render`, and its overhead over the dreaming alone.

    python benchmarks/render.py                                  # samples/clip.mp4, default style
    python benchmarks/render.py --video clip.mp4 --set output.max_side=480 --frames 48
    python benchmarks/render.py --resolution 1080p --frames 8   # a camera pan over a photo at that size

Decoding, optical flow, and the two encoders (lossless resume chunks, H.264) run on other threads and
processes; the overhead is the wall time of the whole render minus the time spent inside the dream calls,
over the latter. Peak memory: the Python process's resident set (the ffmpeg processes apart) and, on
CUDA, the most the GPU allocator held.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from common import RESOLUTIONS
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.video.render import RenderOptions, render_video

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=ROOT / "samples" / "clip.mp4")
    parser.add_argument("--style", default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resolution", choices=list(RESOLUTIONS), default=None,
                        help="render a synthetic H.264 clip of this size instead of --video")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.resolution:
            args.video = synthetic_clip(Path(tmp) / f"{args.resolution}.mp4", RESOLUTIONS[args.resolution],
                                        args.frames or 12)
        run(args, tmp)


def synthetic_clip(path: Path, size: tuple[int, int], frames: int) -> Path:
    """A camera pan over scikit-image's astronaut with a moving disc (``tests/media.py``), as H.264."""
    from fractions import Fraction

    from media import demo_clip
    from dreamvideo.media.ffmpeg import VideoWriter, h264_args

    with VideoWriter(path, size, Fraction(24), h264_args(crf=18, preset="fast")) as writer:
        for frame in demo_clip(size, frames).frames:
            writer.write(frame)
    return path


def run(args: argparse.Namespace, tmp: str) -> None:
    style = load_style(args.style, args.sets, {"device": args.device})
    dreamer = Dreamer(style)
    inner = dreamer.dream
    spent = []

    def timed(*a, **k):
        t = time.perf_counter()
        out = inner(*a, **k)
        if out.is_cuda:
            import torch

            torch.cuda.synchronize()
        spent.append(time.perf_counter() - t)
        return out

    dreamer.dream = timed
    if dreamer.device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    result = render_video(args.video, Path(tmp) / "out.mp4", style, RenderOptions(max_frames=args.frames),
                          dreamer=dreamer)
    total = time.perf_counter() - t
    dream = sum(spent)
    print(json.dumps({
        "video": str(args.video), "frames": result.frames, "size": f"{result.size[0]}x{result.size[1]}",
        "device": str(dreamer.device), "seconds_total": round(total, 2), "seconds_dreaming": round(dream, 2),
        "fps": round(result.frames / total, 3), "overhead": round((total - dream) / dream, 4),
        "peak_host_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mib": peak_gpu_mib(dreamer.device),
    }, indent=2))


def peak_gpu_mib(device) -> float | None:
    if device.type != "cuda":
        return None
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


if __name__ == "__main__":
    main()
