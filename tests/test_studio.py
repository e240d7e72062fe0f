"""`dreamvideo studio`: the API's checks over real HTTP, the attacks it must refuse, and the page driven in a
real browser through the address the command prints (Debian's chromium through Playwright; skipped where
neither can be had)."""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from dreamvideo.studio.app import create_app  # noqa: E402
from dreamvideo.web.server import listen  # noqa: E402
from dreamvideo.studio.session import Studio  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = "model: tiny\noctaves: 1\niterations: 2\noutput: {max_side: 64}\n"
TOKEN = "test-token-0123456789"


def eventually(check, what: str, seconds: float = 60, every: float = 0.05):
    """``check()``'s first true answer; a clear failure after ``seconds`` (a deadline only so that a broken
    test fails rather than hangs: never an assertion on speed)."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s")
        time.sleep(every)
    return found


def first_line(stream, what: str, seconds: float = 120) -> str:
    """The next line of a process's output, failing after ``seconds`` instead of waiting for ever."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=seconds)
    except queue.Empty:
        raise AssertionError(f"{what} printed nothing within {seconds:g} s") from None


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


class Hold:
    """Holds the next video or zoom render that reaches frame ``at`` until ``release``: its first chunk
    (frames 0-15) gets written, and it cannot finish before the test acts, however fast the machine."""

    def __init__(self, monkeypatch, at: int = 16):
        from dreamvideo.look import Look

        self.reached, self.released = threading.Event(), threading.Event()
        dream = Look.dream

        def held(look, image, index, *args, **kwargs):
            if index >= at and not self.released.is_set():
                self.reached.set()
                self.released.wait(300)  # bounded: a failed test cannot leave the render waiting for ever
            return dream(look, image, index, *args, **kwargs)

        monkeypatch.setattr(Look, "dream", held)

    def wait(self, renders: Path) -> None:
        """Until the render is held with its first chunk complete in ``renders``."""
        eventually(self.reached.is_set, "the render did not reach the held frame", 300)
        eventually(lambda: list(renders.glob(".*.dreamvideo/chunk_*_*.mkv")), "the held render's first chunk", 120)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def hold(monkeypatch):
    """``hold()`` holds the next render (see ``Hold``); whatever is held is let go at the end of the test."""
    holds: list[Hold] = []

    def start(at: int = 16) -> Hold:
        holds.append(Hold(monkeypatch, at))
        return holds[-1]

    yield start
    for held in holds:
        held.release()


