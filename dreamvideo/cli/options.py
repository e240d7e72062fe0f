"""The command line's shared pieces: the option declarations the commands share, the dream flags (declared
once, turned into a style in one place) and the progress bar."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from dreamvideo.config import Style

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="Style: a YAML file or a preset name.")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a style key, e.g. --set tile.size=256 (repeatable).")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model name (`dreamvideo models`).")]
WeightsOpt = Annotated[Path | None, typer.Option("--weights", help="Load the model's weights from this file.")]
LayerOpt = Annotated[list[str] | None, typer.Option(
    "--layer", "-l", help="Layer to dream on, 'name' or 'name:channel' (repeatable).")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed; the same seed repeats a result.")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
MaskOpt = Annotated[Path | None, typer.Option(
    help="Dream only where this image or video is light (grey levels: strength).")]
MaskInvertOpt = Annotated[bool | None, typer.Option(
    "--mask-invert", help="Dream where the mask is dark instead.", show_default=False)]
ColorsOpt = Annotated[str | None, typer.Option(
    help="dream (the dream's colours) or original (keep the source's colours).")]
IterationsOpt = Annotated[int | None, typer.Option(help="Ascent steps per octave (a video's or zoom's fresh frames).")]
OctavesOpt = Annotated[int | None, typer.Option(help="Number of octaves (image pyramid levels).")]
StepSizeOpt = Annotated[float | None, typer.Option(help="Step size (image range is 0..1): the dream's strength.")]
MaxSideOpt = Annotated[int | None, typer.Option(help="Shrink the picture so its longer side fits.")]
WidthOpt = Annotated[int | None, typer.Option(help="Resize the picture to this width.")]
GuideOpt = Annotated[Path | None, typer.Option(help="Dream towards the features of this image (or video).")]
VideoOutHelp = "The video to write: .mp4, .mov, .gif, .webp, or a PNG sequence such as frames/%05d.png"
CpusOpt = Annotated[int, typer.Option(
    min=1, help="With Ray: the cores each task claims, and the threads it dreams with.")]
MaxPixelsOpt = Annotated[int | None, typer.Option(
    min=1, help="Refuse images of more pixels than this (default 150,000,000: a guard against decompression bombs).")]


# the flags that set the dream in every command that dreams: name, Typer declaration, default
DREAM_FLAGS: list[tuple[str, Any, Any]] = [
    ("config", ConfigOpt, None), ("set_", SetOpt, None), ("model", ModelOpt, None), ("weights", WeightsOpt, None),
    ("layer", LayerOpt, None), ("iterations", IterationsOpt, None), ("octaves", OctavesOpt, None),
    ("step_size", StepSizeOpt, None), ("guide", GuideOpt, None), ("mask", MaskOpt, None),
    ("mask_invert", MaskInvertOpt, None), ("colors", ColorsOpt, None), ("seed", SeedOpt, None),
    ("device", DeviceOpt, None),
]


@dataclass(frozen=True)
class DreamFlags:
    """The dream flags of one command line, turned into a style in one place."""

    config: str | None = None
    set_: list[str] | None = None
    model: str | None = None
    weights: Path | None = None
    layer: list[str] | None = None
    iterations: int | None = None
    octaves: int | None = None
    step_size: float | None = None
    guide: Path | None = None
    mask: Path | None = None
    mask_invert: bool | None = None
    colors: str | None = None
    seed: int | None = None
    device: str | None = None

    def style(self, default: str | None = None, **keys: object) -> Style:
        """The style: ``--config`` (else ``default``) < ``--set`` < these flags and the command's own
        ``keys`` (dotted keys written with ``__``, e.g. ``output__fps``)."""
        from dreamvideo.config import load_style

        flags = {"model": self.model, "weights": str(self.weights) if self.weights else None,
                 "layers": list(self.layer) if self.layer else None, "iterations": self.iterations,
                 "octaves": self.octaves, "step_size": self.step_size,
                 "guide__image": str(self.guide) if self.guide else None,
                 "mask": str(self.mask) if self.mask else None, "mask_invert": self.mask_invert,
                 "colors": self.colors, "seed": self.seed, "device": self.device, **keys}
        return load_style(self.config or default, self.set_ or [], {k.replace("__", "."): v for k, v in flags.items()})


def dream_flags(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the dream flags added to its options (after its own), handed to it as ``flags``."""
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "flags"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=declared, default=default)
             for name, declared, default in DREAM_FLAGS]

    @functools.wraps(command)
    def run(**given: Any) -> None:
        command(flags=DreamFlags(**{name: given.pop(name) for name, _, _ in DREAM_FLAGS}), **given)

    run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    return run


@contextmanager
def progress_bar(label: str, quiet: bool = False, unit: str = "steps"):
    """A rich progress bar (done/total, rate, elapsed, ETA); yields a ``progress(done, total, where=None)``
    callback (``where``: what the label adds, such as the nodes at work).

    The bar appears with the first report, so a command that fails while it checks its inputs prints its
    error alone, not under an empty bar.
    """
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    bar = Progress(*columns, transient=False, console=None)
    task = None

    def update(done: int, total: int, where: str | None = None) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total, rate="")
        speed = bar.tasks[task].speed
        rate = f"{speed:.2f} {unit}/s" if speed else ""
        bar.update(task, completed=done, total=total, rate=rate,
                   description=f"{label} ({where})" if where else label)

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()
