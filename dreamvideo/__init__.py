"""dreamvideo: DeepDream for images and videos.

The public API; heavy modules (torch) load on first use, so `import dreamvideo` and `dreamvideo --help`
stay instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

__version__ = "0.1.0"

__all__ = ["dream_image", "load_style", "get_model", "list_models", "Dreamer", "Style", "visualize",
           "DreamVideoError", "ConfigError", "ModelError", "LayerError", "MediaError"]

from dreamvideo.errors import ConfigError, DreamVideoError, LayerError, MediaError, ModelError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from dreamvideo.config import Style, load_style
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.features import get_model
    from dreamvideo.models import list_models
    from dreamvideo.visualize import visualize

_LAZY = {
    "load_style": "dreamvideo.config", "Style": "dreamvideo.config", "Dreamer": "dreamvideo.dreamer",
    "get_model": "dreamvideo.features", "list_models": "dreamvideo.models", "visualize": "dreamvideo.visualize",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dreamvideo' has no attribute {name!r}")


def dream_image(image: str | Path | np.ndarray, style: Style | str | None = None, *, dreamer: Dreamer | None = None,
                progress: Callable[[int, int], None] | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Dream one image (a path or an (H, W, 3) uint8 array) with a style (object, preset name or path).

    Returns an (H, W, 3) uint8 array at the style's output size. Pass ``dreamer`` to reuse a built model; a
    file of more than ``max_pixels`` pixels (default 150 million) is refused before it is decoded.
    """
    from dreamvideo.config import Style, load_style
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.look import dream_photo
    from dreamvideo.media.images import read_image

    if dreamer is None:
        if not isinstance(style, Style):
            style = load_style(style)
        dreamer = Dreamer(style)
    is_path = isinstance(image, str) or hasattr(image, "__fspath__")
    array = read_image(cast("str | Path", image), max_pixels) if is_path else cast("np.ndarray", image)
    return dream_photo(dreamer, array, progress=progress, max_pixels=max_pixels)
