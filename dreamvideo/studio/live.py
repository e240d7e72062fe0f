"""The live output on a web page, for a machine without a window system: ``dreamvideo live`` prints its
address (behind the studio's guard: its token, its host names, its origin rule). The page shows the newest
shown frame as an MJPEG stream and the run's figures; a slow viewer skips frames, it never holds the run
back."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dreamvideo.studio.guard import Guard, allowed_hosts

if TYPE_CHECKING:
    from dreamvideo.live import LiveStats

BOUNDARY = "dreamvideo-frame"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>dreamvideo live</title>
<style>body{margin:0;background:#000;color:#9a97ab;font:13px system-ui,sans-serif}
img{display:block;width:100vw;height:calc(100vh - 24px);object-fit:contain}p{margin:4px 10px}</style>
</head><body><img id="live" src="/live.mjpg" alt="the live dream"><p id="stats">waiting for the first frame…</p>
<script src="/live.js"></script></body></html>"""
SCRIPT = """const show = async () => {
  try {
    const s = await (await fetch('/api/live')).json();
    document.getElementById('stats').textContent = `${s.shown} shown, ${s.dropped} dropped, ` +
      `${s.updates_per_second.toFixed(1)} dream updates/s, latency ${s.latency_median_ms.toFixed(0)} ms ` +
      `(p95 ${s.latency_p95_ms.toFixed(0)})` + (s.ended ? ' (ended)' : '');
  } catch (e) {}
};
setInterval(show, 1000); show();"""


class LivePage:
    """An output of a live run: keeps the newest shown frame (as JPEG, made only while someone watches)
    and the run's figures."""

    def __init__(self, stats: LiveStats | None = None, quality: int = 85):
        self.quality = quality
        self.stats = stats
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._ended = False
        self._cond = threading.Condition()

    def write(self, frame: np.ndarray) -> None:
        with self._cond:
            self._frame, self._seq = frame, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def next_jpeg(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The newest frame after number ``after``, as JPEG (None when there is none yet, or the run ended)."""
        import cv2

        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._ended, timeout)
            seq, frame = self._seq, self._frame
        if frame is None or seq <= after:
            return after, None
        ok, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return seq, data.tobytes() if ok else None

    def figures(self) -> dict:
        s = self.stats
        if s is None:
            return {"shown": 0, "dropped": 0, "updates_per_second": 0.0, "latency_median_ms": 0.0,
                    "latency_p95_ms": 0.0, "ended": self._ended}
        return {"shown": s.shown, "dropped": s.dropped, "updates_per_second": s.updates / max(s.seconds, 1e-9),
                "latency_median_ms": s.latency(0.5), "latency_p95_ms": s.latency(0.95), "ended": self._ended}


def _page(request: Request) -> LivePage:
    return request.app.state.live


async def index(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"cache-control": "no-store"})


async def script(request: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript")


async def figures(request: Request) -> Response:
    return JSONResponse(_page(request).figures())


async def mjpeg(request: Request) -> Response:
    page = _page(request)

    async def parts() -> AsyncIterator[bytes]:
        seq = 0
        while not page._ended or seq < page._seq:
            seq, data = await anyio.to_thread.run_sync(page.next_jpeg, seq)
            if data is not None:
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode() \
                    + data + b"\r\n"
            elif page._ended:
                return

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"cache-control": "no-store"})


def live_app(page: LivePage, *, token: str | None, host: str, port: int, max_upload: int = 1024**2) -> Starlette:
    routes = [Route("/", index), Route("/live.js", script), Route("/api/live", figures), Route("/live.mjpg", mjpeg)]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token, hosts=allowed_hosts(host), port=port,
                                                          max_upload=max_upload)])
    app.state.live = page
    return app


class PageServer:
    """The live page served on a thread while a run goes on; ``address`` is what to open."""

    def __init__(self, page: LivePage, host: str = "127.0.0.1", port: int = 0, token: str | None = ""):
        import uvicorn

        from dreamvideo.errors import ConfigError
        from dreamvideo.studio.app import address, listen, new_token
        from dreamvideo.studio.guard import is_loopback

        if token is None and not is_loopback(host):
            raise ConfigError(f"--no-token is allowed only on a loopback host (127.0.0.1, ::1), not --host {host}; "
                              "keep the token")
        token = new_token() if token == "" else token
        self.socket = listen(host, port)
        port = self.socket.getsockname()[1]
        self.address = address(host, port, token)
        app = live_app(page, token=token, host=host, port=port)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="dreamvideo-live-page", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


class BrowserCamera:
    """A live run fed by the page's camera: each frame the page sends is a captured frame, answered with what
    the stage shows for it. The page sends the next frame only when it has the last answer, so frames never
    pile up; the dreaming runs beside on the newest one."""

    def __init__(self, look, size: tuple[int, int]):
        from dreamvideo.live import Dreaming, LiveStats, Stage, dream_threads
        from dreamvideo.media.capture import Newest

        self.threads = contextlib.ExitStack()
        self.threads.enter_context(dream_threads())
        self.size, self.newest, self.index = size, Newest(), -1
        self.dreaming = Dreaming(look, self.newest)
        self.stage = Stage(self.dreaming)
        self.stats = LiveStats()
        self.dreaming.start()

    def show(self, jpeg: bytes) -> tuple[bytes, float]:
        """The shown frame for one sent by the page (JPEG in, JPEG out), and the seconds it took here."""
        import cv2

        from dreamvideo.errors import MediaError
        from dreamvideo.media.capture import Captured

        began = time.perf_counter()
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            raise MediaError("the page sent a frame that is not a JPEG")
        frame = np.ascontiguousarray(cv2.resize(picture, self.size, interpolation=cv2.INTER_AREA)[..., ::-1])
        self.index += 1
        captured = Captured(self.index, frame, began)
        self.newest.put(captured)
        if self.dreaming.error is not None:
            raise self.dreaming.error
        shown = self.stage.show(captured)
        ok, data = cv2.imencode(".jpg", shown[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        seconds = time.perf_counter() - began
        self.stats.latencies.append(seconds)
        self.stats.shown, self.stats.updates = self.stats.shown + 1, self.dreaming.updates
        return data.tobytes(), seconds

    def restyle(self, look) -> None:
        self.dreaming.restyle(look)

    def close(self) -> None:
        self.newest.end()
        self.dreaming.stop()
        self.dreaming.look.close()
        self.threads.close()
