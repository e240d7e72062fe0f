"""The host's floor: what one eager ascent step costs when there is almost nothing to compute.

    python benchmarks/host.py                       # this machine's device
    python benchmarks/host.py --device cuda         # on a GPU: the launch-bound floor of a step

At 16x16 px the arithmetic of a step is negligible, so its time is Python, the dispatcher, autograd and,
on a GPU, kernel launches: the least an eager step can take at any size on this host. A frame of the
default style is 4 octaves x 10 steps when fresh and ``warm_octaves`` x ``warm_iterations`` when carried
along the flow, so the floor caps the frame rate of an eager engine whatever the device's speed; CUDA
graphs (``compile: true`` on CUDA) replay a whole step with one launch and lower it. Times the engine's
step (``dreamvideo.engine.ascent_step``, as shipped) and the peers' loop (the whole network, hooks
registered per step; ``speed.peers_frame``), median of ``--steps`` after five warm-up steps.
"""

from __future__ import annotations

import argparse

import torch

from common import timed
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.engine import DreamParams, ascent_step
from dreamvideo.features import get_model
from dreamvideo.transforms import jitter
from speed import peers_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    style = load_style(None, [], {"device": args.device})
    ours = Dreamer(style)
    device, params = ours.device, ours.params
    plain = get_model(style.model, None, device, fold=False)  # the network as the peers' tools run it
    layers = sorted(ours.objective.layers)
    generator = torch.Generator().manual_seed(0)
    step = DreamParams(**{**params.__dict__, "jitter": 4})
    peers_params = DreamParams(octaves=1, iterations=1, jitter=4, step_size=params.step_size)
    fresh = params.octaves * params.iterations
    warm = (style.warm_octaves or params.octaves) * (style.warm_iterations or params.iterations)
    print(f"{device}, {params.precision}, torch {torch.__version__}; a fresh frame is {fresh} steps, a carried one "
          f"{warm}")
    print("\n| size | ours ms/step | peers' loop ms/step | fresh frame floor | carried frame floor |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
        mine = 1000 * timed(lambda: ascent_step(image, ours.model, ours.objective, step, jitter(4), generator),
                            device, args.steps, warmup=5)[0]
        theirs = 1000 * timed(lambda: peers_frame(plain, layers, image, peers_params, generator), device, args.steps,
                              warmup=5)[0]
        print(f"| {size}x{size} | {mine:.2f} | {theirs:.2f} | {fresh * mine:.0f} ms ({1000 / (fresh * mine):.1f} fps) "
              f"| {warm * mine:.0f} ms ({1000 / (warm * mine):.1f} fps) |", flush=True)


if __name__ == "__main__":
    main()
