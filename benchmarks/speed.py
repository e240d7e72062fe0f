"""Speed against the peers' loop, and against the machine's floor.

    python benchmarks/speed.py                         # default style, 480p 720p 1080p, this device
    python benchmarks/speed.py --resolutions 4k --device cuda

For each resolution, in the same process and on the same device, it times one frame of
  ours:  `Dreamer` with the style as configured (folded norms, lean activations, channels-last, early
         stop, tiles above `tile.size`, autocast on CUDA, the tuned allocator on the CPU), and
  peers: the plain loop of the public DeepDream tools - fp32, eager, the whole frame at once, contiguous
         memory, the unfolded network run in full every step with a hook on the layer - with the same
         model, layers, octaves, iterations, step size and jitter draws,
and prints two ratios: against the peers' loop as their tools run it (the process's stock allocator: it
runs before a Dreamer exists), and against the same loop run again after ours, in the allocator ours
tuned (the speed-up of the code alone). Each loop gets one untimed frame first (kernel choice per shape).

PSNR: ours against the peers' loop, and the peers' loop against itself with nothing changed but its
memory layout. Dreaming amplifies rounding (each step follows the gradient of the last), so the second is
the yardstick: a change whose PSNR matches it alters the picture no more than reordering arithmetic does.

The floor: the FLOPs of all ascent steps of a frame (forward + backward, counted by torch's
FlopCounterMode) over the device's measured fp32 matrix rate. Also printed: the bytes the layer outputs
would move if each were written in the forward pass and read and written again in the backward pass, over
the measured copy bandwidth - an upper bound on traffic (fused kernels and caches move less), so it is
reported, not used as the floor.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.engine import octave_sizes, resize
from dreamvideo.look import Look

from common import RESOLUTIONS, sync, timed


def peers_frame(model, layers, image, params, generator, memory_format=torch.contiguous_format) -> torch.Tensor:
    """The classic loop: octaves with detail, roll jitter, full forward with a hook, normalised step.

    The jitter is drawn as ``dreamvideo.transforms.jitter`` draws it, so both loops roll alike."""
    h, w = image.shape[2:]
    sizes = octave_sizes(h, w, params.octaves, params.octave_scale, model.spec.min_size)
    paths = [model.resolve(name).path for name in layers]
    modules = dict(model.net.named_modules())
    detail = torch.zeros_like(resize(image, sizes[0]))
    for size in sizes:
        base = resize(image, size)
        x = (base + resize(detail, size)).clamp(0, 1)
        for _ in range(params.iterations):
            dy, dx = (int(torch.randint(-params.jitter, params.jitter + 1, (1,), generator=generator)) for _ in "yx")
            x = torch.roll(x.detach(), (dy, dx), (2, 3)).requires_grad_(True)
            acts = []
            hooks = [modules[p].register_forward_hook(lambda m, i, o: acts.append(o)) for p in paths]
            model(x.contiguous(memory_format=memory_format))
            for hook in hooks:
                hook.remove()
            loss = sum(a.float().pow(2).mean() for a in acts)
            (g,) = torch.autograd.grad(loss, x)
            x = torch.roll((x + params.step_size * g / (g.abs().mean() + 1e-8)).clamp(0, 1), (-dy, -dx), (2, 3))
        detail = x.detach() - base
    return x.detach()


def floor_seconds(model, layers, image, params, device) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    h, w = image.shape[2:]
    flops = bytes_moved = 0
    for size in octave_sizes(h, w, params.octaves, params.octave_scale, model.spec.min_size):
        x = resize(image, size).detach().requires_grad_(True)
        written = []
        hooks = [m.register_forward_hook(lambda m, i, o: written.append(o.numel() * o.element_size()))
                 for m in model.net.modules() if len(list(m.children())) == 0]
        counter = FlopCounterMode(display=False)
        with counter:
            acts = model.features(x, layers)
            loss = sum(a.float().pow(2).mean() for a in acts.values())
            torch.autograd.grad(loss, x)
        for hook in hooks:
            hook.remove()
        flops += counter.get_total_flops() * params.iterations
        bytes_moved += 3 * sum(written) * params.iterations  # forward write, backward read + gradient write
    # the matrix rate in the precision the frame runs in (bf16 under autocast on CUDA), after a warm-up
    # product (the first one also starts the BLAS library)
    dtype = torch.bfloat16 if params.precision == "bf16" and device.type == "cuda" else torch.float32
    a = torch.randn(2048, 2048, device=device, dtype=dtype)
    a @ a
    sync(device)
    t = time.perf_counter()
    for _ in range(5):
        a @ a
    sync(device)
    rate = 5 * 2 * 2048**3 / (time.perf_counter() - t)
    big = torch.ones(64 * 2**20, device=device)  # 256 MiB, copied into memory already touched: page
    dst = torch.empty_like(big).copy_(big)           # faults are not bandwidth
    sync(device)
    t = time.perf_counter()
    for _ in range(5):
        dst.copy_(big)
    sync(device)
    bandwidth = 5 * 2 * big.numel() * 4 / (time.perf_counter() - t)
    return {"gflop": round(flops / 1e9, 1), "gbyte": round(bytes_moved / 1e9, 2),
            "matrix_gflops": round(rate / 1e9, 1), "bandwidth_gbs": round(bandwidth / 1e9, 1),
            "floor_seconds": float(f"{flops / rate:.3g}"),
            "traffic_bound_seconds": float(f"{bytes_moved / bandwidth:.3g}")}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return round(float(-10 * torch.log10((a.float() - b.float()).pow(2).mean())), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--resolutions", nargs="+", default=["480p", "720p", "1080p"], choices=list(RESOLUTIONS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="timed frames per loop (median), after one warm-up")
    args = parser.parse_args()
    import skimage.data
    from PIL import Image

    from dreamvideo.dreamer import dream_params, resolve_device
    from dreamvideo.features import get_model
    from dreamvideo.media.images import to_tensor

    style = load_style(args.style, args.sets, {"device": args.device})
    device = resolve_device(style.device)
    plain = get_model(style.model, style.weights, device, fold=False)  # as published: contiguous, fp32, unfolded
    layers = [t.name for t in style.layers] if style.layers is not None else list(plain.spec.default_layers)
    images = {res: to_tensor(np.asarray(Image.fromarray(skimage.data.astronaut()).resize(RESOLUTIONS[res],
                                                                                       Image.BICUBIC))).to(device)
              for res in args.resolutions}
    params = None

    def peers(res, model=plain, memory_format=torch.contiguous_format):
        return lambda: peers_frame(model, layers, images[res], params, torch.Generator().manual_seed(style.seed),
                                   memory_format)

    # 1. The peers' loop as their tools run: the allocator as the process starts. (Building a Dreamer on the
    #    CPU tunes glibc's allocator for the rest of the process, so this runs first.)
    params = dream_params(style, device)
    stock = {res: timed(peers(res), device, args.repeats) for res in args.resolutions}
    # 2. Ours as shipped, then the peers' loop again in the same allocator: the speed-up of the code alone.
    ours = Dreamer(style)
    assert ours.params == params
    objective = Look(ours).base
    rows = []
    for res in args.resolutions:
        # one untimed frame each first: oneDNN/cuDNN pick and cache kernels per shape, as a render's
        # first frame does; then the median of --repeats frames
        t_ours, mine = timed(lambda: ours.dream(images[res], objective), device, args.repeats)
        t_peers, theirs = stock[res]
        t_same, _ = timed(peers(res), device, args.repeats) if device.type == "cpu" else stock[res]
        # Both loops draw the same jitter, so without tiles they differ only in arithmetic (folded norms,
        # memory layout, precision). Dreaming amplifies rounding: the reference is the peers' own loop with
        # nothing changed but its memory layout.
        _, relaid = timed(peers(res, plain.to(memory_format=torch.channels_last), torch.channels_last), device, 0)
        plain.to(memory_format=torch.contiguous_format)
        floor = floor_seconds(plain, layers, images[res], params, device)
        rows.append({"resolution": res, "device": str(device), "precision": params.precision,
                     "tile": style.tile.size, "ours_s": round(t_ours, 4), "peers_s": round(t_peers, 4),
                     "speedup": round(t_peers / t_ours, 2), "peers_same_allocator_s": round(t_same, 4),
                     "code_speedup": round(t_same / t_ours, 2), "psnr_vs_peers_db": psnr(mine, theirs),
                     "psnr_peers_relaid_db": psnr(relaid, theirs), **floor,
                     "ours_over_floor": round(t_ours / floor["floor_seconds"], 1)})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
