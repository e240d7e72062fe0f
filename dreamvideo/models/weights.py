"""Loading weights: downloads into the torch hub cache, local files, and clear errors offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dreamvideo.errors import ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dreamvideo.models.registry import ModelSpec


def download(url: str, model: str) -> dict[str, torch.Tensor]:
    """A state dict from ``url``, cached in the torch hub folder; ModelError when it cannot be had."""
    import torch

    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, check_hash=True)
    except Exception as exc:  # urllib, ssl, socket and hash errors all mean the same to the user
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise ModelError(
            f"could not download the weights of {model!r} ({type(exc).__name__}: {exc}); "
            f"download {url} on a machine that is online and pass it with --weights FILE "
            f"(or put it in {cache})"
        ) from None


def read_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth/.pt/.safetensors file, unwrapping common checkpoint containers."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file {str(path)!r} does not exist: check the path given to --weights")
    state: Any  # a state dict, or a checkpoint that holds one
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(
            f"cannot read weights file {str(path)!r} ({type(exc).__name__}): "
            "pass a PyTorch state dict (.pth/.pt) or a .safetensors file"
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ModelError(f"weights file {str(path)!r} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_into(net: nn.Module, spec: ModelSpec, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load ``state`` into ``net`` strictly, but for the prefixes the spec says to ignore."""
    own = net.state_dict()
    extra = [k for k in state if k not in own and not k.startswith(spec.weights.ignore)]
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if extra or missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]!r})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {k!r}: {tuple(state[k].shape)} "
                         f"vs {tuple(own[k].shape)})")
        raise ModelError(
            f"the weights from {origin} do not fit model {spec.name!r}: {', '.join(parts)} keys; "
            f"pass weights trained for {spec.name} with --weights FILE"
        )
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
