"""Coherence benchmark: how much a dreamed video flickers, measured against references.

    python benchmarks/coherence.py                      # default style on the standard synthetic clip
    python benchmarks/coherence.py --set blend=0.9 --frames 60
    python benchmarks/coherence.py --video real.mp4     # a real clip: E(O)/E(P) with estimated flow

The synthetic clip is a camera path (pan, zoom, rotation) over scikit-image's astronaut with a textured
disc moving on its own, so the exact backward flow and validity mask of every frame are known.

Warp error E(X) (Lai et al. 2018): mean over frames of the masked mean squared difference between X_t and
X_{t-1} warped by the exact flow, RGB in [0, 1]. Measured for the source I, independent per-frame
dreaming P (blend 0), a scene-locked oracle (the photo and the disc dreamed once and moved along the same
paths) and the pipeline O (the same code `dreamvideo render` runs).
    TII   = (E(O) - E(oracle)) / (E(P) - E(oracle))   0 = as stable as the oracle, 1 = as flickery as P
    S     = RMS(O - I) / RMS(P - I)                     dream strength relative to independent dreaming
    drift = S over the last frames / S over the first frames
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.flow import estimator, reliable, to_gray, warp
from synthetic import demo_clip, render
from dreamvideo.video.render import Carry, dream_frames


def warp_error(frames, flows, valid) -> float:
    errs = []
    for t in range(1, len(frames)):
        a, b = frames[t - 1].astype(np.float32) / 255, frames[t].astype(np.float32) / 255
        diff = (warp(a, flows[t]) - b)[valid[t]]
        errs.append(float((diff**2).mean()))
    return float(np.mean(errs))


def rms(a, b) -> float:
    return float(np.sqrt(np.mean([((x.astype(np.float32) - y.astype(np.float32)) / 255) ** 2 for x, y in zip(a, b)])))


def estimated_motion(frames):
    flow = estimator("dis", (frames[0].shape[1], frames[0].shape[0]))
    flows, valid = [None], [None]
    for t in range(1, len(frames)):
        g0, g1 = to_gray(frames[t - 1]), to_gray(frames[t])
        b, f = flow(g1, g0), flow(g0, g1)
        flows.append(b)
        valid.append(reliable(b, f))
    return flows, valid


def run(style_name, sets, frames_n, size, video=None) -> dict:
    style = load_style(style_name, sets)
    dreamer = Dreamer(style)
    independent = replace(Carry.of(style), blend=0.0)
    if video:
        from dreamvideo.images import fit_size
        from dreamvideo.video.io import probe, read_frames

        info = probe(video)
        source = list(read_frames(video, fit_size(info.width, info.height, max_side=size[0], multiple=2), info.fps,
                                  max_frames=frames_n))
        flows, valid = estimated_motion(source)
        oracle = None
    else:
        clip = demo_clip(size, frames_n)
        source, flows, valid = clip.frames, clip.flows, clip.valid
        t0 = time.perf_counter()
        photo = dreamer.dream_array(clip.photo, seed=style.seed)
        patch = dreamer.dream_array(clip.patch, seed=style.seed + 1)
        oracle = render(photo, clip.cameras, size, patch, clip.objects).frames
    t0 = time.perf_counter()
    p = list(dream_frames(iter(source), dreamer, independent))
    tp = time.perf_counter() - t0
    t0 = time.perf_counter()
    o = list(dream_frames(iter(source), dreamer))
    to = time.perf_counter() - t0
    e = {"source": warp_error(source, flows, valid), "P": warp_error(p, flows, valid), "O": warp_error(o, flows, valid)}
    k = max(4, len(source) // 6)
    strength = lambda a, b: rms(a, source[b]) / rms(p[b], source[b])
    result = {
        "clip": str(video) if video else f"synthetic {size[0]}x{size[1]}, {frames_n} frames",
        "style": style_name or "default", "sets": sets, "E": e,
        "S": rms(o, source) / rms(p, source),
        "drift": strength(o[-k:], slice(-k, None)) / strength(o[:k], slice(0, k)),
        "E(O)/E(P)": e["O"] / e["P"],
        "seconds_P": round(tp, 1), "seconds_O": round(to, 1),
    }
    if oracle is not None:
        e["oracle"] = warp_error(oracle, flows, valid)
        result["TII"] = (e["O"] - e["oracle"]) / (e["P"] - e["oracle"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 192))
    parser.add_argument("--video", type=Path, default=None, help="a real clip instead of the synthetic one")
    parser.add_argument("--save", type=Path, default=None, help="write the dreamed frames of O here (a PNG strip)")
    args = parser.parse_args()
    r = run(args.style, args.sets, args.frames, tuple(args.size), args.video)
    print(json.dumps(r, indent=2))
    ok = []
    if "TII" in r:
        ok.append(("TII <= 0.15", r["TII"] <= 0.15))
        ok.append(("0.8 <= S <= 1.3", 0.8 <= r["S"] <= 1.3))
        ok.append(("0.8 <= drift <= 1.25", 0.8 <= r["drift"] <= 1.25))
    else:
        ok.append(("E(O)/E(P) <= 0.15", r["E(O)/E(P)"] <= 0.15))
    for name, passed in ok:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")


if __name__ == "__main__":
    sys.exit(main())
