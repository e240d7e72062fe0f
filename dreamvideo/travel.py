"""Files that travel through Ray, for clusters that share nothing else: a job's inputs go into Ray's object
store on the driver (in pieces, so a file of any size travels), are written into a private folder on the
worker that runs the job, and its output comes back to be written where the user asked for it.

Where a worker sees the driver's files at the same paths (one machine, or shared storage), nothing is
copied: an input is used where it is when its size and SHA-256 are the driver's, and an output is written in
place when the worker finds a token file that only this driver wrote in the output's folder."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dreamvideo.config import Style, read_yaml, validate_style
from dreamvideo.config.load import resolve_paths, set_dotted, style_files

CHUNK = 64 * 1024**2  # bytes per object: a file travels as a list of these, fetched one at a time


@dataclass(frozen=True)
class Sent:
    """A file of the driver's in the object store: where it is there, and how to know it elsewhere."""

    path: str
    size: int
    digest: str  # SHA-256
    chunks: tuple[Any, ...]  # ray.ObjectRef each, CHUNK bytes at most


def digest_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def send(path: str | Path) -> Sent:
    """``path`` put into Ray's object store, piece by piece (the driver holds one piece at a time)."""
    import ray

    path = Path(path)
    h, chunks = hashlib.sha256(), []
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
            chunks.append(ray.put(block))
    return Sent(str(path), path.stat().st_size, h.hexdigest(), tuple(chunks))


def receive(sent: Sent, folder: Path) -> Path:
    """The worker's copy of ``sent``: the driver's own file where this worker sees it unchanged, else the
    pieces written into ``folder`` under the file's name."""
    import ray

    here = Path(sent.path)
    try:
        if here.is_file() and here.stat().st_size == sent.size and digest_of(here) == sent.digest:
            return here
    except OSError:
        pass
    target = folder / uuid.uuid4().hex[:8] / here.name  # the name (and its suffix) as the user gave it
    target.parent.mkdir(parents=True)
    with open(target, "wb") as f:
        for ref in sent.chunks:
            f.write(ray.get(ref))
    return target


@dataclass(frozen=True)
class Parcel:
    """What a job needs of the driver's files: each file by the path the job names it with, and each style
    file a region or a section names, as data (its own files among ``files``)."""

    files: dict[str, Sent] = field(default_factory=dict)
    styles: dict[str, dict[str, Any]] = field(default_factory=dict)


class Packer:
    """Builds parcels on the driver; a file named by several jobs is put into the store once."""

    def __init__(self) -> None:
        self.sent: dict[str, Sent] = {}

    def file(self, path: str | Path) -> Sent:
        key = str(Path(path).resolve())
        if key not in self.sent:
            self.sent[key] = send(key)
        return self.sent[key]

    def parcel(self, paths: list[str | Path | None], styles: list[Style]) -> Parcel:
        files: dict[str, Sent] = {}
        docs: dict[str, dict[str, Any]] = {}

        def add_style(data: dict[str, Any]) -> None:
            for keys, named in style_files(data):
                if keys[-1] == "style":  # a region's or a section's own style file, with files of its own
                    if named not in docs and Path(named).is_file():
                        docs[named] = resolve_paths(read_yaml(Path(named)), Path(named).parent)
                        add_style(docs[named])
                elif Path(named).is_file():
                    files[named] = self.file(named)

        for path in paths:
            if path is not None:
                files[str(path)] = self.file(path)
        for style in styles:
            add_style(style.model_dump(mode="json", exclude_none=True))
        return Parcel(files, docs)


class Unpacked:
    """A parcel opened on a worker, in ``folder``: ``path(p)`` is where the driver's ``p`` is here."""

    def __init__(self, parcel: Parcel, folder: Path):
        self.folder = folder
        self.paths = {named: str(receive(sent, folder)) for named, sent in parcel.files.items()}
        for named in parcel.styles:  # written with this worker's paths, for load_style to read
            target = folder / uuid.uuid4().hex[:8] / Path(named).name
            target.parent.mkdir(parents=True)
            self.paths[named] = str(target)
        for named, data in parcel.styles.items():
            Path(self.paths[named]).write_text(yaml.safe_dump(self.moved(data)))

    def file(self, path: str | Path) -> Path:
        return Path(self.paths.get(str(path), str(path)))

    def path(self, path: str | Path | None) -> Path | None:
        return None if path is None else self.file(path)

    def moved(self, data: dict[str, Any]) -> dict[str, Any]:
        """Style data with the driver's paths replaced by this worker's."""
        data = {**data}
        for keys, named in style_files(data):
            if named in self.paths:
                set_dotted(data, keys, self.paths[named])
        return data

    def style(self, style: Style) -> Style:
        return validate_style(self.moved(style.model_dump(mode="json", exclude_none=True)))


@contextmanager
def opened(parcel: Parcel) -> Iterator[Unpacked]:
    """``parcel`` unpacked into a private folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dreamvideo-job-") as folder:
        yield Unpacked(parcel, Path(folder))


@dataclass(frozen=True)
class Destination:
    """Where an output goes on the driver, and the token file that tells a worker it sees that folder."""

    path: str
    probe: str
    token: str


@contextmanager
def destination(output: Path) -> Iterator[Destination]:
    """A token file in ``output``'s folder for as long as the job may run (removed afterwards)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    probe = output.parent / f".dreamvideo-probe-{token[:12]}"
    probe.write_text(token)
    try:
        yield Destination(str(output), str(probe), token)
    finally:
        probe.unlink(missing_ok=True)


def shared(dest: Destination) -> bool:
    """Whether this worker sees the driver's output folder (the token file, with the driver's token)."""
    try:
        return Path(dest.probe).read_text() == dest.token
    except OSError:
        return False


@dataclass(frozen=True)
class Returned:
    """A job's output on its way back: its files by name (one, or a sequence's frames), or None where the
    worker wrote it in place."""

    files: dict[str, bytes] | None


def returned(dest: Destination, write: Callable[[Path], object], folder: Path) -> Returned:
    """Run ``write(path)``: at the driver's path where the worker sees it, else in ``folder``, read back."""
    if shared(dest):
        write(Path(dest.path))
        return Returned(None)
    out = folder / uuid.uuid4().hex[:8]
    out.mkdir()
    write(out / Path(dest.path).name)
    return Returned({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()})


def deliver(back: Returned, output: Path) -> None:
    """``back`` written beside ``output`` on the driver, each file under a temporary name until it is complete."""
    if back.files is None:
        return  # written in place by the worker
    output.parent.mkdir(parents=True, exist_ok=True)
    for name, data in back.files.items():
        part = output.parent / f".{name}.{uuid.uuid4().hex[:8]}.part"
        try:
            part.write_bytes(data)
            os.replace(part, output.parent / name)
        finally:
            part.unlink(missing_ok=True)
