"""Writing pictures for users: PNG files that carry their settings, and masks as pictures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from blip_diffusion.utils.atomic import atomic_path


def save_png(image: Image.Image, path: Path, settings: dict) -> Path:
    """Write ``image`` with its settings as PNG text chunks, atomically."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps(settings, sort_keys=True))
    for key in ("prompt", "seed", "model"):
        if key in settings:
            info.add_text(key, str(settings[key]))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)
    return path


def mask_image(mask: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """A (1, 1, h, w) 0/1 mask -> a black-and-white RGB image of ``size`` (width, height)."""
    pixels = (mask[0, 0].cpu().numpy() * 255).astype(np.uint8)
    return Image.fromarray(pixels).resize(size, Image.Resampling.NEAREST).convert("RGB")
