from __future__ import annotations

import pytest
import torch

from dreamvideo.errors import LayerError
from dreamvideo.models.registry import parse_layer
from dreamvideo.objectives import Channel, Sum, channel, guide, layer


def test_objectives_add_and_scale():
    acts = {"a": torch.full((1, 4, 2, 2), 2.0), "b": torch.arange(8.0).view(1, 2, 2, 2)}
    obj = 0.5 * layer("a") + channel("b", 1) - layer("a") * 0.25
    assert isinstance(obj, Sum) and obj.layers == {"a", "b"}
    assert obj(acts).item() == pytest.approx(0.5 * 4 + 5.5 - 0.25 * 4)


def test_shorthand():
    assert parse_layer("blocks.4") == ("blocks.4", None)
    assert parse_layer("blocks.4:17,3") == ("blocks.4", [17, 3])
    c = channel(*parse_layer("blocks.4:17,3"))
    assert isinstance(c, Channel) and c.channels == (17, 3) and c.name == "blocks.4"


def test_missing_channel_is_a_clear_error():
    with pytest.raises(LayerError, match="has 2 channels"):
        channel("b", 5)({"b": torch.zeros(1, 2, 2, 2)})


def test_guide_pulls_each_position_to_its_best_matching_guide_feature():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)  # features (1,0) and (0,1)
    x = torch.tensor([[2.0, 1.0], [0.2, 3.0]]).T.reshape(1, 2, 1, 2).requires_grad_(True)
    obj = guide("l", g)
    value = obj({"l": x})
    assert value.item() == pytest.approx((2.0 + 3.0) / 2)
    (grad,) = torch.autograd.grad(value, x)
    # position 0 matches guide feature (1,0), position 1 matches (0,1)
    assert torch.allclose(grad.reshape(2, 2).T, torch.tensor([[0.5, 0.0], [0.0, 0.5]]))
