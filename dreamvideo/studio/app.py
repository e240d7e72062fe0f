"""The studio's web layer: a small Starlette app over a ``Studio``, guarded (``guard.Guard``), and ``serve``
to run it with uvicorn.

Every route takes JSON (or, for an upload, the file's bytes as the body) and answers JSON, a PNG or a
file from the output folder; a bad request is answered with one line, ``{"error": ...}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dreamvideo.errors import DreamVideoError, MediaError
from dreamvideo.studio.controls import music, values
from dreamvideo.studio.renders import QueueFull
from dreamvideo.studio.session import Studio, heard
from dreamvideo.studio.uploads import SONG_TYPES, Upload
from dreamvideo.web.guard import Guard, allowed_hosts
from dreamvideo.web.server import Server, token_for

# what the page shows in place (pictures and the videos it plays); anything else is downloaded
INLINE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
          ".gif": "image/gif", ".mp4": "video/mp4", **SONG_TYPES}
ASSETS = {"page.js": "text/javascript", "page.css": "text/css"}


def _asset(name: str) -> str:
    return resources.files("dreamvideo.studio").joinpath(name).read_text(encoding="utf-8")


async def _json(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    return body


def _studio(request: Request) -> Studio:
    return request.app.state.studio


async def index(request: Request) -> Response:
    return Response(_asset("page.html"), media_type="text/html", headers={"cache-control": "no-store"})


async def asset(request: Request) -> Response:
    name = request.url.path.lstrip("/")
    return Response(_asset(name), media_type=ASSETS[name])


async def options(request: Request) -> Response:
    return JSONResponse(_studio(request).options())


async def upload(request: Request) -> Response:
    uploads = _studio(request).uploads
    name = unquote(request.headers.get("x-filename", "upload"))[:200]
    part, size, digest = uploads.new_part(), 0, hashlib.sha256()
    try:
        with part.open("wb") as f:
            async for chunk in request.stream():
                size = uploads.count(name, size, chunk)
                digest.update(chunk)
                f.write(chunk)
        found = await run_in_threadpool(uploads.accept, name, part, digest.hexdigest())
    finally:
        part.unlink(missing_ok=True)
    return JSONResponse(found.public())


async def upload_list(request: Request) -> Response:
    return JSONResponse(_studio(request).uploads.listing())


async def analyse(request: Request) -> Response:
    """What ``dreamvideo analyse --json`` prints for an upload's sound: tempo, beats, bars, duration."""
    upload = _studio(request).uploads.get(request.path_params["upload"])
    from dreamvideo.analyse import analyse as run
    from dreamvideo.analyse import summary

    found = await run_in_threadpool(lambda: run(heard(upload)))
    return JSONResponse({**summary(found), "file": upload.name})


async def timeline(request: Request) -> Response:
    """What the Music view draws for a song (an upload's sound) and a style: the tempo, beats and bars (as the
    style's ``music:`` has them), the waveform, loudness and onsets, each scheduled or reacting key over the
    song, the sections, and where the page can play the song."""
    studio, body = _studio(request), await _json(request)
    found = studio.style(body.get("yaml", ""), body.get("set"))
    song = studio.uploads.get(body["song"])
    data = await run_in_threadpool(studio.timeline, song, found)
    sound = data.pop("sound")
    return JSONResponse({**data, "audio": "/files/" + sound.relative_to(studio.out).as_posix()})


async def job(request: Request) -> Response:
    """A job list opened on the page (``text``; ``styles``: the YAML files opened with it, by name): its first
    render or zoom's style, input, song, cycle and length."""
    studio, body = _studio(request), await _json(request)
    styles = body.get("styles") or {}
    if not isinstance(styles, dict) or not all(isinstance(v, str) for v in styles.values()):
        raise ValueError("styles: send the YAML files' texts by name")
    return JSONResponse(await run_in_threadpool(studio.job, str(body.get("text", "")), styles))