class Server:
    """A studio on a free port, in this process; ``request`` speaks raw HTTP (any Host, any header)."""

    def __init__(self, out: Path, host: str = "127.0.0.1", **limits):
        self.studio = Studio(out, **limits)
        self.host = host
        sock = listen(host)
        self.port = sock.getsockname()[1]
        self.origin = f"http://{host if ':' not in host else f'[{host}]'}:{self.port}"
        app = create_app(self.studio, token=TOKEN, host=host, port=self.port)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        eventually(lambda: self.server.started or not self.thread.is_alive(), f"the studio on {self.origin} to start")
        assert self.server.started, f"the studio on {self.origin} did not start"

    def request(self, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None,
                auth: str | None = "bearer") -> tuple[int, dict, bytes]:
        """``auth``: "bearer", "cookie" (the page's way: cookie, Origin and the page's header), or None."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Host": self.origin.removeprefix("http://")}
        if auth == "bearer":
            sent["Authorization"] = f"Bearer {TOKEN}"
        elif auth == "cookie":
            sent.update({"Cookie": f"dreamvideo_{self.port}={TOKEN}", "Origin": self.origin, "X-Dreamvideo": "1"})
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}  # None drops a header
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for key, value in sent.items():
                conn.putheader(key, value)
            if data is not None and "Content-Length" not in sent:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders()
            if data is not None:
                try:
                    conn.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused before the body was read: the answer is waiting
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def post(self, path: str, body: bytes | dict, headers: dict | None = None, **kw) -> tuple[int, bytes]:
        status, _, data = self.request("POST", path, body, headers, **kw)
        return status, data

    def get(self, path: str, **kw) -> tuple[int, bytes]:
        status, _, data = self.request("GET", path, **kw)
        return status, data

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("studio") / "out", max_upload=2_000_000, max_queue=2)
    yield running
    running.stop()


def upload(server: Server, path: Path, name: str | None = None, **kw) -> tuple[int, dict]:
    status, body = server.post("/api/upload", path.read_bytes(), {"X-Filename": name or path.name}, **kw)
    return status, json.loads(body)


def stored(server: Server) -> list[str]:
    return sorted(p.name for p in (server.studio.out / "uploads").iterdir())


def jobs_of(server: Server) -> dict[str, dict]:
    return {j["id"]: j for j in json.loads(server.get("/api/jobs")[1])}


def wait_for(server: Server, ids: list[str], statuses: set[str], seconds: float = 300) -> dict[str, dict]:
    """The jobs once all of ``ids`` are in one of ``statuses`` (the deadline only so that nothing hangs)."""
    seen: dict[str, dict] = {}

    def settled() -> dict[str, dict] | None:
        seen.update(jobs := jobs_of(server))
        return jobs if all(jobs[i]["status"] in statuses for i in ids) else None

    try:
        return eventually(settled, f"jobs {ids} to be {sorted(statuses)}", seconds, every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; they are {[seen.get(i) for i in ids]}") from None


def test_uploads_are_checked_and_kept_inside_the_folder(server, tmp_path):
    status, photo = upload(server, SAMPLES / "chelsea.jpg", "../../evil.jpg")
    assert status == 200 and (photo["kind"], photo["width"], photo["height"]) == ("image", 451, 300)
    media = [p for p in (server.studio.out / "uploads").iterdir() if p.suffix != ".json"]
    assert all(p.parent == server.studio.out / "uploads" and "evil" not in p.name for p in media)
    status, video = upload(server, SAMPLES / "clip.mp4", auth="cookie")  # the page's own way
    assert status == 200 and video["kind"] == "video" and video["duration"] == pytest.approx(3.0, abs=0.1)

    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "big.bin").write_bytes(b"\0" * 2_100_000)
    (tmp_path / "empty.png").write_bytes(b"")
    before = stored(server)
    for path, code, match in [(tmp_path / "notes.jpg", 400, "neither a photo, a video nor a song"),
                              (tmp_path / "big.bin", 413, "larger than the studio's limit of 2 MB"),
                              (tmp_path / "empty.png", 400, "is empty")]:
        status, answer = upload(server, path)
        assert status == code and match in answer["error"] and "\n" not in answer["error"], answer
    assert stored(server) == before  # nothing of the bad ones


def test_styles_round_trip_as_config_yaml_and_bad_ones_get_one_line(server, tmp_path):
    from dreamvideo.config import load_style

    status, body = server.post("/api/style", {"yaml": (SAMPLES.parent / "pipelines" / "dogs.yaml").read_text(),
                                              "set": {"iterations": 7, "colors": "original"}})
    answer = json.loads(body)
    assert status == 200 and answer["values"]["iterations"] == 7 and answer["values"]["colors"] == "original"
    (tmp_path / "s.yaml").write_text(answer["yaml"])
    assert load_style(tmp_path / "s.yaml") == load_style("dogs", ["iterations=7", "colors=original"])
    (tmp_path / "other.yaml").write_text("layers: [blocks.2]\n")  # a style file outside the studio's folder
    inside = server.studio.out / "uploads" / "mask.png"
    shutil.copy(SAMPLES / "astronaut_mask.png", inside)
    for yaml_text, match in [("iterashuns: 3", "did you mean 'iterations'"), ("a: [1", "not valid YAML"),
                             ("mask: /etc/hostname", "reads files only from its own folder"),
                             (f"regions: [{{mask: {inside}, style: {tmp_path / 'other.yaml'}}}]",
                              "regions.0.style: the studio reads files only from its own folder"),
                             ("model: nope", "model:")]:
        status, body = server.post("/api/style", {"yaml": yaml_text})
        assert status == 400 and match in json.loads(body)["error"], body
    inside.unlink()


def test_options_carry_the_controls_and_limits_the_page_shows(server):
    options = json.loads(server.get("/api/options")[1])
    assert options["limits"] == {"preview_side": 320, "clip_seconds": 3.0, "zoom_seconds": 600,
                                 "max_upload": 2_000_000, "max_queue": 2}
    assert [c["key"] for c in options["controls"]] == ["octaves", "iterations", "step_size", "blend", "zoom.scale",
                                                       "zoom.rotate"]
    assert all(c["help"] and c["min"] < c["max"] and c["for"] in ("any", "image", "video") for c in options["controls"])
    assert {c["key"] for c in options["controls"] if c["for"] == "image"} == {"zoom.scale", "zoom.rotate"}
    assert set(options["help"]) == {"preset", "model", "layer", "channels", "colors", "time", "song", "cycle", "bpm",
                                    "tap", "offset", "meter", "zoom", "lane"}
    page = server.get("/page.js")[1].decode()
    assert "320" not in page and "3 s" not in page and "600" not in page  # read from the server


def test_preview_clip_render_cancel_and_resume(server, hold):
    _, video = upload(server, SAMPLES / "clip.mp4")
    status, png = server.post("/api/preview", {"upload": video["id"], "yaml": SMALL, "time": 1.5})
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, body = server.post("/api/clip", {"upload": video["id"], "yaml": SMALL, "time": 1.0})
    assert status == 200
    from dreamvideo.media.ffmpeg import probe

    clip = server.studio.out / json.loads(body)["url"].removeprefix("/files/")
    assert probe(clip).frames == 72  # 3 s around the chosen time, of a 3 s clip at 24 fps

    held = hold()  # the first render stops at frame 16, its first chunk of 16 written, until it is let go
    style = SMALL + "seed: 6\n"
    first = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": style})[1])
    wait_for(server, [first["id"]], {"running"})
    second = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 3\n"})[1])
    third = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 4\n"})[1])
    assert second["status"] == third["status"] == "queued"  # they wait for the first
    status, body = server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 5\n"})
    assert status == 429 and "the render queue is full (2 waiting)" in json.loads(body)["error"]
    assert json.loads(server.post(f"/api/jobs/{third['id']}/cancel", {})[1])["status"] == "cancelled"

    renders = server.studio.out / "renders"
    held.wait(renders)  # cancel the first while it runs, after its first chunk
    assert jobs_of(server)[first["id"]]["status"] == "running"
    assert server.post(f"/api/jobs/{first['id']}/cancel", {})[0] == 200
    held.release()
    jobs = wait_for(server, [first["id"], second["id"]], {"done", "cancelled", "failed"})
    assert jobs[first["id"]]["status"] == "cancelled" and jobs[third["id"]]["status"] == "cancelled"
    assert jobs[first["id"]]["done"] < jobs[first["id"]]["total"] == 72  # stopped short of the whole clip
    assert jobs[second["id"]]["status"] == "done" and jobs[second["id"]]["done"] == 72
    kept = [p for p in renders.glob(".*.dreamvideo") if list(p.glob("chunk_*_*.mkv"))]
    assert len(kept) == 1  # the cancelled render's resumable state

    again = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": style})[1])
    done = wait_for(server, [again["id"]], {"done", "failed"})[again["id"]]
    assert done["status"] == "done" and done["done"] == done["total"] == 72
    assert probe(server.studio.out / done["url"].removeprefix("/files/")).frames == 72
    assert not kept[0].exists()  # resumed, finished, its state removed


# --- attacks: each must be refused, with nothing stored or queued ----------------------------------------


def nothing_changed(server: Server, before: tuple[list[str], int]) -> bool:
    return (stored(server), len(server.studio.renders.jobs)) == before


@pytest.fixture
def photo_id(server):
    return upload(server, SAMPLES / "chelsea.jpg")[1]["id"]


def attacks(server: Server, photo_id: str) -> list[tuple[str, str, dict, str | None, set[int]]]:
    """(name, path, headers, auth, refused with)"""
    port, evil = server.port, {"Origin": "http://evil.example"}
    return [
        ("another host", "/api/upload", {"Host": "evil.example"}, "bearer", {400, 403}),
        ("a rebinding host", "/api/upload", {"Host": f"localhost.evil.example:{port}"}, "bearer", {400, 403}),
        ("a wildcard dns host", "/api/upload", {"Host": f"127.0.0.1.nip.io:{port}"}, "bearer", {400, 403}),
        ("no token", "/api/upload", {"Origin": server.origin}, None, {401}),
        ("a wrong token", "/api/upload", {"Authorization": "Bearer wrong"}, None, {403}),
        ("a wrong cookie", "/api/upload", {"Cookie": f"dreamvideo_{port}=wrong", "Origin": server.origin}, None, {403}),
        ("a cross-origin form upload", "/api/upload", {**evil, "Content-Type": "text/plain"}, None, {401, 403}),
        ("a cross-origin form upload with the cookie", "/api/upload", {**evil, "Content-Type": "text/plain"},
         "cookie", {403}),
        ("Origin: null", "/api/upload", {"Origin": "null"}, "cookie", {403}),
        ("Sec-Fetch-Site: cross-site", "/api/upload", {"Sec-Fetch-Site": "cross-site"}, "cookie", {403}),
        ("a cookie without the page's header", "/api/upload", {"X-Dreamvideo": None}, "cookie", {403}),
        ("a cookie without an Origin", "/api/upload", {"Origin": None}, "cookie", {403}),
        ("a bearer with a foreign Origin", "/api/upload", evil, "bearer", {403}),
    ] + [(f"a cross-origin text/plain post to {path}", path, {**evil, "Content-Type": "text/plain"}, "cookie", {403})
         for path in ("/api/render", "/api/style", "/api/preview", "/api/clip", "/api/timeline")]


def test_every_attack_is_refused_and_changes_nothing(server, photo_id):
    before = (stored(server), len(server.studio.renders.jobs))
    body = (SAMPLES / "chelsea.jpg").read_bytes()
    for name, path, headers, auth, codes in attacks(server, photo_id):
        payload = body if path == "/api/upload" else json.dumps({"upload": photo_id, "yaml": SMALL}).encode()
        status, _, answer = server.request("POST", path, payload, headers, auth=auth)
        assert status in codes, (name, status, answer)
        assert "error" in json.loads(answer) and "\n" not in json.loads(answer)["error"], (name, answer)
        assert nothing_changed(server, before), name
    for name, host in [("another host", "evil.example"), ("rebinding", f"localhost.evil.example:{server.port}")]:
        for path in ("/", "/api/jobs", "/api/options", f"/files/uploads/{photo_id}.jpg"):
            assert server.request("GET", path, headers={"Host": host})[0] in (400, 403), (name, path)
    for path in ("/", "/api/jobs", "/page.js", f"/files/uploads/{photo_id}.jpg"):
        assert server.get(path, auth=None)[0] == 401, path
        assert server.request("GET", path, headers={"Authorization": "Bearer nope"}, auth=None)[0] == 403, path


def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_address(server):
    status, headers, _ = server.request("GET", f"/?token={TOKEN}", auth=None)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"dreamvideo_{server.port}={TOKEN}") and "HttpOnly" in cookie and \
        "SameSite=Strict" in cookie
    assert server.request("GET", "/?token=wrong", auth=None)[0] == 403
    status, headers, page = server.request("GET", "/", headers={"Cookie": f"dreamvideo_{server.port}={TOKEN}"},
                                           auth=None)
    assert status == 200 and b"dreamvideo studio" in page
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_hosts_with_and_without_port_and_ipv6_loopback(server, tmp_path):
    for host in ("127.0.0.1", f"127.0.0.1:{server.port}", "localhost", f"localhost:{server.port}", "LOCALHOST"):
        assert server.request("GET", "/api/jobs", headers={"Host": host})[0] == 200, host
    if not ipv6_loopback():  # decided before the test: any error below is a failure
        pytest.skip("no IPv6 loopback here (::1 cannot be bound)")
    v6 = Server(tmp_path / "v6", host="::1")
    try:
        for host in ("[::1]", f"[::1]:{v6.port}"):
            assert v6.request("GET", "/api/jobs", headers={"Host": host})[0] == 200, host
        status, _ = upload(v6, SAMPLES / "chelsea.jpg", auth="cookie")  # Origin http://[::1]:PORT
        assert status == 200
        assert v6.request("GET", "/api/jobs", headers={"Host": "[::2]"})[0] == 403
    finally:
        v6.stop()


def read_answer(sock: socket.socket) -> str:
    """What the server answers, up to the end of its JSON body (it closes the connection after it)."""
    data = b""
    while not data.endswith(b"}"):
        try:
            more = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            break
        if not more:
            break
        data += more
    return data.decode(errors="replace")


def test_a_huge_declared_upload_is_refused_before_it_is_read(server):
    before = (stored(server), len(server.studio.renders.jobs))
    # no byte of the body is ever sent: an answer at all is one given before reading it (the timeout is
    # only so that a server waiting for the body fails the test rather than hangs it)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall((f"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {TOKEN}"
                      "\r\nContent-Length: 50000000000\r\n\r\n").encode())
        try:
            answer = sock.recv(4096).decode()
        except TimeoutError:
            raise AssertionError("no answer to a huge declared upload: the server waits for its body") from None
    assert answer.startswith("HTTP/1.1 413")  # its one line: see the 2 MB upload above
    assert nothing_changed(server, before)
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:  # chunked: cut at the cap
        sock.sendall((f"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {TOKEN}"
                      "\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"\0" * 450_000
        try:
            for _ in range(5):
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server stopped reading and answered
        answer = read_answer(sock)
    assert answer.startswith("HTTP/1.1 413")  # (its body may be lost: the server closes while the client sends)
    assert nothing_changed(server, before)


def test_pages_and_scripts_cannot_be_uploaded_or_served_as_pages(server, tmp_path):
    before = (stored(server), len(server.studio.renders.jobs))
    (tmp_path / "x.html").write_text("<html><script>alert(1)</script></html>")
    (tmp_path / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    for path in (tmp_path / "x.html", tmp_path / "x.svg"):
        status, answer = upload(server, path)
        assert status == 400 and "neither a photo, a video nor a song" in answer["error"]
    assert nothing_changed(server, before)
    (server.studio.out / "renders" / "planted.html").write_text("<script>alert(1)</script>")
    status, headers, _ = server.request("GET", "/files/renders/planted.html")
    assert status == 200 and headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith("attachment") and headers["x-content-type-options"] == "nosniff"
    (server.studio.out / "renders" / "planted.html").unlink()


def test_files_are_served_from_the_folder_only(server, tmp_path):
    (server.studio.out.parent / "secret.txt").write_text("no")
    outside = tmp_path / "outside.txt"
    outside.write_text("no")
    os.symlink(outside, server.studio.out / "renders" / "link.txt")
    for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/%252e%252e/secret.txt",
                 "/files/uploads/../../secret.txt", "/files/uploads/%2e%2e%2f%2e%2e%2fsecret.txt",
                 "/files/renders/link.txt", "/files/"):
        status, body = server.get(path)
        assert status == 404 and b"no" not in body.replace(b"no such", b""), path
    (server.studio.out / "renders" / "link.txt").unlink()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def rendered(page, count: int = 1) -> None:
    """Until the page shows ``count`` finished renders with their video; a failed render fails the test at
    once, with its line (the deadline is only so that a render that never ends fails rather than hangs)."""
    page.wait_for_function(f"""() => document.querySelector('.job[data-status=failed]') ||
        document.querySelectorAll('.job[data-status=done] video.result').length >= {count}""", timeout=600_000)
    failed = page.locator(".job[data-status=failed] .what")
    assert failed.count() == 0, failed.all_inner_texts()


@pytest.fixture
def studio_command(tmp_path):
    """`dreamvideo studio` as a user starts it, and the address it prints."""
    out = tmp_path / "studio files"
    proc = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = first_line(proc.stdout, "`dreamvideo studio`")
        assert line.startswith("dreamvideo studio on http://127.0.0.1:"), line
        yield line.split()[3], out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_command_prints_its_address_with_a_token(studio_command, tmp_path):
    url, out = studio_command
    assert "?token=" in url and len(url.split("?token=")[1]) >= 24
    port = int(url.split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", url.split(str(port))[1])
    swap = conn.getresponse()
    swap.read()
    assert swap.status == 303 and swap.getheader("location") == "/"
    cookie = swap.getheader("set-cookie").split(";")[0]
    for headers, status in (({}, 401), ({"Cookie": cookie}, 200)):
        conn.request("GET", "/api/jobs", headers=headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == status
    conn.close()
    assert sorted(p.name for p in out.iterdir()) == ["previews", "renders", "uploads"]
    (tmp_path / "file").write_text("")
    result = subprocess.run([sys.executable, "-m", "dreamvideo", "studio", "--out", str(tmp_path / "file")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --out {str(tmp_path / 'file')!r} is a file; give a folder"
    result = subprocess.run([sys.executable, "-m", "dreamvideo", "studio", "--host", "0.0.0.0", "--no-token"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--no-token is allowed only on a loopback host" in result.stderr
    assert "Traceback" not in result.stderr


def test_listening_on_the_network_warns_in_one_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(tmp_path / "o"), "--host",
                             "0.0.0.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first_line(proc.stdout, "`dreamvideo studio`").startswith("dreamvideo studio on http://127.0.0.1:")
        warning = first_line(proc.stderr, "`dreamvideo studio --host 0.0.0.0`")
        assert warning.startswith("warning: listening on 0.0.0.0: anyone on the network who has the token")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="no chromium here (Debian: apt-get install -y chromium)")
def test_the_page_in_a_real_browser(studio_command, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _ = studio_command
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)  # deadlines only, so that nothing hangs
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        assert "token" not in page.url  # swapped for a cookie
        page.wait_for_function("() => document.getElementById('yaml').value.includes('blocks.4')")
        assert page.locator("#sliders input[type=range]").count() == 6
        assert page.inner_text("#clip-btn") == "Preview 3 s"

        # a photo: it is previewed; a slider changes the style and the preview follows
        page.set_input_files("#file", str(SAMPLES / "chelsea.jpg"))
        page.wait_for_function("() => document.getElementById('preview').dataset.version", timeout=60_000)
        page.wait_for_function("() => document.getElementById('preview').complete")
        before = page.locator("#preview").screenshot()
        version = page.eval_on_selector("#preview", "e => e.dataset.version")
        page.eval_on_selector("#step_size", "e => { e.value = 0.05; e.dispatchEvent(new Event('input'));"
                                            "e.dispatchEvent(new Event('change')); }")
        page.wait_for_function(f"() => document.getElementById('preview').dataset.version > {version}", timeout=60_000)
        page.wait_for_function("() => document.getElementById('preview').complete")
        assert "step_size: 0.05" in page.input_value("#yaml")
        assert page.locator("#preview").screenshot() != before

        # a bad file gets one line on the page, and the page goes on working
        (tmp_path / "notes.jpg").write_text("not a picture")
        page.set_input_files("#file", str(tmp_path / "notes.jpg"))
        page.wait_for_selector("#error:has-text('neither a photo, a video nor a song')")

        # the sample clip at a small size: rendered through the queue, then played
        page.set_input_files("#file", str(SAMPLES / "clip.mp4"))
        page.wait_for_function("() => document.getElementById('render-btn').textContent.includes('video')")
        page.fill("#yaml", SMALL)
        page.click("#apply-yaml")
        page.click("#render-btn")  # at once: the render waits for the style just applied, and is 64 px wide
        rendered(page)
        played = page.eval_on_selector(".job[data-status=done] video.result", """async v => {
            await new Promise(r => v.readyState >= 2 ? r() : v.addEventListener('loadeddata', r));
            await v.play(); return {duration: v.duration, width: v.videoWidth}; }""")
        assert played["duration"] == pytest.approx(3.0, abs=0.1) and played["width"] == 64
        page.wait_for_function("() => document.querySelector('.job[data-status=done] video.result').currentTime > 0")
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()


def test_a_restarted_studio_knows_its_uploads(tmp_path):
    first = Studio(tmp_path / "out")
    part = first.uploads.new_part()
    part.write_bytes((SAMPLES / "chelsea.jpg").read_bytes())
    photo = first.uploads.accept("cat.jpg", part)
    again = Studio(tmp_path / "out")
    assert again.uploads.get(photo.id) == photo
    picture, _ = again.previews.still(photo, again.style("model: tiny\n"))
    assert picture.shape == (212, 320, 3)  # a render larger than a preview: previewed at 320 px
    picture, _ = again.previews.still(photo, again.style(SMALL))
    assert picture.shape == (42, 64, 3)  # one that fits: at the render's own size


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory) -> Path:
    """The sample clip as Chromium's fake camera: a Y4M whose header says C420 (ffmpeg writes C420mpeg2,
    which Chromium refuses)."""
    from dreamvideo.media.ffmpeg import ffmpeg_exe

    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(SAMPLES / "clip.mp4"), "-pix_fmt", "yuv420p",
                    "-f", "yuv4mpegpipe", str(path)], check=True)
    data = path.read_bytes()
    end = data.index(b"\n")
    path.write_bytes(data[:end].replace(b"C420mpeg2", b"C420") + data[end:])
    return path


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="no chromium here (Debian: apt-get install -y chromium)")
def test_the_live_tab_dreams_the_browsers_camera(studio_command, fake_camera):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _ = studio_command
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)  # deadlines only, so that nothing hangs
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_function("() => document.getElementById('yaml').value.includes('blocks.4')")
        page.click("#tab-live")
        page.fill("#yaml", "model: tiny\nlayers: [block2]\noctaves: 2\niterations: 4\nstep_size: 0.005\n"
                  "warm_octaves: 1\nwarm_iterations: 1\n")
        page.click("#apply-yaml")
        page.wait_for_function("() => document.getElementById('yaml').value.includes('block2')")
        page.click("#live-start")
        page.wait_for_function("() => +document.getElementById('live-out').dataset.frames > 30", timeout=300_000)

        def difference() -> float:  # the dreamed frame against the camera's frame it was dreamed from
            return page.evaluate("""() => {
                const out = document.getElementById('live-out'), w = out.width, h = out.height;
                const a = live.answered.getContext('2d').getImageData(0, 0, w, h).data;
                const b = out.getContext('2d').getImageData(0, 0, w, h).data;
                let d = 0; for (let i = 0; i < a.length; i += 4) d += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]);
                return d / (a.length / 2); }""")

        def dreamed() -> float:  # the median over a dozen frames spread over more than the clip's 3 s loop,
            values = []         # so a moment's luck (the loop's cut restarting the chain) cannot decide
            for _ in range(12):
                shown = int(page.eval_on_selector("#live-out", "e => e.dataset.frames"))
                page.wait_for_function(f"() => +document.getElementById('live-out').dataset.frames > {shown + 7}")
                values.append(difference())
            return sorted(values)[6]

        # measured on dreams, not on the camera as it is: once a few dream updates are in (the machine's
        # speed decides how many frames that takes, so the test waits for updates, not frames)
        page.wait_for_function("() => live.figures && live.figures.updates >= 3", timeout=300_000)
        weak = dreamed()
        status = page.inner_text("#live-status")
        assert "fps" in status and "latency" in status and "dream updates/s" in status
        assert float(page.eval_on_selector("#live-out", "e => e.dataset.fps")) > 0  # (how many: the machine's)
        # a slider moves: the dream changes while it runs
        frames = int(page.eval_on_selector("#live-out", "e => e.dataset.frames"))
        page.eval_on_selector("#step_size", "e => { e.value = 0.06; e.dispatchEvent(new Event('input'));"
                                            "e.dispatchEvent(new Event('change')); }")
        page.wait_for_function("() => document.getElementById('yaml').value.includes('step_size: 0.06')")
        page.wait_for_function(f"() => +document.getElementById('live-out').dataset.frames > {frames + 40}",
                               timeout=300_000)
        changed = page.evaluate("() => live.figures.updates")  # the new style applies from the next update on
        page.wait_for_function(f"() => live.figures.updates >= {changed + 8}", timeout=300_000)
        strong = dreamed()
        assert weak > 1 and strong > 1.5 * weak, (weak, strong, page.inner_text("#error"))  # dreamed, and more so
        # a take is recorded from the shown frames
        page.click("#live-record")
        page.wait_for_function("() => live.chunks.length >= 3")  # a few of the recorder's 250 ms pieces
        page.click("#live-record")
        page.wait_for_selector("#live-take:not(.hidden)")
        assert int(page.eval_on_selector("#live-take", "e => e.dataset.bytes")) > 1000
        page.click("#live-stop")
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()


def add(studio: Studio, path: Path, name: str | None = None):
    part = studio.uploads.new_part()
    shutil.copy(path, part)
    return studio.uploads.accept(name or path.name, part)


def test_the_still_is_the_renders_first_frame_bit_for_bit(tmp_path):
    """What you preview is what you get: at the render's size, the still of a video's first frame is the
    render's first frame, and the still of a photo the zoom's first frame (lossless outputs, same device)."""
    from PIL import Image

    from dreamvideo.video.render import render_video
    from dreamvideo.video.zoom import ZoomOptions, zoom_video

    studio = Studio(tmp_path / "out")
    style = studio.style("octaves: 2\niterations: 3\noutput: {max_side: 96}\nseed: 4\n")
    for source, run in [(SAMPLES / "clip.mp4", lambda out: render_video(SAMPLES / "clip.mp4", out, style)),
                        (SAMPLES / "chelsea.jpg", lambda out: zoom_video(SAMPLES / "chelsea.jpg", out, style,
                                                                          ZoomOptions(frames=2)))]:
        upload = add(studio, source)
        still, _ = studio.previews.still(upload, style, 0.0)
        out = tmp_path / source.stem / "%03d.png"
        run(out)
        first = np.asarray(Image.open(out.parent / "000.png").convert("RGB"))
        assert still.shape == first.shape and np.array_equal(still, first), source.name
    other, _ = studio.previews.still(add(studio, SAMPLES / "clip.mp4"), studio.style(
        "octaves: 2\niterations: 3\noutput: {max_side: 96}\nseed: 5\n"))
    assert not np.array_equal(other, still)  # (a different seed: a different dream)


def test_the_still_at_any_moment_is_a_render_started_there(tmp_path):
    """Scrubbed to T, the still is frame 0 of `render --start T` (to PNG) with every key at its value at that
    moment of the song: a section that took over at 1 s, a schedule and the loudness the dream follows."""
    from PIL import Image

    from dreamvideo.video.render import RenderOptions, render_video

    studio = Studio(tmp_path / "out")
    text = ("model: tiny\ndevice: cpu\noctaves: 1\niterations: 2\noutput: {max_side: 96}\nlayers: [block1]\n"
            "schedule: {step_size: {0: 0.01, 3: 0.05}}\nreact: {iterations: {source: loudness, min: 1, max: 4}}\n"
            f"sections: [{{at: 1, style: {studio.out / 'late.yaml'}, crossfade: 0.5}}]\n")
    (studio.out / "late.yaml").write_text("model: tiny\ndevice: cpu\nlayers: [block3]\nseed: 9\n")
    style = studio.style(text)
    upload = add(studio, SAMPLES / "clip.mp4")
    stills = {}
    for at in (0.75, 2.0):  # in the crossfade, and after it
        stills[at], _ = studio.previews.still(upload, style, at)
        out = tmp_path / f"{at}" / "%03d.png"
        render_video(SAMPLES / "clip.mp4", out, style, RenderOptions(start=at, max_frames=1))
        first = np.asarray(Image.open(out.parent / "000.png").convert("RGB"))
        assert np.array_equal(stills[at], first), at
    alone = studio.style(text.split("sections:")[0])  # without the section, T = 2 s is another dream
    assert not np.array_equal(studio.previews.still(upload, alone, 2.0)[0], stills[2.0])


def test_the_same_file_twice_is_one_upload_and_its_render_is_reused(server):
    before = stored(server)
    first = upload(server, SAMPLES / "coffee.jpg")[1]
    again = upload(server, SAMPLES / "coffee.jpg", "another name.jpg")[1]
    assert first["id"] == again["id"] and len(stored(server)) == len(before) + 2  # one file and its record
    listed = json.loads(server.get("/api/uploads")[1])
    assert [u["id"] for u in listed].count(first["id"]) == 1
    style = SMALL + "zoom: {fps: 8}\n"
    job = json.loads(server.post("/api/render", {"upload": first["id"], "yaml": style, "seconds": 1})[1])
    done = wait_for(server, [job["id"]], {"done", "failed"})[job["id"]]
    assert done["status"] == "done" and done["label"].startswith("custom ")
    made = (server.studio.out / done["url"].removeprefix("/files/")).stat().st_mtime_ns
    reused = json.loads(server.post("/api/render", {"upload": again["id"], "yaml": style, "seconds": 1})[1])
    assert reused["status"] == "done" and reused["url"] == done["url"]  # nothing dreamed again
    assert (server.studio.out / done["url"].removeprefix("/files/")).stat().st_mtime_ns == made
    assert server.post(f"/api/jobs/{reused['id']}/remove", {})[0] == 200
    assert reused["id"] not in {j["id"] for j in json.loads(server.get("/api/jobs")[1])}


def test_styles_are_named_by_their_preset_or_custom_and_a_hash(server):
    dogs = json.loads(server.post("/api/style", {"yaml": (SAMPLES.parent / "pipelines" / "dogs.yaml").read_text()})[1])
    assert dogs["label"] == "dogs"
    changed = json.loads(server.post("/api/style", {"yaml": dogs["yaml"], "set": {"iterations": 3}})[1])
    assert changed["label"].startswith("custom ") and len(changed["label"]) == len("custom ") + 6
    for name, text in server.studio.presets().items():  # keys in bars too: the controls show bar 1
        status, body = server.post("/api/style", {"yaml": text})
        assert status == 200 and json.loads(body)["label"] == name, (name, body)


@pytest.fixture
def own_studio(tmp_path):
    """A studio of its own in this process (its renders can be held: see ``Hold``)."""
    running = Server(tmp_path / "studio files")
    yield running
    running.stop()


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="no chromium here (Debian: apt-get install -y chromium)")
def test_the_page_as_an_artist_uses_it(own_studio, hold):
    """A file chosen at once, a phone's width, a reload, pinned previews, the original held, cancel and
    resume, and the still equal to what the render makes of the same frame. The studio runs in this
    process, so that the render to cancel can be held at its frame 16 until it is cancelled."""
    sync_api = pytest.importorskip("playwright.sync_api")

    url, out = f"{own_studio.origin}/?token={TOKEN}", own_studio.studio.out
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        context = browser.new_context()  # one browser: the cookie the first visit got serves the second page
        context.set_default_timeout(120_000)  # deadlines only, so that nothing hangs
        phone = context.new_page()
        phone.set_viewport_size({"width": 400, "height": 800})
        # a file chosen before the page has even its options is not ignored: the options are held back
        # until the file is chosen
        options: list = []
        phone.route("**/api/options", lambda route: options.append(route))
        phone.goto(url)
        while not options:  # (the route's handler runs while Playwright waits)
            phone.wait_for_timeout(50)
        phone.set_input_files("#file", str(SAMPLES / "chelsea.jpg"))
        options[0].continue_()
        phone.unroute("**/api/options")
        phone.wait_for_function("() => document.getElementById('preview').dataset.version", timeout=300_000)
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 400  # no sideways scroll
        assert phone.eval_on_selector("#preview", "e => e.getBoundingClientRect().width") >= 300
        assert phone.eval_on_selector("#zoom_scale", "e => e.closest('label').offsetParent !== null")  # a photo
        phone.close()

        page = context.new_page()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(url.split("?")[0])  # the cookie is there: no token in the address any more
        page.wait_for_function("() => document.getElementById('yaml').value.includes('layers')")
        page.set_input_files("#file", str(SAMPLES / "clip.mp4"))
        page.wait_for_function("() => document.getElementById('render-btn').textContent.includes('video')")
        assert page.eval_on_selector("#zoom_scale", "e => e.closest('label').offsetParent === null")  # not for a video
        style = SMALL + "seed: 2\n"
        page.fill("#yaml", style)
        page.click("#apply-yaml")
        page.wait_for_function("() => document.getElementById('preview-status').textContent.includes(\"render's size\")",
                               timeout=300_000)
        assert page.input_value("#preset") == "custom"
        version = page.eval_on_selector("#preview", "e => e.dataset.version")
        page.click("#pin-btn")
        page.select_option("#preset", "textures")
        page.wait_for_function(f"() => document.getElementById('preview').dataset.version > {version}", timeout=300_000)
        page.click("#pin-btn")
        assert page.locator("#pins img").count() == 2
        page.fill("#yaml", style)
        page.click("#apply-yaml")
        page.wait_for_function("() => document.getElementById('preset').value === 'custom'")
        page.wait_for_function("() => document.getElementById('preview').complete && "
                               "document.getElementById('preview-status').textContent.startsWith('custom')",
                               timeout=300_000)
        still = np.array(page.eval_on_selector("#preview", """e => { const c = document.createElement('canvas');
            c.width = e.naturalWidth; c.height = e.naturalHeight; const g = c.getContext('2d'); g.drawImage(e, 0, 0);
            return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data)]; }"""), dtype=object)
        width, height = int(still[0]), int(still[1])
        still = np.array(still[2], np.uint8).reshape(height, width, 4)[..., :3]
        dreamed = page.locator("#preview").screenshot()
        page.dispatch_event("#original-btn", "pointerdown")
        page.wait_for_function("() => document.getElementById('preview').dataset.dream")
        page.wait_for_function("() => document.getElementById('preview').complete")
        assert page.locator("#preview").screenshot() != dreamed  # the original frame, held
        page.dispatch_event("#original-btn", "pointerup")

        # a reload restores the upload and the style
        page.reload()
        page.wait_for_function("() => document.getElementById('upload-info').textContent.includes('clip.mp4')")
        assert "seed: 2" in page.input_value("#yaml")

        # the render of that style starts with the still (through H.264: within its loss)
        page.click("#render-btn")
        rendered(page)
        from dreamvideo.media.ffmpeg import read_frames

        result = out / page.eval_on_selector(".job[data-status=done] a", "a => a.getAttribute('href')").removeprefix("/files/")
        first = next(read_frames(result, (width, height)))
        mse = float(((first.astype(float) - still) ** 2).mean())
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 30  # the same dream (another seed is 15-20 dB off)

        # cancel a running render: it stops; rendering it again resumes and finishes
        held = hold()  # the render stops at frame 16, its first chunk written, until it is cancelled
        page.fill("#yaml", style + "iterations: 3\n")
        page.click("#apply-yaml")
        page.wait_for_function("() => document.getElementById('yaml').value.includes('iterations: 3')")
        page.click("#render-btn")
        held.wait(out / "renders")
        with page.expect_response(lambda r: r.url.endswith("/cancel")) as cancelled:
            page.click(".job[data-status=running] .cancel")
        assert cancelled.value.ok
        held.release()
        page.wait_for_selector(".job[data-status=cancelled]")
        assert list((out / "renders").glob(".*.dreamvideo/chunk_*_*.mkv"))  # its resumable state
        page.click("#render-btn")
        rendered(page, 2)
        assert not list((out / "renders").glob(".*.dreamvideo"))  # resumed, finished: its state removed
        browser.close()


def test_the_analyse_api_answers_what_the_command_prints(server, tmp_path):
    """GET /api/analyse/{upload}: a script's way to the tracker, behind the guard like everything else."""
    from music import Loop, drum_loop, write_wav
    from typer.testing import CliRunner

    from dreamvideo.cli import app
    from dreamvideo.media.ffmpeg import ffmpeg_exe

    song = tmp_path / "song.wav"
    write_wav(song, drum_loop(Loop("104", 104, bars=6)).samples)
    clip = tmp_path / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-i",
                    str(song), "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(clip)], check=True)
    found = upload(server, clip)[1]
    status, body = server.get(f"/api/analyse/{found['id']}")
    assert status == 200
    data = json.loads(body)
    printed = json.loads(CliRunner().invoke(app, ["analyse", str(clip), "--json"]).stdout)
    assert {**data, "file": "x"} == {**printed, "file": "x"} and data["file"] == found["name"]
    assert data["tempo"] == pytest.approx(104, rel=0.01) and data["bars"] >= 5
    assert server.get(f"/api/analyse/{found['id']}", auth=None)[0] == 401
    photo = upload(server, SAMPLES / "coffee.jpg")[1]
    status, body = server.get(f"/api/analyse/{photo['id']}")
    assert status == 400 and "is a photo: it has no sound" in json.loads(body)["error"]


