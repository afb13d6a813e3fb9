"""Control maps: canny edges with OpenCV, the original's pre-processing, aspect checks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.control_images import (
    canny_edges,
    check_aspect,
    fit_size,
    preprocess_control_image,
)


def _disc(size=(48, 40), box=(10, 8, 34, 30), fill=(200, 60, 30)) -> Image.Image:
    image = Image.new("RGB", size, (20, 20, 20))
    ImageDraw.Draw(image).ellipse(box, fill=fill)
    return image


def test_canny_gives_white_edges_on_black_in_rgb(dog_image):
    edges = canny_edges(_disc())
    pixels = np.asarray(edges)
    assert edges.mode == "RGB" and edges.size == (48, 40)
    assert set(np.unique(pixels)) == {0, 255} and (pixels[..., 0] == pixels[..., 2]).all()
    assert pixels[20, 22].sum() == 0 and pixels[:, :8].sum() == 0  # nothing inside the disc or on the flat border
    assert np.count_nonzero(np.asarray(canny_edges(dog_image, 20, 60))) > np.count_nonzero(
        np.asarray(canny_edges(dog_image, 200, 400)))  # lower thresholds keep more edges


def test_canny_thresholds_and_missing_opencv(monkeypatch):
    with pytest.raises(InputError, match="0 <= low <= high, got low=200, high=100"):
        canny_edges(_disc(), 200, 100)
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(InputError, match="pip install opencv-python-headless"):
        canny_edges(_disc())


def test_preprocessing_matches_the_original_numerics():
    image = _disc()
    tensor = preprocess_control_image(image, 24, 20)
    expected = np.asarray(image.resize((24, 20), Image.Resampling.BICUBIC)).astype(np.float64) / 255
    assert tensor.shape == (1, 3, 20, 24) and tensor.dtype == torch.float32
    assert np.abs(tensor[0].permute(1, 2, 0).numpy() - expected).max() < 1e-7
    rgba = image.convert("RGBA")
    assert torch.equal(preprocess_control_image(rgba, 24, 20), tensor)  # alpha dropped as in the original


def test_aspect_ratio_mismatch_is_an_error_and_sizes_fit():
    check_aspect((500, 333), 504, 336, "control image")  # 0.2 % off: accepted
    with pytest.raises(InputError, match="control image is 48x40 but the output is 32x32"):
        preprocess_control_image(_disc(), 32, 32)
    assert fit_size((500, 333), 512, 8) == (512, 344)
    assert fit_size((40, 48), 64, 8) == (56, 64)

