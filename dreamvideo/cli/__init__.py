"""The command line: thin Typer commands over the library. Heavy imports live inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from dreamvideo.cli.options import (
    ConfigOpt,
    CpusOpt,
    DreamFlags,
    MaxPixelsOpt,
    MaxSideOpt,
    QuietOpt,
    SetOpt,
    VideoOutHelp,
    WeightsOpt,
    WidthOpt,
    dream_flags,
    progress_bar,
)
from dreamvideo.errors import ConfigError, DreamVideoError
from dreamvideo.video import MAX_SEGMENT, PRE_ROLL


class _Group(TyperGroup):
    """Turns library errors into one red line per problem and exit code 2, in one place."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DreamVideoError as exc:
            prefix = f"{exc.source}: " if isinstance(exc, ConfigError) and exc.source else ""
            for line in exc.lines():
                typer.secho(f"error: {prefix}{line}", fg="red", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: run the same command again to resume", fg="yellow", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="DeepDream for images and videos. Styles are YAML files or preset names (`dreamvideo presets`).",
)

def _version(value: bool) -> None:
    if value:
        from dreamvideo import __version__

        typer.echo(f"dreamvideo {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    pass


def _say(message: str) -> None:
    typer.secho(message, fg="yellow", err=True)


@app.command()
@dream_flags
def dream(
    flags: DreamFlags,
    image: Annotated[Path, typer.Argument(help="The image to dream.", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write (.png, .jpg, .webp…); default IMAGE_dream.png.")] = None,
    max_side: MaxSideOpt = None,
    width: WidthOpt = None,
    max_pixels: MaxPixelsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Dream one image."""
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.look import dream_photo
    from dreamvideo.media.images import check_output, read_image, write_image

    output = output or image.with_name(f"{image.stem}_dream.png")
    style = flags.style(output__max_side=max_side, output__width=width)
    check_output(output, inputs=(image,))
    picture = read_image(image, max_pixels)
    dreamer = Dreamer(style)
    with progress_bar(f"dreaming {image.name}", quiet) as progress:
        result = dream_photo(dreamer, picture, progress=progress, max_pixels=max_pixels)
    write_image(output, result)
    typer.echo(f"wrote {output} ({result.shape[1]}x{result.shape[0]})")


@app.command(epilog=(
    "Style keys (--config FILE, --set KEY=VALUE): besides those of `dream` (model, weights, layers, guide, octaves, "
    "octave_scale, iterations, step_size, jitter, tile, seed, device, precision, compile, mask, mask_invert, "
    "mask_feather, colors, regions, output.max_side, output.width), a render honours flow, warp, blend, decay, "
    "hold_strength, cadence, warm_iterations, warm_octaves, scene_cut, mask_loop, react, "
    "react_attack, react_release, schedule, music (bpm, offset, meter), sections, output.fps, output.crf and "
    "output.preset. The README's \"Styles\" section describes each."))
@dream_flags
def render(
    flags: DreamFlags,
    video: Annotated[Path, typer.Argument(help="The video to dream.", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help=VideoOutHelp + "; default VIDEO_dream.mp4.")] = None,
    blend: Annotated[float | None, typer.Option(
        help="How much of the previous dream carries over (0..1; 0: independent frames).")] = None,
    flow: Annotated[str | None, typer.Option(help="Optical flow: dis, farneback or none.")] = None,
    max_side: MaxSideOpt = None,
    width: WidthOpt = None,
    fps: Annotated[float | None, typer.Option(help="Output frame rate (default: the source's, exactly).")] = None,
    start: Annotated[float, typer.Option(min=0, help="Start at this many seconds.")] = 0.0,
    duration: Annotated[float | None, typer.Option(min=0.001, help="Render this many seconds.")] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Render at most this many frames.")] = None,
    audio: Annotated[Path | None, typer.Option(
        help="Replace the soundtrack with this file (it also drives react:).")] = None,
    cycle: Annotated[str | None, typer.Option(
        help="With --audio: run the whole song, the clip played over and over (loop) or forwards and backwards "
        "(pingpong); --start and --duration count in the song.")] = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Discard an interrupted render instead of resuming it.")] = False,
    preview: Annotated[int, typer.Option(
        min=0, help="Write every N-th dreamed frame as a small PNG (OUT_preview/).")] = 0,
    split: Annotated[bool, typer.Option(
        "--split", help="Render in pieces: at scene cuts, and inside shots longer than --max-segment (in parallel "
        "with --executor ray).")] = False,
    max_segment: Annotated[float, typer.Option(
        min=0.001, help="With --split: the longest piece of a shot, in seconds; each piece inside a shot costs "
        "--pre-roll more.")] = MAX_SEGMENT,
    pre_roll: Annotated[float, typer.Option(
        min=0, help="With --split: seconds dreamed before a piece that starts inside a shot (the first half "
        "dropped, the second cross-faded), so the pieces join without a jump.")] = PRE_ROLL,
    executor: Annotated[str | None, typer.Option(
        help="With --split: local or ray (default: ray with --address, else local).")] = None,
    address: Annotated[str | None, typer.Option(
        help="With --split: a Ray cluster's address (implies --executor ray).")] = None,
    cpus_per_task: CpusOpt = 1,
    max_pixels: MaxPixelsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Dream a video: each frame starts from the previous dream moved along the optical flow; sound kept."""
    from dreamvideo.video.render import RenderOptions, render_video

    output = output or video.with_name(f"{video.stem}_dream.mp4")
    style = flags.style(blend=blend, flow=flow, output__max_side=max_side, output__width=width, output__fps=fps)
    options = RenderOptions(start=start, duration=duration, max_frames=max_frames, restart=restart, preview=preview,
                            audio=audio, max_pixels=max_pixels, cycle=cycle)
    if split and cycle is not None:
        raise ConfigError("--cycle renders on one machine: leave out --split")
    if not split and (executor is not None or address is not None):
        given = "--address" if address is not None else f"--executor {executor}"
        raise ConfigError(f"{given} runs the shots of a split render: add --split")
    if split:
        from dreamvideo.cluster import pick_executor
        from dreamvideo.video.split import render_split

        with progress_bar(f"rendering {video.name}", quiet, unit="frames") as progress:
            result = render_split(video, output, style, options, pick_executor(executor, address), address,
                                  log=_say, max_segment=max_segment, pre_roll=pre_roll, cpus=cpus_per_task,
                                  progress=progress)
    else:
        with progress_bar(f"rendering {video.name}", quiet, unit="frames") as progress:
            result = render_video(video, output, style, options, progress=progress, log=_say)
    typer.echo(f"wrote {result.output} ({result.frames} frames, {result.size[0]}x{result.size[1]}, "
               f"{float(result.fps):.3f} fps, {result.seconds:.1f} s)")


@app.command()
@dream_flags
def zoom(
    flags: DreamFlags,
    image: Annotated[Path | None, typer.Argument(
        help="The image to start from (or use --from noise / color).", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help=VideoOutHelp + "; default IMAGE_zoom.mp4 (zoom.mp4 from noise or a colour).")] = None,
    frames: Annotated[int | None, typer.Option(min=1, help="Length in frames.")] = None,
    seconds: Annotated[float | None, typer.Option(help="Length in seconds.")] = None,
    audio: Annotated[Path | None, typer.Option(help="Length of this audio file, which is muxed in.")] = None,
    start: Annotated[str, typer.Option("--from", help="Start from: image, noise or color.")] = "image",
    color: Annotated[str, typer.Option(help="Starting colour for --from color, as #RRGGBB.")] = "#204060",
    scale: Annotated[float | None, typer.Option(help="Zoom factor per second (1.5: 50% closer each second).")] = None,
    rotate: Annotated[float | None, typer.Option(help="Degrees per second, counter-clockwise.")] = None,
    fps: Annotated[float | None, typer.Option(
        help="Frames per second (motion is per second, so speed is kept).")] = None,
    cadence: Annotated[int | None, typer.Option(help="Dream every k-th frame; the others only move.")] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Crossfade the end into the beginning so the video loops.")] = False,
    max_side: MaxSideOpt = None,
    width: WidthOpt = None,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Discard an interrupted zoom instead of resuming it.")] = False,
    preview: Annotated[int, typer.Option(min=0, help="Write every N-th frame as a small PNG (OUT_preview/).")] = 0,
    max_pixels: MaxPixelsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Infinite zoom: dream a little, zoom (and turn, and drift), feed back, repeat."""
    from dreamvideo.video.zoom import ZoomOptions, parse_color, zoom_video

    options = ZoomOptions(frames=frames, seconds=seconds, audio=audio, origin=start, color=parse_color(color),
                          loop=loop, restart=restart, preview=preview, max_pixels=max_pixels)
    style = flags.style(zoom__scale=scale, zoom__rotate=rotate, zoom__fps=fps, zoom__cadence=cadence,
                        output__max_side=max_side, output__width=width)
    if output is None:
        from_image = image is not None and start == "image"
        output = image.with_name(f"{image.stem}_zoom.mp4") if image is not None and from_image else Path("zoom.mp4")
    with progress_bar(f"zooming {image.name if image else start}", quiet, unit="frames") as progress:
        result = zoom_video(image if start == "image" else None, output, style, options, progress=progress, log=_say)
    typer.echo(f"wrote {result.output} ({result.frames} frames, {result.size[0]}x{result.size[1]}, "
               f"{float(result.fps):g} fps, {result.seconds:.1f} s)")


@app.command(epilog=(
    "SOURCE: a camera (default, an index such as 0, /dev/video0), a video file (played at its frame rate, as a "
    "camera delivers it) or a stream URL (rtsp://, srt://, udp://, http://). The live page's address is printed; "
    "--osc PORT takes /dreamvideo/set KEY VALUE and /dreamvideo/preset NAME."))
@dream_flags
def live(
    flags: DreamFlags,
    source: Annotated[str, typer.Argument(
        help="A camera, a video file or a stream URL.", show_default=True)] = "default",
    max_side: Annotated[int, typer.Option(
        min=32, max=4096, help="The dream's size: the longer side of the frames.")] = 320,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="A video file starts again at its end.")] = False,
    fps: Annotated[float | None, typer.Option(min=1, max=240, help="The frame rate to ask a camera for.")] = None,
    record: Annotated[Path | None, typer.Option(
        help="Record what is shown (MP4), one frame per source frame, with a file's sound.")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Stream what is shown to udp://, srt://, tcp:// or rtmp:// (a second machine).")] = None,
    virtual_camera: Annotated[bool, typer.Option(
        "--virtual-camera", help="Show it as a camera for OBS and calls (pyvirtualcam).")] = False,
    osc: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Listen for OSC on this UDP port (127.0.0.1; see --osc-host).")] = None,
    osc_host: Annotated[str, typer.Option(help="The address the OSC port listens on.")] = "127.0.0.1",
    audio_in: Annotated[str | None, typer.Option(
        help="Sound for react: 'source' (a file's own), 'default' (the microphone) or a device.")] = None,
    page: Annotated[bool, typer.Option("--page/--no-page", help="Serve the live page and print its address.")] = True,
    port: Annotated[int, typer.Option(min=0, max=65535, help="The page's port (default: a free one).")] = 0,
    host: Annotated[str, typer.Option(help="The page's address to listen on.")] = "127.0.0.1",
    token: Annotated[str | None, typer.Option(help="The page's token (default: a new random one).")] = None,
    no_token: Annotated[bool, typer.Option(
        "--no-token", help="No token for the page (only on a loopback --host).")] = False,
) -> None:
    """Dream a camera (or a file or stream played as one) in real time, coherently, in the `live` preset unless
    --config says otherwise; Ctrl-C stops it."""
    from dreamvideo.live import LiveOptions
    from dreamvideo.live import live as run

    style = flags.style(default="live")
    options = LiveOptions(max_side=max_side, duration=duration, loop=loop, fps=fps, record=record, stream=output,
                          virtual_camera=virtual_camera, audio_in=audio_in, page=page, host=host, port=port,
                          token=token, no_token=no_token, osc=osc, osc_host=osc_host)
    stats = run(source, style, options, log=_say, announce=typer.echo)
    if stats.stopped:
        _say(f"the source stopped: {stats.stopped}")
    typer.echo(stats.summary())
    if record is not None:
        typer.echo(f"recorded {record}")


@app.command()
def batch(
    jobs_file: Annotated[Path, typer.Argument(help="A YAML job list (jobs: [...]).", show_default=False)],
    executor: Annotated[str | None, typer.Option(
        help="local (one job after another) or ray (default: ray with --address, else local).")] = None,
    address: Annotated[str | None, typer.Option(
        help="A Ray cluster's address (implies --executor ray; without it, Ray starts here).")] = None,
    cpus_per_task: CpusOpt = 1,
    max_pixels: MaxPixelsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run many render, zoom and dream jobs; skip finished ones, resume half-done ones, report a summary."""
    from rich.console import Console
    from rich.table import Table

    from dreamvideo.batch import load_jobs, run_jobs

    jobs = load_jobs(jobs_file, max_pixels)

    def say(r) -> None:
        typer.echo(f"[{r.index}] {r.status}: {r.output}" + (f" ({r.message})" if r.message else ""), err=True)

    from dreamvideo.cluster import pick_executor

    with progress_bar("frames on the cluster", quiet, unit="frames") as progress:
        results = run_jobs(jobs, str(jobs_file.resolve().parent), pick_executor(executor, address), address, say,
                           progress, cpus_per_task)
    table = Table("job", "command", "output", "status", "seconds", "message", box=None)
    for r, job in zip(results, jobs):
        colour = {"done": "green", "skipped": "cyan", "failed": "red"}[r.status]
        table.add_row(str(r.index), job.command, r.output, f"[{colour}]{r.status}[/]", f"{r.seconds:.1f}", r.message)
    Console().print(table)
    failed = sum(r.status == "failed" for r in results)
    if failed:
        typer.secho(f"{failed} of {len(results)} jobs failed", fg="red", err=True)
        raise typer.Exit(1)


@app.command()
def analyse(
    song: Annotated[Path, typer.Argument(help="A song, or any audio or video file.", show_default=False)],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON (tempo, beats, downbeats, duration…) instead.")
                     ] = False,
    plot: Annotated[Path | None, typer.Option(help="Draw the song to this PNG: waveform, loudness, onsets, beats, "
                                                   "bars, and with --config each moving key's curve.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    bpm: Annotated[float | None, typer.Option(help="The tempo, where the tracker is wrong.")] = None,
    offset: Annotated[float | None, typer.Option(help="Seconds of a bar's first beat.")] = None,
    meter: Annotated[int | None, typer.Option(help="Beats per bar.")] = None,
) -> None:
    """Tempo, meter, beats and bars of a song; with --config, how a style's schedules and reactions move."""
    import json

    from dreamvideo.analyse import analyse as run
    from dreamvideo.analyse import curves, section_bands, summary
    from dreamvideo.config import load_style
    from dreamvideo.media.images import check_output

    known = {"music.bpm": bpm, "music.offset": offset, "music.meter": meter}
    style = load_style(config, set_ or [], known) if config or set_ else None
    music = style.music if style is not None else load_style(None, [], known).music
    if plot is not None:
        check_output(plot, inputs=(song,))
    analysis = run(song, music)
    grid = analysis.grid
    if not grid.has_beat:
        _say(f"no beat found in {song.name}: times stay in seconds (give --bpm and --offset if it has one)")
    if plot is not None:
        from dreamvideo.analyse import plot as draw

        draw(analysis, plot, curves(analysis, style) if style is not None else None,
             section_bands(analysis, style) if style is not None else None)
    if json_:
        typer.echo(json.dumps(summary(analysis)))
    else:
        import numpy as np
        from rich.console import Console
        from rich.table import Table

        console = Console()
        console.print(f"{song.name}: {grid.tempo:.1f} BPM, {grid.meter} beats a bar, {len(grid.downbeats)} bars, "
                      f"{len(grid.beats)} beats, {grid.duration:.2f} s" if grid.has_beat else
                      f"{song.name}: no beat, {grid.duration:.2f} s")
        if grid.has_beat:
            table = Table("bar", "starts", "beats (s)", box=None)
            for number, start in enumerate(grid.downbeats, 1):
                end = grid.downbeats[number] if number < len(grid.downbeats) else np.inf
                beats = grid.beats[(grid.beats >= start - 1e-6) & (grid.beats < end - 1e-6)]
                table.add_row(str(number), f"{int(start // 60)}:{start % 60:05.2f}",
                              "  ".join(f"{b:.2f}" for b in beats))
            console.print(table)
    if plot is not None:
        typer.echo(f"wrote {plot}", err=json_)


@app.command()
def models() -> None:
    """List the models."""
    from rich.console import Console
    from rich.table import Table

    from dreamvideo.models.registry import get_spec, list_models

    table = Table("model", "default layers", "weights", "description", box=None)
    # "download" weights go to the torch hub cache on first use; offline, pass --weights FILE.
    for name in list_models():
        spec = get_spec(name)
        table.add_row(name, ", ".join(spec.default_layers), spec.weights.source, spec.description)
    Console().print(table)
    typer.echo("also: timm:<name> for any timm model, e.g. timm:resnet18")


@app.command()
def layers(model: Annotated[str, typer.Argument(help="Model name, e.g. efficientnet_lite0 or timm:resnet18.")]) -> None:
    """List a model's dreamable layers (name, module, channels, stride)."""
    from rich.console import Console
    from rich.table import Table

    from dreamvideo.models.registry import get_spec

    spec = get_spec(model)
    table = Table("layer", "module", "channels", "stride", box=None)
    for layer in spec.layers:
        mark = " (default)" if layer.name in spec.default_layers else ""
        table.add_row(layer.name + mark, layer.path, str(layer.channels), str(layer.stride))
    Console().print(table)
    typer.echo(f"any module path of the network works too; input normalised with mean {spec.mean}, std {spec.std}")


@app.command()
def studio(
    out: Annotated[Path, typer.Option(
        "--out", help="The folder for uploads, previews and renders; nothing is written outside it.")
    ] = Path("dreamvideo-studio"),
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port (default: a free one).")] = 0,
    host: Annotated[str, typer.Option(
        help="The address to listen on; another than 127.0.0.1 opens the studio to your network.")] = "127.0.0.1",
    max_upload: Annotated[int, typer.Option(min=1, help="The largest upload, in MB.")] = 2048,
    max_queue: Annotated[int, typer.Option(min=1, max=1000, help="Renders that may wait at once.")] = 8,
    token: Annotated[str | None, typer.Option(
        help="The token the page and scripts need (default: a new random one).")] = None,
    no_token: Annotated[bool, typer.Option("--no-token", help="No token (only on a loopback --host).")] = False,
) -> None:
    """A local web page: drop in a photo or a video, find a style with live previews, render it."""
    try:
        from dreamvideo.studio.app import serve
        from dreamvideo.web.server import exposed
    except ImportError:
        raise ConfigError('the studio needs its extra: pip install "dreamvideo[studio]"') from None
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")

    def ready(url: str) -> None:
        typer.echo(f"dreamvideo studio on {url} (files in {out}/; Ctrl-C stops it)")
        warning = exposed(host)
        if warning:
            _say(warning)

    serve(out, host, port, ready=ready, max_upload=max_upload * 1024**2, max_queue=max_queue, token=token,
          no_token=no_token)


@app.command()
def presets() -> None:
    """List the shipped styles (use them with --config NAME)."""
    from dreamvideo.config import Style, list_presets, preset_dir, read_yaml

    for name in list_presets():
        about = read_yaml(preset_dir() / f"{name}.yaml")
        typer.echo(f"{name:20} {about.get('model', Style().model)}")


@app.command()
def visualize(
    model: Annotated[str, typer.Argument(help="Model name.")],
    layer: Annotated[str, typer.Argument(help="Layer name (`dreamvideo layers MODEL`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the picture.")] = Path("visualize.png"),
    channel: Annotated[int | None, typer.Option(help="One channel of the layer (default: the whole layer).")] = None,
    size: Annotated[int, typer.Option(min=32, max=4096, help="Side of the square picture.")] = 256,
    iterations: Annotated[int, typer.Option(min=1, max=1000, help="Ascent steps per octave.")] = 30,
    octaves: Annotated[int, typer.Option(min=1, max=12, help="Octaves (each 1.8x smaller).")] = 6,
    weights: WeightsOpt = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Show what a layer or a channel responds to, dreamed from noise."""
    from dreamvideo.dreamer import resolve_device
    from dreamvideo.features import get_model
    from dreamvideo.media.images import check_output, to_array, write_image
    from dreamvideo.visualize import visualize as run

    check_output(output)
    net = get_model(model, weights, resolve_device(device))
    with progress_bar(f"visualising {layer}" + (f":{channel}" if channel is not None else ""), quiet) as progress:
        picture = run(net, layer, channel, size=size, octaves=octaves, iterations=iterations, seed=seed,
                      progress=progress)
    write_image(output, to_array(picture))
    typer.echo(f"wrote {output}")


def main() -> None:
    app(prog_name="dreamvideo")


if __name__ == "__main__":
    main()
