"""Zoom benchmark: is the zoom the frames show the one asked for, are there pops, do colours drift?

    python benchmarks/zoom.py                          # zoom-dive preset, 240 frames at 256x256
    python benchmarks/zoom.py --set zoom.color_hold=0  # without the colour hold, for comparison
    python benchmarks/zoom.py --life --seconds 120 --max-side 320 --image samples/rocket.jpg
                                                       # a long dive's life: structure, novelty, colour
    python benchmarks/zoom.py --life --drums 120 --set "react={zoom.scale: {source: beat, pulse: 1.15}}"
                                                       # ... pulsed on the beats of a drum loop as long

Renders an MP4 with `zoom_video` (the code `dreamvideo zoom` runs) and decodes it. For each pair of
consecutive frames the similarity (scale, rotation) is measured by direct intensity alignment (ECC); the
zoom error is log(measured scale) / log(requested scale) - 1 (0 = exact), the median over all pairs.
`--set zoom.cadence=100000` gives frames that are only moved, never dreamed after the first: what the
measurement itself reads on pure motion. "Pops" are
the largest mean absolute change between consecutive frames, over the median change. Colour: LAB mean
and spread of every frame against the first.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import load_style
from media import similarity
from dreamvideo.media.ffmpeg import read_frames
from dreamvideo.video.zoom import ZoomOptions, lab_stats, zoom_video

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--style", default="zoom-dive")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--image", type=Path, default=ROOT / "samples" / "astronaut.jpg")
    parser.add_argument("--max-side", type=int, default=256)
    parser.add_argument("--life", action="store_true", help="measure a long dive's life (dreamvideo.video.life)")
    parser.add_argument("--seconds", type=float, default=300.0, help="with --life: the dive's length")
    parser.add_argument("--sheet", type=Path, help="with --life: a contact sheet, a frame every --every seconds (PNG)")
    parser.add_argument("--audio", type=Path, help="with --life: the song the dive reacts to")
    parser.add_argument("--drums", type=float, help="with --life: a drum loop at this BPM, as long as the dive, "
                                                    "as the song")
    parser.add_argument("--every", type=float, default=60.0, help="with --sheet: seconds between its frames")
    args = parser.parse_args()
    if args.drums and args.audio:
        parser.error("give --audio or --drums, not both")
    style = load_style(args.style, [f"output.max_side={args.max_side}", *args.sets])
    if args.life:
        life(style, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "zoom.mp4"
        result = zoom_video(args.image, out, style, ZoomOptions(frames=args.frames))
        frames = list(read_frames(out, result.size))
    fps = float(result.fps)
    requested = [style.zoom.scale.at(t / fps) ** (1 / fps) for t in range(len(frames) - 1)]
    measured = [similarity(a, b)[0] for a, b in zip(frames, frames[1:])]
    ratio = [math.log(m) / math.log(r) for m, r in zip(measured, requested) if abs(math.log(r)) > 1e-6]
    changes = [float(np.abs(b.astype(np.float32) - a).mean()) for a, b in zip(frames, frames[1:])]
    stats = [lab_stats(f) for f in frames]
    mean0, std0 = stats[0]
    means = np.array([m for m, _ in stats])
    spreads = np.array([s / std0 for _, s in stats])
    report = {
        "style": args.style, "sets": args.sets, "frames": len(frames), "size": f"{result.size[0]}x{result.size[1]}",
        "seconds": round(result.seconds, 1),
        "zoom_error_median": round(float(np.median(ratio)) - 1, 4),
        "zoom_error_p10_p90": [round(float(np.percentile(ratio, 10)) - 1, 4), round(float(np.percentile(ratio, 90)) - 1, 4)],
        "pop_ratio": round(max(changes) / float(np.median(changes)), 2),
        "change_median": round(float(np.median(changes)), 2), "change_max": round(max(changes), 2),
        "lab_mean_max_drift": [round(float(v), 2) for v in np.abs(means - mean0).max(0)],
        "lab_mean_end_drift": [round(float(v), 2) for v in (means[-1] - mean0)],
        "spread_ratio_min_max": [round(float(spreads.min()), 3), round(float(spreads.max()), 3)],
    }
    print(json.dumps(report, indent=2))


def life(style, args) -> None:
    """Zoom ``args.seconds`` from the image and print its life per 10 s window (``assess``), as a table and as
    JSON; ``--sheet`` keeps a frame every ``--every`` seconds (and the last) side by side."""
    import time

    from PIL import Image

    from dreamvideo.react import Reaction, on_the_song, style_cues
    from dreamvideo.video.life import assess, zoom_motion
    from dreamvideo.video.zoom import step_motion

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out, audio = Path(tmp) / "zoom.mp4", args.audio
        if args.drums:
            from music import Loop, drum_loop, write_wav

            audio = Path(tmp) / "drums.wav"
            bars = math.ceil(args.seconds * args.drums / 240) + 1
            write_wav(audio, drum_loop(Loop("drums", args.drums, bars=bars)).samples)
        result = zoom_video(args.image, out, style, ZoomOptions(seconds=args.seconds, audio=audio))
        fps = float(result.fps)
        total = result.frames
        cues = style_cues(style, audio, fps, total) if audio is not None else None
        timed = on_the_song(style, audio)  # schedules keyed in bars, in seconds, as the zoom has them
        steps = [step_motion(timed, i / fps, fps, result.size, Reaction(timed.react, cues, i, timed.schedule, i / fps))
                 for i in range(total)]  # as the zoom moved, pulses and all
        every = max(1, round(args.every * fps))
        shots: list[np.ndarray] = []

        def frames():
            for i, frame in enumerate(read_frames(out, result.size)):
                if i % every == 0 or i == total - 1:
                    shots.append(frame)
                yield frame

        found = assess(frames(), fps, zoom_motion(steps))
    cost = keeper_cost(shots[-1], fps)
    song = f" on drums at {args.drums:g} BPM" if args.drums else f" on {args.audio.name}" if args.audio else ""
    print(f"{args.style} {' '.join(args.sets)}{song} from {args.image.name}, {total} frames at {result.size[0]}x"
          f"{result.size[1]}, {time.perf_counter() - began:.0f} s; opening structure {found.opening[0]:.1f}, "
          f"novelty {found.opening[1]:.1f}; alive: {found.alive} (first failing window: {found.collapse})")
    print(f"the keeper's work (zoom.life): {cost * 1000:.1f} ms a frame, {cost / (result.seconds / total):.1%} of a "
          f"frame's {result.seconds / total * 1000:.0f} ms here")
    print("| from (s) | structure | / opening | novelty | / opening | colour drift (ΔE) |")
    print("|---|---|---|---|---|---|")
    for w in found.windows:
        print(f"| {w.start:.0f} | {w.structure:.1f} | {w.structure / found.opening[0]:.2f} | {w.novelty:.1f} | "
              f"{w.novelty / found.opening[1]:.2f} | {w.drift:.1f} |" + ("" if w.alive else " collapsed"))
    if args.sheet:
        Image.fromarray(np.concatenate(shots, axis=1)).save(args.sheet)
        print(f"wrote {args.sheet} ({len(shots)} frames: one every {args.every:g} s, and the last)")
    print(json.dumps({"style": args.style, "sets": args.sets, "image": args.image.name, "alive": found.alive,
                      "collapse": found.collapse, "opening": found.opening, "seconds": round(result.seconds, 1),
                      "keeper_ms": round(cost * 1000, 2),
                      "windows": [[w.start, round(w.structure, 2), round(w.novelty, 2), round(w.drift, 2)]
                                  for w in found.windows]}))


def keeper_cost(frame: np.ndarray, fps: float, repeats: int = 200) -> float:
    """Seconds a frame the keeper adds at its busiest (lifting every frame): seeing a frame and lifting one."""
    import time

    from dreamvideo.video.life import OPENING, Keeper

    keeper = Keeper(hold=2.0, strength=1.0, fps=fps)
    for _ in range(round(OPENING * fps)):
        keeper.see(frame)
    began = time.perf_counter()
    for _ in range(repeats):
        keeper.see(keeper.lift(frame))
    return (time.perf_counter() - began) / repeats


if __name__ == "__main__":
    main()
