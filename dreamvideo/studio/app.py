"""The studio's web layer: a Starlette app over a ``Studio``, and ``serve`` to run it with uvicorn.

Every route takes JSON (or, for an upload, the file's bytes as the body) and answers JSON, a PNG or a
file from the output folder; a bad request is answered with one line, ``{"error": ...}``, status 400.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dreamvideo.errors import ConfigError, DreamVideoError
from dreamvideo.studio.session import Studio, controls


def _error(exc: DreamVideoError) -> JSONResponse:
    line = "; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc)
    return JSONResponse({"error": line}, status_code=400)


def _guarded(handler: Callable) -> Callable:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except DreamVideoError as exc:
            return _error(exc)
        except (ValueError, KeyError, TypeError) as exc:  # a malformed request, not a crash
            return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)

    return run


async def _json(request: Request) -> dict[str, Any]:
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    return body


def create_app(studio: Studio) -> Starlette:
    page = resources.files("dreamvideo.studio").joinpath("page.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def options(request: Request) -> Response:
        from dreamvideo.models import get_spec, list_models

        models = {}
        for name in list_models():
            spec = get_spec(name)
            models[name] = {"description": spec.description, "default_layers": list(spec.default_layers),
                            "layers": [{"name": l.name, "channels": l.channels, "stride": l.stride}
                                       for l in spec.layers]}
        presets = studio.presets()
        return JSONResponse({"presets": presets, "models": models, "default": presets.get("classic", "")})

    async def upload(request: Request) -> Response:
        name = unquote(request.headers.get("x-filename", "upload"))[:200]
        part, size = studio.new_part(), 0
        try:
            with part.open("wb") as f:
                async for chunk in request.stream():
                    size = studio.count(name, size, chunk)
                    f.write(chunk)
            found = await run_in_threadpool(studio.accept, name, part)
        finally:
            part.unlink(missing_ok=True)
        return JSONResponse(found.public())

    async def style(request: Request) -> Response:
        body = await _json(request)
        found, text = await run_in_threadpool(studio.style, body.get("yaml", ""), body.get("set"))
        return JSONResponse({"yaml": text, "values": controls(found)})

    async def preview(request: Request) -> Response:
        body = await _json(request)
        picture, seconds = await run_in_threadpool(studio.preview, body["upload"], body.get("yaml", ""),
                                                   body.get("set"), float(body.get("time", 0)))
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png", headers={"X-Seconds": f"{seconds:.2f}"})

    async def clip(request: Request) -> Response:
        body = await _json(request)
        path = await run_in_threadpool(studio.preview_clip, body["upload"], body.get("yaml", ""), body.get("set"),
                                       float(body.get("time", 0)))
        return JSONResponse({"url": "/files/" + path.relative_to(studio.out).as_posix()})

    async def render(request: Request) -> Response:
        body = await _json(request)
        job = await run_in_threadpool(studio.submit, body["upload"], body.get("yaml", ""), body.get("set"),
                                      float(body.get("seconds", 4)))
        return JSONResponse(job.public(studio.out))

    async def jobs(request: Request) -> Response:
        return JSONResponse([job.public(studio.out) for job in studio.jobs])

    async def files(request: Request) -> Response:
        # only files inside the output folder, whatever the path says
        wanted = (studio.out / request.path_params["path"]).resolve()
        if not wanted.is_relative_to(studio.out) or not wanted.is_file() or wanted.name.startswith("."):
            return JSONResponse({"error": "no such file"}, status_code=404)
        return FileResponse(wanted)

    routes = [
        Route("/", index), Route("/api/options", _guarded(options)),
        Route("/api/upload", _guarded(upload), methods=["POST"]), Route("/api/style", _guarded(style), methods=["POST"]),
        Route("/api/preview", _guarded(preview), methods=["POST"]), Route("/api/clip", _guarded(clip), methods=["POST"]),
        Route("/api/render", _guarded(render), methods=["POST"]), Route("/api/jobs", _guarded(jobs)),
        Route("/files/{path:path}", files),
    ]
    return Starlette(routes=routes)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(out: str | Path, host: str = "127.0.0.1", port: int = 0, ready: Callable[[str], None] = print,
          max_upload: int | None = None) -> None:
    """Run the studio until interrupted; ``ready`` gets its address once it listens."""
    import uvicorn

    studio = Studio(out, **({"max_upload": max_upload} if max_upload else {}))
    port = port or free_port(host)
    config = uvicorn.Config(create_app(studio), host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    original = server.startup

    async def startup(sockets=None) -> None:  # the address is printed once the server listens
        await original(sockets)
        ready(f"http://{host if ':' not in host else f'[{host}]'}:{port}/")

    server.startup = startup
    try:
        server.run()
    finally:
        studio.close()
