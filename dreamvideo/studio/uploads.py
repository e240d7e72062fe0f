"""The studio's uploads: bytes stored under fresh names in ``uploads/``, checked by content (a photo within
the pixel limit, a video or a song ffmpeg can read), a JSON record beside each so a restarted studio knows them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dreamvideo.errors import MediaError
from dreamvideo.media.images import MAX_PIXELS, check_image

MAX_UPLOAD = 2 * 1024**3  # bytes
SONG_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".ogg": "audio/ogg",
              ".oga": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac"}  # kept as they came, played inline


@dataclass(frozen=True)
class Upload:
    """A file the page sent, stored as ``uploads/<id><suffix>``: a still ``image``, a ``video`` or a song
    (``audio``, no size)."""

    id: str
    name: str  # as the browser last named it: shown, and a style's bare file name may name it (never a path)
    kind: str
    path: Path
    width: int
    height: int
    duration: float = 0.0
    sha256: str = ""  # of the bytes: the same file sent again is this upload again

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "kind": self.kind, "width": self.width, "height": self.height,
                "duration": self.duration}


class Uploads:
    """The uploads kept in ``folder``: ``new_part`` and ``count`` while the bytes arrive, ``accept`` once
    they are all there, ``get`` by id."""

    def __init__(self, folder: Path, max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS):
        self.folder, self.max_upload, self.max_pixels = folder, max_upload, max_pixels
        folder.mkdir(parents=True, exist_ok=True)
        self.known: dict[str, Upload] = self._records()

    def new_part(self) -> Path:
        """Where an upload's bytes go while they arrive."""
        return self.folder / f".{uuid.uuid4().hex[:16]}.part"

    def too_large(self, name: str) -> MediaError:
        return MediaError(f"{name!r} is larger than the studio's limit of {self.max_upload / 1024**2:,.0f} MB; "
                          "trim it, or start the studio with a larger --max-upload")

    def count(self, name: str, size: int, chunk: bytes) -> int:
        """``size`` plus the chunk's length, refused past the upload limit."""
        size += len(chunk)
        if size > self.max_upload:
            raise self.too_large(name)
        return size

    def accept(self, name: str, part: Path, sha256: str | None = None) -> Upload:
        """Check what the bytes at ``part`` are and keep them as an upload; a bad one is removed and named
        in a MediaError. Bytes the studio already has (``sha256``, computed here if not given) are the
        earlier upload, so its renders are reused or resumed."""
        try:
            if part.stat().st_size == 0:
                raise MediaError(f"{name!r} is empty; choose a photo or a video")
            sha256 = sha256 or file_sha256(part)
            known = next((u for u in list(self.known.values()) if u.sha256 == sha256 and u.path.is_file()), None)
            if known is not None:  # under the name it came with this time, and the newest of that name
                os.utime(known.path)
                return self._keep(replace(known, name=name)) if known.name != name else known
            return self._identify(part.stem.lstrip("."), name, part, sha256)
        finally:
            part.unlink(missing_ok=True)

    def _identify(self, upload_id: str, name: str, part: Path, sha256: str) -> Upload:
        from PIL import Image, UnidentifiedImageError

        from dreamvideo.media.ffmpeg import probe

        try:
            with Image.open(part) as im:
                fmt = (im.format or "").lower()
        except (UnidentifiedImageError, OSError):
            fmt = ""
        if fmt and fmt != "gif":
            suffix = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")
            path = self.folder / f"{upload_id}{suffix}"
            shutil.move(part, path)
            try:
                w, h = check_image(path, self.max_pixels)
            except MediaError as exc:
                path.unlink(missing_ok=True)
                raise MediaError(str(exc).replace(str(path), name)) from None
            upload = Upload(upload_id, name, "image", path, w, h, sha256=sha256)
        else:
            path = self.folder / f"{upload_id}.video"
            shutil.move(part, path)
            try:
                info = probe(path)
                if info.frames <= 1 and info.audio_codec:  # a song with its cover picture
                    raise MediaError("a song")
                upload = Upload(upload_id, name, "video", path, info.width, info.height, info.duration, sha256)
            except MediaError:
                upload = self._song(upload_id, name, path, sha256)
        return self._keep(upload)

    def _keep(self, upload: Upload) -> Upload:
        self.known[upload.id] = upload
        record = {**upload.public(), "file": upload.path.name, "sha256": upload.sha256}
        (self.folder / f"{upload.id}.json").write_text(json.dumps(record), encoding="utf-8")
        return upload

    def _song(self, upload_id: str, name: str, path: Path, sha256: str) -> Upload:
        """A sound without pictures (a song, a stem), kept under its own extension where it is a known one (the
        page plays it)."""
        from dreamvideo.media.ffmpeg import probe_audio

        try:
            duration = probe_audio(path).duration
        except MediaError:
            path.unlink(missing_ok=True)
            raise MediaError(f"{name!r} is neither a photo, a video nor a song dreamvideo can read; choose a "
                             "JPEG, PNG or WebP photo, an MP4, MOV, MKV or WebM video, or an MP3, M4A, WAV, OGG "
                             "or FLAC song") from None
        suffix = Path(name).suffix.lower()
        song = path.with_suffix(suffix if suffix in SONG_TYPES else ".audio")
        path.rename(song)
        return Upload(upload_id, name, "audio", song, 0, 0, duration, sha256)

    def _records(self) -> dict[str, Upload]:
        """The uploads of earlier runs over the same folder (each file has a JSON record beside it)."""
        found = {}
        for record in self.folder.glob("*.json"):
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
                path = self.folder / Path(data["file"]).name
                if path.is_file():
                    found[data["id"]] = Upload(data["id"], data["name"], data["kind"], path, int(data["width"]),
                                               int(data["height"]), float(data["duration"]),
                                               str(data.get("sha256") or file_sha256(path)))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a damaged record: that upload is dropped again
        return found

    def listing(self) -> list[dict[str, Any]]:
        """The uploads, newest first, as the page lists them."""
        return [u.public() for u in sorted(self.known.values(), key=lambda u: u.path.stat().st_mtime, reverse=True)
                if u.path.is_file()]

    def by_name(self) -> dict[str, Path]:
        """Each upload's file by the name it last came with, the newest where two share one."""
        kept = []
        for upload in list(self.known.values()):  # (uploads may arrive meanwhile)
            try:
                kept.append((upload.path.stat().st_mtime, upload.name, upload.path))
            except OSError:
                continue
        return {name: path for _, name, path in sorted(kept)}

    def get(self, upload_id: str) -> Upload:
        found = self.known.get(str(upload_id))
        if found is None:
            raise MediaError("that upload is gone (its file was removed?); drop the file in again")
        return found


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
