"""The host's floor: what one eager ascent step costs when there is almost nothing to compute.

    python benchmarks/host.py                       # this machine's device
    python benchmarks/host.py --device cuda         # on a GPU: the launch-bound floor of a step

At 16x16 px the arithmetic of a step is negligible, so its time is Python, the dispatcher, autograd and,
on a GPU, kernel launches: the least an eager step can take at any size on this host. A frame of the
default style is 4 octaves x 10 steps when fresh and ``warm_octaves`` x ``warm_iterations`` when carried
along the flow, so the floor caps the frame rate of an eager engine whatever the device's speed; CUDA
graphs (``compile: true`` on CUDA) replay a whole step with one launch and lower it. Times the engine's
step (``dreamvideo.engine.ascent_step``, as shipped) and the peers' loop (the whole network, hooks
registered per step; ``speed.peers_frame``), median of ``--steps`` after warming up. One more
column times our step with the other ``fusion.Clamp`` (the in-place autograd.Function where the device
runs the out-of-place one, and the other way round), alternating call by call; ``--clamp-sizes`` does the
same on whole octaves of a frame. That is how ``fusion.LEAN_DEVICES`` was chosen.

``--profile`` then splits our step at the smallest size with torch's profiler: the time inside the
operators that run kernels (on the CPU the arithmetic and oneDNN's fixed cost per call, which a GPU's host
does not pay; on CUDA the launches) against the rest (Python, the dispatcher, autograd: what any host
pays), and the share of the lean clamps where the device runs them (``fusion.Clamp``'s Python
``autograd.Function``).
"""

from __future__ import annotations

import argparse

import torch

