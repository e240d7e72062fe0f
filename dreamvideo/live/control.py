"""Changing a live style while it runs: ``StyleControl.set("step_size", 0.03)`` or ``.preset("dogs")``,
each change validated like a style file (a bad one is one line in the log and changes nothing) and applied
on the next frame without stopping the stream; ``OscServer`` takes the changes as OSC messages over UDP
(python-osc, an optional extra):

    /dreamvideo/set step_size 0.03
    /dreamvideo/preset dogs
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dreamvideo.config import Style, load_style, set_dotted, validate_style
from dreamvideo.errors import ConfigError, DreamVideoError

if TYPE_CHECKING:
    from dreamvideo.live.session import LiveSession
    from dreamvideo.look import Look

SET, PRESET = "/dreamvideo/set", "/dreamvideo/preset"


class StyleControl:
    """The style of a running ``LiveSession``; every change rebuilds its look with ``build`` (which keeps the
    network while the model stays the same) and hands it over."""

    def __init__(self, style: Style, session: LiveSession, build: Callable[[Style], Look],
                 log: Callable[[str], None] = lambda message: None):
        self.style, self.session, self.build, self.log = style, session, build, log
        self.changes = 0
        self._lock = threading.Lock()

    def set(self, key: str, value: Any) -> Style | None:
        """Set a numeric style key (dotted, e.g. ``zoom.scale``); the new style, or None if refused."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.log(f"osc: {SET} {key} {value!r}: the value must be a number")
            return None
        with self._lock:
            data = self.style.model_dump(mode="json", exclude_none=True)
            try:
                set_dotted(data, key.split("."), value)
                style = validate_style(data, source="osc")
            except ConfigError as exc:
                self.log(f"osc: {SET} {key} {value}: {exc.line()}")
                return None
            return self._apply(style)

    def preset(self, name: str) -> Style | None:
        """Switch to a preset (or a style file); the new style, or None if refused."""
        with self._lock:
            try:
                style = load_style(str(name))
            except ConfigError as exc:
                self.log(f"osc: {PRESET} {name}: {exc.line()}")
                return None
            return self._apply(style)

    def _apply(self, style: Style) -> Style | None:
        try:
            look = self.build(style)
        except DreamVideoError as exc:
            self.log(f"osc: {exc}")
            return None
        self.session.restyle(look)
        self.style, self.changes = style, self.changes + 1
        return style


class OscServer:
    """OSC messages on ``host``:``port`` (UDP) to a ``StyleControl``, on a thread."""

    def __init__(self, host: str, port: int, control: StyleControl):
        try:
            from pythonosc.dispatcher import Dispatcher
            from pythonosc.osc_server import ThreadingOSCUDPServer
        except ModuleNotFoundError:
            raise ConfigError('--osc needs python-osc: pip install "dreamvideo[live]"') from None
        dispatcher = Dispatcher()
        dispatcher.map(SET, lambda address, *args: self._set(control, args))
        dispatcher.map(PRESET, lambda address, *args: self._preset(control, args))
        dispatcher.set_default_handler(lambda address, *args: control.log(
            f"osc: {address}: unknown address; send {SET} KEY VALUE or {PRESET} NAME"))
        try:
            self.server = ThreadingOSCUDPServer((host, port), dispatcher)
        except OSError as exc:
            raise ConfigError(f"--osc {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                              "pick another port") from None
        self.thread = threading.Thread(target=self.server.serve_forever, name="dreamvideo-osc", daemon=True)
        self.thread.start()

    @staticmethod
    def _set(control: StyleControl, args: tuple) -> None:
        if len(args) != 2 or not isinstance(args[0], str):
            control.log(f"osc: {SET} takes a key and a number, e.g. {SET} step_size 0.03")
            return
        control.set(args[0], args[1])

    @staticmethod
    def _preset(control: StyleControl, args: tuple) -> None:
        if len(args) != 1 or not isinstance(args[0], str):
            control.log(f"osc: {PRESET} takes a preset's name, e.g. {PRESET} dogs")
            return
        control.preset(args[0])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

