import numpy as np
import pytest
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.utils import images
from blip_diffusion.utils.images import load_image, to_rgb


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="image not found"):
        load_image(tmp_path / "nope.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        load_image(tmp_path)


def test_non_image_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InputError, match="not an image file"):
        load_image(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image(path)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 50 * 50)
    with pytest.raises(InputError, match="too large"):
        load_image(path)


def test_rgba_drops_alpha_like_the_reference():
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))
    assert to_rgb(rgba).getpixel((0, 0)) == (200, 100, 50)


def test_rgba_composites_on_a_chosen_background():
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))
    assert to_rgb(rgba, background=(255, 255, 255)).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["LA", "P", "CMYK", "L"])
def test_other_modes_become_rgb(mode):
    assert to_rgb(Image.new(mode, (4, 4))).mode == "RGB"


def test_sixteen_bit_is_scaled_not_clipped():
    array = np.full((4, 4), 32768, dtype=np.uint16)
    image = Image.fromarray(array)
    assert image.mode.startswith("I")
    assert to_rgb(image).getpixel((0, 0)) == (128, 128, 128)
