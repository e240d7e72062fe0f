"""Audio-reactive benchmark: does the dream's strength follow the music feature it is mapped to?

    python benchmarks/react.py                                        # loudness -> step_size, render
    python benchmarks/react.py --source beat --target step_size
    python benchmarks/react.py --source beat --target iterations --min 1 --max 8

Renders `samples/clip.mp4` with a generated track of clear beats (a kick every beat at 120 bpm over a
pad that swells and fades: `beat_track` in tests/media.py) passed as --audio, with a react mapping.
Per-frame strength = RMS(dreamed - source) of the decoded output; reported: Pearson correlation with the
feature (as the pipeline computed it from the audio), and with the feature one frame earlier (a carried
dream answers with a frame of delay).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.config import load_style
from dreamvideo.react import cues_of
from media import beat_track
from dreamvideo.media.ffmpeg import probe, read_frames
from dreamvideo.video.render import RenderOptions, render_video

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=ROOT / "samples" / "clip.mp4")
    parser.add_argument("--source", default="loudness", choices=["loudness", "onset", "beat"])
    parser.add_argument("--target", default="step_size")
    parser.add_argument("--min", type=float, default=0.001)
    parser.add_argument("--max", type=float, default=0.03)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    react = f"react={{{args.target}: {{source: {args.source}, min: {args.min}, max: {args.max}}}}}"
    style = load_style(None, [react, *args.sets])
    info = probe(args.video)
    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "beats.wav"
        beat_track(track, seconds=info.frames / float(info.fps))
        out = Path(tmp) / "out.mp4"
        result = render_video(args.video, out, style, RenderOptions(audio=track))
        dreamed = [f.astype(np.float32) for f in read_frames(out, result.size)]
        source = [f.astype(np.float32) for f in read_frames(args.video, result.size, result.fps)]
        feature = cues_of(track, float(result.fps), result.frames, 0.0, style.react_attack,
                               style.react_release).get(args.source)
    strength = np.array([np.sqrt(((d - s) ** 2).mean()) for d, s in zip(dreamed, source)])
    n = min(len(strength), len(feature))
    strength, feature = strength[1:n], feature[1:n]  # frame 0 is dreamed fresh, at full strength
    print(json.dumps({
        "video": str(args.video), "frames": result.frames, "mapping": f"{args.source} -> {args.target} "
        f"[{args.min}, {args.max}]", "sets": args.sets,
        "correlation": round(float(np.corrcoef(strength, feature)[0, 1]), 3),
        "correlation_lag1": round(float(np.corrcoef(strength[1:], feature[:-1])[0, 1]), 3),
        "strength_min_max": [round(float(strength.min()), 2), round(float(strength.max()), 2)],
    }, indent=2))


if __name__ == "__main__":
    main()