async def style(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    found = await run_in_threadpool(studio.style, body.get("yaml", ""), body.get("set"))
    return JSONResponse({"yaml": studio.yaml(found), "values": values(found), "label": studio.label(found),
                         "music": music(found, studio.names())})


async def preview(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    found = studio.style(body.get("yaml", ""), body.get("set"))
    upload = studio.uploads.get(body["upload"])
    song, cycle = _song(studio, body)
    at = float(body.get("time", 0))
    picture, seconds = await run_in_threadpool(studio.previews.still, upload, found, at, song, cycle)
    moment = await run_in_threadpool(studio.previews.moment, upload, found, at, song)
    render = found.output.size(upload.width, upload.height, multiple=2)
    return Response(png(picture), media_type="image/png",
                    headers={"X-Seconds": f"{seconds:.2f}", "X-Size": f"{picture.shape[1]}x{picture.shape[0]}",
                             "X-Render-Size": f"{render[0]}x{render[1]}", "X-Label": studio.label(found),
                             "X-Moment": f"{moment:.6f}"})


async def original(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    found = studio.style(body.get("yaml", ""), body.get("set"))
    picture = await run_in_threadpool(studio.previews.original, studio.uploads.get(body["upload"]), found,
                                      float(body.get("time", 0)), *_song(studio, body))
    return Response(png(picture), media_type="image/png")


def _song(studio: Studio, body: dict[str, Any]) -> tuple[Upload | None, str]:
    """The song a request names (``song``: an upload with sound, played through) and how a clip shorter than
    it cycles under it (``cycle``: loop or pingpong)."""
    song = studio.uploads.get(body["song"]) if body.get("song") else None
    if song is not None and song.kind == "image":
        raise MediaError(f"{song.name!r} is a photo; the song must be a sound or a video with one")
    return song, str(body.get("cycle") or "loop")


def png(picture) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


async def clip(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    found = studio.style(body.get("yaml", ""), body.get("set"))
    path = await run_in_threadpool(studio.previews.clip, studio.uploads.get(body["upload"]), found,
                                   float(body.get("time", 0)))
    return JSONResponse({"url": "/files/" + path.relative_to(studio.out).as_posix()})


async def clip_progress(request: Request) -> Response:
    done, total = _studio(request).previews.clip_progress
    return JSONResponse({"done": done, "total": total})


async def render(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    found = studio.style(body.get("yaml", ""), body.get("set"))
    job = studio.renders.submit(studio.uploads.get(body["upload"]), found, float(body.get("seconds", 4)),
                                studio.label(found), *_song(studio, body), yaml=studio.yaml(found))
    return JSONResponse(job.public(studio.out))


async def remove(request: Request) -> Response:
    studio = _studio(request)
    studio.renders.remove(request.path_params["job"])
    return JSONResponse({"removed": request.path_params["job"]})


async def jobs(request: Request) -> Response:
    studio = _studio(request)
    return JSONResponse([job.public(studio.out) for job in studio.renders.jobs])


async def cancel(request: Request) -> Response:
    studio = _studio(request)
    return JSONResponse(studio.renders.cancel(request.path_params["job"]).public(studio.out))


async def files(request: Request) -> Response:
    out = _studio(request).out
    wanted = (out / request.path_params["path"]).resolve()  # only files inside the folder, whatever the path says
    if not wanted.is_relative_to(out) or not wanted.is_file() or wanted.name.startswith("."):
        return JSONResponse({"error": "no such file"}, status_code=404)
    media = INLINE.get(wanted.suffix.lower())
    if media is None:
        return FileResponse(wanted, media_type="application/octet-stream", filename=wanted.name,
                            content_disposition_type="attachment")
    return FileResponse(wanted, media_type=media)


async def live_socket(websocket: WebSocket) -> None:
    """The Live tab: the page's camera frames in, what the stage shows for each out (see ``BrowserCamera``).

    The page sends ``{"type": "start", "width", "height", "yaml", "set"}``, then, after each ``ready`` or
    answer, one JPEG frame; each answer is ``{"type": "frame", ...figures}`` and the shown JPEG. A
    ``{"type": "style", ...}`` message changes the dream while it runs; a bad style is one ``error`` line.
    """
    from dreamvideo.media.images import fit_size
    from dreamvideo.studio.camera import BrowserCamera
    from dreamvideo.studio.controls import PREVIEW_SIDE

    studio: Studio = websocket.app.state.studio
    await websocket.accept()
    camera: BrowserCamera | None = None
    claimed = False
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                if camera is None:
                    await websocket.send_json({"type": "error", "error": "send a start message first"})
                    continue
                try:
                    jpeg, seconds = await run_in_threadpool(camera.show, message["bytes"])
                except DreamVideoError as exc:
                    await websocket.send_json({"type": "error", "error": str(exc)})
                    continue
                stats = camera.session.stats
                await websocket.send_json({"type": "frame", "index": camera.index, "server_ms": 1000 * seconds,
                                           "updates": stats.updates, "shown": stats.shown,
                                           "updates_per_second": stats.updates_per_second})
                await websocket.send_bytes(jpeg)
                continue
            try:
                data = json.loads(message.get("text") or "{}")
                style = studio.style(data.get("yaml", ""), data.get("set"))
                if camera is None:
                    size = fit_size(int(data["width"]), int(data["height"]), max_side=PREVIEW_SIDE, multiple=2)
                    claimed = claimed or studio.claim_live()  # before any await: one tab gets in
                    if not claimed:
                        raise MediaError("the Live tab is already running in another window; stop it there first")
                    look = await run_in_threadpool(studio.live_look, style, size)
                    camera = BrowserCamera(look, size)
                    await websocket.send_json({"type": "ready", "width": size[0], "height": size[1]})
                else:
                    camera.restyle(await run_in_threadpool(studio.live_look, style, camera.size))
                    await websocket.send_json({"type": "styled"})
            except DreamVideoError as exc:
                await websocket.send_json({"type": "error", "error": exc.line()})
            except (ValueError, KeyError, TypeError) as exc:
                await websocket.send_json({"type": "error", "error": f"bad message: {exc}"})
    except WebSocketDisconnect:
        return
    finally:
        if camera is not None:
            await run_in_threadpool(camera.close)
        if claimed:
            studio.release_live()


async def library_error(request: Request, exc: DreamVideoError) -> Response:
    return JSONResponse({"error": exc.line()}, status_code=429 if isinstance(exc, QueueFull) else 400)


async def bad_request(request: Request, exc: Exception) -> Response:
    """A malformed request (a missing field, a value of the wrong type), not a crash."""
    return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)


async def gone(request: Request, exc: ClientDisconnect) -> Response:
    return Response(status_code=400)


ROUTES = [
    Route("/", index), *(Route(f"/{name}", asset) for name in ASSETS), Route("/api/options", options),
    Route("/api/upload", upload, methods=["POST"]), Route("/api/uploads", upload_list),
    Route("/api/analyse/{upload:str}", analyse), Route("/api/timeline", timeline, methods=["POST"]),
    Route("/api/style", style, methods=["POST"]),
    Route("/api/job", job, methods=["POST"]), Route("/api/preview", preview, methods=["POST"]),
    Route("/api/original", original, methods=["POST"]), Route("/api/clip", clip, methods=["POST"]),
    Route("/api/clip/progress", clip_progress), Route("/api/render", render, methods=["POST"]),
    Route("/api/jobs", jobs), Route("/api/jobs/{job:str}/cancel", cancel, methods=["POST"]),
    Route("/api/jobs/{job:str}/remove", remove, methods=["POST"]), Route("/files/{path:path}", files),
    WebSocketRoute("/api/live", live_socket),
]
HANDLERS: dict[Any, Any] = {DreamVideoError: library_error, ValueError: bad_request, KeyError: bad_request,
                            TypeError: bad_request, ClientDisconnect: gone}


def create_app(studio: Studio, *, token: str | None, host: str = "127.0.0.1", port: int = 0) -> Starlette:
    """The studio's app: its routes behind the guard, the render queue started and stopped with it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        studio.renders.start()
        try:
            yield
        finally:
            await run_in_threadpool(studio.renders.stop)

    app = Starlette(routes=ROUTES, exception_handlers=HANDLERS, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, hosts=allowed_hosts(host), port=port,
                                           max_upload=studio.uploads.max_upload)])
    app.state.studio = studio
    return app


def serve(out: str | Path, host: str = "127.0.0.1", port: int = 0, ready: Callable[[str], None] = print,
          max_upload: int | None = None, token: str | None = None, no_token: bool = False,
          max_queue: int | None = None) -> None:
    """Run the studio until interrupted; ``ready`` gets its address (with the token) once it listens.
    ``token``: a new random one by default; ``no_token`` for none (only on a loopback host)."""
    token = token_for(host, token, no_token)
    limits = {k: v for k, v in (("max_upload", max_upload), ("max_queue", max_queue)) if v}
    studio = Studio(out, **limits)
    server = Server(lambda port: create_app(studio, token=token, host=host, port=port), host, port, token,
                    lifespan="on")
    ready(server.address)
    server.run()
