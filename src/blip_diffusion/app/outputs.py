"""Files the server hands back: PNGs with their settings in the metadata, subject files, animations.

Every request writes into its own new folder, so concurrent requests never overwrite each other.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PIL import Image

from blip_diffusion.utils.image_output import save_png


def request_folder(root: Path) -> Path:
    """A new, empty folder under ``root`` for one request's files."""
    folder = root / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def save_images(images: list[Image.Image], folder: Path, settings: dict, seeds: list[int]) -> list[str]:
    """Write ``image_<seed>.png`` files carrying ``settings`` plus their seed; return their paths."""
    return [str(save_png(image, folder / f"image_{seed:06d}.png", {**settings, "seed": seed}))
            for image, seed in zip(images, seeds, strict=True)]


def save_map(image: Image.Image, folder: Path, name: str, settings: dict) -> str:
    """A control map or edge map used by a request, beside its images."""
    return str(save_png(image, folder / f"{name}.png", settings))


def save_frames(frames: list[Image.Image], weights: list[float], folder: Path, settings: dict) -> list[str]:
    """Write ``frame_<i>.png`` files carrying ``settings`` plus their weight of subject B."""
    return [str(save_png(frame, folder / f"frame_{i:03d}.png", {**settings, "weight_b": weight}))
            for i, (frame, weight) in enumerate(zip(frames, weights, strict=True))]
