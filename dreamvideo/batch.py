"""`dreamvideo batch`: many jobs from one YAML file, validated before any runs, on this machine or a Ray
cluster. Finished outputs are skipped, half-done ones resume, a failing job does not stop the others."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dreamvideo.cluster import CPUS_PER_TASK, check_executor, ray_tasks, retried
from dreamvideo.config import Style, load_style, read_yaml, resolve_set_paths
from dreamvideo.errors import ConfigError, DreamVideoError, MediaError, did_you_mean
from dreamvideo.media.ffmpeg import probe_audio
from dreamvideo.media.images import WRITABLE, check_image, check_output
from dreamvideo.travel import Destination, Packer, Parcel, Returned, deliver, destination, opened, returned
from dreamvideo.video.output import check_video_output
from dreamvideo.video.state import state_dir

COMMANDS = ("render", "zoom", "dream")


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    command: Literal["render", "zoom", "dream"]
    input: Path | None = None
    output: Path
    style: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    audio: Path | None = None
    seconds: float | None = Field(default=None, gt=0)
    frames: int | None = Field(default=None, ge=1)
    start_from: Literal["image", "noise", "color"] = Field(default="image", alias="from")
    cycle: Literal["loop", "pingpong"] | None = None  # render: the whole song (audio), the clip cycled under it
    max_pixels: int | None = Field(default=None, ge=1)  # default: the job list's (--max-pixels)


@dataclass(frozen=True)
class JobResult:
    index: int
    output: str
    status: str  # done | skipped | failed
    seconds: float
    message: str = ""


def _sets(mapping: dict[str, Any]) -> list[str]:
    return [f"{key}={json.dumps(value)}" for key, value in mapping.items()]


def job_style(job: Job, base: str | Path | None) -> Style:
    """The job's Style: a preset name, or a YAML file relative to the job list; plus its `set` overrides."""
    path = job.style
    if path and base is not None and (Path(base) / path).is_file():
        path = str(Path(base) / path)
    # files named in `set` (mask, guide.image, regions, weights) are relative to the list
    sets = resolve_set_paths(job.set, Path(base)) if base is not None else job.set
    return load_style(path, _sets(sets))


def parse_job(raw: Any, where: str) -> tuple[Job | None, list[str]]:
    """One job of a list, as its YAML holds it, checked against the schema (its files are not looked at):
    the job, or None and what is wrong with it, each problem a line naming its key under ``where``."""
    if not isinstance(raw, dict):
        return None, [f"{where}: a job is a mapping (command, input, output, ...)"]
    if "command" in raw and raw["command"] not in COMMANDS:
        hint = did_you_mean(str(raw["command"]), COMMANDS)
        return None, [f"{where}.command: unknown command {raw['command']!r}; {hint}use render, zoom or dream"]
    try:
        return Job.model_validate(raw), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = "required but missing" if err["type"] == "missing" else (
                "unknown key" if err["type"] == "extra_forbidden" else err["msg"])
            problems.append(f"{where}.{key}: {msg}")
        return None, problems


