"""`dreamvideo studio`: the API's checks over real HTTP, the attacks it must refuse, and the page driven in a
real browser through the address the command prints (Debian's chromium through Playwright; skipped where
neither can be had)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from dreamvideo.studio.app import create_app, listen  # noqa: E402
from dreamvideo.studio.session import Studio  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = "model: tiny\noctaves: 1\niterations: 2\noutput: {max_side: 64}\n"
TOKEN = "test-token-0123456789"


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
        while not self.server.started:
            time.sleep(0.05)

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


def wait_for(server: Server, ids: list[str], statuses: set[str], seconds: float = 120) -> dict[str, dict]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        jobs = {j["id"]: j for j in json.loads(server.get("/api/jobs")[1])}
        if all(jobs[i]["status"] in statuses for i in ids):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs still not {statuses}: {jobs}")


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
    for path, code, match in [(tmp_path / "notes.jpg", 400, "neither a photo nor a video"),
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
    assert options["limits"] == {"preview_side": 320, "clip_frames": 12, "zoom_seconds": 600,
                                 "max_upload": 2_000_000, "max_queue": 2}
    assert [c["key"] for c in options["controls"]] == ["octaves", "iterations", "step_size", "blend", "zoom.scale",
                                                       "zoom.rotate"]
    assert all(c["help"] and c["min"] < c["max"] for c in options["controls"])
    page = server.get("/page.js")[1].decode()
    assert "320" not in page and "12 frames" not in page and "600" not in page  # read from the server


def test_preview_clip_render_cancel_and_resume(server):
    _, video = upload(server, SAMPLES / "clip.mp4")
    status, png = server.post("/api/preview", {"upload": video["id"], "yaml": SMALL, "time": 1.5})
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, body = server.post("/api/clip", {"upload": video["id"], "yaml": SMALL, "time": 1.0})
    assert status == 200
    from dreamvideo.media.ffmpeg import probe

    clip = server.studio.out / json.loads(body)["url"].removeprefix("/files/")
    assert probe(clip).frames == 12

    slow = SMALL + "iterations: 40\noctaves: 2\n"  # long enough to be caught running
    first = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": slow})[1])
    wait_for(server, [first["id"]], {"running"})
    second = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 3\n"})[1])
    third = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 4\n"})[1])
    assert second["status"] == third["status"] == "queued"  # they wait for the first
    status, body = server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 5\n"})
    assert status == 429 and "the render queue is full (2 waiting)" in json.loads(body)["error"]
    assert json.loads(server.post(f"/api/jobs/{third['id']}/cancel", {})[1])["status"] == "cancelled"

    deadline = time.time() + 60  # cancel the first while it runs, after its first chunk of 16 frames
    while (job := {j["id"]: j for j in json.loads(server.get("/api/jobs")[1])}[first["id"]])["done"] < 18:
        assert time.time() < deadline and job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    assert server.post(f"/api/jobs/{first['id']}/cancel", {})[0] == 200
    jobs = wait_for(server, [first["id"], second["id"]], {"done", "cancelled", "failed"})
    assert jobs[first["id"]]["status"] == "cancelled" and jobs[third["id"]]["status"] == "cancelled"
    assert jobs[second["id"]]["status"] == "done" and jobs[second["id"]]["done"] == 72
    renders = server.studio.out / "renders"
    kept = [p for p in renders.glob(".*.dreamvideo") if list(p.glob("chunk_*.mkv"))]
    assert len(kept) == 1  # the cancelled render's resumable state

    again = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": slow})[1])
    done = wait_for(server, [again["id"]], {"done", "failed"}, 180)[again["id"]]
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
         for path in ("/api/render", "/api/style", "/api/preview", "/api/clip")]


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
    try:
        v6 = Server(tmp_path / "v6", host="::1")
    except (OSError, Exception) as exc:  # no IPv6 on this machine
        pytest.skip(f"no IPv6 loopback here ({exc})")
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
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        began = time.perf_counter()
        sock.sendall((f"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {TOKEN}"
                      "\r\nContent-Length: 50000000000\r\n\r\n").encode())
        answer = sock.recv(4096).decode()
        assert time.perf_counter() - began < 1
    assert answer.startswith("HTTP/1.1 413")  # its one line: see the 2 MB upload above
    assert nothing_changed(server, before)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # chunked: cut at the cap
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
        assert status == 400 and "neither a photo nor a video" in answer["error"]
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


@pytest.fixture
def studio_command(tmp_path):
    """`dreamvideo studio` as a user starts it, and the address it prints."""
    out = tmp_path / "studio files"
    proc = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
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
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --out {str(tmp_path / 'file')!r} is a file; give a folder"
    result = subprocess.run([sys.executable, "-m", "dreamvideo", "studio", "--host", "0.0.0.0", "--no-token"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--no-token is allowed only on a loopback host" in result.stderr
    assert "Traceback" not in result.stderr


def test_listening_on_the_network_warns_in_one_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(tmp_path / "o"), "--host",
                             "0.0.0.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("dreamvideo studio on http://127.0.0.1:")
        warning = proc.stderr.readline()
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
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        assert "token" not in page.url  # swapped for a cookie
        page.wait_for_function("() => document.getElementById('yaml').value.includes('blocks.4')")
        assert page.locator("#sliders input[type=range]").count() == 6
        assert page.inner_text("#clip-btn") == "Preview 12 frames"

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
        page.wait_for_selector("#error:has-text('neither a photo nor a video')")

        # the sample clip at a small size: rendered through the queue, then played
        page.set_input_files("#file", str(SAMPLES / "clip.mp4"))
        page.wait_for_function("() => document.getElementById('render-btn').textContent.includes('video')")
        page.fill("#yaml", SMALL)
        page.click("#apply-yaml")
        page.wait_for_function("() => document.getElementById('yaml').value.includes('max_side: 64')")
        page.click("#render-btn")
        page.wait_for_selector(".job[data-status=done] video.result", timeout=120_000)
        played = page.eval_on_selector(".job[data-status=done] video.result", """async v => {
            await new Promise(r => v.readyState >= 2 ? r() : v.addEventListener('loadeddata', r));
            await v.play(); await new Promise(r => setTimeout(r, 300));
            return {duration: v.duration, time: v.currentTime, width: v.videoWidth}; }""")
        assert played["duration"] == pytest.approx(3.0, abs=0.1) and played["time"] > 0 and played["width"] == 64
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()


def test_a_restarted_studio_knows_its_uploads(tmp_path):
    first = Studio(tmp_path / "out")
    part = first.uploads.new_part()
    part.write_bytes((SAMPLES / "chelsea.jpg").read_bytes())
    photo = first.uploads.accept("cat.jpg", part)
    again = Studio(tmp_path / "out")
    assert again.uploads.get(photo.id) == photo
    picture, _ = again.previews.still(photo, again.style(SMALL))
    assert picture.shape == (212, 320, 3)  # previews are 320 px on the longer side, whatever the style says


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
        page.wait_for_function("() => +document.getElementById('live-out').dataset.frames > 30", timeout=60_000)

        def difference() -> float:  # the dreamed frame against the camera's frame it was dreamed from
            return page.evaluate("""() => {
                const out = document.getElementById('live-out'), w = out.width, h = out.height;
                const a = live.answered.getContext('2d').getImageData(0, 0, w, h).data;
                const b = out.getContext('2d').getImageData(0, 0, w, h).data;
                let d = 0; for (let i = 0; i < a.length; i += 4) d += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]);
                return d / (a.length / 2); }""")

        weak = sorted(difference() for _ in range(5))[2]
        status = page.inner_text("#live-status")
        assert "fps" in status and "latency" in status and "dream updates/s" in status
        assert float(page.eval_on_selector("#live-out", "e => e.dataset.fps")) > 5
        # a slider moves: the dream changes while it runs
        frames = int(page.eval_on_selector("#live-out", "e => e.dataset.frames"))
        page.eval_on_selector("#step_size", "e => { e.value = 0.06; e.dispatchEvent(new Event('input'));"
                                            "e.dispatchEvent(new Event('change')); }")
        page.wait_for_function("() => document.getElementById('yaml').value.includes('step_size: 0.06')")
        page.wait_for_function(f"() => +document.getElementById('live-out').dataset.frames > {frames + 40}",
                               timeout=60_000)
        strong = sorted(difference() for _ in range(5))[2]
        assert weak > 1 and strong > 1.5 * weak, (weak, strong, page.inner_text("#error"))  # dreamed, and more so
        # a take is recorded from the shown frames
        page.click("#live-record")
        page.wait_for_timeout(1500)
        page.click("#live-record")
        page.wait_for_selector("#live-take:not(.hidden)")
        assert int(page.eval_on_selector("#live-take", "e => e.dataset.bytes")) > 1000
        page.click("#live-stop")
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()
