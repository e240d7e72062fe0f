"""Any timm model as `timm:<name>`: layers from timm's feature_info, weights from timm's pretrained tags."""

from __future__ import annotations

import socket

from dreamvideo.errors import ModelError, did_you_mean
from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, register_family


def _online(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached(hub_id: str | None) -> bool:
    if not hub_id:
        return False
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(hub_id, f), str) for f in ("model.safetensors", "pytorch_model.bin"))


def _download(name: str, hub_id: str | None) -> dict:
    import timm

    fix = ("download them on a machine that is online (`timm.create_model(name, pretrained=True)`, then "
           "`torch.save(model.state_dict(), FILE)`) and pass the file with --weights FILE")
    if not _cached(hub_id) and not _online("huggingface.co"):
        raise ModelError(f"cannot download the weights of 'timm:{name}': this machine is offline; {fix}")
    try:
        return timm.create_model(name, pretrained=True).state_dict()
    except Exception as exc:
        raise ModelError(f"could not download the weights of 'timm:{name}' ({type(exc).__name__}); {fix}") from None


@register_family("timm")
def timm_model(name: str) -> ModelSpec:
    import timm

    if not timm.is_model(name):
        hint = did_you_mean(f"timm:{name}", [f"timm:{m}" for m in timm.list_models()], n=3)
        raise ModelError(f"timm has no model {name!r}: {hint}see `timm.list_models()` for the names")

    def build():
        return timm.create_model(name, pretrained=False)

    net = build()
    cfg = net.pretrained_cfg
    layers = tuple(
        LayerSpec(info["module"], info["module"], int(info["num_chs"]), int(info["reduction"]))
        for info in net.feature_info
    )
    if not layers:
        raise ModelError(f"timm:{name} declares no feature layers; pick a convolutional timm model")
    return ModelSpec(
        name=f"timm:{name}",
        description=f"timm {name}",
        build=build,
        weights=Weights(source="download", load=lambda: _download(name, cfg.get("hf_hub_id"))),
        layers=layers,
        default_layers=(layers[len(layers) // 2].name,),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        min_size=32,
    )
