"""Streaming video I/O through the ffmpeg binary of imageio-ffmpeg.

Frames go through pipes one at a time: ``read_frames`` is a generator, ``VideoWriter`` a context manager.
ffmpeg always gets an argument list; its stderr is drained by a thread so the pipes never stall; on exit
we close, wait, then kill, so no ffmpeg outlives us; failures carry the command and the tail of the log.
Every ffmpeg runs in a session of its own, so a Ctrl-C in the terminal reaches dreamvideo alone, which
then closes its encoders and decoders in order (a resumable render keeps its completed frames).
"""

from __future__ import annotations

import io
import re
import subprocess
import threading
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import IO, cast

import numpy as np

from dreamvideo.errors import MediaError

# Audio codecs an MP4 holds as they are; anything else is re-encoded to AAC.
MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus"}
_NTSC = [Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120, 240)]


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_cmd(*args: str, quiet: bool = True) -> list[str]:
    """An ffmpeg command line: the binary, no banner, no keyboard, errors only (``quiet``), then ``args``."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", *(("-loglevel", "error") if quiet else ()), *args]


def seek(start: float) -> list[str]:
    """The input option that starts reading ``start`` seconds in (none at 0)."""
    return ["-ss", f"{start:.6f}"] if start else []


def _spawn(cmd: Sequence[str], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """Start ffmpeg outside the terminal's process group: a Ctrl-C is ours to handle, not its."""
    return subprocess.Popen(list(cmd), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)


def _run(cmd: Sequence[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg to its end (outside the terminal's process group), its output captured as bytes."""
    return subprocess.run(list(cmd), stdin=subprocess.DEVNULL, capture_output=True, start_new_session=True,
                          timeout=timeout)


def _describe(path: Path | str, timeout: float | None = None) -> str:
    """ffmpeg's description of a file's (or a stream's) streams (``ffmpeg -i``), as text."""
    out = _run(ffmpeg_cmd("-i", str(path), quiet=False), timeout)
    return out.stderr.decode("utf-8", "replace")


def _duration(description: str) -> float:
    """The container's duration in seconds from ``_describe``'s text; 0 when it gives none."""
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", description)
    return int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3)) if found else 0.0


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns of a file. Width and height are as displayed (rotation applied)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    rotation: int
    codec: str
    audio_codec: str | None


class _Drain(threading.Thread):
    """Reads a pipe to its end in the background, keeping the last lines."""

    def __init__(self, pipe: IO[bytes], keep: int = 40):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines: deque[str] = deque(maxlen=keep)
        self.start()

    def run(self) -> None:
        try:
            for raw in iter(self.pipe.readline, b""):
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            pass

    def tail(self) -> str:
        self.join(timeout=2)
        return " | ".join(line for line in self.lines if line.strip())[-800:]


def _stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Close the pipes, wait, then kill: no ffmpeg outlives its reader or writer."""
    for pipe in (proc.stdin, proc.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def parse_rate(text: str) -> Fraction:
    """'29.97' -> 30000/1001, '25' -> 25, '30000/1001' -> 30000/1001."""
    rate = Fraction(text) if "/" in text else Fraction(text).limit_denominator(1001)
    for ntsc in _NTSC:
        if abs(float(rate) - float(ntsc)) < 0.006:
            return ntsc
    return rate


def probe(path: str | Path) -> VideoInfo:
    """Size, exact frame rate, frame count, rotation and audio codec of a video file."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"no such file: {str(path)!r}; check the path" if not path.is_dir()
                         else f"{str(path)!r} is a folder, not a video")
    info = _parse(_describe(path), str(path), "give an MP4, MOV, MKV, WebM or AVI file")
    frames = count_frames(path)
    if frames == 0:
        raise MediaError(f"{str(path)!r} has no video frames; the file is empty or damaged")
    return replace(info, frames=frames)


def probe_stream(url: str, timeout: float = 15.0) -> VideoInfo:
    """What ``probe`` says of a stream (rtsp://, srt://, udp://, http://...), its frame count unknown (0);
    one that says nothing within ``timeout`` seconds is refused."""
    try:
        description = _describe(url, timeout)
    except subprocess.TimeoutExpired:
        raise MediaError(f"the stream {url!r} sent nothing within {timeout:g} s; check that it is running and "
                         "the address is right") from None
    return _parse(description, url, "check the address and that the stream is running")


