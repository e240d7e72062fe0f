"""Still images: read (EXIF-rotated RGB), resize, and write atomically (temporary name, then rename)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamvideo.errors import MediaError

if TYPE_CHECKING:
    import PIL.Image
    import torch

WRITABLE = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF"}


MAX_PIXELS = 150_000_000  # larger images are refused unless asked for (--max-pixels): decompression bombs
_PILLOW_LIMIT = threading.Lock()  # Pillow's own limit is a global, changed for one open at a time


@contextmanager
def _opened(path: Path, max_pixels: int | None) -> Iterator[PIL.Image.Image]:
    """``path`` opened by Pillow (its header read, nothing decoded), refused when it holds more than
    ``max_pixels`` pixels (None: ``MAX_PIXELS``). This limit replaces Pillow's own for that one open."""
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise MediaError(f"no such file: {str(path)!r}; check the path")
    if path.is_dir():
        raise MediaError(f"{str(path)!r} is a folder, not an image; give an image file")
    with _PILLOW_LIMIT:
        pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise MediaError(f"{str(path)!r} is not an image that can be read; give a JPEG, PNG, WebP, BMP or TIFF "
                             "file") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"{str(path)!r} is damaged or truncated ({exc}); re-export or re-download it") from None
        finally:
            Image.MAX_IMAGE_PIXELS = pillow_limit
    with im:
        w, h = im.size
        max_pixels = max_pixels or MAX_PIXELS
        if w * h > max_pixels:
            raise MediaError(f"{str(path)!r} is {w}x{h} px ({w * h:,} pixels), more than the limit of {max_pixels:,} "
                             "that guards against decompression bombs; if the image is genuine, pass "
                             f"--max-pixels {w * h}")
        yield im


def check_image(path: str | Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) of an image file, read from its header; MediaError when it cannot be read as an image
    or holds more than ``max_pixels`` pixels."""
    with _opened(Path(path), max_pixels) as im:
        return im.size


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array, turned upright by its EXIF orientation; images of more than ``max_pixels``
    pixels (None: ``MAX_PIXELS``) are refused before they are decoded."""
    from PIL import Image, ImageOps

    path = Path(path)
    with _opened(path, max_pixels) as im:
        try:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB")).copy()
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"{str(path)!r} is damaged or truncated ({exc}); re-export or re-download it") from None


def fit_size(width: int, height: int, max_side: int | None = None, target_width: int | None = None,
             multiple: int = 1) -> tuple[int, int]:
    """(width, height) after ``target_width`` / ``max_side``, keeping the aspect, rounded to ``multiple``."""
    scale = 1.0
    if target_width:
        scale = target_width / width
    if max_side and max(width, height) * scale > max_side:
        scale = max_side / max(width, height)
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    return w, h


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 3) uint8 array to ``size`` = (width, height) with area/cubic filtering."""
    import cv2

    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def check_output(path: str | Path, allowed: dict[str, str] = WRITABLE, inputs: tuple[Path, ...] = (),
                 new_folder: bool = False) -> Path:
    """Fail early, before any work, when ``path`` cannot be written; with ``new_folder`` its folder may be
    missing as long as it can be created (a batch creates it)."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise MediaError(f"cannot write {str(path)!r}: unknown extension; use one of {', '.join(sorted(allowed))}")
    if path.is_dir():
        raise MediaError(f"cannot write {str(path)!r}: it is a folder; give a file name")
    for source in inputs:
        if source.exists() and path.exists() and path.resolve() == source.resolve():
            raise MediaError(f"the output {str(path)!r} is the input; give another output name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() and new_folder:
        parent = next((p for p in parent.parents if p.exists()), Path("."))  # where the new folder would go
    if not parent.is_dir():
        raise MediaError(f"cannot write {str(path)!r}: folder {str(parent)!r} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise MediaError(f"cannot write {str(path)!r}: folder {str(parent)!r} is not writable")
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block succeeds, removed when it fails."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent or ".")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write an (H, W, 3) uint8 array atomically; the format follows the extension."""
    from PIL import Image

    path = check_output(path)
    fmt = WRITABLE[path.suffix.lower()]
    with atomic_path(path) as tmp:
        try:
            Image.fromarray(image).save(tmp, format=fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
        except OSError as exc:
            raise MediaError(f"cannot write {str(path)!r}: {exc}") from None
    return path


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    import torch

    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float().div_(255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] as uint8, rounded half up (values outside are clipped)."""
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


def to_array(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return tensor[0].detach().float().clamp(0, 1).mul(255).round_().byte().permute(1, 2, 0).cpu().numpy()
