"""A long video split into pieces rendered in parallel (on this machine or a Ray cluster): at its scene
cuts, where the coherence chain restarts anyway, and inside any shot longer than ``max_segment`` seconds,
where each piece's chain starts a pre-roll earlier so that it has settled by the piece's first kept frame.
On a cluster the pieces need no file of this machine's but through Ray, and come back to be joined here."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.cluster import CPUS_PER_TASK, check_executor, retried
from dreamvideo.coherence import motions
from dreamvideo.config import Style
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError, DreamVideoError, MediaError
from dreamvideo.media.ffmpeg import VideoInfo, probe, read_frames
from dreamvideo.travel import Destination, Parcel, Returned, deliver, destination, opened, returned
from dreamvideo.video import CROSSFADE, MAX_SEGMENT, PRE_ROLL
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
from dreamvideo.video.state import resume_key


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


@dataclass(frozen=True)
class Piece:
    start: int  # its first frame of its own
    stop: int  # one past its last
    preroll: int = 0  # frames dreamed before ``start`` (0 at a shot's start) ...
    overlap: int = 0  # ... the last of which are kept, to cross-fade from the piece before

    @property
    def name(self) -> str:
        return f"segment_{self.start:08d}_{self.stop:08d}.mkv"

    @property
    def frames(self) -> tuple[int, int]:
        """The frames its file holds: the overlap, then its own."""
        return self.start - self.overlap, self.stop


def pieces(cuts: list[int], count: int, fps: float, max_segment: float = MAX_SEGMENT,
           pre_roll: float = PRE_ROLL, crossfade: float = CROSSFADE) -> list[Piece]:
    """The pieces of a render of ``count`` frames with shots starting at ``cuts``: each shot in as few
    pieces of equal length as keep each within ``max_segment`` seconds. A piece inside a shot starts its
    chain ``pre_roll`` seconds early (within the shot): the first part lets the chain settle and is dropped,
    the last (``crossfade`` of it) is cross-faded with the end of the piece before, so the join does not jump."""
    if max_segment <= 0 or pre_roll < 0:
        raise ConfigError(f"--max-segment {max_segment:g} / --pre-roll {pre_roll:g}: give a length over 0 s and "
                          "a pre-roll of 0 s or more")
    longest, warm = max(1, round(max_segment * fps)), round(pre_roll * fps)
    out = []
    bounds = [0, *cuts, count]
    for a, b in zip(bounds, bounds[1:]):
        n = math.ceil((b - a) / longest)
        edges = [a + round(k * (b - a) / n) for k in range(n + 1)]
        for before, s, e in zip([a, *edges], edges, edges[1:]):
            early = min(warm, s - a)
            out.append(Piece(s, e, early, min(round(early * crossfade), s - before)))
    return out


def render_piece(source: str, style: Style, piece: Piece, options: RenderOptions, parcel: Parcel,
                 dest: Destination, *, progress: Callable[[int, int], None]) -> Returned:
    """A piece on a Ray worker: the source (and the style's files) unpacked here or found where they are,
    the piece sent back."""
    with opened(parcel) as here:
        options = replace(options, audio=here.path(options.audio))
        style, clip = here.style(style), here.file(source)
        return returned(dest, lambda path: render_segment(
            clip, path, style, piece.frames, options, preroll=piece.preroll - piece.overlap, progress=progress),
            here.folder)


def render_split(source: str | Path, output: str | Path, style: Style, options: RenderOptions = RenderOptions(),
                 executor: str = "local", address: str | None = None,
                 log: Callable[[str], None] = lambda message: None, *, max_segment: float = MAX_SEGMENT,
                 pre_roll: float = PRE_ROLL, crossfade: float = CROSSFADE, cpus: int = CPUS_PER_TASK,
                 progress: Callable[..., None] | None = None) -> VideoResult:
    """Render ``source`` as pieces (``executor``: local or ray), then join them with the sound. Finished
    pieces are kept until the join, so running again renders only the missing ones."""
    began = time.perf_counter()
    check_executor(executor)
    source, output = Path(source).resolve(), Path(output).resolve()
    check_video_output(output, inputs=(source,))
    info = probe(source)
    fps, _ = geometry(info, style)
    cuts, count, size = find_cuts(source, style, options, info)
    plan = pieces(cuts, count, float(fps), max_segment, pre_roll, crossfade)
    log(f"{len(cuts)} scene cut(s), {len(plan)} piece(s) to render with the {executor} executor")
    folder = output.parent / f".{output.name}.segments"
    key = resume_key(style=style.model_dump(mode="json"), source=[str(source), source.stat().st_size,
                     source.stat().st_mtime_ns], options=repr(replace(options, restart=False)), plan=repr(plan))
    if options.restart or not (folder / "key").is_file() or (folder / "key").read_text() != key:
        shutil.rmtree(folder, ignore_errors=True)  # pieces of other work than this
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key").write_text(key)
    paths = [folder / piece.name for piece in plan]
    todo = [(path, piece) for path, piece in zip(paths, plan) if not path.exists()]
    options = replace(options, restart=False)  # a piece's own resume state is always worth keeping
    total, finished = count, sum(p.stop - p.start for path, p in zip(paths, plan) if path.exists())
    if executor == "ray":
        retries = _on_ray(source, style, options, todo, address, cpus, finished, total, progress)
        for line in retries:
            log(line)
    else:
        dreamer = Dreamer(style)
        for path, piece in todo:
            def report(done: int, _: int, before: int = finished) -> None:
                if progress is not None:
                    progress(before + done, total)
            render_segment(source, path, style, piece.frames, options, dreamer=dreamer,
                           preroll=piece.preroll - piece.overlap, progress=report)
            finished += piece.stop - piece.start
    sound = soundtrack(source, info, options)
    part = part_path(folder, output)
    frames = 0
    try:
        with video_writer(output, part, size, fps, style.output, sound, count / float(fps),
                          style_metadata(style)) as writer:
            for frame in joined(paths, plan, size):
                writer.write(frame)
                frames += 1
    except BaseException:
        discard(part, output)  # the finished pieces stay: running again only joins them
        raise
    publish(part, output)
    shutil.rmtree(folder, ignore_errors=True)
    return VideoResult(output, frames, 0, fps, size, time.perf_counter() - began)


def joined(paths: list[Path], plan: list[Piece], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The pieces' frames in order, each piece's overlap cross-faded from the end of the piece before."""
    tail: list[np.ndarray] = []  # the last frames of the piece before, held back for the next one's overlap
    for i, (path, piece) in enumerate(zip(paths, plan)):
        hold = plan[i + 1].overlap if i + 1 < len(plan) else 0
        mine: list[np.ndarray] = []
        with closing(read_frames(path, size)) as reader:
            for j, frame in enumerate(reader):
                if j < piece.overlap:  # the two pieces' dreams of the same frame, the new one faded in
                    w = (j + 1) / (piece.overlap + 1)
                    frame = np.rint((1 - w) * tail[j] + w * frame.astype(np.float32)).astype(np.uint8)
                mine.append(frame)
                if len(mine) > hold:
                    yield mine.pop(0)
        tail = mine
    yield from tail


def _on_ray(source: Path, style: Style, options: RenderOptions, todo: list[tuple[Path, Piece]],
            address: str | None, cpus: int, finished: int, total: int,
            progress: Callable[..., None] | None) -> list[str]:
    """The pieces as Ray tasks, each written into the pieces' folder as it comes back; what was retried."""
    from dreamvideo.cluster import ray_tasks
    from dreamvideo.travel import Packer

    lines = []
    with ray_tasks(address, cpus) as tasks, ExitStack() as stack:
        import ray

        parcel = Packer().parcel([source, options.audio], [style])  # one copy of the source for every piece
        pending: dict[Any, tuple[Path, Piece]] = {}
        for path, piece in todo:
            dest = stack.enter_context(destination(path))
            pending[tasks.submit(piece.name, render_piece, str(source), style, piece, options, parcel, dest)] = \
                (path, piece)
        def report(frames: int, _: int, nodes: str) -> None:  # the pieces done before this run counted
            if progress is not None:
                progress(finished + frames, total, nodes)

        for ref, board in tasks.finished(list(pending), report):
            path, piece = pending[ref]
            try:
                back = ray.get(ref)
            except Exception as exc:  # lost on every try, or the piece's own error: the finished pieces stay
                cause = getattr(exc, "cause", None)
                if isinstance(cause, DreamVideoError):
                    raise cause from None
                raise MediaError(f"frames {piece.start}-{piece.stop - 1} could not be rendered on the cluster "
                                 f"({str(exc).strip().splitlines()[-1][:200]}); the finished pieces are kept: "
                                 "run the same command again") from None
            deliver(back, path)
            again = retried(board.get(piece.name) or tasks.board().get(piece.name, {}))
            if again:
                lines.append(f"frames {piece.start}-{piece.stop - 1} {again}")
    return lines
