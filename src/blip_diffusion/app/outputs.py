"""Files the server hands back: PNGs with their settings in the metadata, subject files.

Every request writes into its own new folder, so concurrent requests never overwrite each other.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PIL import Image

from blip_diffusion.cli.generate import save_png


def request_folder(root: Path) -> Path:
    """A new, empty folder under ``root`` for one request's files."""
    folder = root / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def save_images(images: list[Image.Image], root: Path, settings: dict, seeds: list[int]) -> list[str]:
    """Write ``image_<seed>.png`` files carrying ``settings`` plus their seed; return their paths."""
    folder = request_folder(root)
    return [str(save_png(image, folder / f"image_{seed:06d}.png", {**settings, "seed": seed}))
            for image, seed in zip(images, seeds, strict=True)]
