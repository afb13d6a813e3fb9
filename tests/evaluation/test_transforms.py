"""The protocol's preprocessing: shorter side resized (bicubic), centre crop, per-channel normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from blip_diffusion.evaluation.transforms import ImageTransform

IMAGENET = ImageTransform(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return Image.fromarray(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2).astype(np.uint8))


@pytest.mark.parametrize(
    ("size", "resized", "box"),
    [
        ((512, 384), (341, 256), (58, 16, 282, 240)),  # landscape: width 256 * 512/384 = 341.3 -> 341
        ((300, 600), (256, 512), (16, 144, 240, 368)),  # portrait
        ((512, 512), (256, 256), (16, 16, 240, 240)),
    ],
)
def test_resize_shorter_side_then_centre_crop(size, resized, box):
    image = _gradient(*size)
    expected = image.resize(resized, Image.Resampling.BICUBIC).crop(box)
    result = IMAGENET.resize_and_crop(image)
    assert result.size == (224, 224)
    assert np.array_equal(np.asarray(result), np.asarray(expected))


def test_normalisation_of_a_flat_colour():
    pixels = IMAGENET([Image.new("RGB", (300, 260), (255, 128, 0)), Image.new("L", (64, 64), 51)])
    assert pixels.shape == (2, 3, 224, 224) and pixels.dtype == torch.float32
    expected = [(1.0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0.0 - 0.406) / 0.225]
    assert pixels[0, :, 100, 100].tolist() == pytest.approx(expected, abs=1e-5)
    grey = [(0.2 - m) / s for m, s in zip(IMAGENET.mean, IMAGENET.std, strict=True)]
    assert pixels[1, :, 0, 0].tolist() == pytest.approx(grey, abs=1e-5)
