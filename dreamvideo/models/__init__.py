"""The model zoo: a registry of dreamable networks, each declared as data."""

from dreamvideo.models.registry import LayerSpec, ModelSpec, Weights, get_spec, list_models, register_model

__all__ = ["LayerSpec", "ModelSpec", "Weights", "get_spec", "list_models", "register_model", "get_model"]


def __getattr__(name: str):
    if name == "get_model":
        from dreamvideo.features import get_model

        return get_model
    raise AttributeError(name)