def _parse(info: str, name: str, fix: str) -> VideoInfo:
    """A VideoInfo (frame count 0) from ffmpeg's description of ``name``; MediaError naming ``fix``."""
    inputs = re.search(r"Input #0, ([^,\n]+)", info)
    if inputs is None:
        raise MediaError(f"{name!r} is not a video ffmpeg can read ({_last_line(info)}); {fix}")
    if inputs.group(1) == "image2" or inputs.group(1).endswith("_pipe"):  # png_pipe, svg_pipe...: one picture
        raise MediaError(f"{name!r} is a still image; use `dreamvideo dream` for images")
    video = re.search(r"Stream #0:\d+[^:]*: Video: (\w+).*?, (\d{2,5})x(\d{2,5})[, ].*?(?:([\d.]+) fps|([\d.k]+) tbr)",
                      info)
    if video is None:
        raise MediaError(f"{name!r} has no video stream; give a file with video")
    audio = re.search(r"Stream #0:\d+[^:]*: Audio: (\w+)", info)
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", info)
    rot = int(round(float(rotation.group(1)))) % 360 if rotation else 0
    w, h = int(video.group(2)), int(video.group(3))
    if rot in (90, 270):
        w, h = h, w
    fps_text = video.group(4) or video.group(5).replace("k", "000")
    return VideoInfo(Path(name), w, h, parse_rate(fps_text), 0, _duration(info), rot, video.group(1),
                     audio.group(1) if audio else None)


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    codec: str
    duration: float


