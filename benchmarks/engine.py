"""Engine benchmark: seconds per frame, ascent steps per second and peak memory for a style.

    python benchmarks/engine.py                       # default style, 480p 720p 1080p, this machine's device
    python benchmarks/engine.py --style dogs --resolutions 480p --device cuda

Each resolution runs in a fresh process so that its peak memory is its own; one untimed frame goes
first. The frame is a real photo (scikit-image's astronaut) resized to the resolution. Prints a Markdown
table for docs/benchmarks.md and writes the raw numbers as JSON next to this file.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import RESOLUTIONS


def measure(style_name: str | None, resolution: str, device: str, sets: list[str]) -> dict:
    import numpy as np
    import skimage.data
    import torch
    from PIL import Image

    from dreamvideo.config import load_style
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.look import Look
    from dreamvideo.media.images import to_tensor

    w, h = RESOLUTIONS[resolution]
    style = load_style(style_name, sets, {"device": device})
    dreamer = Dreamer(style)
    objective = Look(dreamer).base  # the style's objective, its guide's pull included
    frame = to_tensor(np.asarray(Image.fromarray(skimage.data.astronaut()).resize((w, h), Image.BICUBIC)))
    # an untimed frame first: oneDNN/cuDNN choose and cache kernels per shape on first use, as on a
    # render's first frame; what is timed is the steady state of every later frame
    dreamer.dream(frame, objective)
    if dreamer.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    steps = []
    start = time.perf_counter()
    dreamer.dream(frame, objective, progress=lambda done, total: steps.append(done))
    if dreamer.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "resolution": resolution, "size": f"{w}x{h}", "device": str(dreamer.device),
        "precision": dreamer.params.precision, "style": style_name or "default",
        "octaves": style.octaves, "iterations": style.iterations, "tile": style.tile.size,
        "seconds_per_frame": round(seconds, 3), "steps": len(steps), "steps_per_second": round(len(steps) / seconds, 3),
        "peak_host_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if dreamer.device.type == "cuda" else None,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=None, help="preset name or YAML file (default: the default style)")
    parser.add_argument("--resolutions", nargs="+", default=["480p", "720p", "1080p"], choices=list(RESOLUTIONS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("engine_results.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.style, args.child, args.device, args.sets)))
        return
    rows = []
    for res in args.resolutions:
        cmd = [sys.executable, __file__, "--child", res, "--device", args.device]
        cmd += ["--style", args.style] if args.style else []
        for s in args.sets:
            cmd += ["--set", s]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{res} failed:\n{out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{res}: {r['seconds_per_frame']} s/frame, {r['steps_per_second']} steps/s, "
              f"host peak {r['peak_host_mib']} MiB, gpu peak {r['peak_gpu_mib']} MiB", flush=True)
    args.json.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2))
    print("\n| resolution | device | precision | s/frame | steps/s | peak host MiB | peak GPU MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['resolution']} ({r['size']}) | {r['device']} | {r['precision']} | {r['seconds_per_frame']} | "
              f"{r['steps_per_second']} | {r['peak_host_mib']} | {r['peak_gpu_mib'] or '-'} |")


if __name__ == "__main__":
    main()
