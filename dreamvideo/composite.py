"""Where a dream lands and in which colours, applied to each dreamed frame against its source.

    mask: fg.png          # grey levels are the dream's strength per pixel: white dreams, black keeps the source
    mask_invert: true     # dream where the mask is black instead
    colors: original      # dream the luminance only; the source keeps its colours

A mask is an image, which stays put, or a video, whose frame t weighs frame t (read at the render's frame
rate from the same start, so a mask made from the source moves with it).
"""
# OpenCV is imported where it is used: a plain dream starts without it

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from dreamvideo.errors import MediaError
from dreamvideo.media.images import WRITABLE, read_image, resize_image, to_uint8

if TYPE_CHECKING:
    from dreamvideo.config import Style
    from dreamvideo.media.ffmpeg import FrameSource

IMAGE_SUFFIXES = frozenset(WRITABLE) | {".gif"}
ASPECT_TOLERANCE = 0.02  # a mask is scaled to its frames when their shapes agree this closely


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def keep_colors(dream: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The dream's luminance with the source's chroma (YCrCb), uint8."""
    import cv2

    d = cv2.cvtColor(dream.astype(np.float32) / 255, cv2.COLOR_RGB2YCrCb)
    s = cv2.cvtColor(source.astype(np.float32) / 255, cv2.COLOR_RGB2YCrCb)
    d[..., 1:] = s[..., 1:]
    return to_uint8(cv2.cvtColor(d, cv2.COLOR_YCrCb2RGB))


def weigh(dream: np.ndarray, source: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``source`` plus ``weight`` (H, W, in 0..1) of the dream's change, uint8: the source where it is 0."""
    s = source.astype(np.float32)
    return np.clip(s + weight[..., None] * (dream.astype(np.float32) - s) + 0.5, 0, 255).astype(np.uint8)


def check_fit(name: str, mask_size: tuple[int, int], what: str, size: tuple[int, int]) -> None:
    """A mask must have its frames' shape (it is then scaled to them); one line naming both sizes if not."""
    (mw, mh), (w, h) = mask_size, size
    if abs(mw / mh - w / h) > ASPECT_TOLERANCE * (w / h):
        raise MediaError(f"{name} is {mw}x{mh} but the {what} is {w}x{h}: give a mask of the same shape "
                         "(it is scaled to fit)")


class Mask:
    """A mask's weights at frame size: ``at(index)`` is an (H, W) float32 array in 0..1, feathered (a
    Gaussian of ``feather`` pixels) and inverted when asked; an image gives the same weights every frame."""

    def __init__(self, frames: np.ndarray | FrameSource, *, invert: bool = False, feather: float = 0.0):
        self.invert, self.feather = invert, feather
        self._video = frames if not isinstance(frames, np.ndarray) else None
        self._still = self._weights(frames) if isinstance(frames, np.ndarray) else None
        self._cached: tuple[int, np.ndarray] | None = None

    @classmethod
    def open(cls, path: str | Path, size: tuple[int, int], what: str, native: tuple[int, int], *,
             invert: bool = False, feather: float = 0.0, fps: Fraction | float | None = None, start: float = 0.0,
             frames: int | None = None, loop: bool = False, max_pixels: int | None = None) -> Mask:
        """The mask for frames of ``size``, made from a ``what`` ("video", "image", "zoom") of ``native``
        (W, H) size; a video mask must last ``frames`` frames at ``fps`` from ``start`` unless it ``loop``s."""
        from dreamvideo.media.ffmpeg import FrameSource, parse_rate, probe

        path = Path(path)
        name = f"the mask {str(path)!r}"
        if not path.is_file():
            raise MediaError(f"no such mask file {str(path)!r}; give the path of a mask image or video")
        if is_image(path):
            picture = read_image(path, max_pixels)
            check_fit(name, (picture.shape[1], picture.shape[0]), what, native)
            return cls(resize_image(picture, size), invert=invert, feather=feather)
        if fps is None:
            raise MediaError(f"{name} is a video; a single image takes an image mask")
        rate = parse_rate(str(fps))  # a zoom's fps is a float; the reader takes an exact rate
        info = probe(path)
        check_fit(name, (info.width, info.height), what, native)
        needed, have = (frames or 1) / float(rate), info.duration - start
        if loop:
            source = FrameSource(path, size, rate, period=max(1, round(info.duration * float(rate))))
        elif have + 0.5 / float(rate) < needed:
            raise MediaError(f"{name} lasts {max(have, 0):.2f} s ({max(0, round(have * float(rate)))} frames) from "
                             f"{start:g} s, but the {what} needs {needed:.2f} s ({frames} frames): give a mask as "
                             "long as the video, or set mask_loop: true")
        else:
            source = FrameSource(path, size, rate, start)
        return cls(source, invert=invert, feather=feather)

    def _weights(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        weight: np.ndarray = grey.astype(np.float32) / 255
        if self.feather > 0:
            weight = cv2.GaussianBlur(weight, (0, 0), self.feather)
        return 1 - weight if self.invert else weight

    def at(self, index: int) -> np.ndarray:
        if self._video is None:
            return cast(np.ndarray, self._still)  # a still mask: weighed once
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._weights(self._video.at(index)))
        return self._cached[1]

    def close(self) -> None:
        if self._video is not None:
            self._video.close()


@dataclass
class Composite:
    """A style's mask and colour mode: ``composite(index, source, dream)`` is what frame ``index`` shows."""

    mask: Mask | None = None
    colors: str = "dream"
    region_masks: tuple[Mask, ...] = ()

    @classmethod
    def of(cls, style: Style, size: tuple[int, int], what: str, native: tuple[int, int], *,
           fps: Fraction | float | None = None, start: float = 0.0, frames: int | None = None,
           max_pixels: int | None = None) -> Composite:
        """For frames of ``size`` from a ``what`` of ``native`` size; a mask video is read at ``fps`` from
        ``start`` seconds for ``frames`` frames (see ``Mask.open``)."""
        def mask(path: Path, invert: bool) -> Mask:
            return Mask.open(path, size, what, native, invert=invert, feather=style.mask_feather,
                             loop=style.mask_loop, fps=fps, start=start, frames=frames, max_pixels=max_pixels)

        regions = tuple(mask(r.mask, r.invert) for r in style.regions)
        return cls(mask(style.mask, style.mask_invert) if style.mask is not None else None, style.colors, regions)

    def regions(self, index: int) -> list[np.ndarray] | None:
        """The regions' weights at frame ``index`` (for ``Look.dream``); None without regions."""
        return [m.at(index) for m in self.region_masks] or None

    def __call__(self, index: int, source: np.ndarray, dream: np.ndarray) -> np.ndarray:
        if self.colors == "original":
            dream = keep_colors(dream, source)
        if self.region_masks:  # what no region covers shows the source (in a video, not what the flow carried)
            dream = weigh(dream, source, np.minimum(1.0, sum(m.at(index) for m in self.region_masks)))
        if self.mask is not None:
            dream = weigh(dream, source, self.mask.at(index))
        return dream

    def close(self) -> None:
        for mask in (self.mask, *self.region_masks):
            if mask is not None:
                mask.close()