def probe_audio(path: str | Path) -> AudioInfo:
    """Codec and duration of the first audio stream of a file (a song, or a video's soundtrack)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"no such audio file: {str(path)!r}; check the path")
    info = _describe(path)
    audio = re.search(r"Stream #0:\d+[^:]*: Audio: (\w+)", info)
    if re.search(r"Input #0, ", info) is None or audio is None:
        raise MediaError(f"{str(path)!r} holds no audio ffmpeg can read; give a WAV, MP3, M4A, FLAC or OGG file")
    seconds = _duration(info)
    if seconds <= 0:
        raise MediaError(f"{str(path)!r} has no duration; the audio is empty or damaged")
    return AudioInfo(path, audio.group(1), seconds)


def encode_sound(path: str | Path, out: str | Path, bitrate: str = "160k") -> None:
    """The first audio stream of ``path`` (a song, or a video's sound) as AAC in the M4A ``out``."""
    probe_audio(path)
    done = _run(ffmpeg_cmd("-y", "-i", str(path), "-vn", "-map", "0:a:0", "-c:a", "aac", "-b:a", bitrate, str(out)))
    if done.returncode != 0:
        raise MediaError(f"ffmpeg could not encode the sound of {str(path)!r}: "
                         f"{' '.join(done.stderr.decode(errors='replace').split())[-300:]}")


def decode_audio(path: str | Path, rate: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Mono float32 samples at ``rate`` Hz of the first audio stream of a file (a song, or a video's sound)."""
    probe_audio(path)
    cmd = ffmpeg_cmd(*seek(start), "-i", str(path)) + (["-t", f"{duration:.6f}"] if duration else [])
    cmd += ["-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    out = _run(cmd)
    if out.returncode != 0:
        raise MediaError(f"ffmpeg could not decode the audio of {str(path)!r}: "
                         f"{' '.join(out.stderr.decode(errors='replace').split())[-300:]}")
    return np.frombuffer(out.stdout, np.float32)


def count_frames(path: Path) -> int:
    """Frames in the first video stream, counted by demuxing without decoding: one ``framecrc`` line per
    packet, which every ffmpeg prints alike (the ``frame=`` of the progress line is missing from a stream
    copy's summary in ffmpeg 7)."""
    out = _run(ffmpeg_cmd("-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-")).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith(b"#"))


def _last_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def read_frames(
    path: str | Path,
    size: tuple[int, int],
    fps: Fraction | None = None,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
    skip: int = 0,
) -> Generator[np.ndarray, None, None]:
    """Yield (H, W, 3) uint8 RGB frames of ``size`` = (W, H), at a constant ``fps`` when given.

    ``skip`` drops the first frames (decoded, not returned), e.g. to resume. Raises MediaError when
    ffmpeg fails, with the tail of its log.
    """
    w, h = size
    filters = ([f"fps={fps.numerator}/{fps.denominator}"] if fps else []) + [f"scale={w}:{h}:flags=area"]
    cmd = ffmpeg_cmd(*seek(start), "-i", str(path))
    cmd += ["-t", f"{duration:.6f}"] if duration else []
    cmd += ["-map", "0:v:0", "-vf", ",".join(filters), "-sws_flags", "area"]
    cmd += ["-frames:v", str(max_frames)] if max_frames else []
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = _spawn(cmd, stdout=subprocess.PIPE)
    drain = _Drain(cast("IO[bytes]", proc.stderr))
    stdout = cast(io.BufferedReader, proc.stdout)  # a PIPE, buffered
    nbytes, index, finished = w * h * 3, 0, False
    try:
        while True:
            buf = _read_exactly(stdout, nbytes)
            if buf is None:
                break
            if index >= skip:
                yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            index += 1
        finished = True
    finally:
        _stop(proc)
        if finished and proc.returncode != 0:
            why = drain.tail() or f"exit code {proc.returncode}"
            raise MediaError(f"ffmpeg could not decode {str(path)!r}: {why}; the file may be damaged")


class FrameSource:
    """Frame ``index`` of a video on demand, read in order (``at(i)`` for rising i decodes each frame once);
    with ``period``, index i shows frame i mod period, starting the video again. A video that ends a frame
    or two early (durations round) holds its last frame."""

    def __init__(self, path: str | Path, size: tuple[int, int], fps: Fraction | None = None, start: float = 0.0,
                 period: int | None = None):
        self.path, self.size, self.fps, self.start, self.period = Path(path), size, fps, start, period
        self._frames: Iterator[np.ndarray] | None = None
        self._next = 0
        self._last: np.ndarray | None = None

    def at(self, index: int) -> np.ndarray:
        if self.period is not None:
            index %= self.period
        if self._frames is None or index < self._next:
            self.close()
            self._frames, self._next = read_frames(self.path, self.size, self.fps, self.start), 0
        while self._next <= index:
            frame = next(self._frames, None)
            if frame is None:
                break
            self._last, self._next = frame, self._next + 1
        if self._last is None:
            raise MediaError(f"no frames could be decoded from {str(self.path)!r}; the file may be damaged")
        return self._last

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


def _read_exactly(pipe: io.BufferedReader, n: int) -> bytes | None:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = pipe.readinto(view[got:])
        if not k:
            return None
        got += k
    return bytes(buf)


class VideoWriter:
    """Feed (H, W, 3) uint8 frames to an ffmpeg encoder; a context manager.

    ``codec`` is a list of output arguments (see ``h264_args`` and ``lossless_args``); ``extra_inputs``
    (e.g. the source, for its audio) are added after the piped video.
    """

    def __init__(self, path: str | Path, size: tuple[int, int], fps: Fraction, codec: Sequence[str],
                 extra_inputs: Sequence[str] = (), maps: Sequence[str] = ("-map", "0:v:0"), name: Path | None = None):
        self.path, self.size = Path(path), size
        target = path if isinstance(path, str) and "://" in path else str(self.path)  # a file, or a stream URL
        self.name = str(name or target)  # what the messages call it (the output a temporary file becomes)
        w, h = size
        self.cmd = ffmpeg_cmd("-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate",
                              f"{fps.numerator}/{fps.denominator}", "-i", "-", *extra_inputs, *maps, *codec,
                              target)
        self.proc = _spawn(self.cmd, stdin=subprocess.PIPE)
        self.drain = _Drain(cast("IO[bytes]", self.proc.stderr))
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            w, h = self.size
            raise ValueError(f"expected a {w}x{h} uint8 RGB frame, got {frame.shape} {frame.dtype}")
        try:
            cast("IO[bytes]", self.proc.stdin).write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            _stop(self.proc)
            raise MediaError(f"ffmpeg stopped while writing {self.name!r} ({self._why()})") from None
        self.frames += 1

    def close(self) -> None:
        _stop(self.proc, timeout=600)
        if self.proc.returncode != 0:
            raise MediaError(f"ffmpeg failed writing {self.name!r} ({self._why()})")

    def _why(self) -> str:
        code = self.proc.returncode
        ended = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        tail = self.drain.tail()
        return f"{ended}: {tail}" if tail else ended

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        _stop(self.proc)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def h264_args(crf: int, preset: str, metadata: dict[str, str] | None = None) -> list[str]:
    """H.264 in MP4 that plays everywhere: yuv420p, +faststart, optional metadata tags."""
    args = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", "-f", "mp4"]
    for key, value in (metadata or {}).items():
        args += ["-metadata", f"{key}={value}"]
    return args


def palette_gif(frames: Path, path: Path) -> None:
    """Encode the video ``frames`` as a looping GIF with one palette taken from all its frames (a first pass),
    each frame mapped onto it with error diffusion (a second; no frame is held in memory)."""
    palette = path.with_name(path.name + ".palette.png")
    head = ffmpeg_cmd("-y", "-i", str(frames))
    try:
        for cmd in (head + ["-vf", "palettegen=stats_mode=full", "-frames:v", "1", "-update", "1", str(palette)],
                    head + ["-i", str(palette), "-lavfi", "paletteuse=dither=sierra2_4a", "-loop", "0", "-f", "gif",
                            str(path)]):
            done = _run(cmd)
            if done.returncode != 0:
                raise MediaError(f"ffmpeg failed writing {str(path)!r}: "
                                 f"{_last_line(done.stderr.decode('utf-8', 'replace'))}")
    finally:
        palette.unlink(missing_ok=True)


def lossless_args() -> list[str]:
    """FFV1 in Matroska: lossless RGB, with per-slice CRCs."""
    return ["-c:v", "ffv1", "-level", "3", "-slicecrc", "1", "-pix_fmt", "bgr0", "-f", "matroska"]


def audio_inputs(source: Path, audio_codec: str, start: float, duration: float) -> tuple[list[str], list[str]]:
    """Extra inputs and output arguments that mux ``source``'s first audio stream in sync with the video."""
    inputs = seek(start) + ["-t", f"{duration:.6f}", "-i", str(source)]
    copy = audio_codec in MP4_AUDIO and not start
    codec = ["-c:a", "copy"] if copy else ["-c:a", "aac", "-b:a", "192k"]
    return inputs, ["-map", "0:v:0", "-map", "1:a:0", *codec, "-t", f"{duration:.6f}"]
