"""The model zoo: a registry of dreamable networks, each declared as data.

Each family module registers its models when it is imported, here, as timm does; none of them imports
torch, timm or torchvision until a model is built.
"""

from dreamvideo.models import efficientnet_lite, timm_zoo, tiny, torchvision_zoo  # noqa: E402,F401  (registration)
from dreamvideo.models.registry import (
                                        LayerSpec,
                                        ModelSpec,
                                        Weights,
                                        get_spec,
                                        list_models,
                                        parse_layer,
                                        register_family,
                                        register_model,
)

__all__ = ["LayerSpec", "ModelSpec", "Weights", "get_spec", "list_models", "parse_layer", "register_family",
           "register_model"]
