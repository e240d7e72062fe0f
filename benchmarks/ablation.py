"""What each speed-up buys: one ascent step, switched on one at a time.

    python benchmarks/ablation.py                      # 480p, this machine's device
    python benchmarks/ablation.py --size 1920 1080 --device cuda

One ascent step of the default layer (forward to ``blocks.4``, backward to the image) on the whole frame,
no tiles. Each row adds one change to the row above:

  peers' loop          contiguous memory, unfolded network: how the public tools run it
  + channels-last      model and input in channels-last memory
  + folded norms       batch norms folded into their convolutions (``dreamvideo.fusion.fold_batchnorm``)
  + lean activations   ReLU6 differentiated without autograd's copy (``lean_activations``): in place,
                       saving its output, on the CPU; out of place elsewhere (``fusion.LEAN_DEVICES``)
  + CPU allocator      on the CPU: glibc keeps freed activation memory (``dreamvideo.allocator``)
  + autocast           on CUDA: the shipped precision (bf16 where the GPU has it, else fp16)

Every row runs in a fresh process (the allocator setting cannot be undone within one), times the median of
``--steps`` steps after two warm-up steps, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

ROWS = ["peers' loop", "+ channels-last", "+ folded norms", "+ lean activations", "+ CPU allocator or autocast"]


def measure(row: int, width: int, height: int, device: str, steps: int) -> dict:
    import time

    import torch

    from dreamvideo.allocator import tune_cpu_allocator
    from dreamvideo.dreamer import resolve_device, resolve_precision
    from dreamvideo.engine import autocast
    from dreamvideo.features import get_model
    from dreamvideo.fusion import fold_batchnorm, lean_activations

    dev = resolve_device(device)
    name, precision = ROWS[row], "fp32"
    if row >= 4 and dev.type == "cpu":
        tune_cpu_allocator()
        name = "+ CPU allocator"
    elif row >= 4:
        precision = resolve_precision("auto", dev)
        name = f"+ {precision} autocast"
    model = get_model(fold=False)
    if row >= 2:
        net, unfolds = fold_batchnorm(model.net, torch.rand(1, 3, 96, 96))
        model = type(model)(model.spec, net, unfolds)
    if row >= 3:
        lean_activations(model.net)
    fmt = torch.channels_last if row >= 1 else torch.contiguous_format
    model = model.to(dev).to(memory_format=fmt)
    image = torch.rand(1, 3, height, width, device=dev, generator=None)

    def step():
        x = image.clone().requires_grad_(True)
        with autocast(dev, precision):
            acts = model.features(x.contiguous(memory_format=fmt), ["blocks.4"])
        (g,) = torch.autograd.grad(acts["blocks.4"].float().pow(2).mean(), x)
        return g

    times = []
    for i in range(steps + 2):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t)
    times.sort()
    return {"row": name, "device": str(dev), "seconds_per_step": round(times[len(times) // 2], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs=2, default=(854, 480), metavar=("W", "H"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, *args.size, args.device, args.steps)))
        return
    rows = []
    for i in range(len(ROWS)):
        cmd = [sys.executable, __file__, "--child", str(i), "--size", *map(str, args.size),
               "--device", args.device, "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{ROWS[i]} failed:\n{out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["seconds_per_step"]
    print(f"\n{args.size[0]}x{args.size[1]}, {rows[0]['device']}\n")
    print("| change | s/step | speed-up over the peers' loop |\n|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {r['seconds_per_step']} | {base / r['seconds_per_step']:.2f}x |")


if __name__ == "__main__":
    main()
