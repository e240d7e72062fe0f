"""The live output on a web page, for a machine without a window system: ``dreamvideo live`` prints its
address (behind the web guard: its token, its host names, its origin rule). The page shows the newest
shown frame as an MJPEG stream and the run's figures; a slow viewer skips frames, it never holds the run
back."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from dreamvideo.web.guard import Guard, allowed_hosts
from dreamvideo.web.server import Server, token_for

if TYPE_CHECKING:
    from dreamvideo.live.session import LiveStats

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
    """An output of a live run, served on a thread from the start (``address`` is what to open): keeps the
    newest shown frame (as JPEG, made only while someone watches) and the run's figures (``stats``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None, no_token: bool = False,
                 stats: LiveStats | None = None, quality: int = 85):
        self.quality = quality
        self.stats = stats
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._ended = False
        self._cond = threading.Condition()
        token = token_for(host, token, no_token)
        self.server = Server(lambda port: live_app(self, token=token, host=host, port=port), host, port,
                             token).start()
        self.address = self.server.address

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def seq(self) -> int:
        """The number of the newest frame."""
        return self._seq

    def write(self, frame: np.ndarray) -> None:
        with self._cond:
            self._frame, self._seq = frame, self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        self.server.stop()

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
        figures = self.stats.figures() if self.stats is not None else {
            "shown": 0, "dropped": 0, "updates": 0, "updates_per_second": 0.0, "latency_median_ms": 0.0,
            "latency_p95_ms": 0.0}
        return {**figures, "ended": self._ended}


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
        while not page.ended or seq < page.seq:
            seq, data = await anyio.to_thread.run_sync(page.next_jpeg, seq)
            if data is not None:
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n").encode() \
                    + data + b"\r\n"
            elif page.ended:
                return

    return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"cache-control": "no-store"})


def live_app(page: LivePage, *, token: str | None, host: str, port: int, max_upload: int = 1024**2) -> Starlette:
    routes = [Route("/", index), Route("/live.js", script), Route("/api/live", figures), Route("/live.mjpg", mjpeg)]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token, hosts=allowed_hosts(host), port=port,
                                                          max_upload=max_upload)])
    app.state.live = page
    return app
