"""Start-up benchmark: how long a fresh process takes to give a first result, over `import torch`.

    python benchmarks/startup.py                 # 7 rounds, a 480x270 photo (scikit-image's astronaut)
    python benchmarks/startup.py --rounds 11 --importtime

Each stage is a new Python process, run in rounds that alternate it with the floor, `python -c "import
torch"`, so that the machine's drift hits both alike; the median of each is reported, with the stage's
time over the floor and its ratio to it.

    import       python -c "import dreamvideo.cli, dreamvideo.dreamer"   (what `dream` imports)
    build        the default model built, weights loaded and folded, in a fresh process
    first step   dreamvideo dream PHOTO --octaves 1 --iterations 1       (the start-up a user waits for)
    dream        dreamvideo dream PHOTO                                   (the default style, 4 x 10 steps)

`--importtime` adds the ten slowest imports of the first-step command (`python -X importtime`, cumulative,
dreamvideo's own imports and their first level below).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "import torch"


def stages(photo: Path, out: Path) -> dict[str, list[str]]:
    py, cli = [sys.executable, "-c"], [sys.executable, "-m", "dreamvideo"]
    return {
        "floor (import torch)": py + [FLOOR],
        "import": py + ["import dreamvideo.cli, dreamvideo.dreamer"],
        "build": py + ["from dreamvideo.features import get_model; get_model('efficientnet_lite0')"],
        "first step": cli + ["dream", str(photo), "-o", str(out), "-q", "--octaves", "1", "--iterations", "1"],
        "dream": cli + ["dream", str(photo), "-o", str(out), "-q"],
    }


def seconds(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - began


def importtime(cmd: list[str], top: int = 10) -> list[tuple[str, float]]:
    """The slowest imports of ``cmd`` (cumulative seconds), dreamvideo's own and the modules they import."""
    log = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True).stderr
    rows, parents = [], []
    for line in log.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        depth, name = len(m.group(2)) // 2, m.group(3)
        rows.append((depth, name, int(m.group(1)) / 1e6))
    # importtime prints children before their parent: a module's parent is the next row one level up
    keep = []
    for i, (depth, name, secs) in enumerate(rows):
        parent = next((n for d, n, _ in rows[i + 1:] if d < depth), None)
        if depth == 0 or (parent or "").startswith("dreamvideo"):
            keep.append((name if depth == 0 else f"{parent} > {name}", secs))
    parents.extend(keep)
    return sorted(parents, key=lambda r: -r[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import numpy as np
    import skimage.data
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        Image.fromarray(np.asarray(skimage.data.astronaut())).resize((480, 270), Image.LANCZOS).save(photo)
        cmds = stages(photo, Path(tmp) / "out.png")
        for cmd in cmds.values():  # warm the file cache
            seconds(cmd)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        floor = "floor (import torch)"
        for _ in range(args.rounds):
            for name, cmd in cmds.items():
                if name != floor:  # every stage right after a floor of its own
                    times[floor].append(seconds(cmds[floor]))
                    times[name].append(seconds(cmd))
        medians = {name: statistics.median(t) for name, t in times.items()}
        rows = {name: {"seconds": round(m, 3), "over_floor": round(m - medians[floor], 3),
                       "x_floor": round(m / medians[floor], 2)} for name, m in medians.items()}
        print(f"{'stage':22} {'median s':>9} {'over floor':>11} {'x floor':>8}")
        for name, row in rows.items():
            print(f"{name:22} {row['seconds']:9.3f} {row['over_floor']:11.3f} {row['x_floor']:8.2f}")
        result = {"rounds": args.rounds, "stages": rows}
        if args.importtime:
            top = importtime(cmds["first step"])
            print("\nslowest imports of the first-step command (cumulative):")
            for name, secs in top:
                print(f"  {secs:7.3f} s  {name}")
            result["importtime"] = top
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
