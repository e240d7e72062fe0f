"""A long video split at its scene cuts into segments rendered in parallel (on this machine or a Ray
cluster). The coherence chain restarts at every cut anyway, so the result equals the sequential render."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from dreamvideo.cluster import check_executor
from dreamvideo.coherence import motions
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.media.ffmpeg import VideoInfo, probe, read_frames
from dreamvideo.video.output import (
    VideoResult,
    check_video_output,
    discard,
    part_path,
    publish,
    style_metadata,
    video_writer,
)
from dreamvideo.video.render import RenderOptions, geometry, render_segment, soundtrack


def find_cuts(source: Path, style: Style, options: RenderOptions,
              info: VideoInfo | None = None) -> tuple[list[int], int, tuple[int, int]]:
    """The frames where a new shot starts (as the render would see them), the frame count, and the size."""
    fps, size = geometry(info or probe(source), style)
    reader = read_frames(source, size, fps, options.start, options.duration, options.max_frames)
    cuts, count = [], 0
    with closing(reader):
        for index, (_, motion) in enumerate(motions(reader, size, flow=style.flow, scene_cut=style.scene_cut)):
            if motion.cut and index > 0:
                cuts.append(index)
            count = index + 1
    return cuts, count, size


def render_split(source: str | Path, output: str | Path, style: Style, options: RenderOptions = RenderOptions(),
                 executor: str = "local", address: str | None = None,
                 log: Callable[[str], None] = lambda message: None) -> VideoResult:
    """Render ``source`` as independent segments between scene cuts (``executor``: local or ray),
    then join them with the sound."""
    began = time.perf_counter()
    check_executor(executor)
    source, output = Path(source).resolve(), Path(output).resolve()  # the segments may render on other nodes
    check_video_output(output, inputs=(source,))
    info = probe(source)
    fps, _ = geometry(info, style)
    cuts, count, size = find_cuts(source, style, options, info)
    bounds = [0, *cuts, count]
    segments = list(zip(bounds, bounds[1:]))
    log(f"{len(cuts)} scene cut(s): {len(segments)} segment(s) to render with the {executor} executor")
    folder = output.parent / f".{output.name}.segments"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"segment_{a:08d}_{b:08d}.mkv" for a, b in segments]
    todo = [(str(p), seg) for p, seg in zip(paths, segments) if not p.exists()]
    options = replace(options, restart=False)  # a segment's own resume state is always worth keeping
    if executor == "ray":
        from dreamvideo.cluster import ray_tasks

        with ray_tasks(address) as submit:
            import ray

            ray.get([submit(render_segment, str(source), path, style, seg, options) for path, seg in todo])
    else:
        dreamer = Dreamer(style)
        for target, seg in todo:
            render_segment(source, target, style, seg, options, dreamer=dreamer)
    sound = soundtrack(source, info, options)
    part = part_path(folder, output)
    frames = 0
    try:
        with video_writer(output, part, size, fps, style.output, sound, count / float(fps),
                          style_metadata(style)) as writer:
            for path in paths:
                with closing(read_frames(path, size)) as reader:
                    for frame in reader:
                        writer.write(frame)
                        frames += 1
    except BaseException:
        discard(part, output)  # the finished segments stay: running again only joins them
        raise
    publish(part, output)
    for path in paths:
        path.unlink()
    try:
        folder.rmdir()
    except OSError:
        pass
    return VideoResult(output, frames, 0, fps, size, time.perf_counter() - began)
