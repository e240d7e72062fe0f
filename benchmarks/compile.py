"""torch.compile and CUDA graphs for the inner loop: one ascent step per octave shape, eager against compiled.

    python benchmarks/compile.py                                   # 480p, this machine's device
    python benchmarks/compile.py --resolution 1080p --device cuda --modes default reduce-overhead

For each octave shape of a frame of the default style (or --style) it times the gradient of one ascent
step - forward to the layer, objective, backward to the image, in the style's precision and memory
layout - eagerly as the engine runs it, and through ``torch.compile`` in each ``--modes`` (inductor's
``default``; ``reduce-overhead`` adds CUDA graphs, CUDA only; ``max-autotune-no-cudagraphs``). One compiled
function per shape (``dynamic=False``: what a per-octave cache holds). Compile time is the first call's
time less an eager step's, reported apart. The frame estimate is the sum over octaves of ``iterations`` x
the step time. The gradient's agreement with eager is printed as its PSNR (peak: eager's max |g|), and the
graphs and graph breaks Dynamo counted (one graph per shape and mode, no breaks, is the aim).

The compiled path is the engine's own (``compile: true``: ``DreamModel.compiled_features``, whose hooks
are registered once, outside the compiled function); eager is the engine as shipped. Each mode gets a
fresh copy of the model, so it compiles from scratch (inductor's on-disk cache may still shorten it).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch._dynamo

from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.engine import autocast, octave_sizes
from dreamvideo.look import Look

from common import RESOLUTIONS, sync, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--resolution", choices=list(RESOLUTIONS), default="480p")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--modes", nargs="+", default=["default"])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per shape and mode (median)")
    args = parser.parse_args()
    style = load_style(args.style, args.sets, {"device": args.device})
    eager_model = Dreamer(style)
    device, params = eager_model.device, eager_model.params
    objective = Look(eager_model).base
    layers = sorted(objective.layers)
    fmt = torch.channels_last if params.channels_last else torch.contiguous_format

    def eager_loss(x):
        with autocast(device, params.precision):
            return objective(eager_model.model.features(x.contiguous(memory_format=fmt), layers))

    def compiled_loss(mode):
        features = Dreamer(style).model.compiled_features(layers, mode)

        def loss(x):
            with autocast(device, params.precision):
                return objective(features(x.contiguous(memory_format=fmt)))

        return loss

    def grad_of(loss, x):
        leaf = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(leaf), leaf)
        return g

    def time_steps(loss, x) -> float:
        return timed(lambda: grad_of(loss, x), device, args.steps, warmup=0)[0]

    w, h = RESOLUTIONS[args.resolution]
    sizes = octave_sizes(h, w, params.octaves, params.octave_scale, eager_model.model.spec.min_size)
    print(f"{args.resolution}, {device}, {params.precision}, torch {torch.__version__}, "
          f"octaves {sizes}, {params.iterations} steps each", flush=True)
    losses = {mode: compiled_loss(mode) for mode in args.modes}
    counters = torch._dynamo.utils.counters
    counters.clear()
    rows = []
    for size in sizes:
        x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)).to(device)
        reference = grad_of(eager_loss, x)  # also the eager warm-up (kernel choice per shape)
        eager = time_steps(eager_loss, x)
        row = {"shape": f"{size[1]}x{size[0]}", "eager": eager}
        for mode in args.modes:
            compiled = losses[mode]
            sync(device)
            t = time.perf_counter()
            g = grad_of(compiled, x).clone()  # a CUDA graph's output is overwritten by its next replay
            sync(device)
            first = time.perf_counter() - t
            grad_of(compiled, x)  # CUDA graphs record on the second call
            step = time_steps(compiled, x)
            peak = reference.abs().max()
            err = ((g.float() - reference.float()) / peak).pow(2).mean()
            psnr = float(-10 * torch.log10(err)) if err > 0 else float("inf")  # inf: bit for bit the same
            row[mode] = (step, max(first - eager, 0.0), psnr)
            print(f"  {row['shape']} {mode}: {step:.4f} s/step (eager {eager:.4f}), compile {first - eager:.1f} s, "
                  f"gradient PSNR {psnr:.1f} dB", flush=True)
        rows.append(row)
    head = "| octave | eager s/step | " + " | ".join(f"{m} s/step | compile s | grad PSNR" for m in args.modes)
    print("\n" + head + " |\n|" + "---|" * (2 + 3 * len(args.modes)))
    for r in rows:
        cells = " | ".join(f"{r[m][0]:.4f} | {r[m][1]:.1f} | {r[m][2]:.1f}" for m in args.modes)
        print(f"| {r['shape']} | {r['eager']:.4f} | {cells} |")
    # a graph break splits a step into pieces, each its own CUDA graph under reduce-overhead
    breaks = sum(counters["graph_break"].values())
    print(f"\ngraphs compiled: {counters['stats']['unique_graphs']} for {len(sizes)} shape(s) x {len(args.modes)} "
          f"mode(s); graph breaks: {breaks}" + "".join(f"\n  {reason.splitlines()[0]}" for reason in counters["graph_break"]))
    n = params.iterations
    frame = {m: n * sum(r[m][0] for r in rows) for m in args.modes}
    eager_frame = n * sum(r["eager"] for r in rows)
    print(f"\nframe estimate: eager {eager_frame:.3f} s; " + "; ".join(
        f"{m} {frame[m]:.3f} s ({eager_frame / frame[m]:.2f}x), compile {sum(r[m][1] for r in rows):.0f} s"
        for m in args.modes))


if __name__ == "__main__":
    main()
