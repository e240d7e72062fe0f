"""Where the pieces of a split render join: does the result jump?

A long take rendered as pieces (``render --split --max-segment``) starts each piece's coherence chain a
pre-roll before its first kept frame. This renders a real clip whole and in pieces for several pre-rolls and
reports, for every seam, the warp error of the pair across it (the previous frame moved along the source's
own motion onto the next, measured with Farneback independently of the render's flow) over the median of
the render's other consecutive pairs. The target: every seam at most 1.5.

    python benchmarks/seams.py --clip bikes --frames 96 --max-segment 1 --pre-roll 0 0.5 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import load_style
from dreamvideo.media.ffmpeg import probe, read_frames
from dreamvideo.video.render import RenderOptions, geometry, render_video
from dreamvideo.video.split import find_cuts, pieces, render_split
from media import pair_errors, real_clip, seam_ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="bikes", help="bikes, bigbuckbunny, carphone_pristine or a file")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--max-side", type=int, default=192)
    parser.add_argument("--style", default=None, help="a preset or a style file (default: the default style)")
    parser.add_argument("--set", action="append", default=[], help="style keys, as on the command line")
    parser.add_argument("--max-segment", type=float, default=1.0, help="seconds (short, to make many seams)")
    parser.add_argument("--pre-roll", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--crossfade", type=float, nargs="+", default=[0.5], help="shares of the pre-roll")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here too")
    args = parser.parse_args()

    clip = Path(args.clip) if Path(args.clip).is_file() else real_clip(args.clip)
    style = load_style(args.style, [f"output.max_side={args.max_side}", *args.set])
    options = RenderOptions(max_frames=args.frames)
    info = probe(clip)
    fps, size = geometry(info, style)
    source = list(read_frames(clip, size, fps, max_frames=args.frames))
    cuts, count, _ = find_cuts(clip, style, options, info)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        render_video(clip, Path(folder) / "whole.mp4", style, options)
        whole_seconds = time.perf_counter() - began
        whole = pair_errors(source, list(read_frames(Path(folder) / "whole.mp4", size)))
        for pre, fade in [(p, f) for p in args.pre_roll for f in args.crossfade]:
            plan = pieces(cuts, count, float(fps), args.max_segment, pre, fade)
            seams = [p.start for p in plan if p.start and p.start not in cuts]  # the pairs (start - 1, start)
            faded = [t for p in plan if p.start and p.start not in cuts for t in range(p.start - p.overlap, p.start)]
            began = time.perf_counter()
            out = Path(folder) / f"split_{pre:g}_{fade:g}.mp4"
            render_split(clip, out, style, options, max_segment=args.max_segment, pre_roll=pre, crossfade=fade)
            seconds = time.perf_counter() - began
            errors = pair_errors(source, list(read_frames(out, size)))
            ratios = seam_ratios(errors, seams, faded)
            fades = seam_ratios(errors, faded, seams) if faded else [0.0]
            rows.append({"clip": clip.stem, "size": f"{size[0]}x{size[1]}", "frames": count, "cuts": len(cuts),
                         "pieces": len(plan), "seams": len(seams), "pre_roll_s": pre, "crossfade": fade,
                         "seam_worst": round(max(ratios), 2), "seam_median": round(float(np.median(ratios)), 2),
                         "seam_over_whole": round(max(e / w for t in seams if (e := errors[t]) is not None
                                                      and (w := whole[t]) is not None), 2),
                         "fade_worst": round(max(fades), 2),
                         "whole_at_seams": round(max(seam_ratios(whole, seams, faded)), 2),
                         "whole_at_fades": round(max(seam_ratios(whole, faded, seams)), 2) if faded else 0.0,
                         "split_s": round(seconds, 1), "whole_s": round(whole_seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| clip | size | frames | pieces | seams | pre-roll | cross-faded | worst seam | median seam | worst seam / whole render's pair | worst in a cross-fade | "
          "whole render at the seams | at the cross-fades | split s | whole s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['size']} | {r['frames']} | {r['pieces']} | {r['seams']} | {r['pre_roll_s']:g} s | {r['crossfade']:g} | "
              f"{r['seam_worst']} | {r['seam_median']} | {r['seam_over_whole']} | {r['fade_worst']} | {r['whole_at_seams']} | {r['whole_at_fades']} | {r['split_s']} | {r['whole_s']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
