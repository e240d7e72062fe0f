"""Networks built once and handed out again: what dreams style after style on one model (the studio's
previews, its Live tab, a live run changed over OSC) asks its ``Networks`` instead of building each time."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dreamvideo.config import Style
    from dreamvideo.features import DreamModel

Key = tuple[str, str | None, str]  # the model's name, its weights file, the device asked for


class Networks:
    """The networks styles dream on, one per (model, weights, device), the ``keep`` used last kept (None:
    all). A network is for one thread at a time: users that run beside each other have a ``Networks`` each."""

    def __init__(self, keep: int | None = None):
        self.keep = keep
        self._built: dict[Key, DreamModel] = {}  # the one used last, last
        self._lock = threading.Lock()

    @staticmethod
    def key(style: Style) -> Key:
        return style.model, str(style.weights) if style.weights else None, style.device

    def get(self, style: Style) -> DreamModel:
        """The network ``style`` dreams on: the one built before for its model, weights and device, or a new one."""
        from dreamvideo.dreamer import dream_params, resolve_device
        from dreamvideo.features import get_model

        key = self.key(style)
        with self._lock:
            network = self._built.pop(key, None)
            if network is None:
                device = resolve_device(style.device)
                dream_params(style, device)  # bad settings fail before the network is built, as in a Dreamer
                network = get_model(style.model, style.weights, device)
            self._built[key] = network
            while self.keep is not None and len(self._built) > self.keep:
                del self._built[next(iter(self._built))]
            return network

    def clear(self) -> None:
        """Forget every network: the next style builds its own again."""
        with self._lock:
            self._built.clear()