def load_jobs(path: str | Path, max_pixels: int | None = None) -> list[Job]:
    """Read and check a job list; every problem is reported at once, each with its job's index.

    ``max_pixels`` is the most pixels a job's image may have unless the job sets its own (None: the
    default of ``images.MAX_PIXELS``, a guard against decompression bombs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no job list at {str(path)!r}; check the path")
    data = read_yaml(path)
    path = path.resolve()  # absolute paths: a job may run on another node, in another working folder
    if set(data) != {"jobs"} or not isinstance(data.get("jobs"), list) or not data["jobs"]:
        raise ConfigError(f"job list {path}: a job list is a mapping with one key, `jobs:`, holding a list of jobs")
    base = path.parent
    problems: list[str] = []
    jobs: list[Job] = []
    outputs: dict[str, int] = {}
    for i, raw in enumerate(data["jobs"]):
        where = f"jobs[{i}]"
        job, wrong = parse_job(raw, where)
        problems += wrong
        if job is None:
            continue
        job = job.model_copy(update={k: (base / v if v is not None and not Path(v).is_absolute() else v)
                                     for k, v in (("input", job.input), ("output", job.output), ("audio", job.audio))})
        job = job.model_copy(update={"max_pixels": job.max_pixels or max_pixels})
        problems += _check(job, where, base)
        key = str(job.output.resolve())
        if key in outputs:
            problems.append(f"{where}.output: {str(raw['output'])!r} is also the output of jobs[{outputs[key]}]")
        outputs.setdefault(key, i)
        jobs.append(job)
    if problems:
        raise ConfigError(problems, f"job list {path}")
    return jobs


def _check(job: Job, where: str, base: Path) -> list[str]:
    problems = []
    needs_input = job.command != "zoom" or job.start_from == "image"
    if needs_input:
        if job.input is None:
            problems.append(f"{where}.input: required for {job.command}")
        elif not job.input.exists():
            problems.append(f"{where}.input: no such file {str(job.input)!r}")
        elif job.command != "render":
            try:
                check_image(job.input, job.max_pixels)
            except MediaError as exc:
                problems.append(f"{where}.input: {exc}")
    try:  # what dream, render and zoom check of their output, for every job before any runs
        inputs = tuple(p for p in (job.input, job.audio) if p is not None)
        if job.command == "dream":
            check_output(job.output, WRITABLE, inputs=inputs, new_folder=True)
        else:
            check_video_output(job.output, inputs=inputs, new_folder=True)
    except MediaError as exc:
        problems.append(f"{where}.output: {exc}")
    if job.command == "zoom" and job.seconds is None and job.frames is None and job.audio is None:
        problems.append(f"{where}: a zoom needs a length: seconds, frames or audio")
    if job.command == "dream" and (job.seconds or job.frames or job.audio):
        problems.append(f"{where}: dream makes one image; seconds, frames and audio do not apply")
    if job.cycle is not None and job.command != "render":
        problems.append(f"{where}.cycle: cycles a render's clip under a song; a {job.command} has no clip to cycle: "
                        "remove it")
    elif job.cycle is not None and job.audio is None:
        problems.append(f"{where}.cycle: plays a render's clip for a whole song: give the render its audio")
    if job.audio is not None:
        try:
            probe_audio(job.audio)
        except DreamVideoError as exc:
            problems.append(f"{where}.audio: {exc}")
    try:
        job_style(job, base)
    except ConfigError as exc:
        problems += [f"{where}.style: {p}" for p in exc.lines()]
    return problems


def run_job(index: int, job: Job, base: str | None = None, style: Style | None = None,
            progress: Callable[[int, int], None] | None = None) -> JobResult:
    """Run one job (``style``: its style, else read from the list's folder ``base``); never raises for the
    job's own failures (they are in the result)."""
    began = time.perf_counter()
    if job.output.exists() and not state_dir(job.output).exists():
        return JobResult(index, str(job.output), "skipped", 0.0, "already done")
    try:
        style = style or job_style(job, base)
        job.output.parent.mkdir(parents=True, exist_ok=True)  # the list was checked: the folder can be made
        # the pipelines (and torch) load here, once the whole list is known to be valid
        source = cast(Path, job.input)  # render and dream: load_jobs checked that there is one
        if job.command == "render":
            from dreamvideo.video.render import RenderOptions, render_video

            render_video(source, job.output, style,
                         RenderOptions(duration=job.seconds, max_frames=job.frames, audio=job.audio, cycle=job.cycle),
                         progress=progress)
        elif job.command == "zoom":
            from dreamvideo.video.zoom import ZoomOptions, zoom_video

            zoom_video(job.input if job.start_from == "image" else None, job.output, style,
                       ZoomOptions(frames=job.frames, seconds=job.seconds, audio=job.audio, origin=job.start_from,
                                   max_pixels=job.max_pixels), progress=progress)
        else:
            from dreamvideo.dreamer import Dreamer
            from dreamvideo.look import dream_photo
            from dreamvideo.media.images import read_image, write_image

            check_output(job.output, inputs=(source,))
            if progress is not None:
                progress(0, 1)
            write_image(job.output, dream_photo(Dreamer(style), read_image(source, job.max_pixels),
                                                 max_pixels=job.max_pixels))
            if progress is not None:
                progress(1, 1)
    except DreamVideoError as exc:
        return JobResult(index, str(job.output), "failed", time.perf_counter() - began, str(exc))
    except Exception as exc:  # a bug in one job must not take the batch down; keep where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return JobResult(index, str(job.output), "failed", time.perf_counter() - began,
                         f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
    return JobResult(index, str(job.output), "done", time.perf_counter() - began)


OnResult = Callable[[JobResult], None]
OnProgress = Callable[[int, int, str], None]  # frames done, frames in all, the nodes at work


def run_jobs(jobs: list[Job], base: str | None = None, executor: str = "local", address: str | None = None,
             on_result: OnResult | None = None, on_progress: OnProgress | None = None,
             cpus: int = CPUS_PER_TASK) -> list[JobResult]:
    """Run ``jobs`` one after another here (``local``) or as Ray tasks (``ray``, on ``address``, ``cpus``
    cores each)."""
    check_executor(executor)
    if executor == "local":
        return run_local(jobs, base, on_result)
    return run_ray(jobs, base, address, on_result, on_progress, cpus)


def run_local(jobs: list[Job], base: str | None = None, on_result: OnResult | None = None) -> list[JobResult]:
    results = []
    for i, job in enumerate(jobs):
        results.append(run_job(i, job, base))
        if on_result is not None:
            on_result(results[-1])
    return results


def run_shipped(index: int, job: Job, style: Style, parcel: Parcel, dest: Destination, *,
                progress: Callable[[int, int], None]) -> tuple[JobResult, Returned | None]:
    """A job on a Ray worker: its files unpacked here (or found where they are), its output sent back."""
    with opened(parcel) as here:
        job = job.model_copy(update={"input": here.path(job.input), "audio": here.path(job.audio)})
        style = here.style(style)
        results: list[JobResult] = []
        back = returned(dest, lambda path: results.append(
            run_job(index, job.model_copy(update={"output": path}), style=style, progress=progress)), here.folder)
        result = replace(results[0], output=dest.path)
        return result, back if result.status == "done" else None


def run_ray(jobs: list[Job], base: str | None = None, address: str | None = None,
            on_result: OnResult | None = None, on_progress: OnProgress | None = None,
            cpus: int = CPUS_PER_TASK) -> list[JobResult]:
    """Each job is a Ray task (a GPU each on a cluster with GPUs) that needs no file of this machine's but
    through Ray: its inputs travel in the object store, its output comes back and is written here. A task
    whose worker or node dies runs again elsewhere; results come back as they finish."""
    results: dict[int, JobResult] = {}

    def finish(result: JobResult) -> None:
        results[result.index] = result
        if on_result is not None:
            on_result(result)

    todo = []
    for i, job in enumerate(jobs):  # finished outputs are known here, before anything travels
        if job.output.exists() and not state_dir(job.output).exists():
            finish(JobResult(i, str(job.output), "skipped", 0.0, "already done"))
        else:
            todo.append(i)
    if not todo:
        return [results[i] for i in range(len(jobs))]
    with ray_tasks(address, cpus) as tasks, ExitStack() as stack:
        import ray

        packer = Packer()
        pending = {}
        for i in todo:
            job, style = jobs[i], job_style(jobs[i], base)
            dest = stack.enter_context(destination(job.output))
            parcel = packer.parcel([job.input, job.audio], [style])
            pending[tasks.submit(str(i), run_shipped, i, job, style, parcel, dest)] = i
        for ref, board in tasks.finished(list(pending), on_progress):
            i = pending[ref]
            try:
                result, back = ray.get(ref)
                if back is not None:
                    deliver(back, jobs[i].output)
            except Exception as exc:  # retried and lost each time (or an output that could not be written)
                result = JobResult(i, str(jobs[i].output), "failed", 0.0,
                                   f"Ray task failed: {str(exc).splitlines()[0]}"[:500])
            again = retried(board.get(str(i)) or tasks.board().get(str(i), {}))
            finish(replace(result, message="; ".join(m for m in (result.message, again) if m)))
    return [results[i] for i in range(len(jobs))]