def test_a_song_on_the_timeline_and_its_music_video(server, tmp_path):
    """The Music view's server side: a song uploaded as it is; its tempo, bars, waveform and each key's curve
    over it; a still at any moment of the song equal to frame 0 of `render --audio SONG --cycle pingpong
    --start T` (PNG); and the music video rendered through the queue, as long as the song."""
    from music import Loop, drum_loop, write_wav
    from PIL import Image

    from dreamvideo.media.ffmpeg import probe, probe_audio
    from dreamvideo.video.render import RenderOptions, render_video

    song = tmp_path / "song.wav"
    write_wav(song, drum_loop(Loop("120", 120, bars=3)).samples)  # 7.5 s: downbeats at 0.5, 2.5, 4.5 s
    tune, clip = upload(server, song)[1], upload(server, SAMPLES / "clip.mp4")[1]
    assert tune["kind"] == "audio" and tune["duration"] == pytest.approx(probe_audio(song).duration, abs=0.01)
    text = ("model: tiny\ndevice: cpu\noctaves: 1\niterations: 2\noutput: {max_side: 64}\nlayers: [block1]\n"
            "schedule: {step_size: {beat 1: 0.01, beat 5: 0.04}}\n"
            "sections: [{at: bar 2, style: textures, crossfade: 1 beat}]\n")
    status, body = server.post("/api/timeline", {"song": tune["id"], "yaml": text})
    assert status == 200, body
    line = json.loads(body)
    assert line["tempo"] == pytest.approx(120, rel=0.01) and line["bars"] == 3 and len(line["wave"]) == 1600
    assert line["downbeats"][1] == pytest.approx(2.5, abs=0.03)
    assert [round(b, 1) for b, w, _ in line["sections"]] == [2.0] and line["sections"][0][2] == "textures"
    steps = line["curves"]["schedule step_size"]  # from 0.01 on the first beat to 0.04 on the fifth
    assert steps[0] == pytest.approx(0.01) and steps[round(2.5 * line["fps"])] == pytest.approx(0.04, abs=1e-3)
    assert server.get(line["audio"])[0] == 200  # the page plays the song as it came
    styled = json.loads(server.post("/api/style", {"yaml": text})[1])
    assert styled["music"]["sections"][0]["at"] == "bar 2" and "beat 5" in styled["music"]["schedule"]["step_size"]
    at = 2.25  # in the crossfade into the chorus; the clip (3 s) plays backwards from 3 s on
    status, still = server.post("/api/preview", {"upload": clip["id"], "song": tune["id"], "cycle": "pingpong",
                                                 "yaml": text, "time": at})
    assert status == 200
    style = server.studio.style(text)
    render_video(SAMPLES / "clip.mp4", tmp_path / "t" / "%03d.png", style,
                 RenderOptions(audio=song, cycle="pingpong", start=at, max_frames=1))
    first = np.asarray(Image.open(tmp_path / "t" / "000.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(still)).convert("RGB")), first)
    job = json.loads(server.post("/api/render", {"upload": clip["id"], "song": tune["id"], "cycle": "pingpong",
                                                 "yaml": text})[1])
    done = wait_for(server, [job["id"]], {"done", "failed", "cancelled"})[job["id"]]
    assert done["status"] == "done", done
    made = probe(server.studio.out / done["url"].removeprefix("/files/"))
    assert made.frames == round(probe_audio(song).duration * 24) and made.audio_codec


def test_stems_by_name_a_job_list_opened_and_a_video_without_sound(server, tmp_path):
    """A stem is named in the YAML as the file it was uploaded as (as beside a YAML file), drawn as a lane of
    its own and followed by its mapping; a job list opened on the page gives its style, input, song and cycle;
    a video without sound as the song gets one line naming it."""
    from music import Loop, drum_loop, write_wav

    from dreamvideo.media.ffmpeg import ffmpeg_exe, probe_audio

    write_wav(tmp_path / "song.wav", drum_loop(Loop("120", 120, bars=3)).samples)
    write_wav(tmp_path / "vocals.wav", drum_loop(Loop("96", 96, bars=2, kit=1)).samples)
    tune = upload(server, tmp_path / "song.wav")[1]
    text = SMALL + "react:\n  step_size: {source: loudness, min: 0.01, max: 0.05, audio: lead-vocals.wav}\n"
    status, body = server.post("/api/style", {"yaml": text})
    assert status == 400 and json.loads(body)["error"] == \
        "react.step_size.audio: no upload is named 'lead-vocals.wav'; drop the file in (1 ·) first"
    for probe_path in ("../pipelines/classic.yaml", "../../../etc/passwd", "guides/../../etc/hostname"):
        status, body = server.post("/api/style", {"yaml": text.replace("lead-vocals.wav", probe_path)})
        assert status == 400 and "no upload is named" in json.loads(body)["error"]  # nothing told of other files
    assert upload(server, tmp_path / "vocals.wav", "take3.wav")[1]["kind"] == "audio"
    assert upload(server, tmp_path / "vocals.wav", "lead-vocals.wav")[1]["name"] == "lead-vocals.wav"  # named anew
    styled = json.loads(server.post("/api/style", {"yaml": text})[1])
    assert "audio: lead-vocals.wav" in styled["yaml"]
    assert styled["music"]["react"]["step_size"]["audio"] == "lead-vocals.wav"
    line = json.loads(server.post("/api/timeline", {"song": tune["id"], "yaml": text})[1])
    [stem] = line["stems"]
    assert (stem["name"], stem["keys"], len(stem["wave"])) == ("lead-vocals.wav", ["step_size"], 1600)
    assert stem["duration"] == pytest.approx(probe_audio(tmp_path / "vocals.wav").duration, abs=0.01)
    assert len(stem["loudness"]) == len(line["loudness"])  # over the song, as the mapping reads it
    follows = np.array(line["curves"]["react step_size"])
    assert np.allclose(follows, 0.01 + 0.04 * np.array(stem["loudness"]), atol=1e-4)  # the stem's, not the song's
    assert not np.allclose(follows, 0.01 + 0.04 * np.array(line["loudness"]), atol=1e-3)
    jobs = ("jobs:\n  - command: render\n    input: clip.mp4\n    audio: song.wav\n    cycle: pingpong\n"
            "    style: style.yaml\n    set: {iterations: 3}\n    output: clip_music_video.mp4\n")
    status, body = server.post("/api/job", {"text": jobs, "styles": {"style.yaml": text}})
    assert status == 200, body
    job = json.loads(body)
    assert (job["input"], job["audio"], job["cycle"], job["command"]) == ("clip.mp4", "song.wav", "pingpong", "render")
    assert "iterations: 3" in job["yaml"] and "audio: lead-vocals.wav" in job["yaml"]
    status, body = server.post("/api/job", {"text": jobs.replace("style: style.yaml", "style: styles/style.yaml"),
                                            "styles": {"style.yaml": text}})  # opened by the file's name
    assert status == 200 and "audio: lead-vocals.wav" in json.loads(body)["yaml"]
    status, body = server.post("/api/job", {"text": jobs, "styles": {}})
    assert status == 400 and json.loads(body)["error"] == \
        "jobs[0].style: 'style.yaml' is not a preset; open it together with the job list"
    silent = tmp_path / "silent.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:d=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent)], check=True)
    quiet = upload(server, silent)[1]
    status, body = server.post("/api/timeline", {"song": quiet["id"], "yaml": SMALL})
    assert status == 400 and json.loads(body)["error"] == \
        "'silent.mp4' has no sound the studio can read; choose a song for it"


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason="no chromium here (Debian: apt-get install -y chromium)")
def test_a_music_video_composed_on_the_timeline(own_studio, tmp_path):
    """The Music view as a musician uses it: a song and a clip, the beats seen, a section at bar 9 with
    another preset, two keyframes snapped to beats, the playhead at bar 10 where the preview is the first
    frame of a render started there, the YAML holding what was drawn, and the music video as long as the
    song. Every wait has a deadline; nothing depends on this machine's speed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from music import Loop, drum_loop, write_wav
    from PIL import Image

    from dreamvideo.media.ffmpeg import probe, probe_audio
    from dreamvideo.video.render import RenderOptions, render_video

    song = tmp_path / "song.wav"
    write_wav(song, drum_loop(Loop("120", 120, bars=10)).samples)  # beats every 0.5 s from 0.5 s: bar 10 at 18.5 s
    url, out = f"{own_studio.origin}/?token={TOKEN}", own_studio.studio.out
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)  # deadlines only, so that nothing hangs
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(url)
        page.wait_for_function("() => state.options !== null && state.yaml !== ''")
        page.fill("#yaml", SMALL + "device: cpu\nlayers: [block1]\n")
        page.click("#apply-yaml")
        page.wait_for_function("() => state.yaml.includes('block1')")
        page.click("#tab-music")
        page.set_input_files("#file", str(SAMPLES / "clip.mp4"))
        page.wait_for_function("() => state.upload && state.upload.name === 'clip.mp4'")
        page.set_input_files("#file", str(song))
        page.wait_for_selector("#song-info:has-text('120.0 BPM, 4/4, 10 bars')")
        assert page.input_value("#song") != "" and page.text_content("#render-btn") == "Render the music video"
        # a section at bar 9 in another preset, faded in over a bar
        page.fill("#section-bar", "9")
        page.select_option("#section-style", "textures")
        page.fill("#section-fade", "1")
        page.click("#section-add")
        page.wait_for_selector("#sections li:has-text('from bar 9: textures, faded in over 1 bar')")
        pps, lane = 40, 96 + 28  # the timeline's pixels per second; the first key lane's top
        box = page.locator("#lanes").bounding_box()  # dragged from bar 9 (16.5 s) to bar 8 (14.5 s), and back
        for start, end, shown in ((16.5, 14.4, "bar 8"), (14.5, 16.7, "bar 9")):
            page.wait_for_function(f"() => music.line && music.line.sections.length === 1 && "
                                   f"Math.abs(music.line.sections[0][1] - {start}) < 0.05")
            page.mouse.move(box["x"] + start * pps, box["y"] + 96 + 14)
            page.mouse.down()
            page.mouse.move(box["x"] + end * pps, box["y"] + 96 + 14, steps=5)
            page.mouse.up()
            page.wait_for_selector(f"#sections li:has-text('from {shown}: textures')")
        # two keyframes on a step_size lane, clicked near beats 7 (3.5 s) and 16 (8 s)
        page.select_option("#lane-key", "step_size")
        page.click("#lane-add")
        page.click("#lanes", position={"x": 3.4 * pps, "y": lane + 16})
        page.wait_for_function("() => 'beat 7' in (state.yaml && music.data.schedule.step_size || {})")
        page.click("#lanes", position={"x": 8.1 * pps, "y": lane + 56})
        page.wait_for_function("() => 'beat 16' in (music.data.schedule.step_size || {})")
        keys = page.evaluate("() => music.data.schedule.step_size")
        assert set(keys) == {"beat 7", "beat 16"} and keys["beat 7"] > keys["beat 16"], keys
        # the playhead to bar 10: the preview there is frame 0 of a render started there
        page.wait_for_function("() => document.getElementById('lanes').dataset.version")
        before = page.get_attribute("#preview", "data-version")
        page.click("#lanes", position={"x": 18.5 * pps + 2, "y": 40})
        page.wait_for_selector("#playhead-out:has-text('bar 10.1')")
        page.wait_for_function(f"""() => {{ const p = document.getElementById('preview');
            return p.dataset.version !== {json.dumps(before)} && Math.abs(+p.dataset.time - music.T) < 1e-9 &&
                   p.complete && p.naturalWidth > 0; }}""")
        moment = float(page.get_attribute("#preview", "data-moment"))
        assert moment == pytest.approx(18.5, abs=0.1)
        still = page.eval_on_selector("#preview", """e => { const c = document.createElement('canvas');
            c.width = e.naturalWidth; c.height = e.naturalHeight; const g = c.getContext('2d'); g.drawImage(e, 0, 0);
            return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data)]; }""")
        width, height = int(still[0]), int(still[1])
        still = np.array(still[2], np.uint8).reshape(height, width, 4)[..., :3]
        style = own_studio.studio.style(page.input_value("#yaml"))
        render_video(SAMPLES / "clip.mp4", tmp_path / "t" / "%03d.png", style,
                     RenderOptions(audio=song, cycle="loop", start=moment, max_frames=1))
        first = np.asarray(Image.open(tmp_path / "t" / "000.png").convert("RGB"))
        assert np.array_equal(still, first)
        # the YAML to download holds what was drawn
        with page.expect_download() as saved:
            page.click("#download")
        text = Path(saved.value.path()).read_text()
        assert "bar 9" in text and "textures" in text and "beat 7" in text and "beat 16" in text
        # and a job list that renders the same with `dreamvideo batch`, the style saved beside it
        from dreamvideo.batch import load_jobs

        folder = tmp_path / "batch"
        folder.mkdir()
        shutil.copy(SAMPLES / "clip.mp4", folder / "clip.mp4")
        shutil.copy(song, folder / "song.wav")
        (folder / "style.yaml").write_text(text)
        (folder / "jobs.yaml").write_text(page.get_attribute("#download-job", "data-text"))
        [job] = load_jobs(folder / "jobs.yaml")
        assert (job.command, job.audio.name, job.cycle, job.output.name) == ("render", "song.wav", "loop",
                                                                              "clip_music_video.mp4")
        # the music video, the song's length
        page.click("#render-btn")
        page.wait_for_selector(".job[data-status=done] a", timeout=600_000)
        result = out / page.eval_on_selector(".job[data-status=done] a", "a => a.getAttribute('href')").removeprefix("/files/")
        made = probe(result)
        assert made.frames == round(probe_audio(song).duration * 24) and made.audio_codec
        # the job list and its style, opened on a page gone back to a preset, put it all back on the timeline
        page.select_option("#preset", "classic")
        page.wait_for_function("() => music.data.sections.length === 0 && !('step_size' in music.data.schedule)")
        page.select_option("#cycle", "pingpong")
        page.set_input_files("#open", [str(folder / "jobs.yaml"), str(folder / "style.yaml")])
        song_id = page.evaluate("() => state.uploads.find((u) => u.name === 'song.wav').id")
        page.wait_for_function(f"""() => music.data.sections.length === 1 && 'beat 7' in music.data.schedule.step_size &&
            document.getElementById('cycle').value === 'loop' && document.getElementById('song').value === '{song_id}' &&
            music.line && music.line.sections.length === 1""")
        # a stem the YAML names is uploaded as one: its own lane, the song stays the song
        write_wav(tmp_path / "vocals.wav", drum_loop(Loop("96", 96, bars=4, kit=1)).samples)
        page.fill("#yaml", page.input_value("#yaml") + "react:\n  blend: {source: loudness, min: 0.1, max: 0.6, "
                                                       "audio: vocals.wav}\n")
        page.set_input_files("#file", str(tmp_path / "vocals.wav"))
        page.wait_for_function("() => music.line && music.line.stems.length === 1 && "
                               "music.line.stems[0].name === 'vocals.wav' && 'react blend' in music.line.curves")
        assert page.input_value("#song") == song_id and "audio: vocals.wav" in page.input_value("#yaml")
        page.set_viewport_size({"width": 400, "height": 800})  # a phone: the lanes scroll, the page does not
        page.wait_for_function("() => document.documentElement.scrollWidth <= 400")
        assert not errors, errors
        browser.close()


def test_a_song_with_its_cover_is_a_song_and_a_photo_previews_keys_in_bars(tmp_path):
    from dreamvideo.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=3", "-f", "lavfi", "-i",
                    "color=red:size=64x64:d=1", "-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:v", "mjpeg",
                    "-disposition:v", "attached_pic", "-c:a", "libmp3lame", str(tmp_path / "s.mp3")], check=True)
    studio = Studio(tmp_path / "out")
    assert add(studio, tmp_path / "s.mp3").kind == "audio"
    style = studio.style(SMALL + "device: cpu\nzoom:\n  step_size: {bar 1: 0.01, bar 5: 0.05}\n")
    still, _ = studio.previews.still(add(studio, SAMPLES / "chelsea.jpg"), style)
    assert still.ndim == 3
