"""Beat tracking benchmark: dreamvideo's tracker (NumPy) against librosa's on drum loops with known beats.

    python benchmarks/audio.py                 # librosa's columns where librosa is importable
    python benchmarks/audio.py --json out.json

The loops (tests/music.py) are the tracker's targets: 80-180 BPM, swing, syncopation, an intro, tempo ramps,
a waltz. "tuned" is the kit the tracker was developed on, "held out" the other kit with another seed, and
"humanised" the held-out kit with every hit off the grid by 15 ms (a standard deviation). Reported per loop:
tempo (BPM, as (beats - 1) / their span), beat F-measure (+-70 ms), downbeat F-measure, and the causal
tracker's beat F after its warm-up; then each one's first call in a fresh process (import and
compilation), install size and speed. librosa is a
reference here only: dreamvideo never imports it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from dreamvideo.beats import RATE, WARM, CausalBeats, track
from music import LOOPS, drum_loop, f_measure, held_out


def librosa_track(samples: np.ndarray) -> tuple[float, np.ndarray] | None:
    try:
        import librosa
    except ImportError:
        return None
    _, frames = librosa.beat.beat_track(y=samples, sr=RATE)
    beats = librosa.frames_to_time(frames, sr=RATE)
    tempo = 60 * (len(beats) - 1) / (beats[-1] - beats[0]) if len(beats) > 1 else 0.0
    return float(tempo), beats


def causal_f(samples: np.ndarray, truth: np.ndarray) -> float:
    tracker, found = CausalBeats(), []
    for a in range(0, len(samples), RATE // 25):
        found += [t for t, _ in tracker.feed(samples[a : a + RATE // 25])]
    times = np.array(found)
    settled = truth[truth > WARM + 1]
    return f_measure(times[(times > WARM + 1 - 0.07) & (times < truth[-1] + 0.07)], settled)


def installed_size(distribution: str, seen: set[str] | None = None) -> int:
    """Bytes on disk of a distribution and everything it requires (each once)."""
    seen = set() if seen is None else seen
    key = distribution.lower().replace("_", "-")
    if key in seen:
        return 0
    seen.add(key)
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return 0
    size = sum((dist.locate_file(f).stat().st_size for f in dist.files or [] if dist.locate_file(f).exists()), 0)
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue
        name = requirement.split(";")[0].split("[")[0]
        for stop in "<>=!~ (":
            name = name.split(stop)[0]
        size += installed_size(name.strip(), seen)
    return size


FIRST_CALL = {  # import, then track five seconds of silence: what a fresh process pays before its first beat
    "dreamvideo": "import numpy as np; from dreamvideo.beats import track; track(np.zeros(110250, np.float32))",
    "librosa": "import numpy as np, librosa; librosa.beat.beat_track(y=np.zeros(110250, np.float32), sr=22050)",
}


def first_call_seconds(name: str) -> float:
    code = f"import time; t = time.perf_counter(); {FIRST_CALL[name]}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                  .stdout.split()[-1]) for _ in range(3)]
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sets = {"tuned": list(LOOPS), "held out": [held_out(loop) for loop in LOOPS],
            "humanised": [replace(held_out(loop), humanise=0.015) for loop in LOOPS]}
    rows, ours_time, theirs_time, audio_seconds = [], 0.0, 0.0, 0.0
    for name, loops in sets.items():
        print(f"\n{name}\n{'loop':22s} {'true':>6s} | {'ours':>6s} {'F':>5s} {'bars F':>6s} {'live F':>6s} | "
              f"{'librosa':>7s} {'F':>5s}")
        for loop in loops:
            song = drum_loop(loop)
            began = time.perf_counter()
            grid = track(song.samples)
            ours_time += time.perf_counter() - began
            audio_seconds += song.seconds
            began = time.perf_counter()
            theirs = librosa_track(song.samples)
            theirs_time += time.perf_counter() - began
            row = {"set": name, "loop": loop.name, "true_tempo": round(song.tempo, 2), "tempo": round(grid.tempo, 2),
                   "f": round(f_measure(grid.beats, song.beats), 3),
                   "downbeat_f": round(f_measure(grid.downbeats, song.downbeats), 3),
                   "meter": grid.meter, "live_f": round(causal_f(song.samples, song.beats), 3)}
            if theirs is not None:
                row |= {"librosa_tempo": round(theirs[0], 2), "librosa_f": round(f_measure(theirs[1], song.beats), 3)}
            rows.append(row)
            print(f"{loop.name:22s} {song.tempo:6.1f} | {grid.tempo:6.1f} {row['f']:5.2f} {row['downbeat_f']:6.2f} "
                  f"{row['live_f']:6.2f} | " + (f"{row['librosa_tempo']:7.1f} {row['librosa_f']:5.2f}"
                                                if theirs is not None else "      -     -"))
    ours = rows
    summary = {
        "min_f": min(r["f"] for r in ours), "max_tempo_error": max(abs(r["tempo"] / r["true_tempo"] - 1) for r in ours),
        "min_live_f": min(r["live_f"] for r in ours), "mean_downbeat_f": float(np.mean([r["downbeat_f"] for r in ours])),
        "ours_seconds_per_audio_minute": round(60 * ours_time / audio_seconds, 3),
        "ours_first_call_s": round(first_call_seconds("dreamvideo"), 3),
        "ours_source_bytes": Path(sys.modules["dreamvideo.beats"].__file__ or "").stat().st_size,
    }
    if "librosa_f" in rows[0]:
        seen: set[str] = set()
        installed_size("dreamvideo", seen)  # what dreamvideo installs anyway
        summary |= {"librosa_min_f": min(r["librosa_f"] for r in rows),
                    "librosa_seconds_per_audio_minute": round(60 * theirs_time / audio_seconds, 3),
                    "librosa_first_call_s": round(first_call_seconds("librosa"), 3),
                    "librosa_installed_mb_beyond_dreamvideos_own": round(
                        installed_size("librosa", seen) / 2**20, 1)}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
