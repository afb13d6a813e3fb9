"""The metric models' image preprocessing, written out so it is the protocol's and nothing else.

Both DINO and CLIP are fed as in their original code (torchvision): resize the shorter side with
bicubic filtering, centre-crop a square, scale to [0, 1] and normalise per channel. The hub's
``preprocessor_config.json`` of ``facebook/dino-vits16`` instead squashes the image to 224 x 224
without a crop, and transformers' processors change backend between versions, so neither is used for
the geometry; only their mean and std are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image


@dataclass(frozen=True)
class ImageTransform:
    """Resize the shorter side to ``resize`` (bicubic), centre-crop ``crop`` x ``crop``, normalise."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def resize_and_crop(self, image: Image.Image) -> Image.Image:
        """The geometric part, rounded as torchvision's ``Resize(int)`` and ``CenterCrop`` round."""
        image = image.convert("RGB")
        width, height = image.size
        short, long = min(width, height), max(width, height)
        new_short, new_long = self.resize, int(self.resize * long / short)
        size = (new_short, new_long) if width <= height else (new_long, new_short)
        image = image.resize(size, Image.Resampling.BICUBIC)
        left = round((size[0] - self.crop) / 2.0)
        top = round((size[1] - self.crop) / 2.0)
        return image.crop((left, top, left + self.crop, top + self.crop))

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images of any size and mode -> float32 tensor (N, 3, crop, crop)."""
        arrays = [np.asarray(self.resize_and_crop(image), dtype=np.float32) / 255.0 for image in images]
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (N, H, W, 3) -> (N, 3, H, W)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        return (pixels - mean) / std