from common import timed
from dreamvideo import fusion
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.engine import DreamParams, ascent_step
from dreamvideo.features import get_model
from dreamvideo.look import Look
from dreamvideo.transforms import jitter
from speed import peers_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="split our step at the smallest size by operator")
    parser.add_argument("--clamp-sizes", nargs="*", default=[], metavar="WxH",
                        help="also compare the two clamps on whole octaves of these sizes, e.g. 854x480")
    parser.add_argument("--clamp-steps", type=int, default=12)
    args = parser.parse_args()
    style = load_style(None, [], {"device": args.device})
    ours = Dreamer(style)
    device, params = ours.device, ours.params
    objective = Look(ours).base
    plain = get_model(style.model, None, device, fold=False)  # the network as the peers' tools run it
    layers = sorted(objective.layers)
    generator = torch.Generator().manual_seed(0)
    step = DreamParams(**{**params.__dict__, "jitter": 4})
    peers_params = DreamParams(octaves=1, iterations=1, jitter=4, step_size=params.step_size)
    fresh = params.octaves * params.iterations
    warm = (style.warm_octaves or params.octaves) * (style.warm_iterations or params.iterations)
    print(f"{device}, {params.precision}, torch {torch.__version__}; a fresh frame is {fresh} steps, a carried one "
          f"{warm}")
    lean = device.type in fusion.LEAN_DEVICES
    other = "out-of-place clamps" if lean else "in-place Function clamps"
    run = lambda image, params=step: ascent_step(image, ours.model, objective, params, jitter(4), generator)
    print(f"\n| size | ours ms/step | ours with {other} | peers' loop ms/step | fresh frame floor | "
          "carried frame floor |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
        mine, swapped = (1000 * t for t in both_clamps(lambda: run(image), device, lean, args.steps))
        theirs = 1000 * timed(lambda: peers_frame(plain, layers, image, peers_params, generator), device, args.steps,
                              warmup=5)[0]
        print(f"| {size}x{size} | {mine:.2f} | {swapped:.2f} | {theirs:.2f} | {fresh * mine:.0f} ms "
              f"({1000 / (fresh * mine):.1f} fps) | {warm * mine:.0f} ms ({1000 / (warm * mine):.1f} fps) |", flush=True)
    if args.clamp_sizes:
        print(f"\n| octave | ours ms/step | ours with {other} | ratio |")
        print("|---|---|---|---|")
        no_tiles = DreamParams(**{**step.__dict__, "tile_size": 0})
        for text in args.clamp_sizes:
            width, height = (int(v) for v in text.lower().split("x"))
            image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
            mine, swapped = (1000 * t for t in both_clamps(lambda: run(image, no_tiles), device, lean,
                                                           args.clamp_steps))
            print(f"| {width}x{height} | {mine:.1f} | {swapped:.1f} | {swapped / mine:.3f} |", flush=True)
    if args.profile:
        size = min(args.sizes)
        image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
        split = profile_step(lambda: run(image), device, args.steps)
        print(f"\nour step at {size}x{size}, by the profiler ({args.steps} steps; the profiler's own cost is in "
              f"the wall time, not in the parts):")
        for name, value in split.items():
            print(f"- {name}: {value}")


def both_clamps(fn, device, lean: bool, repeats: int) -> tuple[float, float]:
    """Median seconds of ``fn`` as shipped and with the other ``fusion.Clamp``, alternating call by call
    (so that a slow spell of the machine falls on both)."""
    import statistics

    shipped = set(fusion.LEAN_DEVICES)
    swapped = shipped - {device.type} if lean else shipped | {device.type}
    times: tuple[list, list] = ([], [])
    try:
        for i in range(repeats + 2):
            for k, devices in enumerate((shipped, swapped)):
                fusion.LEAN_DEVICES = devices
                seconds = timed(fn, device, 1, warmup=0)[0]
                if i >= 2:  # two warm-up rounds
                    times[k].append(seconds)
    finally:
        fusion.LEAN_DEVICES = shipped
    return statistics.median(times[0]), statistics.median(times[1])


# operators that only make or reshape tensor metadata: no kernel runs, on any device
_METADATA = {"aten::empty", "aten::empty_strided", "aten::empty_like", "aten::as_strided", "aten::view",
             "aten::reshape", "aten::_reshape_alias", "aten::detach", "aten::detach_", "aten::slice", "aten::narrow",
             "aten::expand", "aten::resize_", "aten::resize_as_", "aten::t", "aten::transpose", "aten::permute",
             "aten::unsqueeze", "aten::squeeze", "aten::select", "aten::alias", "aten::lift_fresh",
             "aten::_nnpack_available", "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense",
             "aten::result_type", "aten::contiguous", "aten::to", "aten::_unsafe_view", "aten::set_"}


def profile_step(fn, device, steps: int) -> dict[str, str]:
    """Where one eager step's host time goes: kernel-running operators, the rest, the lean clamps."""
    from torch.profiler import ProfilerActivity, profile

    from common import sync

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.device(device).type == "cuda" else [])
    for _ in range(5):
        fn()
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            fn()
        sync(device)
    events = [e for e in prof.events() if e.device_type.name == "CPU"]
    ops = [e for e in events if e.name.startswith("aten::")]
    top = [e for e in ops if not _has_op_parent(e)]
    # the innermost operators that compute: what they call, if anything, only makes tensors
    kernels = [e for e in ops if e.name not in _METADATA
               and all(c.name in _METADATA for c in e.cpu_children if c.name.startswith("aten::"))]
    per = lambda es: sum(e.self_cpu_time_total for e in es) / steps / 1e3  # ms a step
    total = per(events)
    in_kernels = per(kernels)
    clamps = per([e for e in events if "_Clamp" in e.name])
    split = {
        "operators a step": f"{len(top) / steps:.0f} called by the step or by autograd, "
                            f"{len(kernels) / steps:.0f} kernel-running ones at the bottom",
        "host time in kernel-running operators": f"{in_kernels:.2f} ms ({in_kernels / total:.0%})",
        "the rest: Python, dispatcher, autograd, metadata": f"{total - in_kernels:.2f} ms ({1 - in_kernels / total:.0%})",
        "of which the lean clamps' Python autograd.Function": f"{clamps:.2f} ms",
    }
    launches = [e for e in events if e.name in ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel",
                                                "cuLaunchKernelEx")]
    if launches:
        split["CUDA kernel launches a step"] = f"{len(launches) / steps:.0f}, {per(launches):.2f} ms of host time"
    return split


def _has_op_parent(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return True
        parent = parent.cpu_parent
    return False


if __name__ == "__main__":
    main()
