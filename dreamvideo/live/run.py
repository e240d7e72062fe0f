"""`dreamvideo live`: a camera (or a file or stream played as one) dreamed coherently in real time, with
everything around the session: the capture, the live audio a style reacts to, the outputs (a recording, a
network stream, a virtual camera, the live page) and the OSC control. Whatever was opened is closed again,
also when something fails before the run starts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamvideo.config import Style
from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.live.session import LiveSession, LiveStats, Output, live_look
from dreamvideo.look import Look

if TYPE_CHECKING:
    from dreamvideo.live.page import LivePage
    from dreamvideo.media.capture import SourceInfo


@dataclass(frozen=True)
class LiveOptions:
    max_side: int | None = 320  # the dream's size: the longer side of the source's frames
    duration: float | None = None  # seconds; None: until the source ends or Ctrl-C
    loop: bool = False  # a file source starts again at its end
    fps: float | None = None  # the rate to ask a camera for
    record: Path | None = None  # what was shown, one frame per source frame, with a file source's sound
    stream: str | None = None  # a network output (udp://, srt://, tcp://, rtmp://)
    virtual_camera: bool = False
    audio_in: str | None = None  # "source" (a file's own sound), or a microphone ("default", a name, an index)
    page: bool = False  # serve the live page (needs the studio's extra)
    host: str = "127.0.0.1"  # the page's address
    port: int = 0  # the page's port (0: a free one)
    token: str | None = None  # the page's token (None: a new random one)
    no_token: bool = False  # no token (only on a loopback host)
    osc: int | None = None  # an OSC port to listen on for style changes
    osc_host: str = "127.0.0.1"


def live(source: str, style: Style, options: LiveOptions = LiveOptions(), *, outputs: Sequence[Output] = (),
         log: Callable[[str], None] = lambda message: None, announce: Callable[[str], None] | None = None,
         started: Callable[[LiveSession, SourceInfo], None] | None = None,
         stop: threading.Event | None = None) -> LiveStats:
    """Dream ``source`` live into the outputs ``options`` names and ``outputs``; returns what it did. Bad
    sources and outputs fail with one line before anything runs. ``log`` gets the lines a user reads (the
    OSC port, a refused OSC change), ``announce`` the page's address (default: ``log``); ``started`` the
    session once it runs; ``stop``, once set, ends the run as the end of the source does."""
    from dreamvideo.media.capture import Capture
    from dreamvideo.networks import Networks

    check_outputs(options)
    with contextlib.ExitStack() as stack:  # closed in reverse: OSC, the session, the sound, the capture
        capture = Capture(source, options.max_side, options.loop, options.fps)
        stack.callback(capture.stop)  # a camera is released whatever fails next
        info = capture.info
        cues = live_cues(style, info, options)
        if cues is not None:
            stack.callback(cues.close)
        networks = Networks(keep=1)  # the network dreamed on; an OSC change to another model replaces it
        with contextlib.ExitStack() as pending:  # closed here only when no session takes them over
            look = live_look(style, info, model=networks.get(style), cues=cues)
            pending.callback(look.close)
            made, page = open_outputs(options, info, pending, log, announce or log)
            session = LiveSession(look, [*made, *outputs], newest=capture.newest)
            pending.pop_all()
        stack.callback(session.close)
        if page is not None:
            page.stats = session.stats
        if options.osc is not None:
            from dreamvideo.live.control import OscServer, StyleControl

            def build(changed: Style) -> Look:  # the changed style's look, on the same network for the same model
                return live_look(changed, info, model=networks.get(changed), cues=cues)

            control = StyleControl(style, session, build, log=log)
            stack.callback(OscServer(options.osc_host, options.osc, control).stop)
            log(f"osc: listening on {options.osc_host}:{options.osc} for /dreamvideo/set KEY VALUE and "
                "/dreamvideo/preset NAME")
        if started is not None:
            started(session, info)
        capture.start()
        return session.run(options.duration, stop)


def check_outputs(options: LiveOptions) -> None:
    """The outputs' paths, addresses and token, checked before anything opens."""
    from dreamvideo.media.images import check_output
    from dreamvideo.video.output import VIDEO_OUT

    if options.record is not None:
        check_output(Path(options.record), VIDEO_OUT)
    if options.stream is not None:
        from dreamvideo.live.outputs import check_stream

        check_stream(options.stream)
    if options.page:
        from dreamvideo.web.server import token_for

        token_for(options.host, options.token, options.no_token)


def open_outputs(options: LiveOptions, info: SourceInfo, stack: contextlib.ExitStack,
                 log: Callable[[str], None], announce: Callable[[str], None]) -> tuple[list[Output], LivePage | None]:
    """The outputs ``options`` names, each closed by ``stack`` should a later one fail, and the live page
    among them."""
    from dreamvideo.live.outputs import NetworkStream, Recording, VirtualCamera
    from dreamvideo.video.output import Soundtrack

    made: list[Output] = []
    page = None

    def add(output: Output) -> None:
        stack.callback(output.close)
        made.append(output)

    if options.record is not None:
        sound = Soundtrack(info.path, info.audio_codec) if info.path and info.audio_codec else None
        add(Recording(options.record, info.size, info.fps, sound, options.loop))
    if options.stream is not None:
        add(NetworkStream(options.stream, info.size, info.fps))
    if options.virtual_camera:
        camera = VirtualCamera(info.size, info.fps)
        log(f"virtual camera: {camera.device}")
        add(camera)
    if options.page:
        try:
            from dreamvideo.live.page import LivePage
        except ImportError:
            log('no live page: it needs the studio\'s extra (pip install "dreamvideo[studio]"); going on without')
        else:
            page = LivePage(options.host, options.port, options.token, options.no_token)
            add(page)
            announce(f"dreamvideo live on {page.address} (Ctrl-C stops it)")
    return made, page


def live_cues(style: Style, info: SourceInfo, options: LiveOptions) -> Any:
    """The live audio features a style's ``react:`` follows: a file source's own sound, or a microphone."""
    if not style.react and options.audio_in is None:
        return None
    from dreamvideo.live.audio import FileCues, MicrophoneCues

    stems = [target for target, mapping in style.react.items() if mapping.audio is not None]
    if stems:
        raise ConfigError(f"react.{stems[0]}.audio: live follows one sound, its source's or a microphone; "
                          "a stem of its own is for render, zoom and batch")
    if options.audio_in in (None, "source"):
        if info.path is None or info.audio_codec is None:
            raise MediaError(f"the style reacts to audio (react:), but {info.name} has no sound of its own; "
                             "listen to a microphone with --audio-in default (or a device's name)")
        return FileCues.open(info.path, info.fps, style.react_attack, style.react_release, loop=options.loop)
    return MicrophoneCues(options.audio_in, info.fps, style.react_attack, style.react_release)
