"""The Live tab's adapter: a live session fed by the page's camera. Each JPEG the page sends is a captured
frame, answered with what the session shows for it (JPEG). The page sends the next frame only when it has
the last answer, so frames never pile up; the dreaming runs beside on the newest one, on a thread whose
torch threads are its own (the studio's renders keep theirs)."""

from __future__ import annotations

import time

import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.live.session import LiveSession
from dreamvideo.look import Look


class BrowserCamera:
    def __init__(self, look: Look, size: tuple[int, int]):
        self.size = size
        self.session = LiveSession(look)

    @property
    def index(self) -> int:
        return self.session.shown_index

    def show(self, jpeg: bytes) -> tuple[bytes, float]:
        """The shown frame for one sent by the page (JPEG in, JPEG out), and the seconds it took here."""
        import cv2

        began = time.perf_counter()
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            raise MediaError("the page sent a frame that is not a JPEG")
        frame = np.ascontiguousarray(cv2.resize(picture, self.size, interpolation=cv2.INTER_AREA)[..., ::-1])
        shown = self.session.show(self.session.put(frame))
        ok, data = cv2.imencode(".jpg", shown[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        return data.tobytes(), time.perf_counter() - began

    def restyle(self, look: Look) -> None:
        self.session.restyle(look)

    def close(self) -> None:
        self.session.close()
