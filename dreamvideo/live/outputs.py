"""Where a live run's frames go besides the screen: a recording (what was shown, with the source's sound),
a network stream for a second machine (udp, srt, tcp, rtmp), and a virtual camera for OBS and calls."""

from __future__ import annotations

import os
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from dreamvideo.errors import ConfigError, MediaError
from dreamvideo.media.ffmpeg import VideoWriter, ffmpeg_cmd, seek
from dreamvideo.media.images import check_output
from dreamvideo.video.output import VIDEO_OUT, Soundtrack

STREAM_FORMATS = {"udp": "mpegts", "srt": "mpegts", "tcp": "mpegts", "rtp": "rtp_mpegts", "rtmp": "flv",
                  "rtmps": "flv"}


def low_latency_h264(preset: str = "veryfast") -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "50"]


class Recording:
    """What a live run showed, one frame per source frame at the source's rate, into ``path`` (MP4/MOV);
    with ``sound`` (a file source's own), the sound is muxed in when it ends (``loop``: repeated). Written
    under a temporary name, in place only once complete."""

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, sound: Soundtrack | None = None,
                 loop: bool = False):
        self.path, self.sound, self.loop, self.fps = check_output(Path(path), VIDEO_OUT), sound, loop, fps
        self.part = self.path.with_name(f".{self.path.name}.part.mp4")
        self.writer = VideoWriter(self.part, size, fps, [*low_latency_h264(), "-crf", "20", "-f", "mp4"],
                                  name=self.path)

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        try:
            self.writer.close()
            if self.writer.frames == 0:
                raise MediaError(f"nothing was shown, so nothing was recorded to {str(self.path)!r}")
            if self.sound is None:
                os.replace(self.part, self.path)
                return
            muxed = self.path.with_name(f".{self.path.name}.muxed.mp4")
            sound = (["-stream_loop", "-1"] if self.loop else []) + seek(self.sound.start)
            seconds = self.writer.frames / float(self.fps)  # the picture's length: the sound ends with it
            done = subprocess.run(ffmpeg_cmd("-y", "-i", str(self.part), *sound, "-i", str(self.sound.path),
                                             "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
                                             "-t", f"{seconds:.6f}", "-movflags", "+faststart", str(muxed)),
                                  capture_output=True, start_new_session=True)
            if done.returncode != 0:
                muxed.unlink(missing_ok=True)
                raise MediaError(f"ffmpeg could not add the sound to {str(self.path)!r}: "
                                 f"{done.stderr.decode(errors='replace').strip()[-300:]}")
            os.replace(muxed, self.path)
        finally:
            self.part.unlink(missing_ok=True)


def check_stream(url: str) -> str:
    """The container a network output's scheme takes; ConfigError for one it does not."""
    scheme = url.split("://")[0].lower() if "://" in url else ""
    if scheme not in STREAM_FORMATS:
        raise ConfigError(f"-o {url!r}: stream to {', '.join(f'{s}://' for s in STREAM_FORMATS)} "
                          "(or record a file with --record)")
    return STREAM_FORMATS[scheme]


class NetworkStream:
    """The shown frames as low-latency H.264 to ``url`` (MPEG-TS over udp, srt or tcp; FLV over rtmp)."""

    def __init__(self, url: str, size: tuple[int, int], fps: Fraction):
        self.writer = VideoWriter(url, size, fps, [*low_latency_h264("ultrafast"), "-f", check_stream(url)])

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.close()


class VirtualCamera:
    """The shown frames as a camera other programs can open (pyvirtualcam: v4l2loopback on Linux, OBS's
    virtual camera on macOS and Windows)."""

    def __init__(self, size: tuple[int, int], fps: Fraction, device: str | None = None):
        try:
            import pyvirtualcam
        except ModuleNotFoundError:
            raise ConfigError('--virtual-camera needs pyvirtualcam: pip install "dreamvideo[live]"') from None
        try:
            self.camera = pyvirtualcam.Camera(size[0], size[1], float(fps), fmt=pyvirtualcam.PixelFormat.RGB,
                                              device=device)
        except RuntimeError as exc:
            raise MediaError(f"no virtual camera could be opened ({str(exc).splitlines()[0]}); on Linux load "
                             "v4l2loopback (modprobe v4l2loopback), elsewhere install OBS") from None

    @property
    def device(self) -> str:
        return self.camera.device

    def write(self, frame: np.ndarray) -> None:
        self.camera.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        self.camera.close()
