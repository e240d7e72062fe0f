"""`dreamvideo live` in one place:

- ``session``: ``LiveSession``, the newest frame in, the dreaming, the stage, the counts, on an injected clock;
- ``run``: ``live()``, the session with its capture, live audio, outputs, page and OSC, all closed at the end;
- ``outputs``: a recording, a network stream, a virtual camera;
- ``page``: the live page (MJPEG behind the web guard);
- ``control``: style changes while it runs (``StyleControl``, OSC);
- ``audio``: audio features as they happen (a file's own sound, a microphone).

The camera, file or stream it reads is ``media.capture``; the studio's Live tab is ``studio.camera``.
"""

from dreamvideo.live.run import LiveOptions, live
from dreamvideo.live.session import LiveSession, LiveStats, live_look

__all__ = ["LiveOptions", "LiveSession", "LiveStats", "live", "live_look"]
