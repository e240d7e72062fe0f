"""`dreamvideo studio`: the API's checks over HTTP, and the page driven in a real browser (Debian's chromium
through Playwright; skipped where neither can be had)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from dreamvideo.studio.app import create_app, free_port  # noqa: E402
from dreamvideo.studio.session import Studio  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SMALL = "octaves: 1\niterations: 2\noutput: {max_side: 96}\n"


class Server:
    def __init__(self, out: Path, **limits):
        self.studio = Studio(out, **limits)
        port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.studio), host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)

    def post(self, path: str, body: bytes | dict, headers: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {}, method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.studio.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("studio") / "out", max_upload=2_000_000)
    yield running
    running.stop()


def upload(server: Server, path: Path, name: str | None = None) -> tuple[int, dict]:
    status, body = server.post("/api/upload", path.read_bytes(), {"X-Filename": name or path.name})
    return status, json.loads(body)


def test_uploads_are_checked_and_kept_inside_the_folder(server, tmp_path):
    status, photo = upload(server, SAMPLES / "chelsea.jpg", "../../evil.jpg")
    assert status == 200 and (photo["kind"], photo["width"], photo["height"]) == ("image", 451, 300)
    stored = [p for p in (server.studio.out / "uploads").iterdir() if p.suffix != ".json"]
    assert all(p.parent == server.studio.out / "uploads" and "evil" not in p.name for p in stored)
    status, video = upload(server, SAMPLES / "clip.mp4")
    assert status == 200 and video["kind"] == "video" and video["duration"] == pytest.approx(3.0, abs=0.1)

    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "big.bin").write_bytes(b"\0" * 2_100_000)
    (tmp_path / "empty.png").write_bytes(b"")
    for path, match in [(tmp_path / "notes.jpg", "neither a photo nor a video"),
                        (tmp_path / "big.bin", "larger than the studio's limit of 2 MB"),
                        (tmp_path / "empty.png", "is empty")]:
        status, answer = upload(server, path)
        assert status == 400 and match in answer["error"] and "\n" not in answer["error"], answer
    media = [p for p in (server.studio.out / "uploads").iterdir() if p.suffix != ".json"]
    assert len(media) == len(stored) + 1  # the video; nothing of the bad ones


def test_files_are_served_from_the_folder_only(server):
    (server.studio.out.parent / "secret.txt").write_text("no")
    for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/uploads/../../secret.txt", "/files/"):
        assert server.get(path)[0] == 404, path


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


def test_preview_clip_and_render_queue(server):
    _, video = upload(server, SAMPLES / "clip.mp4")
    status, png = server.post("/api/preview", {"upload": video["id"], "yaml": SMALL, "time": 1.5})
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, body = server.post("/api/clip", {"upload": video["id"], "yaml": SMALL, "time": 1.0})
    assert status == 200
    from dreamvideo.video.io import probe

    clip = server.studio.out / json.loads(body)["url"].removeprefix("/files/")
    assert probe(clip).frames == 12
    first = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL})[1])
    second = json.loads(server.post("/api/render", {"upload": video["id"], "yaml": SMALL + "seed: 3\n"})[1])
    assert second["status"] == "queued"  # it waits for the first
    deadline = time.time() + 120
    while time.time() < deadline:
        jobs = {j["id"]: j for j in json.loads(server.get("/api/jobs")[1])}
        if all(jobs[j["id"]]["status"] == "done" for j in (first, second)):
            break
        time.sleep(0.3)
    for job in (first, second):
        done = jobs[job["id"]]
        assert done["status"] == "done" and done["done"] == done["total"] == 72
        assert probe(server.studio.out / done["url"].removeprefix("/files/")).frames == 72


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="no chromium here (Debian: apt-get install -y chromium)")
def test_the_page_in_a_real_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    running = Server(tmp_path / "out")
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(running.url)
            page.wait_for_function("document.getElementById('yaml').value.includes('blocks.4')")

            # a photo: it is previewed; a slider changes the style and the preview follows
            page.set_input_files("#file", str(SAMPLES / "chelsea.jpg"))
            page.wait_for_function("document.getElementById('preview').dataset.version", timeout=60_000)
            page.wait_for_function("document.getElementById('preview').complete")
            before = page.locator("#preview").screenshot()
            version = page.eval_on_selector("#preview", "e => e.dataset.version")
            page.eval_on_selector("#step_size", "e => { e.value = 0.05; e.dispatchEvent(new Event('input'));"
                                                "e.dispatchEvent(new Event('change')); }")
            page.wait_for_function(f"document.getElementById('preview').dataset.version > {version}", timeout=60_000)
            page.wait_for_function("document.getElementById('preview').complete")
            assert "step_size: 0.05" in page.input_value("#yaml")
            assert page.locator("#preview").screenshot() != before

            # a bad file gets one line on the page, and the page goes on working
            (tmp_path / "notes.jpg").write_text("not a picture")
            page.set_input_files("#file", str(tmp_path / "notes.jpg"))
            page.wait_for_selector("#error:has-text('neither a photo nor a video')")

            # the sample clip at a small size: rendered through the queue, then played
            page.set_input_files("#file", str(SAMPLES / "clip.mp4"))
            page.wait_for_function("document.getElementById('render-btn').textContent.includes('video')")
            page.fill("#yaml", SMALL)
            page.click("#apply-yaml")
            page.wait_for_function("document.getElementById('yaml').value.includes('max_side: 96')")
            page.click("#render-btn")
            page.wait_for_selector(".job[data-status=done] video.result", timeout=120_000)
            played = page.eval_on_selector(".job[data-status=done] video.result", """async v => {
                await new Promise(r => v.readyState >= 2 ? r() : v.addEventListener('loadeddata', r));
                await v.play(); await new Promise(r => setTimeout(r, 300));
                return {duration: v.duration, time: v.currentTime, width: v.videoWidth}; }""")
            assert played["duration"] == pytest.approx(3.0, abs=0.1) and played["time"] > 0 and played["width"] == 96
            browser.close()
    finally:
        running.stop()


def test_the_command_listens_on_localhost_and_prints_where(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "studio files"
    proc = subprocess.Popen([sys.executable, "-m", "dreamvideo", "studio", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("dreamvideo studio on http://127.0.0.1:"), line
        url = line.split()[3]
        with urllib.request.urlopen(url) as response:
            assert b"dreamvideo studio" in response.read()
        assert sorted(p.name for p in out.iterdir()) == ["previews", "renders", "uploads"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    (tmp_path / "file").write_text("")
    result = subprocess.run([sys.executable, "-m", "dreamvideo", "studio", "--out", str(tmp_path / "file")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == f"error: --out {str(tmp_path / 'file')!r} is a file; give a folder"


def test_a_restarted_studio_knows_its_uploads(tmp_path):
    first = Studio(tmp_path / "out")
    photo = first.receive("cat.jpg", [(SAMPLES / "chelsea.jpg").read_bytes()])
    first.close()
    again = Studio(tmp_path / "out")
    try:
        assert again.upload(photo.id) == photo
        picture, _ = again.preview(photo.id, SMALL)
        assert picture.shape == (212, 320, 3)  # previews are 320 px on the longer side, whatever the style says
    finally:
        again.close()
