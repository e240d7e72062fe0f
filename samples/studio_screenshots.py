"""The README's screenshots of `dreamvideo studio`, taken in Debian's chromium through Playwright: the page at
desktop width, then at a phone's, then the Music tab with the shipped song.

    python samples/studio_screenshots.py     # writes samples/gallery/studio_*.jpg (about a minute on a CPU)
"""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright

from dreamvideo.studio.app import create_app
from dreamvideo.studio.session import Studio
from dreamvideo.web.server import address, listen, new_token

HERE = Path(__file__).resolve().parent


def save(png: bytes, name: str) -> None:
    Image.open(io.BytesIO(png)).convert("RGB").save(HERE / "gallery" / name, quality=85)
    print(name)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        studio, token = Studio(Path(tmp) / "out"), new_token()
        sock = listen("127.0.0.1")
        port = sock.getsockname()[1]
        app = create_app(studio, token=token, port=port)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(address("127.0.0.1", port, token))
            page.wait_for_function("() => document.getElementById('yaml').value.includes('layers')")
            page.select_option("#preset", "dogs")
            page.set_input_files("#file", str(HERE / "clip.mp4"))
            page.wait_for_function("() => document.getElementById('preview').dataset.version", timeout=120_000)
            page.eval_on_selector("#time", "e => { e.value = 1.5; e.dispatchEvent(new Event('input'));"
                                           "e.dispatchEvent(new Event('change')); }")
            page.wait_for_function("() => document.getElementById('preview').dataset.version > 1", timeout=120_000)
            page.click("#pin-btn")
            page.select_option("#preset", "textures")
            page.wait_for_function("() => document.getElementById('preview').dataset.version > 2", timeout=120_000)
            page.click("#pin-btn")
            page.select_option("#preset", "dogs")
            page.wait_for_function("() => document.getElementById('preview').dataset.version > 3", timeout=120_000)
            page.click("#clip-btn")
            page.wait_for_function("() => document.getElementById('clip').readyState >= 2", timeout=120_000)
            page.click("#render-btn")
            page.wait_for_selector(".job[data-status=done] video.result", timeout=600_000)
            page.wait_for_timeout(800)
            save(page.screenshot(full_page=True), "studio_page.jpg")
            page.set_viewport_size({"width": 400, "height": 860})  # a phone: one column, the preview first
            page.wait_for_timeout(500)
            save(page.screenshot(), "studio_phone.jpg")
            # the Music tab: the shipped song under the clip, a chorus from bar 5, the dream rising over bars 2-4
            page.set_viewport_size({"width": 1280, "height": 1000})
            page.click("#tab-music")
            page.set_input_files("#file", str(HERE / "song.m4a"))
            page.wait_for_selector("#song-info:has-text('BPM')", timeout=120_000)
            page.fill("#section-bar", "5")
            page.select_option("#section-style", "textures")
            page.click("#section-add")
            page.wait_for_selector("#sections li", timeout=120_000)
            page.select_option("#lane-key", "step_size")
            page.click("#lane-add")
            beats = page.evaluate("() => music.line.beats")
            lane = 96 + 28
            for beat, y in ((4, lane + 50), (12, lane + 14)):
                count = page.evaluate("() => Object.keys(music.data.schedule.step_size || {}).length")
                page.click("#lanes", position={"x": beats[beat] * 40, "y": y})
                page.wait_for_function(f"() => Object.keys(music.data.schedule.step_size || {{}}).length > {count}",
                                       timeout=120_000)
            version = page.get_attribute("#preview", "data-version")
            page.click("#lanes", position={"x": page.evaluate("() => music.line.downbeats[3]") * 40 + 20, "y": 40})
            page.wait_for_function(f"() => document.getElementById('preview').dataset.version !== '{version}'",
                                   timeout=120_000)
            page.wait_for_timeout(800)
            save(page.screenshot(), "studio_music.jpg")
            browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()
