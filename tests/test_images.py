from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dreamvideo.errors import MediaError
from dreamvideo.media.images import check_output, fit_size, read_image, write_image


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    im.save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (40, 20, 3)


def test_alpha_is_flattened(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (read_image(tmp_path / "clear.png") == 255).all()


def test_truncated_and_fake_images(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:300])
    with pytest.raises(MediaError, match="damaged or truncated"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(MediaError, match="not an image"):
        read_image(tmp_path / "fake.png")


def test_write_is_atomic_and_checked(tmp_path):
    image = np.zeros((10, 10, 3), np.uint8)
    write_image(tmp_path / "out.png", image)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert (tmp_path / "out.png").stat().st_mode & 0o044  # readable by others, not mkstemp's 0600
    with pytest.raises(MediaError, match="unknown extension"):
        write_image(tmp_path / "out.xyz", image)
    with pytest.raises(MediaError, match="does not exist"):
        check_output(tmp_path / "nope" / "out.png")


def test_fit_size():
    assert fit_size(1920, 1080, max_side=960) == (960, 540)
    assert fit_size(1000, 500, target_width=300) == (300, 150)
    assert fit_size(1001, 501, max_side=500, multiple=2) == (500, 250)
    assert fit_size(100, 50) == (100, 50)
